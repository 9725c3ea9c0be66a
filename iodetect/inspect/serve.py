"""--serve CMD: start the real launch command, inspect every worker from outside, stop it all.

The complaint this answers is "the loop I configured is not the loop that runs": servers
choose their loop in their own ways (uvicorn's --loop, its --reload and --workers paths,
gunicorn's worker classes), so the only proof is the running worker. The command runs in a
session of its own; every process seen in it (its descendants, and any that left for another
process group but kept the session) is remembered with its start time, and all of them are
stopped at the end, also when the inspection fails or is interrupted.

A worker is a Python process that holds the listening socket and has no descendant holding it
(uvicorn's and gunicorn's supervisors hold it too). It is ready when one of its threads waits
in an event-wait call or in accept, the port accepts a connection, and the set of workers has
stayed the same over two looks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import IO, Any

from iodetect.errors import InspectError, ServeError
from iodetect.inspect import inspector, procfs, sockets, syscalls, targets
from iodetect.inspect.model import Finding, Report, Serve
from iodetect.text import clean, show_command

INSPECT_FLOOR = 5.0  # seconds the workers' reading has, however long the start took
POLL = 0.25
GRACE = 5.0  # from SIGTERM to SIGKILL
OUTPUT_TAIL = 64 * 1024

_PYTHONISH = re.compile(r"/(python|pypy)[0-9.]*t?$|/libpython\d|\.cpython-\d+")


@dataclass(frozen=True)
class _State:
    workers: tuple[int, ...]
    supervisors: tuple[int, ...]
    listening: tuple[str, ...]
    ready: bool
    why: str


def _session(pid: int) -> int | None:
    try:
        fields = procfs.stat_fields(procfs.read_text(procfs.path(pid, "stat")))
        return int(fields[3])
    except (OSError, ValueError, IndexError):
        return None


def _tree(root: int, seen: dict[int, int]) -> list[int]:
    """The command's processes now: descendants of `root` and members of its session."""
    tree = targets.parents()
    pids = targets.descendants(root, tree) | {root}
    pids |= {pid for pid in tree if _session(pid) == root}
    alive = []
    for pid in sorted(pids):
        try:
            started = procfs.start_time(pid)
        except procfs.ProcessGone:
            continue
        seen.setdefault(pid, started)
        if seen[pid] == started:
            alive.append(pid)
    return alive


def _is_python(pid: int) -> bool:
    try:
        if _PYTHONISH.search(procfs.readlink(procfs.path(pid, "exe"))):
            return True
        data = procfs.read_bytes(procfs.path(pid, "maps"), procfs.MAPS_LIMIT)[0]
    except OSError:
        return False
    return b"/libpython" in data or b".cpython-" in data


def _waiting(pid: int) -> bool:
    """Whether a thread of `pid` waits in an event call or accept right now (one look)."""
    try:
        tids = [t for t in os.listdir(procfs.path(pid, "task")) if t.isdigit()][:64]
        header = procfs.read_bytes(procfs.path(pid, "exe"), 64)[0]
    except OSError:
        return False
    arch = syscalls.elf_machine(header)
    for tid in tids:
        try:
            line = procfs.read_text(procfs.path(pid, "task", tid, "syscall"), 512)
        except OSError:
            continue
        call = syscalls.parse(line, arch)
        if call.kind in syscalls.EVENT_KINDS or call.kind == "accept":
            return True
    return False


def _connectable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect((host, int(port)))
        return True
    except (OSError, ValueError):
        return False


def _look(root: int, seen: dict[int, int], port: int | None, want: int | None) -> _State:
    pids = _tree(root, seen)
    listening: dict[int, sockets.Socket] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            listening.update(sockets.listening_inodes(pid, port))
    if not listening:
        where = f"on port {port}" if port else "on any TCP port"
        return _State((), (), (), False, f"{len(pids)} process(es), none listening {where} yet")
    held, _denied = targets.holders(set(listening), pids)
    tree = targets.parents()
    holders = set(held)
    workers = sorted(
        pid for pid in holders if _is_python(pid) and not (targets.descendants(pid, tree) & holders)
    )
    supervisors = sorted(holders - set(workers))
    labels = sorted(
        {f"{s.local}" for i, s in listening.items() if any(i in v for v in held.values())}
    )
    if not workers:
        return _State((), tuple(supervisors), tuple(labels), False, "no Python worker holds it")
    if want is not None and len(workers) < want:
        return _State(
            tuple(workers),
            tuple(supervisors),
            tuple(labels),
            False,
            f"{len(workers)} of {want} workers",
        )
    busy = [pid for pid in workers if not _waiting(pid)]
    if busy:
        return _State(tuple(workers), tuple(supervisors), tuple(labels), False, f"starting: {busy}")
    if not all(_connectable(a) for a in labels):
        return _State(
            tuple(workers), tuple(supervisors), tuple(labels), False, "port not accepting yet"
        )
    return _State(tuple(workers), tuple(supervisors), tuple(labels), True, "ready")


