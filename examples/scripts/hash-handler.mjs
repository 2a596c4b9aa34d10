// The handler of a ProcessPool worker: imported once per worker process, called once per task
// with the task's payload. What it returns goes back to the caller as JSON.
import { createHash } from 'node:crypto';

export function hash({ text, rounds = 1 }) {
  let digest = String(text);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest('hex');
  return { digest, pid: process.pid };
}
