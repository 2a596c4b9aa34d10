/*
 * Who owns a run: this process's pid, host and start time, and the check that an owner
 * recorded earlier is still the same live process.
 */
import { hostname } from 'node:os';
import type { RunOwner } from '../core/types.js';
import { isDeadState, readProcessInfo } from './process-table.js';

/** This process as the owner of the runs it starts. */
export function currentOwner(): RunOwner {
  return {
    pid: process.pid,
    host: hostname(),
    startTime: readProcessInfo(process.pid)?.startTime ?? 0,
  };
}

export type OwnerState = 'self' | 'alive' | 'dead' | 'unknown';

/**
 * Whether the process that owns a run still lives. A pid alone is not enough, since pids are
 * reused: the start time must match too. Owners on another host are `unknown`, and so is a
 * run recorded without an owner: nothing proves it dead, so nothing may end it.
 */
export function ownerState(owner: RunOwner | undefined, self: RunOwner): OwnerState {
  if (owner === undefined) return 'unknown';
  if (owner.host !== self.host) return 'unknown';
  if (owner.pid === self.pid && owner.startTime === self.startTime) return 'self';
  return isSameProcessAlive(owner.pid, owner.startTime) ? 'alive' : 'dead';
}

/** True when `pid` is alive and is still the process that started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime: number | undefined): boolean {
  const info = readProcessInfo(pid);
  if (info === undefined || isDeadState(info.state)) return false;
  // Where the start time is unknown (not Linux), the pid is all there is to go on.
  return startTime === undefined || startTime === 0 || info.startTime === startTime;
}

/** The start time of a live process, to record beside its pid. */
export function processStartTime(pid: number): number | undefined {
  return readProcessInfo(pid)?.startTime;
}
