import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isDeadState, readProcessTable } from '../src/process/process-table.js';

const root = join(import.meta.dirname, '..');
const entry = join(root, 'src', 'index.ts');
/** Under a dot folder, so `tsc`'s `include` globs never see the generated files. */
const snippetDir = join(import.meta.dirname, '.snippets');

interface Snippet {
  heading: string;
  code: string;
  line: number;
}

/** Every ```ts runnable block of a Markdown file, named by the nearest heading above it. */
function runnableSnippets(markdown: string): Snippet[] {
  const snippets: Snippet[] = [];
  const lines = markdown.split('\n');
  let heading = '(no heading)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const title = /^#{1,6}\s+(.*)$/.exec(line);
    if (title) {
      heading = title[1]!.trim();
      continue;
    }
    if (line.trim() === '```ts runnable') {
      const start = i + 1;
      let end = start;
      while (end < lines.length && lines[end]!.trim() !== '```') end++;
      if (end === lines.length) throw new Error(`unclosed runnable block at line ${i + 1}`);
      snippets.push({ heading, code: lines.slice(start, end).join('\n'), line: i + 1 });
      i = end;
    } else if (line.startsWith('```')) {
      // skip any other fenced block, so a '#' inside it is not read as a heading
      let end = i + 1;
      while (end < lines.length && !lines[end]!.startsWith('```')) end++;
      i = end;
    }
  }
  return snippets;
}

/** Live (not zombie) descendants of this process. */
function liveDescendants(): Map<number, string> {
  const table = readProcessTable();
  const children = new Map<number, number[]>();
  for (const info of table.values()) {
    const list = children.get(info.ppid) ?? [];
    list.push(info.pid);
    children.set(info.ppid, list);
  }
  const found = new Map<number, string>();
  const queue = [...(children.get(process.pid) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const info = table.get(pid);
    if (!info || found.has(pid)) continue;
    if (!isDeadState(info.state)) found.set(pid, `pid ${pid} (pgid ${info.pgid})`);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** Descendants that appeared since `before` and are still alive after a short settling time. */
async function leftoverProcesses(before: ReadonlySet<number>): Promise<string[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const now = [...liveDescendants()].filter(([pid]) => !before.has(pid));
    if (now.length === 0 || Date.now() > deadline) return now.map(([, text]) => text);
    await sleep(25);
  }
}

const markdown = readFileSync(join(root, 'docs', 'patterns.md'), 'utf8');
const snippets = runnableSnippets(markdown);

afterAll(() => {
  rmSync(snippetDir, { recursive: true, force: true });
});

describe('docs/patterns.md runnable snippets', () => {
  it('has runnable snippets, each importing from runyard', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
    for (const snippet of snippets) expect(snippet.code).toMatch(/from 'runyard';/);
  });

  const counts = new Map<string, number>();
  snippets.forEach((snippet, index) => {
    const seen = (counts.get(snippet.heading) ?? 0) + 1;
    counts.set(snippet.heading, seen);
    const name = seen === 1 ? snippet.heading : `${snippet.heading} (${seen})`;

    it(name, async () => {
      const source = snippet.code.replaceAll("from 'runyard'", `from ${JSON.stringify(entry)}`);
      mkdirSync(snippetDir, { recursive: true });
      const file = join(snippetDir, `patterns-${index + 1}-line-${snippet.line}.ts`);
      writeFileSync(file, `${source}\n`);

      const before = new Set(liveDescendants().keys());
      try {
        await import(pathToFileURL(file).href);
      } finally {
        rmSync(file, { force: true });
      }
      expect(await leftoverProcesses(before)).toEqual([]);
    });
  });
});
