/*
 * Run ids: time-ordered, random-tailed, cheap to make in bulk (random bytes drawn in blocks).
 */
import { randomFillSync } from 'node:crypto';

const random = new Uint8Array(4096);
let randomOffset = random.length;
let lastMs = 0;
let sequence = 0;

function randomBytes(count: number): Uint8Array {
  if (randomOffset + count > random.length) {
    randomFillSync(random);
    randomOffset = 0;
  }
  const bytes = random.subarray(randomOffset, randomOffset + count);
  randomOffset += count;
  return bytes;
}

const hex: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A UUIDv7: 48 bits of Unix milliseconds, then a 12-bit counter that keeps ids made in the
 * same millisecond in order, then random bits. Sorting ids as strings sorts them by creation.
 */
export function newRunId(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    // More than 4096 ids in one millisecond: borrow the next millisecond to stay ordered.
    lastMs += 1;
    sequence = 0;
  }
  const ms = lastMs;
  const rnd = randomBytes(8);
  const b = new Uint8Array(16);
  b[0] = Math.floor(ms / 2 ** 40) & 0xff;
  b[1] = Math.floor(ms / 2 ** 32) & 0xff;
  b[2] = (ms >>> 24) & 0xff;
  b[3] = (ms >>> 16) & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = 0x70 | (sequence >>> 8);
  b[7] = sequence & 0xff;
  b[8] = 0x80 | (rnd[0]! & 0x3f);
  for (let i = 1; i < 8; i++) b[8 + i] = rnd[i]!;
  let out = '';
  for (let i = 0; i < 16; i++) {
    out += hex[b[i]!];
    if (i === 3 || i === 5 || i === 7 || i === 9) out += '-';
  }
  return out;
}
