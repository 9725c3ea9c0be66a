"""Running a target-side program through a --python command line, bounded in time and size.

The target is not under our control: it may flood its output, hang, leave a detached process
holding its stdout, print something that looks like a result, or exit badly after a good one.
So the program goes in on stdin while stdout and stderr are read as they come, at most
OUTPUT_CAP bytes in all; the result line (marked with the run's nonce) is parsed the moment it
arrives; reading stops shortly after the direct child exits, whoever else still holds the pipe;
and every wait, including the one after a kill, has a deadline. The child runs in its own
session, and whatever happens its whole process group is killed before run_program returns.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from iodetect import errors
from iodetect.files import parse_json
from iodetect.target import MARKER, Program
from iodetect.text import clean, show_command

DEFAULT_TIMEOUT = 30.0
OUTPUT_CAP = 16 * 1024 * 1024  # bytes of stdout and stderr together; a result is under 1 MiB
EXIT_GRACE = 1.0  # after the direct child exits, its output may stay open this long
RESULT_GRACE = 5.0  # after its result line, the child has this long to exit
KILL_WAIT = 5.0  # after SIGKILL, the child has this long to be reaped
STDERR_TAIL = 64 * 1024
_CHUNK = 64 * 1024
_TICK = 0.05  # how often exit is polled where the platform cannot signal it

Cause = Literal["missing", "exit", "silent", "malformed", "deadline", "flood", "duplicate", "hang"]


class TargetError(errors.TargetError):
    """The target could not be run or did not answer as expected; one line, and why (`cause`).

    missing: the command cannot be started; exit: it exited non-zero or was killed by a signal;
    silent: it exited without a result; malformed: its result is not valid JSON; deadline: no
    answer in time; flood: more output than OUTPUT_CAP; duplicate: two results in one run;
    hang: it printed its result but did not exit. `result` is the parsed result when one
    arrived before the failure (a report the caller may still want to show).
    """

    def __init__(self, message: str, cause: Cause = "exit", result: Any = None) -> None:
        super().__init__(message)
        self.cause: Cause = cause
        self.result = result


@dataclass(frozen=True)
class Outcome:
    result: Any  # the JSON document the program printed after its marker
    stderr: str  # the last STDERR_TAIL bytes of its stderr
    seconds: float
    impostors: int = 0  # lines that imitate a result line without this run's nonce: ignored
    lingering: bool = False  # a process outside its group kept its output open after it exited


def split_command(command: str | Sequence[str] | None) -> list[str]:
    """The argv for a --python command line; None means this interpreter."""
    if command is None:
        return [sys.executable]
    if not isinstance(command, str):
        return list(command)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TargetError(
            f"cannot parse --python command {show_command(command.split())}: {exc}", "missing"
        ) from None
    if not argv:
        raise TargetError("the --python command is empty", "missing")
    return argv


# --- the processes started, so that a signal can stop every one of them ------------------------

_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Kill the process group of every target still running (on SIGTERM, SIGHUP, Ctrl-C)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes], wait: float = KILL_WAIT) -> bool:
    """Kill the child and everything in its process group, then reap it within `wait` seconds.

    True when it is reaped. The child is still unreaped here (see _exited), so its process
    group id cannot have been reused by another process.
    """
    if sys.platform == "win32":  # no process groups: the child alone
        with contextlib.suppress(OSError):
            proc.kill()
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return False
    return True


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Has the child exited? Where possible without reaping it (WNOWAIT), so that its process
    group can still be killed safely afterwards."""
    if proc.returncode is not None:
        return True
    if sys.platform != "win32" and hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return proc.poll() is not None
    return proc.poll() is not None


# --- reading what the target prints ----------------------------------------------------------


