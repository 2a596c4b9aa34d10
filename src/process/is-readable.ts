/*
 * `isReadable()`: tells a Node stream from other input by its shape. Apart from the spawn code
 * so that checking a task's options loads no child-process code.
 */
import type { Readable } from 'node:stream';

/** A Node `Readable`, by its shape: streams from another copy of `node:stream` count too. */
export function isReadable(value: unknown): value is Readable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Readable).pipe === 'function' &&
    typeof (value as Readable).unpipe === 'function' &&
    typeof (value as Readable).on === 'function'
  );
}
