// Small tmpfs mounts for the store's fault tests: a real disk that fills up, a real file system
// remounted read-only. Mounting needs root (the suite runs as root here and in CI).
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why tmpfs mounts cannot be made here, or `undefined` when they can. */
export function tmpfsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const probe = mkdtempSync(join(tmpdir(), 'runyard-store-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe]);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

export interface Tmpfs {
  readonly dir: string;
  /** Writes a filler file until the file system has no byte left. */
  fill(): void;
  /** Deletes the filler file. */
  free(): void;
  remountReadOnly(): void;
  /** Unmounts and removes the folder. Close every file on it first. */
  [Symbol.asyncDispose](): Promise<void>;
}

export async function mountTmpfs(sizeBytes: number): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'runyard-store-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      try {
        // Big chunks first, then single bytes: tmpfs allocates whole pages, and every one goes.
        for (const size of [64 * 1024, 4096, 1]) {
          const chunk = Buffer.alloc(size, 0x5a);
          try {
            for (;;) writeSync(fd, chunk);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    remountReadOnly() {
      execFileSync('mount', ['-o', 'remount,ro', dir]);
    },
    async [Symbol.asyncDispose]() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        // Still busy (a test failed before closing a file): detach it now, gone once released.
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
