"""What inspecting a running process found: plain frozen data, turned into JSON by to_dict()."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
INSPECT_KIND = "iodetect.inspect"
LEVELS = ("ok", "warn", "fail")


@dataclass(frozen=True)
class Finding:
    """One conclusion, in the style of `iodetect check`: a level, a message, a remedy, a code."""

    step: str  # interpreter, loop, descriptors, plan, watch, tasks, serve
    level: str  # one of LEVELS
    message: str
    remedy: str | None = None
    code: str = ""  # stable, for scripts: e.g. "loop.plan", "nofile.near"
    pid: int | None = None  # the process it is about; None for the whole run


@dataclass(frozen=True)
class Thread:
    """One thread, over the samples the inspection took of it."""

    tid: int
    name: str
    state: str  # R, S, D, ... from /proc/PID/task/TID/stat at the last sample
    call: str | None  # the call it was seen in most: epoll_wait, accept4, running, ...
    kind: str | None  # epoll, poll, select, io_uring, accept, recv, read, lock, ...
    fd: int | None  # what it waits on, where the call takes a descriptor
    count: int | None  # poll: descriptors polled; select: highest descriptor + 1
    on: str | None  # what that descriptor is, for people: "epoll (4 registered)", "TCP ..."
    fd_kind: str | None  # the kind of that descriptor: tcp, unix, pipe, eventpoll, ...
    samples: int
    waits: int  # samples spent in an event-wait call (epoll, poll, select, io_uring)
    cpu_ticks: int  # user + system time, clock ticks


@dataclass(frozen=True)
class Epoll:
    """An epoll instance: how many descriptors are registered in it (from fdinfo)."""

    fd: int
    registered: int
    targets: tuple[int, ...]  # the first registered descriptors
    kinds: tuple[str, ...]  # kinds of those descriptors (an eventfd is libuv's wake-up)
    truncated: bool = False


@dataclass(frozen=True)
class Descriptors:
    open: int
    highest: int | None
    by_kind: dict[str, int]
    listening: tuple[str, ...]  # "127.0.0.1:8000 (tcp)"
    established: int  # TCP connections in ESTABLISHED
    epolls: tuple[Epoll, ...]
    listen_inodes: tuple[int, ...] = ()
    truncated: bool = False  # more descriptors than were examined


@dataclass(frozen=True)
class Limits:
    nofile_soft: int | None  # -1 is unlimited
    nofile_hard: int | None


@dataclass(frozen=True)
class Interpreter:
    implementation: str  # cpython, pypy
    version: str | None  # "3.12" from the executable or the libraries it maps
    free_threaded: bool
    executable: str  # as the process sees it
    evidence: str  # how it was recognised
    venv: str | None = None  # the virtual environment, as the process sees it
    run_path: str | None = None  # what to run for its environment (a venv's python), if any
    release: str | None = None  # exact version, from the probe of its interpreter
    # run_path as it is, to execute: the process chose it, so it is never shown (not in JSON).
    run: str | None = field(default=None, repr=False, metadata={"json": False})
    replaced: bool = False  # the executable file was deleted or replaced since it started
    embedded: bool = False  # Python inside another program (uWSGI, ...)


@dataclass(frozen=True)
class Loop:
    """The event loop the process runs, as far as the outside shows it."""

    model: str  # "event loop", "thread per connection", "none seen"
    library: str | None  # uvloop, winloop, rloop: an alternative loop mapped; None: standard
    running: str | None  # the loop that waits: uvloop, asyncio (the standard loop), None
    mechanism: str | None  # epoll, poll, select, io_uring
    call: str | None  # epoll_pwait, ppoll, ...
    selector: str | None  # EpollSelector, PollSelector, SelectSelector (standard loop)
    thread: int | None  # the loop thread
    registered: int | None  # descriptors its wait covers
    evidence: tuple[str, ...] = ()
    asyncio_imported: bool | None = None  # its C module mapped; None: the map cannot tell


@dataclass(frozen=True)
class Snapshot:
    """One process, read from /proc over a short burst of samples."""

    pid: int
    started: int  # start time in clock ticks since boot: with pid, its identity
    ppid: int
    uid: int
    gid: int
    name: str
    command: str  # the command line, with values that look secret hidden
    arch: str | None
    interpreter: Interpreter
    libraries: dict[str, str]  # event-loop and server libraries mapped: name -> file
    threads: tuple[Thread, ...]
    threads_total: int
    descriptors: Descriptors
    limits: Limits
    loop: Loop
    root: str  # its root directory as iodetect sees it ("/" unless chrooted or contained)
    own_root: bool
    own_mount_ns: bool
    own_pid_ns: bool
    own_net_ns: bool
    ns_pid: int  # its PID inside its own PID namespace
    seconds: float  # how long reading it took
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Point:
    """One tick of --watch."""

    t: float
    fds: int | None
    established: int | None
    loop_busy: float | None  # share of this tick's samples the loop thread was not waiting
    loop_cpu: float | None  # loop thread CPU time over wall time in this tick
    cpu: float | None  # the whole process's CPU time over wall time


@dataclass(frozen=True)
class Watch:
    seconds: float  # how long it really watched
    interval: float
    samples: int  # samples of the loop thread
    loop_thread: int | None
    loop_busy: float | None  # share of samples outside the wait call, over the whole watch
    loop_cpu: float | None
    cpu: float | None
    points: tuple[Point, ...]
    peak_fds: int | None
    peak_established: int | None
    exited_at: float | None = None  # seconds into the watch when the process went away
    fd_growth: float | None = None  # descriptors per minute, when growth looks steady
    established_growth: float | None = None


@dataclass(frozen=True)
class Tasks:
    """The task summary `python -m asyncio ps PID` gives (CPython 3.14+)."""

    available: bool
    reason: str | None = None  # why not, when unavailable
    count: int = 0
    threads: int = 0
    top: tuple[tuple[str, int], ...] = ()  # most common coroutine stacks, with counts
    seconds: float | None = None


@dataclass(frozen=True)
class Inspection:
    """Everything found about one process."""

    snapshot: Snapshot
    role: str = "process"  # process, worker, supervisor
    plan: dict[str, Any] | None = None
    plan_error: str | None = None  # why no plan was made
    tasks: Tasks | None = None
    watch: Watch | None = None


@dataclass(frozen=True)
class Serve:
    command: str
    started: bool
    ready_seconds: float | None
    workers: tuple[int, ...]
    supervisors: tuple[int, ...]
    listening: tuple[str, ...]
    stopped: bool
    stop_seconds: float | None
    left_running: tuple[int, ...] = ()
    output_tail: tuple[str, ...] = ()  # the last lines the command printed, cleaned


@dataclass(frozen=True)
class Report:
    inspections: tuple[Inspection, ...]
    findings: tuple[Finding, ...]
    seconds: float
    strict: bool = False
    serve: Serve | None = None
    skipped: tuple[str, ...] = ()  # processes matched but not inspected, one line each
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[Finding, ...]:
        bad = ("warn", "fail") if self.strict else ("fail",)
        return tuple(f for f in self.findings if f.level in bad)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @property
    def ok(self) -> bool:
        return not self.failed


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


def to_dict(report: Report) -> dict[str, Any]:
    """The JSON form (schema iodetect/schemas/inspect.schema.json): kind and version first."""
    processes = []
    for ins in report.inspections:
        item = _plain(ins.snapshot)
        item["role"] = ins.role
        item["plan"] = ins.plan
        item["plan_error"] = ins.plan_error
        item["tasks"] = _plain(ins.tasks)
        watch = _plain(ins.watch)
        if watch is not None:
            watch["points"] = [_plain(p) for p in ins.watch.points] if ins.watch else []
        item["watch"] = watch
        processes.append(item)
    return {
        "kind": INSPECT_KIND,
        "schema_version": SCHEMA_VERSION,
        "ok": report.ok,
        "exit_code": report.exit_code,
        "strict": report.strict,
        "seconds": round(report.seconds, 3),
        "processes": processes,
        "serve": _plain(report.serve),
        "skipped": list(report.skipped),
        "findings": [_plain(f) for f in report.findings],
    }
