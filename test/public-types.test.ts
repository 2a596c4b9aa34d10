import { describe, expectTypeOf, it } from 'vitest';
import type {
  ErrorCode,
  Executor,
  OutputLine,
  RunHandle,
  RunRecord,
  RunResult,
  RunStatus,
  RunStore,
  TaskManager,
} from '../src/index.js';
import * as runyard from '../src/index.js';

// Checked by `tsc` as part of `npm test`: these pin the public contract of DESIGN.md.
describe('public types', () => {
  it('run() and start()', () => {
    expectTypeOf(runyard.run).toBeCallableWith('ffmpeg', ['-i', 'a.mov'], { timeoutMs: 1000 });
    expectTypeOf(runyard.run).toBeCallableWith({ fn: () => 1 });
    // Type-level only: nothing here may start a program.
    expectTypeOf<ReturnType<typeof runyard.run>>().resolves.toEqualTypeOf<RunResult>();
    expectTypeOf<ReturnType<typeof runyard.start>>().toEqualTypeOf<RunHandle>();
    expectTypeOf<RunHandle['lines']>().returns.toEqualTypeOf<AsyncIterableIterator<OutputLine>>();
    expectTypeOf<RunHandle['cancel']>().returns.resolves.toEqualTypeOf<RunResult>();
  });

  it('the run model', () => {
    expectTypeOf<RunStatus>().toEqualTypeOf<
      'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'interrupted'
    >();
    expectTypeOf<RunRecord['output']>().toEqualTypeOf<{
      lines: number;
      bytes: number;
      truncated: boolean;
    }>();
    expectTypeOf<RunResult>().toMatchTypeOf<RunRecord>();
    expectTypeOf<RunResult['ok']>().toEqualTypeOf<boolean>();
    expectTypeOf<OutputLine['stream']>().toEqualTypeOf<'stdout' | 'stderr' | 'system'>();
    expectTypeOf<runyard.RunyardError['code']>().toEqualTypeOf<ErrorCode>();
  });

  it('executor, task manager and store', () => {
    expectTypeOf<Executor['runAll']>().returns.resolves.toEqualTypeOf<RunResult[]>();
    expectTypeOf<TaskManager['launch']>().returns.resolves.toEqualTypeOf<RunRecord>();
    expectTypeOf<TaskManager['recover']>().returns.resolves.toMatchTypeOf<{
      interrupted: number;
      requeued: number;
    }>();
    expectTypeOf(runyard.openStore).returns.resolves.toEqualTypeOf<RunStore>();
    expectTypeOf<RunStore['list']>().returns.resolves.toEqualTypeOf<runyard.RunPage>();
  });
});
