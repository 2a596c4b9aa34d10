// The environment a child starts with: the caller's variables over process.env, the run's
// marker, and PYTHONUNBUFFERED for Python. Apart because each rule is a policy, not spawning.
import { basename } from 'node:path';

/** The variable every child and its descendants inherit, so escapees can be found at kill time. */
export const RUN_ID_VARIABLE = 'RUNYARD_RUN_ID';

/** `python`, `python3`, `python3.11` (`.exe` on Windows), or a script run through its shebang. */
const PYTHON_PROGRAM = /^python\d*(\.\d+)*(\.exe)?$|\.py$/i;

export interface ChildEnvOptions {
  runId: string;
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Merge `env` into `process.env`. @default true */
  extendEnv?: boolean | undefined;
  shell?: boolean | undefined;
}

/**
 * Copying process.env costs ~40 µs a spawn (each read goes through the OS environment), and
 * spawn() walks it once more. Instead the child's env inherits from process.env: spawn()
 * enumerates inherited keys too, and skips a variable whose value is undefined, which is how
 * the caller's removals take effect.
 */
export function childEnv(
  command: string,
  options: ChildEnvOptions,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> =
    options.extendEnv === false ? {} : Object.create(process.env);
  Object.assign(env, options.env);
  env[RUN_ID_VARIABLE] = options.runId;
  // Python block-buffers stdout into a pipe: its live output would come only at exit, and a
  // cancelled run would lose it. The caller's own value, even `undefined`, wins.
  if (
    isPythonProgram(command, options.shell) &&
    !Object.hasOwn(options.env ?? {}, 'PYTHONUNBUFFERED')
  ) {
    env.PYTHONUNBUFFERED = '1';
  }
  return env;
}

/** Whether the program is a Python interpreter; with `shell`, the first word of the command. */
export function isPythonProgram(command: string, shell?: boolean): boolean {
  const program = shell ? (command.trimStart().split(/\s/, 1)[0] ?? '') : command;
  return PYTHON_PROGRAM.test(basename(program));
}
