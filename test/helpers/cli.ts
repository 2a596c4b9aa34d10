import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** The built command: CLI tests run what users run (`npm test` builds first). */
export const cliPath = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `runyard <args>` to its end. `home` becomes RUNYARD_HOME; `input` is written to stdin
 * (otherwise stdin is /dev/null).
 */
export async function runCli(
  args: readonly string[],
  options: { home?: string; input?: string } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: options.home === undefined ? process.env : { ...process.env, RUNYARD_HOME: options.home },
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const [code] = (await once(child, 'close')) as [number];
  return { code, stdout, stderr };
}