def _tail(log: IO[bytes]) -> tuple[str, ...]:
    try:
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - OUTPUT_TAIL))
        text = log.read().decode("utf-8", "replace")
    except OSError:
        return ()
    lines = [clean(ln, 200, controls="escape") for ln in text.splitlines() if ln.strip()]
    return tuple(lines[-8:])


def _signal_all(root: int, seen: dict[int, int], sig: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - inspect is Linux only
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, sig)
    for pid, started in seen.items():
        if procfs.alive(pid, started):  # alive: neither gone, reused nor a zombie
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def _left(seen: dict[int, int]) -> list[int]:
    return [pid for pid, st in seen.items() if procfs.alive(pid, st)]


def stop(
    proc: subprocess.Popen[bytes], seen: dict[int, int], grace: float = GRACE
) -> tuple[float, tuple[int, ...]]:
    """SIGTERM everything started, SIGKILL what is left after `grace`; (seconds, survivors)."""
    start = time.monotonic()
    with contextlib.suppress(InspectError, OSError):
        _tree(proc.pid, seen)  # pick up processes started since the last look
    if sys.platform == "win32":  # pragma: no cover
        proc.kill()
        return 0.0, ()
    _signal_all(proc.pid, seen, signal.SIGTERM)
    end = start + grace
    while time.monotonic() < end:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.05)
        if proc.poll() is not None and not _left(seen):
            break
        time.sleep(0.05)
    if proc.poll() is None or _left(seen):
        _signal_all(proc.pid, seen, signal.SIGKILL)
        end = time.monotonic() + 5.0
        while time.monotonic() < end and (proc.poll() is None or _left(seen)):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1.0)
    return time.monotonic() - start, tuple(_left(seen))


def argv_of(command: str) -> list[str]:
    """The --serve command as argv; ServeError (exit 2) when it cannot be parsed or is empty."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ServeError(f"cannot parse the --serve command: {exc}") from None
    if not argv:
        raise ServeError("the --serve command is empty")
    return argv


def serve(
    command: str,
    options: inspector.Options,
    port: int | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Start `command`, wait for its workers, inspect them, stop everything. Never leaves a
    process behind it started, also on errors and Ctrl-C; raises ServeError (exit 2) only when
    the command cannot be started at all."""
    say = progress or (lambda _m: None)
    argv = argv_of(command)
    options = replace(options, serve=True)
    start = time.monotonic()
    findings: list[Finding] = []
    seen: dict[int, int] = {}
    shown = show_command(argv, 200, controls="escape")
    # SIGINT, SIGTERM and SIGHUP unwind through the finally clauses below (iodetect.cli), so
    # everything the command started is stopped on every path.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally clause below
    try:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            missing = clean(argv[0], 120, controls="escape")
            raise ServeError(f"--serve: command not found: {missing}") from None
        except OSError as exc:
            raise ServeError(f"--serve: cannot run {shown}: {exc.strerror or exc}") from None
        with contextlib.suppress(procfs.ProcessGone):
            seen[proc.pid] = procfs.start_time(proc.pid)
        try:
            report = _serve(proc, shown, options, port, workers, say, findings, seen, log, start)
        finally:
            say("stopping everything the command started")
            stop_seconds, left = stop(proc, seen)
    finally:
        log.close()
    return _stopped(report, stop_seconds, left, len(seen), start)


