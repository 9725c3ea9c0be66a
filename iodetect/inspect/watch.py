"""--watch: sample processes at a fixed rate: loop-thread load, CPU, descriptors, connections.

Two rates. Every `interval` each candidate loop thread's system call is read (a few bytes
from /proc): a sample outside the event-wait call is a busy one, so the share of busy samples
is how loaded the loop is, whatever the reason (callbacks, the GIL, waiting for a CPU). Once
a second (a tick) the heavier figures are read: descriptors and connections, which need a
pass over /proc/PID/fd, and CPU time. A missed sample is dropped, never made up, so the rate
stays fixed on a loaded host.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from iodetect.errors import InspectError
from iodetect.inspect import procfs, snapshot, syscalls
from iodetect.inspect.model import Point, Snapshot, Watch

TICK = 1.0
CANDIDATES = 16  # threads sampled when the loop thread is not known yet
MAX_SECONDS = 24 * 3600


def _clock_ticks() -> int:
    if sys.platform == "win32":  # pragma: no cover - inspect runs on Linux only
        return 100
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):  # pragma: no cover - Linux always has it
        return 100


@dataclass
class _Process:
    snap: Snapshot
    threads: list[int]
    started_at: float
    # per thread: per tick [samples, waits]
    tallies: dict[int, list[list[int]]] = field(default_factory=dict)
    cpu: dict[int, list[int]] = field(default_factory=dict)  # per thread: ticks at each tick
    proc_cpu: list[int] = field(default_factory=list)
    points: list[tuple[float, int | None, int | None]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    exited_at: float | None = None

    def __post_init__(self) -> None:
        for tid in self.threads:
            self.tallies[tid] = [[0, 0]]
            self.cpu[tid] = []


def _candidates(snap: Snapshot) -> list[int]:
    if snap.loop.thread is not None:
        return [snap.loop.thread]
    if snap.loop.model != "event loop":
        return []
    main_first = sorted((t.tid for t in snap.threads), key=lambda t: (t != snap.pid, t))
    return main_first[:CANDIDATES]


def _thread_ticks(pid: int, tid: int) -> int | None:
    try:
        fields = procfs.stat_fields(procfs.read_text(procfs.path(pid, "task", str(tid), "stat")))
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def _process_ticks(pid: int) -> int | None:
    try:
        fields = procfs.stat_fields(procfs.read_text(procfs.path(pid, "stat")))
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def watch(
    snaps: Sequence[Snapshot],
    seconds: float,
    interval: float = 0.1,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[int, Watch]:
    """Sample every process in `snaps` for `seconds`; one Watch per PID."""
    seconds = min(seconds, MAX_SECONDS)
    procs = [_Process(s, _candidates(s), time.monotonic()) for s in snaps]
    start = time.monotonic()
    finished = threading.Event()
    # The heavy reads run in a thread of their own, so that they never delay a sample.
    ticker = threading.Thread(
        target=_ticker, args=(procs, start, seconds, finished, progress), daemon=True
    )
    ticker.start()
    next_sample = start
    try:
        while True:
            elapsed = time.monotonic() - start
            live = [p for p in procs if p.exited_at is None]
            if elapsed >= seconds or not live or (should_stop is not None and should_stop()):
                break
            for p in live:
                for tid in p.threads:
                    _sample(p, tid)
            next_sample += interval
            if next_sample < time.monotonic():  # behind: drop the missed samples
                next_sample = time.monotonic() + interval
            time.sleep(max(0.0, min(next_sample, start + seconds) - time.monotonic()))
    finally:
        finished.set()
        ticker.join()
    end = time.monotonic() - start
    for p in procs:
        if p.exited_at is None:
            _tick(p, end)
    return {p.snap.pid: _result(p, end, interval) for p in procs}


def _ticker(
    procs: list[_Process],
    start: float,
    seconds: float,
    finished: threading.Event,
    progress: Callable[[str], None] | None,
) -> None:
    next_tick = start
    while not finished.is_set():
        elapsed = time.monotonic() - start
        for p in procs:
            if p.exited_at is None:
                _tick(p, elapsed)
        if progress is not None:
            progress(_progress_line(procs, elapsed, seconds))
        next_tick += TICK
        finished.wait(max(0.0, next_tick - time.monotonic()))


def _sample(p: _Process, tid: int) -> None:
    try:
        line = procfs.read_text(procfs.path(p.snap.pid, "task", str(tid), "syscall"), 512)
    except OSError:
        return
    call = syscalls.parse(line, p.snap.arch)
    tally = p.tallies[tid][-1]
    tally[0] += 1
    if call.kind in syscalls.EVENT_KINDS:
        tally[1] += 1


def _tick(p: _Process, elapsed: float) -> None:
    pid = p.snap.pid
    if not procfs.alive(pid, p.snap.started):
        p.exited_at = elapsed
        return
    try:
        desc = snapshot.descriptors(pid, procfs.Deadline(2.0), ("tcp", "tcp6"))
        fds: int | None = desc.open
        established: int | None = desc.established
    except InspectError:
        if not procfs.alive(pid, p.snap.started):
            p.exited_at = elapsed
            return
        fds = established = None
    p.times.append(elapsed)
    p.points.append((elapsed, fds, established))
    p.proc_cpu.append(_process_ticks(pid) or 0)
    for tid in p.threads:
        p.cpu[tid].append(_thread_ticks(pid, tid) or 0)
        p.tallies[tid].append([0, 0])


def _progress_line(procs: list[_Process], elapsed: float, seconds: float) -> str:
    parts = []
    for p in procs[:4]:
        if p.exited_at is not None:
            parts.append(f"{p.snap.pid}: exited")
            continue
        last = p.points[-1] if p.points else (0.0, None, None)
        busy = _busy(p, _loop_tid(p))
        parts.append(
            f"{p.snap.pid}: {last[1] if last[1] is not None else '?'} fds, "
            f"{last[2] if last[2] is not None else '?'} conns"
            + (f", loop busy {busy:.0%}" if busy is not None else "")
        )
    more = f" (+{len(procs) - 4} more)" if len(procs) > 4 else ""
    return f"watch {elapsed:5.1f}/{seconds:g} s  " + "; ".join(parts) + more


def _loop_tid(p: _Process) -> int | None:
    """The loop thread: known from the snapshot, else the one seen waiting most, else the one
    that used the most CPU (a saturated loop is rarely caught in its wait call)."""
    if not p.threads:
        return None
    if p.snap.loop.thread is not None:
        return p.snap.loop.thread
    waits = {tid: sum(t[1] for t in p.tallies[tid]) for tid in p.threads}
    best = max(waits, key=lambda tid: waits[tid])
    if waits[best] > 0:
        return best
    used = {tid: (p.cpu[tid][-1] - p.cpu[tid][0]) if len(p.cpu[tid]) > 1 else 0 for tid in waits}
    return max(used, key=lambda tid: (used[tid], tid == p.snap.pid))


def _busy(p: _Process, tid: int | None) -> float | None:
    if tid is None:
        return None
    samples = sum(t[0] for t in p.tallies[tid])
    waits = sum(t[1] for t in p.tallies[tid])
    return (samples - waits) / samples if samples else None


def _growth(times: list[float], values: list[int]) -> float | None:
    """Per minute, when a series grows steadily and never falls back; None otherwise."""
    if len(values) < 5 or times[-1] - times[0] < 3:
        return None
    first, last = values[0], values[-1]
    steps = [b - a for a, b in zip(values, values[1:])]
    rising = sum(1 for s in steps if s >= 0) / len(steps)
    if last - first < max(8, first // 10) or rising < 0.9 or max(values) > last:
        return None
    return (last - first) / (times[-1] - times[0]) * 60


def _result(p: _Process, seconds: float, interval: float) -> Watch:
    hz = _clock_ticks()
    tid = _loop_tid(p)
    points = []
    for i, (t, fds, est) in enumerate(p.points):
        busy = cpu_loop = cpu = None
        if tid is not None and 1 <= i < len(p.tallies[tid]):
            s, w = p.tallies[tid][i]  # the samples since the previous point
            busy = (s - w) / s if s else None
        if i > 0:
            dt = t - p.points[i - 1][0]
            if dt > 0:
                cpu = (p.proc_cpu[i] - p.proc_cpu[i - 1]) / hz / dt
                if tid is not None:
                    cpu_loop = (p.cpu[tid][i] - p.cpu[tid][i - 1]) / hz / dt
        points.append(Point(round(t, 2), fds, est, busy, cpu_loop, cpu))
    span = p.points[-1][0] - p.points[0][0] if len(p.points) > 1 else 0.0
    loop_cpu = cpu = None
    if span > 0:
        cpu = (p.proc_cpu[-1] - p.proc_cpu[0]) / hz / span
        if tid is not None:
            loop_cpu = (p.cpu[tid][-1] - p.cpu[tid][0]) / hz / span
    fds_series = [(t, f) for t, f, _ in p.points if f is not None]
    est_series = [(t, e) for t, _, e in p.points if e is not None]
    return Watch(
        seconds=round(p.exited_at if p.exited_at is not None else seconds, 2),
        interval=interval,
        samples=sum(t[0] for t in p.tallies[tid]) if tid is not None else 0,
        loop_thread=tid,
        loop_busy=_busy(p, tid),
        loop_cpu=loop_cpu,
        cpu=cpu,
        points=tuple(points),
        peak_fds=max((f for _, f in fds_series), default=None),
        peak_established=max((e for _, e in est_series), default=None),
        exited_at=round(p.exited_at, 2) if p.exited_at is not None else None,
        fd_growth=_growth([t for t, _ in fds_series], [f for _, f in fds_series]),
        established_growth=_growth([t for t, _ in est_series], [e for _, e in est_series]),
    )
