import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The text of `docs/<name>`. */
export function readDoc(name: string): string {
  return readFileSync(join(import.meta.dirname, '..', '..', 'docs', name), 'utf8');
}

/** The second column, trimmed, of the docs table row that starts with `option` in backquotes. */
export function tableCell(text: string, option: string): string {
  const row = text.split('\n').find((line) => line.startsWith(`| \`${option}\` |`));
  if (!row) throw new Error(`no docs table row for \`${option}\``);
  return row.split('|')[2]!.trim();
}

/** The documented default of `option`: the backquoted value its table cell starts with. */
export function documentedDefault(text: string, option: string): string {
  return tableCell(text, option).replace(/^`([^`]*)`(.*)$/, '$1');
}
