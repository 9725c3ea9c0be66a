"""Running the bench: the plan of cells, fresh server and load generator processes, rounds.

Every server runs in a fresh process in its own session on the target interpreter and is killed
with its whole process group when its cell ends, whatever happened; the load generator runs
through the transport with a deadline. A failing cell is recorded and the run goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from iodetect import __version__
from iodetect.bench import stats
from iodetect.bench.results import (
    KINDS,
    LOOPS,
    PROACTOR,
    STANDARD_LOOP,
    STYLES,
    WORKLOAD_NAMES,
    BenchError,
    BenchRun,
    Cell,
    Environment,
    Sample,
    Settings,
    Variant,
    Workload,
    env_from_facts,
    workload,
)
from iodetect.bench.stats import DISTURBED, REPEAT_BUDGET
from iodetect.model import SELECTOR_NAMES, FactsError
from iodetect.target import MARKER, program
from iodetect.text import show_command
from iodetect.transport import TargetError, last_line, run_program, split_command

WIN_SELECT_MAX = 500  # CPython's select() on Windows: FD_SETSIZE 512, less a few in use
READY_TIMEOUT = 20.0  # a server must be listening within this (cold imports, chroots)
STALL = 3.0
IDLE_SECONDS_PER_1000 = 1.5  # allowance for opening idle connections (poll servers are slow)

Progress = Callable[[int, int, str], None]
# A window in which other processes used more than DISTURBED of the host's CPU measured them as
# much as the server: it is measured again, up to REPEATS times, and the repeats are counted.
REPEATS = 2
MORE_WINDOWS = 3  # a round measures at most this many times the windows asked for
MIN_PROBES = 20  # windows measured before their probes set a speed reference
# Where the server and the load generator run. "same" pins both to one CPU: on a VM a wake-up
# across CPUs can cost more CPU than the request and varies widely between runs, so the default
# measures the server's own work; "split" pins them to two CPUs; "free" lets the scheduler choose.
PLACEMENTS = ("same", "split", "free")
SERVER_CPU = {"same": "last", "split": "last", "free": None}
LOAD_CPU = {"same": "last", "split": "first", "free": None}


@dataclass(frozen=True)
class Selection:
    """What to run: which variants, workloads, and how long."""

    loops: tuple[str, ...] = ("selectors", *LOOPS, "threads")
    selectors: tuple[str, ...] | None = None  # None: every selector the target has
    styles: tuple[str, ...] = STYLES
    workloads: tuple[str, ...] = WORKLOAD_NAMES
    rounds: int = 12
    windows: int = 1  # windows at full CPU speed wanted per server process
    duration: float = 0.05  # seconds per window
    warmup: float = 0.05
    budget: float | None = 300.0  # seconds: top-up rounds stop where the run would pass this
    python: str | None = None
    seed: int | None = None
    stall: float = STALL  # no echo for this long: the server is hung
    placement: str = "same"  # server and load generator on one CPU; split: two; free
    faults: tuple[tuple[str, str], ...] = field(default=())  # (variant name, fault): tests only

    def validate(self) -> None:
        for name in self.loops:
            if name not in (*LOOPS, *KINDS):
                raise BenchError(
                    f"unknown loop {name!r} (choose from {', '.join((*KINDS, *LOOPS))})"
                )
        for name in self.selectors or ():
            if name not in (*SELECTOR_NAMES, PROACTOR):
                raise BenchError(
                    f"unknown selector {name!r} (choose from "
                    f"{', '.join((*SELECTOR_NAMES, PROACTOR))})"
                )
        for name in self.styles:
            if name not in STYLES:
                raise BenchError(f"unknown style {name!r} (choose from {', '.join(STYLES)})")
        for name in self.workloads:
            workload(name)
        if not self.loops or not self.styles or not self.workloads:
            raise BenchError("nothing selected to run")
        if not 1 <= self.rounds <= 100:
            raise BenchError("--rounds must be between 1 and 100")
        if self.placement not in PLACEMENTS:
            raise BenchError(
                f"unknown placement {self.placement!r} (choose from {', '.join(PLACEMENTS)})"
            )
        if not 0.01 <= self.duration <= 60:
            raise BenchError("--duration must be between 0.01 and 60 seconds")
        if not 1 <= self.windows <= 100:
            raise BenchError("--windows must be between 1 and 100")
        if self.budget is not None and not 0 <= self.budget <= 86400:
            raise BenchError("--budget must be between 0 and 86400 seconds")


QUICK = Selection(
    workloads=("pingpong", "concurrent", "idle900"),
    rounds=3,
    windows=1,
    duration=0.05,
    warmup=0.05,
    budget=60.0,
)


@dataclass(frozen=True)
class Planned:
    cells: tuple[tuple[Variant, Workload], ...]  # to run
    unavailable: tuple[Cell, ...]  # never run, with the reason


def plan(env: Environment, sel: Selection) -> Planned:
    """The cells to run on this target, and those that cannot run here, with the reason.

    The standard loop runs every style on its default selector and the Protocol style (the
    thinnest, so the selector's own cost shows most) on the other selectors. The largest idle
    workload is for the selectors that can hold that many descriptors.
    """
    default_sel = env.standard_mechanism
    sels = sel.selectors if sel.selectors is not None else (*SELECTOR_NAMES, PROACTOR)
    loads = [workload(w) for w in sel.workloads]
    variants: list[tuple[Variant, str | None]] = []
    if "selectors" in sel.loops:
        for s in sels:
            if s == PROACTOR:
                continue  # not a selector: only the standard loop runs on it
            variants.append((Variant("selectors", selector=s), env.selector_error(s)))
    for loop in LOOPS:
        if loop not in sel.loops:
            continue
        if loop == STANDARD_LOOP:
            for s in sels:
                styles = sel.styles if s == default_sel else sel.styles[:1]
                if "protocol" in sel.styles and s != default_sel:
                    styles = ("protocol",)
                for style in styles:
                    v = Variant("asyncio", loop=loop, selector=s, style=style)
                    variants.append((v, env.selector_error(s)))
        else:
            info = env.loop_info(loop)
            why = "not probed" if info is None else info.error
            for style in sel.styles:
                variants.append((Variant("asyncio", loop=loop, style=style), why))
    if "threads" in sel.loops:
        variants.append((Variant("threads"), None))

    run: list[tuple[Variant, Workload]] = []
    missing: list[Cell] = []
    for v, why in variants:
        for w in loads:
            reason = why or _workload_reason(v, w, env)
            if reason == "":
                continue  # not part of the matrix
            if reason:
                missing.append(Cell(v, w.name, unavailable=reason))
            else:
                run.append((v, w))
    return Planned(tuple(run), tuple(missing))


def _workload_reason(v: Variant, w: Workload, env: Environment) -> str | None:
    """None: run it; "": not part of the matrix; else why it cannot run here."""
    if w.idle > 1000:
        # Plain selectors show how each scales; the standard loop joins on its default selector.
        if v.kind == "threads" or v.selector is None or v.style not in (None, "protocol"):
            return ""
        if v.kind == "asyncio" and v.selector != env.standard_mechanism:
            return ""
        if v.selector == "select" and env.platform != "win32":
            return "select() cannot watch descriptors numbered 1024 or more"
    if v.selector == "select" and env.platform == "win32" and w.idle + w.conns > WIN_SELECT_MAX:
        return f"select() on Windows watches at most {WIN_SELECT_MAX} sockets"
    hard = env.nofile_hard
    if w.idle and hard is not None and hard < w.idle + w.conns + 64:
        return f"descriptor limit {hard} is too low for {w.idle} idle connections"
    return None


def _unsettled(
    cells: Sequence[tuple[Variant, Workload]],
    samples: dict[tuple[str, str], list[Sample]],
    gone: dict[str, str],
) -> list[tuple[Variant, Workload]]:
    """The measured cells not stable so far: too few processes ran windows at full speed, or
    the interval of their median is still too wide (one more process narrows it)."""
    _, marked = _speed_marked(samples)
    unsettled = []
    for variant, w in cells:
        got = marked.get((variant.name, w.name))
        if variant.name in gone or not got:
            continue  # not installed, or failed in every round: more rounds will not help
        if not Cell(variant, w.name, samples=tuple(got)).stable:
            unsettled.append((variant, w))
    return unsettled


def _speed_marked(
    samples: dict[tuple[str, str], list[Sample]],
) -> tuple[float | None, dict[tuple[str, str], list[Sample]]]:
    """The speed reference of these windows, and each window marked at full speed or not."""
    reference = stats.speed_reference(
        [s.probe for got in samples.values() for s in got if s.probe is not None]
    )
    marked = {
        key: [
            dataclasses.replace(s, full_speed=stats.at_full_speed(s.probe, reference)) for s in got
        ]
        for key, got in samples.items()
    }
    return reference, marked


# --- one cell -----------------------------------------------------------------------------------


class Unavailable(Exception):
    """The variant cannot run on this target (loop not installed, style unsupported)."""


class _Server:
    """A bench server process in its own session; stop() kills its whole group."""

    def __init__(self, argv: Sequence[str], params: dict[str, Any]) -> None:
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.lines: queue.Queue[str | None] = queue.Queue()
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                start_new_session=True,
            )
        except OSError as exc:
            self.stderr.close()
            raise BenchError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(program("bench_server", params, nonce=False).text.encode("utf-8"))
            self.proc.stdin.close()
        except OSError:
            pass  # it died at once; ready() reports why

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace"))
        self.lines.put(None)

    def ready(self, timeout: float) -> dict[str, Any]:
        import json

        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TargetError(f"server was not listening within {timeout:g} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                raise TargetError(
                    f"server exited with status {self.proc.returncode} before listening: "
                    f"{self.stderr_tail()}"
                )
            if line.startswith(MARKER):
                info: dict[str, Any] = json.loads(line[len(MARKER) :])
                if "error" in info:
                    error = str(info["error"])
                    if error.startswith(("not installed", "unsupported")):
                        raise Unavailable(error)
                    raise TargetError(f"server could not start: {error}")
                return info

    def exit_status(self) -> int | None:
        return self.proc.poll()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return last_line(self.stderr.read()[-4096:].decode("utf-8", "replace"))

    def stop(self) -> None:
        if sys.platform == "win32":  # no process groups: the server starts no children
            self.proc.kill()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be refused
            self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def disturbed(windows: Sequence[Sample]) -> bool:
    """Did other processes use more than DISTURBED of the host's CPU over the round's windows?"""
    shares = [s.other for s in windows if s.other is not None]
    return bool(shares) and sum(shares) / len(shares) > DISTURBED


def run_cell(
    variant: Variant,
    w: Workload,
    sel: Selection,
    round_no: int,
    fault: str | None = None,
    reference: float | None = None,
) -> list[Sample]:
    """Measure one cell once in fresh processes. Raises Unavailable, or TargetError (one line).

    With a speed reference (probe seconds at the CPU's full speed, as seen so far), the load
    generator measures until sel.windows windows ran at full speed, or MORE_WINDOWS times as
    many windows in all: a slowed CPU costs more time, not fewer usable windows.
    """
    argv = split_command(sel.python)
    idle_allow = IDLE_SECONDS_PER_1000 * w.idle / 1000
    most = sel.windows * (MORE_WINDOWS if reference is not None else 1)
    lifetime = sel.warmup + (sel.duration + 0.01) * most * 1.2 + idle_allow + 3 * sel.stall + 30
    params = dict(variant.server_params(), deadline=lifetime, nofile=w.idle + w.conns + 64)
    params["cpu"] = SERVER_CPU[sel.placement]
    if fault:
        params["fault"] = fault
    server = _Server(argv, params)
    try:
        info = server.ready(READY_TIMEOUT)
        load = {
            "port": info["port"],
            "control": info["control"],
            "conns": w.conns,
            "idle": w.idle,
            "sizes": list(w.sizes),
            "warmup": sel.warmup,
            "duration": sel.duration,
            "windows": sel.windows,
            "most_windows": most,
            "reference": reference,
            "full_speed": stats.FULL_SPEED,
            "stall": sel.stall,
            "cpu": LOAD_CPU[sel.placement],
            "deadline": lifetime,
        }
        timeout = lifetime - 10
        out = run_program(program("bench_load", load), argv, timeout, what="load generator")
        result = out.result
        if not isinstance(result, dict):
            raise TargetError("load generator gave a malformed answer")
        if "error" in result:
            phase = result.get("phase", "the cell")
            time.sleep(0.05)  # let a dying server finish dying, to tell a crash from a hang
            status = server.exit_status()
            if status is not None:
                raise TargetError(
                    f"server crashed (exit status {status}) during {phase}: {server.stderr_tail()}"
                )
            raise TargetError(f"{result['error']} (during {phase})")
        windows = result.get("windows")
        if not isinstance(windows, list) or not windows:
            raise TargetError("load generator gave a malformed answer")
        shared = info.get("cpu") is not None and info.get("cpu") == result.get("cpu")
        return [
            Sample(
                round=round_no,
                window=k,
                requests=int(win["requests"]),
                wall=float(win["wall"]),
                server_cpu=float(win["server_user"]) + float(win["server_system"]),
                load_cpu=float(win["load_cpu"]),
                p50=win.get("p50"),
                p99=win.get("p99"),
                other=win.get("other"),
                steal=win.get("steal"),
                shared=shared,
                probe=win.get("probe"),
                probe_high=win.get("probe_high"),
            )
            for k, win in enumerate(windows, 1)
        ]
    finally:
        server.stop()


def probe_environment(python: str | None) -> Environment:
    """The target's environment: iodetect's probe, plus the bench's own context."""
    from iodetect import probe

    try:
        facts = probe.get_facts(python=python)
    except (TargetError, FactsError) as exc:
        raise BenchError(str(exc)) from None
    return env_from_facts(facts, bench_context(python))


def bench_context(python: str | None) -> dict[str, Any]:
    """What only the bench records about the target: CPU model, load average, pinning."""
    try:
        out = run_program(program("bench_load", {"mode": "context"}), python, what="target")
    except TargetError as exc:
        raise BenchError(str(exc)) from None
    if not isinstance(out.result, dict) or "error" in out.result:
        raise BenchError(f"target could not describe itself: {out.result!r:.200}")
    return out.result


def run(sel: Selection, progress: Progress | None = None) -> BenchRun:
    """The whole bench: probe the target, then rounds of shuffled cells, each freshly started.

    After the planned rounds, the cells that are not stable yet (too few processes with windows
    at the CPU's full speed, or too wide an interval) are measured again, in further shuffled
    rounds of fresh processes, while the run is within its time budget.
    """
    sel.validate()
    seed = sel.seed if sel.seed is not None else random.SystemRandom().randrange(1 << 30)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    env = probe_environment(sel.python)
    planned = plan(env, sel)
    faults = dict(sel.faults)
    rng = random.Random(seed)
    samples: dict[tuple[str, str], list[Sample]] = {}
    failures: dict[tuple[str, str], list[str]] = {}
    gone: dict[str, str] = {}  # variant name -> why it cannot run here
    repeated: dict[tuple[str, str], int] = {}
    total = len(planned.cells) * sel.rounds
    done = 0
    budget, spent = int(total * REPEAT_BUDGET), 0

    probes: list[float] = []  # every window's probe time so far: the running speed reference

    def measure(variant: Variant, w: Workload, round_no: int) -> None:
        nonlocal spent
        key = (variant.name, w.name)
        if variant.name in gone:
            return
        reference = stats.speed_reference(probes) if len(probes) >= MIN_PROBES else None
        try:
            for attempt in range(1 + REPEATS):
                got = run_cell(variant, w, sel, round_no, faults.get(variant.name), reference)
                probes.extend(s.probe for s in got if s.probe is not None)
                if not disturbed(got) or attempt == REPEATS or spent >= budget:
                    break
                repeated[key] = repeated.get(key, 0) + 1
                spent += 1
            samples.setdefault(key, []).extend(got)
        except Unavailable as exc:
            gone[variant.name] = str(exc)
        except TargetError as exc:
            failures.setdefault(key, []).append(f"round {round_no}: {exc}")

    for round_no in range(1, sel.rounds + 1):
        order = list(planned.cells)
        rng.shuffle(order)
        for variant, w in order:
            if progress:
                progress(done, total, f"round {round_no}/{sel.rounds}: {variant.name}, {w.name}")
            measure(variant, w, round_no)
            done += 1
    extra = 0
    while extra < sel.rounds and sel.budget is not None:
        short = _unsettled(planned.cells, samples, gone)
        per_cell = (time.monotonic() - t0) / max(done, 1)
        fits = int((sel.budget - (time.monotonic() - t0)) / per_cell)
        if not short or fits < 1:
            break
        extra += 1
        round_no = sel.rounds + extra
        rng.shuffle(short)
        short = short[:fits]  # the last round may take only the cells the budget has room for
        total = done + len(short)
        for variant, w in short:
            if progress:
                progress(done, total, f"top-up round {extra}: {variant.name}, {w.name}")
            measure(variant, w, round_no)
            done += 1
    if progress:
        progress(done, done, "done")
    reference, samples = _speed_marked(samples)
    cells = list(planned.unavailable)
    for variant, w in planned.cells:
        key = (variant.name, w.name)
        cells.append(
            Cell(
                variant,
                w.name,
                samples=tuple(samples.get(key, ())),
                failures=tuple(failures.get(key, ())),
                unavailable=gone.get(variant.name),
                repeated=repeated.get(key, 0),
            )
        )
    order_names = {w: i for i, w in enumerate(WORKLOAD_NAMES)}
    cells.sort(key=lambda c: order_names.get(c.workload, 99))
    try:
        load = bench_context(sel.python).get("load")
        after = load if isinstance(load, (int, float)) and not isinstance(load, bool) else None
    except BenchError:
        after = None
    env = dataclasses.replace(env, load_after=after)
    settings = Settings(
        rounds=sel.rounds,
        duration=sel.duration,
        warmup=sel.warmup,
        workloads=sel.workloads,
        python=show_command(sel.python) if sel.python is not None else None,
        seed=seed,
        placement=sel.placement,
        windows=sel.windows,
    )
    return BenchRun(
        environment=env,
        settings=settings,
        cells=tuple(cells),
        started=started.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - t0, 1),
        iodetect=__version__,
        speed_reference=reference,
    )