def _serve(
    proc: subprocess.Popen[bytes],
    shown: str,
    options: inspector.Options,
    port: int | None,
    want: int | None,
    say: Callable[[str], None],
    findings: list[Finding],
    seen: dict[int, int],
    log: IO[bytes],
    start: float,
) -> Report:
    deadline = procfs.Deadline(options.timeout)
    state = _State((), (), (), False, "not started")
    previous: tuple[int, ...] | None = None
    say(f"started {shown}; waiting for its workers")
    while not deadline.passed():
        code = proc.poll()
        state = _look(proc.pid, seen, port, want)
        if code is not None and not state.workers and not _left(seen):
            findings.append(
                Finding(
                    "serve",
                    "fail",
                    f"{shown} exited with status {code} before serving",
                    "run the command by hand to see why; its last output is in the report",
                    "serve.exited",
                )
            )
            return _report(shown, findings, [], state, None, log, start, options, False)
        if state.ready and state.workers == previous:
            break
        previous = state.workers if state.ready else None
        time.sleep(POLL)
    else:
        findings.append(
            Finding(
                "serve",
                "fail",
                f"{shown} was not serving within {options.timeout:g} s ({state.why})",
                "raise --timeout if the service starts slowly; pass --port when it listens on "
                "several ports, --workers N to wait for N workers",
                "serve.timeout",
            )
        )
        return _report(shown, findings, [], state, None, log, start, options, True)
    ready = time.monotonic() - start
    findings.append(
        Finding(
            "serve",
            "ok",
            f"started {shown}: {len(state.workers)} worker(s) "
            f"({', '.join(map(str, state.workers))}) serving on {', '.join(state.listening)} "
            f"after {ready:.1f} s",
            None,
            "serve.started",
        )
    )
    exposed = [a for a in state.listening if not sockets.loopback(a)]
    if exposed:
        findings.append(
            Finding(
                "serve",
                "warn",
                f"it listens on {', '.join(exposed)}, reachable from other hosts while it runs",
                "bind the check to loopback: --host 127.0.0.1 (uvicorn), -b 127.0.0.1:PORT "
                "(gunicorn)",
                "serve.exposed",
            )
        )
    roles = dict.fromkeys(state.workers, "worker")
    say(f"inspecting {len(state.workers)} worker(s)")
    # What the start left of --timeout, and never less than the little that reading a few
    # workers from /proc takes: the whole run stays within --timeout plus that floor.
    left = procfs.Deadline(max(INSPECT_FLOOR, deadline.left()))
    inspections, found, skipped, _errors = inspector.inspect_pids(
        state.workers, options, roles, progress=say, deadline=left
    )
    findings += found
    for line in skipped:
        findings.append(Finding("serve", "fail", line, None, "serve.worker"))
    return _report(shown, findings, inspections, state, ready, log, start, options, True, skipped)


def _report(
    shown: str,
    findings: list[Finding],
    inspections: list[Any],
    state: _State,
    ready: float | None,
    log: IO[bytes],
    start: float,
    options: inspector.Options,
    started: bool,
    skipped: list[str] | None = None,
) -> Report:
    serve_view = Serve(
        command=shown,
        started=started,
        ready_seconds=round(ready, 2) if ready is not None else None,
        workers=state.workers,
        supervisors=state.supervisors,
        listening=state.listening,
        stopped=False,
        stop_seconds=None,
        output_tail=_tail(log) if ready is None else (),
    )
    return Report(
        tuple(inspections),
        tuple(findings),
        time.monotonic() - start,
        options.strict,
        serve=serve_view,
        skipped=tuple(skipped or ()),
    )


def _stopped(
    report: Report, seconds: float, left: tuple[int, ...], count: int, start: float
) -> Report:
    """The report with the outcome of stopping everything: a finding and figures."""
    assert report.serve is not None
    serve_view = replace(
        report.serve, stopped=not left, stop_seconds=round(seconds, 2), left_running=left
    )
    if left:
        f = Finding(
            "serve",
            "fail",
            f"{len(left)} process(es) survived SIGTERM and SIGKILL: {', '.join(map(str, left))}",
            "they run as another user or in another PID namespace; stop them by hand",
            "serve.stopped",
        )
    else:
        f = Finding(
            "serve",
            "ok",
            f"stopped everything it started ({count} process(es)) in {seconds:.1f} s",
            None,
            "serve.stopped",
        )
    return replace(
        report,
        findings=(*report.findings, f),
        serve=serve_view,
        seconds=time.monotonic() - start,
    )