class _Collector:
    """Everything kept of the target's output: its result, its last line, a tail of stderr.

    Memory stays bounded whatever the target prints: complete lines are scanned for the marker
    without being kept, and only a partial line (at most OUTPUT_CAP) waits for its newline.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode("utf-8")
        self.generic = MARKER.encode("utf-8")
        self.total = 0
        self.partial = bytearray()
        self.tail = b""  # the end of stdout, for the one-line reason when there is no result
        self.err_tail = bytearray()
        self.result: Any = None
        self.has_result = False
        self.result_at: float | None = None
        self.malformed: str | None = None
        self.duplicate = False
        self.impostors = 0

    def feed(self, stream: str, chunk: bytes) -> None:
        self.total += len(chunk)
        if stream == "stderr":
            self.err_tail += chunk
            if len(self.err_tail) > 2 * STDERR_TAIL:
                del self.err_tail[:-STDERR_TAIL]
            return
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self.partial += chunk
            return
        block = bytes(self.partial) + chunk[:cut]
        self.partial = bytearray(chunk[cut + 1 :])
        self._scan(block)

    def close(self) -> None:
        """End of stdout: the last partial line is a line too."""
        if self.partial:
            block, self.partial = bytes(self.partial), bytearray()
            self._scan(block)

    def _scan(self, block: bytes) -> None:
        self.tail = (self.tail + block[-4096:])[-4096:]
        if self.generic not in block:
            return
        start = 0 if block.startswith(self.generic) else -1
        if start < 0:
            found = block.find(b"\n" + self.generic)
            start = found + 1 if found >= 0 else -1
        while start >= 0:
            end = block.find(b"\n", start)
            self._line(block[start:] if end < 0 else block[start:end])
            if end < 0:
                return
            found = block.find(b"\n" + self.generic, end)
            start = found + 1 if found >= 0 else -1

    def _line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.startswith(self.marker):
            self.impostors += 1
            return
        if self.has_result:
            self.duplicate = True
            return
        self.has_result = True
        self.result_at = time.monotonic()
        try:
            self.result = parse_json(line[len(self.marker) :].decode("utf-8", "replace"))
        except ValueError as exc:
            self.malformed = clean(exc, 200)

    def last_stdout(self) -> str:
        return last_line(self.tail.decode("utf-8", "replace"))

    def last_stderr(self) -> str:
        return last_line(bytes(self.err_tail).decode("utf-8", "replace"))

    def stderr(self) -> str:
        return bytes(self.err_tail[-STDERR_TAIL:]).decode("utf-8", "replace")


# --- moving bytes: one selector loop on POSIX, threads on Windows ------------------------------


class _Pipes:
    """stdin written and stdout/stderr read without blocking; events as (stream, bytes)."""

    proc: subprocess.Popen[bytes]
    sel: selectors.BaseSelector
    data: memoryview
    reading: int
    pidfd: int | None

    def __init__(self, proc: subprocess.Popen[bytes], data: bytes) -> None:
        if sys.platform == "win32":  # pipes cannot be selected there: _ThreadPipes
            raise NotImplementedError("_Pipes is for POSIX")
        self.proc = proc
        self.sel = selectors.DefaultSelector()
        self.data = memoryview(data)
        self.reading = 0
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            os.set_blocking(pipe.fileno(), False)
            self.sel.register(pipe.fileno(), selectors.EVENT_READ, name)
            self.reading += 1
        if self.data:
            os.set_blocking(proc.stdin.fileno(), False)
            self.sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
        else:
            self._close_stdin()
        self.pidfd: int | None = None
        if hasattr(os, "pidfd_open"):  # Linux 5.3+: the exit itself wakes the loop
            with contextlib.suppress(OSError):
                self.pidfd = os.pidfd_open(proc.pid)
                self.sel.register(self.pidfd, selectors.EVENT_READ, "exit")

    @property
    def tick(self) -> float:
        return 1.0 if self.pidfd is not None else _TICK

    def _close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def wait(self, timeout: float) -> list[tuple[str, bytes]]:
        events: list[tuple[str, bytes]] = []
        for key, _mask in self.sel.select(max(0.0, timeout)):
            name = key.data
            if name == "exit":
                self.sel.unregister(key.fd)
            elif name == "stdin":
                try:
                    n = os.write(key.fd, self.data[:_CHUNK])
                    self.data = self.data[n:]
                except BlockingIOError:
                    continue
                except OSError:  # it closed its stdin (it does not read a program): fine
                    self.data = self.data[:0]
                if not self.data:
                    self.sel.unregister(key.fd)
                    self._close_stdin()
            else:
                try:
                    chunk = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self.sel.unregister(key.fd)
                    self.reading -= 1
                events.append((name, chunk))
        return events

    def close(self) -> None:
        self.sel.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        self._close_stdin()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class _ThreadPipes:
    """The same with a thread per pipe, where pipes cannot be selected (Windows)."""

    tick = _TICK

    def __init__(self, proc: subprocess.Popen[bytes], data: bytes) -> None:
        self.proc = proc
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.reading = 2
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=self._write, args=(proc.stdin, data), daemon=True).start()
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            threading.Thread(target=self._read, args=(name, pipe), daemon=True).start()

    def _write(self, pipe: IO[bytes], data: bytes) -> None:
        with contextlib.suppress(OSError):
            pipe.write(data)
        with contextlib.suppress(OSError):
            pipe.close()

    def _read(self, name: str, pipe: IO[bytes]) -> None:
        while True:
            try:
                chunk = pipe.read1(_CHUNK)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                chunk = b""
            self.events.put((name, chunk))
            if not chunk:
                return

    def wait(self, timeout: float) -> list[tuple[str, bytes]]:
        try:
            first = self.events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return []
        got = [first]
        with contextlib.suppress(queue.Empty):
            while len(got) < 64:
                got.append(self.events.get_nowait())
        self.reading -= sum(1 for _, chunk in got if not chunk)
        return got

    def close(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


Ending = Literal["exited", "deadline", "flood", "hang"]


def _exchange(
    pipes: _Pipes | _ThreadPipes,
    proc: subprocess.Popen[bytes],
    got: _Collector,
    deadline: float,
    cap: int,
    result_grace: float,
) -> tuple[Ending, bool]:
    """Move bytes until the child has exited and its output is closed (or EXIT_GRACE after its
    exit: a detached grandchild may hold the pipe forever), the deadline, the cap, or a result
    with no exit. Returns how it ended, and whether the output was still held open."""
    exited_at: float | None = None
    while True:
        now = time.monotonic()
        if got.total > cap:
            return "flood", False
        if exited_at is None and _exited(proc):
            exited_at = now
        if exited_at is not None and (pipes.reading == 0 or now - exited_at >= EXIT_GRACE):
            return "exited", pipes.reading > 0
        if now >= deadline:
            return "deadline", False
        if got.result_at is not None and exited_at is None and now - got.result_at > result_grace:
            return "hang", False
        wait = min(deadline - now, pipes.tick)
        if exited_at is not None:
            wait = min(wait, exited_at + EXIT_GRACE - now)
        elif got.result_at is not None:
            wait = min(wait, got.result_at + result_grace - now + 0.01)
        for stream, chunk in pipes.wait(wait):
            if chunk:
                got.feed(stream, chunk)
            elif stream == "stdout":
                got.close()


def run_program(
    program: Program | str,
    command: str | Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    what: str = "target",
    cap: int = OUTPUT_CAP,
    result_grace: float = RESULT_GRACE,
) -> Outcome:
    """Send `program` to the interpreter on stdin and return the JSON it printed after its
    marker; TargetError (with its cause) otherwise. Its process group is killed in every case
    before this returns, and on any exception (a signal's among them) before that propagates.
    """
    prog = program if isinstance(program, Program) else Program(program)
    argv = split_command(command)
    shown = show_command(argv)
    start = time.monotonic()
    proc = None
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        with _LIVE_LOCK:
            _LIVE.add(proc)
    except FileNotFoundError:
        raise TargetError(f"{what}: command not found: {clean(argv[0])}", "missing") from None
    except OSError as exc:
        raise TargetError(
            f"{what}: cannot run {shown}: {clean(exc.strerror or exc)}", "missing"
        ) from None
    except BaseException:  # a stop signal between the start and the registration
        if proc is not None:
            kill_group(proc)
        raise
    got = _Collector(prog.marker)
    pipes: _Pipes | _ThreadPipes | None = None
    reaped = False
    try:
        data = prog.text.encode("utf-8")
        pipes = _ThreadPipes(proc, data) if sys.platform == "win32" else _Pipes(proc, data)
        ending, lingering = _exchange(pipes, proc, got, start + timeout, cap, result_grace)
    finally:
        # Every path, a signal's too: nothing of the target's group outlives this call.
        reaped = kill_group(proc)
        if pipes is not None:
            pipes.close()
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    seconds = time.monotonic() - start
    killed = (
        "its process group was killed"
        if reaped
        else f"its process group was sent SIGKILL but it had not exited {KILL_WAIT:g} s later"
    )
    result = got.result if got.has_result and got.malformed is None else None
    if ending == "flood":
        raise TargetError(
            f"{what}: {shown} printed more than {cap // (1024 * 1024)} MiB; {killed}", "flood"
        )
    if ending == "hang" or (ending == "deadline" and got.has_result):
        raise TargetError(
            f"{what}: {shown} printed its result but had not exited "
            f"{min(result_grace, timeout):g} s later; {killed}",
            "hang",
            result,
        )
    if ending == "deadline":
        raise TargetError(
            f"{what}: {shown} gave no answer within {timeout:g} s; {killed}", "deadline"
        )
    if got.duplicate:
        raise TargetError(
            f"{what}: {shown} printed more than one result line of this run; none is trusted",
            "duplicate",
        )
    code = proc.returncode
    if code != 0:
        why = (
            f"was killed by {_signal_name(-code)}"
            if code is not None and code < 0
            else f"exited with status {code}"
        )
        reason = got.last_stderr()
        raise TargetError(
            f"{what}: {shown} {why}"
            + (" after printing its result" if got.has_result else "")
            + f": {reason}",
            "exit",
            result,
        )
    if not got.has_result:
        reason = got.last_stdout()
        if reason == "(no output)":
            reason = got.last_stderr()
        if got.impostors:
            reason += (
                f" ({got.impostors} line(s) that look like a result but lack this run's nonce "
                "were ignored)"
            )
        raise TargetError(f"{what}: {shown} did not print an iodetect result: {reason}", "silent")
    if got.malformed is not None:
        raise TargetError(
            f"{what}: {shown} printed a malformed result: {got.malformed}", "malformed"
        )
    return Outcome(result, got.stderr(), seconds, got.impostors, lingering)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def last_line(text: str) -> str:
    """The last non-empty line of some output, cleaned and shortened: the usual one-line reason."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    return clean(lines[-1], 200)
