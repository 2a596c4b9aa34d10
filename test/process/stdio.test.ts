// The child's stdio as raw bytes: `onData` sees every chunk as read, and `input` takes a
// Readable that is piped to stdin. These are what a terminal front end (`runyard run`) needs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type OutputLine, run, start } from '../../src/index.js';
import { fixturesDir, killRecordedProcesses, recordPid } from '../helpers/processes.js';

const fixture = (name: string) => join(fixturesDir, name);
const node = process.execPath;

afterEach(async () => {
  vi.restoreAllMocks();
  await killRecordedProcesses();
});

/** Collects `onData` chunks per stream, copied as the option's contract asks. */
function recorder() {
  const chunks: { stdout: Buffer[]; stderr: Buffer[]; order: string[] } = {
    stdout: [],
    stderr: [],
    order: [],
  };
  const onData = (chunk: Uint8Array, stream: 'stdout' | 'stderr') => {
    chunks[stream].push(Buffer.from(chunk));
    chunks.order.push(stream);
  };
  return { chunks, onData, bytes: (stream: 'stdout' | 'stderr') => Buffer.concat(chunks[stream]) };
}

// Binary garbage, CRLF, a lone `\r` progress bar, a UTF-8 character across two writes, and no
// final newline: everything a line splitter changes.
const raw = Buffer.concat([
  Buffer.from('progress 10%\rprogress 90%\r\nline two\r\n'),
  Buffer.from([0xff, 0xfe, 0x00, 0x80]),
  Buffer.from('\n€ end', 'utf8'),
]);

describe('onData', () => {
  it('run(): gets the raw bytes, byte for byte and in order, while lines are still recorded', async () => {
    const { onData, bytes } = recorder();
    const lines: OutputLine[] = [];
    const euroAt = raw.indexOf(Buffer.from('€')) + 1;
    const result = await run(
      node,
      [fixture('write-bytes.js'), raw.toString('base64'), '20', `13,${euroAt}`],
      {
        onData,
        onLine: (line) => lines.push(line),
      },
    );
    expect(result.ok).toBe(true);
    expect(bytes('stdout').equals(raw)).toBe(true);
    expect(bytes('stderr')).toHaveLength(0);
    expect(lines.map((l) => l.text)).toEqual([
      'progress 10%\rprogress 90%',
      'line two',
      '\ufffd\ufffd\u0000\ufffd',
      '€ end',
    ]);
    expect(result.output).toMatchObject({ lines: 4, bytes: raw.length });
  });

  it('start(): each stream in its own order, every byte, and the OutputLog still numbered', async () => {
    const { onData, bytes, chunks } = recorder();
    const handle = start(node, [fixture('interleave.js'), '400'], { onData });
    const result = await handle.result;
    const expected = (tag: string, parity: number) =>
      Array.from({ length: 400 }, (_, i) => i + 1)
        .filter((i) => i % 2 === parity)
        .map((i) => `${tag} ${i}\n`)
        .join('');
    expect(bytes('stdout').toString()).toBe(expected('out', 1));
    expect(bytes('stderr').toString()).toBe(expected('err', 0));
    expect(chunks.order).toContain('stderr');
    expect(handle.output.lastSeq).toBe(400);
    expect(result.output.lines).toBe(400);
  });

  it('a function task: ctx.log() lines come as UTF-8 with their newline', async () => {
    const { onData, bytes } = recorder();
    const handle = start({ fn: (ctx) => ctx.log('one\ntwo €') }, { onData });
    await handle.result;
    expect(bytes('stdout').toString()).toBe('one\ntwo €\n');
    expect(handle.output.tail().map((l) => l.text)).toEqual(['one', 'two €']);
  });

  it('a throwing onData is reported and the run goes on to the end', async () => {
    const reported = vi.spyOn(console, 'error').mockImplementation(() => {});
    const result = await run(node, [fixture('print-lines.js'), '2000', '10'], {
      onData: () => {
        throw new Error('display went away');
      },
    });
    expect(result.ok).toBe(true);
    expect(result.output.lines).toBe(2000);
    expect(reported).toHaveBeenCalledWith('runyard: onData threw', expect.any(Error));
  });
});

describe('input as a Readable', () => {
  it('is piped to stdin and stdin ends when it ends', async () => {
    const text = 'héllo\n'.repeat(200_000);
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < text.length; i += 65_536) yield text.slice(i, i + 65_536);
      })(),
    );
    const result = await run(node, [fixture('echo-stdin.js')], { input: source });
    expect(result.stdout).toBe(text.slice(0, -1));
    expect(result.stderr).toBe(`read ${Buffer.byteLength(text)} bytes`);
  });

  it('a child that exits without reading is no error; the source is unpiped, not destroyed', async () => {
    const source = new PassThrough();
    // More than a pipe buffer holds, so the writes hit the closed pipe (EPIPE).
    source.write(Buffer.alloc(1024 * 1024, 0x61));
    const result = await run(node, [fixture('exit-with.js'), '0', 'did not read'], {
      input: source,
    });
    expect(result).toMatchObject({ ok: true, stdout: 'did not read' });
    expect(source.destroyed).toBe(false);
    expect(source.listenerCount('data')).toBe(0);
    // Still the caller's: it can be read from after the run.
    source.write('after');
    source.end();
    const rest: Buffer[] = [];
    for await (const chunk of source) rest.push(chunk as Buffer);
    expect(Buffer.concat(rest).toString().endsWith('after')).toBe(true);
  });

  it('a source that fails ends stdin: the child sees its end and the run settles', async () => {
    const source = new PassThrough();
    source.on('error', () => {});
    source.write('partial\n');
    const handle = start(node, [fixture('echo-stdin.js')], { input: source });
    for await (const line of handle.lines()) if (line.text === 'partial') break;
    source.destroy(new Error('upload aborted'));
    const result = await handle.result;
    expect(result.stdout).toBe('partial');
    expect(result.stderr).toBe('read 8 bytes');
  });

  it("a host's own stdin: the child's answer comes back, and the host exits by itself", async () => {
    const host = spawn(node, [fixture('process-stdin-host.mjs'), 'echo-stdin.js'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    recordPid(host.pid!);
    let out = '';
    host.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    host.stdin.end('from the terminal\n');
    const [code] = await once(host, 'close');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      status: 'succeeded',
      stdout: 'from the terminal',
      stderr: 'read 18 bytes',
    });
  });

  it('a host whose stdin stays open still exits once a child that never read it is done', async () => {
    const host = spawn(node, [fixture('process-stdin-host.mjs'), 'exit-with.js', '0', 'done'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    recordPid(host.pid!);
    let out = '';
    host.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    // The host's stdin is never ended: runyard must not keep the host alive reading it.
    const [code] = await once(host, 'close');
    host.stdin.destroy();
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      status: 'succeeded',
      stdout: 'done',
      stdinDestroyed: false,
    });
  });

  it('a Readable in a task is ERR_INVALID: tasks are data that can be recorded', async () => {
    await expect(
      run({ command: node, args: ['-e', ''], input: new PassThrough() as never }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID' });
  });
});
