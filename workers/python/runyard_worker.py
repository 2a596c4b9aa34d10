"""runyard warm worker for Python: standard library only.

Usage: python3 runyard_worker.py package.module:function

Imports the module once, says it is ready, then calls function(payload) for every task it
reads from stdin and answers on stdout, one JSON object per line (see workers/PROTOCOL.md).
The function may be a plain `def` or an `async def`; its return value must be JSON
serialisable. One task runs at a time.

stdout carries the protocol only. Before the handler is imported, file descriptor 1 is
pointed at stderr, so output of C extensions and of child processes cannot reach the
protocol stream, and `sys.stdout` is replaced: what the handler prints while a task runs
becomes that task's `log` messages (and goes to stderr between tasks). stdin is replaced by
/dev/null for the same reason.
"""

import importlib
import json
import os
import sys
import threading

# asyncio (~40 ms to import) and traceback are imported when first needed: the worker's own
# start should cost next to nothing beside the handler's imports.

PROTOCOL_VERSION = 1
SEPARATORS = (",", ":")


class Protocol:
    """Writes whole protocol lines to the saved stdout, one write per line, under a lock.

    The JSON is ASCII (json.dumps escapes the rest), so any string, even one holding a lone
    surrogate, makes a valid line.
    """

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message):
        self.send_line(json.dumps(message, separators=SEPARATORS, allow_nan=False))

    def send_line(self, text):
        data = (text + "\n").encode("ascii")
        with self._lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]


class LogWriter:
    """Stands in for sys.stdout: each complete line printed becomes a `log` message of the
    task that runs, or a stderr line when none does."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, protocol, fallback):
        self._protocol = protocol
        self._fallback = fallback
        self._pending = ""
        self._lock = threading.Lock()
        self.task_id = None

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not " + type(text).__name__)
        with self._lock:
            self._pending += text
            if "\n" not in self._pending:
                return len(text)
            *lines, self._pending = self._pending.split("\n")
            task_id = self.task_id
        for line in lines:
            self._emit(task_id, line)
        return len(text)

    def flush(self):
        with self._lock:
            rest, self._pending = self._pending, ""
            task_id = self.task_id
        if rest:
            self._emit(task_id, rest)

    def _emit(self, task_id, line):
        if task_id is None:
            self._fallback.write(line + "\n")
            self._fallback.flush()
        else:
            self._protocol.send({"id": task_id, "log": line})

    @property
    def buffer(self):
        # For code that writes bytes to sys.stdout.buffer.
        return _BytesToText(self)

    def isatty(self):
        return False

    def writable(self):
        return True

    def fileno(self):
        # Code that writes to the descriptor directly reaches stderr (fd 1 points there).
        return 1


class _BytesToText:
    def __init__(self, writer):
        self._writer = writer

    def write(self, data):
        self._writer.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self):
        self._writer.flush()


def load_handler(spec):
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(
            "Expected the handler as `package.module:function`, got " + json.dumps(spec)
        )
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(spec + " is not callable")
    return target


def describe(error):
    import traceback

    return {
        "type": type(error).__name__,
        "message": str(error),
        # From the frame below this helper's own call of the handler.
        "stack": "".join(
            traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        ),
    }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: runyard_worker.py package.module:function\n")
        return 2

    # Keep the real stdin and stdout for the protocol, then point descriptors 0 and 1 away
    # from them, so nothing the handler does (or starts) can read tasks or write answers.
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol = Protocol(os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, "r")
    log = LogWriter(protocol, sys.stderr)
    sys.stdout = log
    # The handler's module is found in the working directory, as with `python -m`.
    sys.path.insert(0, os.getcwd())

    try:
        handler = load_handler(sys.argv[1])
    except BaseException:
        import traceback

        # Before the ready line: the pool reports this stderr as the reason the worker failed.
        sys.stderr.write("runyard worker: could not load the handler " + sys.argv[1] + "\n")
        traceback.print_exc()
        sys.stderr.flush()
        return 1

    loop = None
    protocol.send({"ready": True, "pid": os.getpid(), "protocol": PROTOCOL_VERSION})

    while True:
        line = protocol_in.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        task = json.loads(line)
        task_id = task["id"]
        log.task_id = task_id
        try:
            result = handler(task.get("payload"))
            if hasattr(result, "__await__"):
                if loop is None:
                    import asyncio

                    loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(loop)
                result = loop.run_until_complete(result)
            answer = json.dumps(
                {"id": task_id, "ok": True, "result": result},
                separators=SEPARATORS,
                allow_nan=False,
            )
        except Exception as error:  # any error of the handler is the task's failure
            answer = None
            failure = describe(error)
        log.flush()
        log.task_id = None
        if answer is None:
            protocol.send({"id": task_id, "ok": False, "error": failure})
        else:
            protocol.send_line(answer)


if __name__ == "__main__":
    sys.exit(main())
