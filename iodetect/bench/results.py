"""Bench results: variants, workloads, samples and a whole run, as frozen versioned data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iodetect.bench.stats import (
    MIN_COMPARED,
    UNSTABLE_SPREAD,
    Summary,
    by_process,
    enough_full_speed,
    load_bound,
    median_interval,
    saturated,
    summarize,
)
from iodetect.catalog import loops
from iodetect.catalog.mechanisms import SELECTOR_CLASSES
from iodetect.errors import InputError
from iodetect.model import SELECTOR_NAMES, Facts, FactsError, Loop, _build, _plain

BENCH_KIND = "iodetect.bench"
BENCH_SCHEMA_VERSION = 2

STANDARD_LOOP = "asyncio"
LOOPS: tuple[str, ...] = (STANDARD_LOOP, *(lp.name for lp in loops.LOOPS))  # the catalog's loops
KINDS = ("selectors", "threads")  # the servers without an event loop, selectable with --loops
PROACTOR = "proactor"  # the standard loop on IOCP (Windows), in place of a selector
STYLES = ("protocol", "streams", "sock")
STYLE_NAMES = {"protocol": "Protocol", "streams": "streams", "sock": "sock_*"}


class BenchError(InputError):
    """A bench results file or selection that cannot be used. One line."""


@dataclass(frozen=True)
class Variant:
    """One echo server: a plain selectors loop, an event loop with an API style, or threads."""

    kind: str  # selectors | asyncio | threads
    loop: str | None = None  # asyncio, uvloop, rloop, winloop (kind asyncio)
    selector: str | None = None  # for selectors; the standard loop's selector, or PROACTOR
    style: str | None = None  # protocol, streams, sock (kind asyncio)

    @property
    def name(self) -> str:
        if self.kind == "selectors":
            return f"selectors {self.selector}"
        if self.kind == "threads":
            return "threads"
        base = f"asyncio {self.selector}" if self.loop == STANDARD_LOOP else str(self.loop)
        return f"{base} {STYLE_NAMES.get(self.style or '', self.style)}"

    def server_params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "loop": self.loop,
            "selector": self.selector,
            "selector_class": SELECTOR_CLASSES.get(self.selector or ""),
            "style": self.style,
        }


@dataclass(frozen=True)
class Workload:
    name: str
    conns: int  # active connections, one request outstanding on each
    idle: int  # idle connections held open during the measurement
    sizes: tuple[int, ...]  # message sizes in bytes, used in turn
    about: str


WORKLOADS = (
    Workload("pingpong", 1, 0, (100,), "one connection, 100-byte messages"),
    Workload("concurrent", 50, 0, (100,), "50 connections, 100-byte messages"),
    Workload("bulk", 4, 0, (16384, 32768, 65536), "4 connections, 16-64 KiB messages"),
    Workload("idle900", 1, 900, (100,), "900 idle connections + 1 active"),
    Workload("idle10000", 1, 10000, (100,), "10000 idle connections + 1 active"),
)
WORKLOAD_NAMES = tuple(w.name for w in WORKLOADS)


def workload(name: str) -> Workload:
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise BenchError(f"unknown workload {name!r} (choose from {', '.join(WORKLOAD_NAMES)})")


@dataclass(frozen=True)
class Sample:
    """One measured window of one cell in one round."""

    round: int
    requests: int
    wall: float  # seconds of the window, load generator's clock
    server_cpu: float  # server user + system seconds in the window
    load_cpu: float  # load generator CPU seconds in the window
    p50: float | None = None  # request latency, seconds
    p99: float | None = None
    other: float | None = None  # share of the host's CPU other processes used in the window
    steal: float | None = None  # share of the host's CPU the hypervisor took (steal time)
    shared: bool = False  # server and load generator were pinned to the same CPU
    window: int = 1  # which window of the round's server process
    probe: float | None = None  # median speed-probe time in the window, seconds
    probe_high: float | None = None  # its 90th percentile: the slowest moment of the window
    full_speed: bool = True  # the probes say the CPU ran at full speed (set once the run is over)

    @property
    def cpu_us(self) -> float:
        """Server CPU microseconds per request: the primary figure."""
        return self.server_cpu / self.requests * 1e6 if self.requests else float("inf")

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall > 0 else 0.0

    @property
    def load_share(self) -> float:
        """The load generator's CPU over the wall time of the window."""
        return self.load_cpu / self.wall if self.wall > 0 else 0.0

    @property
    def load_bound(self) -> bool:
        return load_bound(self.load_cpu, self.server_cpu, self.wall, self.shared)


@dataclass(frozen=True)
class Cell:
    variant: Variant
    workload: str
    samples: tuple[Sample, ...] = ()
    failures: tuple[str, ...] = ()  # one line per failed round
    unavailable: str | None = None  # why this cell was not run at all
    repeated: int = 0  # windows measured again because other processes disturbed them

    @property
    def full(self) -> tuple[Sample, ...]:
        """The windows measured while the CPU ran at full speed."""
        return tuple(s for s in self.samples if s.full_speed)

    @property
    def at_full_speed(self) -> bool:
        """Did at least MIN_COMPARED processes run windows at full speed?"""
        return len({s.round for s in self.full}) >= MIN_COMPARED

    @property
    def processes(self) -> int:
        """How many server processes ran windows at full speed."""
        return len({s.round for s in self.full})

    @property
    def used(self) -> tuple[Sample, ...]:
        """The windows the figures come from: those at full speed, or every window when fewer
        than MIN_COMPARED processes ran any at full speed (the cell is then unstable)."""
        return self.full if self.at_full_speed else self.samples

    def cpu_over(self, full: bool) -> Summary | None:
        """Server CPU us per request over the windows at full speed (full) or over every one."""
        windows = self.full if full else self.samples
        return median_interval(by_process([(s.round, s.cpu_us) for s in windows]))

    @property
    def cpu(self) -> Summary | None:
        """Server CPU us per request: the median of the processes' medians, with its interval."""
        return median_interval(by_process([(s.round, s.cpu_us) for s in self.used]))

    @property
    def stable(self) -> bool:
        """Windows at full speed from enough processes, and a spread under UNSTABLE_SPREAD."""
        cpu = self.cpu  # from the windows at full speed: MIN_PROCESSES > MIN_COMPARED
        return (
            cpu is not None
            and enough_full_speed([s.round for s in self.full])
            and cpu.spread < UNSTABLE_SPREAD
        )

    @property
    def rps(self) -> Summary | None:
        return summarize(by_process([(s.round, s.rps) for s in self.used]))

    @property
    def p50_us(self) -> float | None:
        s = summarize([x.p50 * 1e6 for x in self.used if x.p50 is not None])
        return s.median if s else None

    @property
    def p99_us(self) -> float | None:
        s = summarize([x.p99 * 1e6 for x in self.used if x.p99 is not None])
        return s.median if s else None

    @property
    def saturated(self) -> bool:
        return saturated([s.load_bound for s in self.used])

    @property
    def other(self) -> float | None:
        s = summarize([x.other for x in self.samples if x.other is not None])
        return s.median if s else None

    @property
    def status(self) -> str:
        """ok, unstable, failed (no sample) or unavailable (not run)."""
        if self.unavailable is not None:
            return "unavailable"
        cpu = self.cpu
        if cpu is None:
            return "failed"
        return "ok" if self.stable else "unstable"


@dataclass(frozen=True)
class LoopInfo:
    name: str
    version: str | None
    error: str | None  # None when importable


@dataclass(frozen=True)
class SelectorInfo:
    name: str
    error: str | None  # None when available


@dataclass(frozen=True)
class Environment:
    platform: str
    kernel: str
    os: str
    machine: str
    python: str
    python_release: str
    implementation: str
    executable: str | None
    free_threaded: bool
    default_selector: str
    selectors: tuple[SelectorInfo, ...]
    loops: tuple[LoopInfo, ...]
    cpu_model: str | None = None
    cpu_count: int | None = None
    usable_cpus: int | None = None
    cpu_quota: float | None = None
    virtualization: str | None = None
    container: str | None = None
    nofile_soft: int | None = None
    nofile_hard: int | None = None
    load_before: float | None = None  # 1-minute load average when the run started and ended
    load_after: float | None = None
    can_pin: bool | None = None  # processes can be pinned to a CPU (sched_setaffinity)

    def selector_error(self, name: str) -> str | None:
        if name == PROACTOR:
            return None if self.platform == "win32" else "IOCP: Windows only"
        for s in self.selectors:
            if s.name == name:
                return s.error
        return f"unknown selector {name}"

    @property
    def standard_mechanism(self) -> str | None:
        """What the standard loop uses by default: proactor on Windows, else its selector."""
        if self.platform == "win32":
            return PROACTOR
        cls = self.default_selector.lower()
        return next((n for n in SELECTOR_NAMES if cls == f"{n}selector"), None)

    def loop_info(self, name: str) -> LoopInfo | None:
        return next((lp for lp in self.loops if lp.name == name), None)


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration: float  # measured seconds per window
    warmup: float
    workloads: tuple[str, ...]
    python: str | None  # the --python command, None for this interpreter
    seed: int
    placement: str = "same"  # same CPU for server and load generator, split, or free
    windows: int = 1  # measured windows per server process (cell and round)


@dataclass(frozen=True)
class BenchRun:
    environment: Environment
    settings: Settings
    cells: tuple[Cell, ...]
    started: str  # ISO 8601, UTC
    seconds: float
    iodetect: str
    speed_reference: float | None = None  # probe seconds at the CPU's full speed (stats)

    def cell(self, variant: str, workload: str) -> Cell | None:
        return next(
            (c for c in self.cells if c.variant.name == variant and c.workload == workload), None
        )

    def variants(self) -> tuple[Variant, ...]:
        seen: dict[str, Variant] = {}
        for c in self.cells:
            seen.setdefault(c.variant.name, c.variant)
        return tuple(seen.values())


def env_from_facts(facts: Facts, context: dict[str, Any]) -> Environment:
    """The environment: the probe's facts, plus what only a bench run records (bench_load in
    context mode: the CPU model, the load average, whether processes can be pinned)."""
    host, interp = facts.host, facts.interpreter

    def limit(value: int | None) -> int | None:
        return None if value is None or value < 0 else value  # unlimited is no cap here

    try:
        extra = _build(Context, dict(context), "context")
    except FactsError as exc:
        raise BenchError(f"the target described itself oddly: {exc}") from None
    default = facts.default_selector
    return Environment(
        platform=host.platform,
        kernel=host.os_release or "",
        os=host.os_name or "",
        machine=host.machine or "",
        python="%d.%d.%d" % interp.version,
        python_release=interp.release,
        implementation=interp.implementation,
        executable=interp.executable,
        free_threaded=interp.free_threaded,
        default_selector=SELECTOR_CLASSES[default] if default is not None else "",
        selectors=tuple(
            SelectorInfo(s.name, None if s.available else s.reason or "unavailable")
            for s in facts.selectors
        ),
        loops=tuple(LoopInfo(lp.name, lp.installed, _loop_error(lp)) for lp in facts.loops),
        cpu_model=extra.cpu_model,
        cpu_count=host.cpu_count,
        usable_cpus=host.usable_cpus,
        cpu_quota=host.cpu_quota,
        virtualization=host.virtualization,
        container=host.container,
        nofile_soft=limit(facts.limits.nofile_soft),
        nofile_hard=limit(facts.limits.nofile_hard),
        load_before=extra.load,
        can_pin=extra.can_pin,
    )


@dataclass(frozen=True)
class Context:
    """What the bench records beside the facts (bench_load's context mode)."""

    cpu_model: str | None = None
    load: float | None = None  # 1-minute load average now
    can_pin: bool | None = None


def _loop_error(lp: Loop) -> str | None:
    if lp.installed is None:
        return "not installed"
    if lp.importable is False:
        return lp.import_error or "does not import"
    return None


def to_dict(run: BenchRun) -> dict[str, Any]:
    """The public JSON form: kind and schema version, the run, and each cell's figures."""
    doc: dict[str, Any] = {"kind": BENCH_KIND, "schema_version": BENCH_SCHEMA_VERSION}
    doc.update(_plain(run))
    for cell, plain in zip(run.cells, doc["cells"]):
        cpu, rps = cell.cpu, cell.rps
        plain["figures"] = {
            "name": cell.variant.name,
            "status": cell.status,
            "cpu_us_per_request": _plain(cpu) if cpu else None,  # low/high: 90 % interval
            "spread": cpu.spread if cpu else None,
            "windows": len(cell.samples),
            "windows_at_full_speed": len(cell.full),
            "processes_at_full_speed": len({s.round for s in cell.full}),
            "requests_per_second": rps.median if rps else None,
            "p50_us": cell.p50_us,
            "p99_us": cell.p99_us,
            "load_generator_saturated": cell.saturated,
        }
    return doc


def to_json(run: BenchRun, indent: int | None = 2) -> str:
    return json.dumps(to_dict(run), indent=indent)


def from_dict(data: Any) -> BenchRun:
    if not isinstance(data, dict):
        raise BenchError("bench results must be a JSON object")
    if data.get("kind") != BENCH_KIND:
        raise BenchError(f"not iodetect bench results (kind is {data.get('kind')!r})")
    version = data.get("schema_version")
    exact = type(version) is int  # not 2.0, not true
    if exact and 0 < version < BENCH_SCHEMA_VERSION:  # type: ignore[operator]
        raise BenchError(
            f"bench schema_version {version} has no CPU speed probes (this iodetect reads "
            f"{BENCH_SCHEMA_VERSION}): run the bench again"
        )
    if not exact or version != BENCH_SCHEMA_VERSION:
        raise BenchError(
            f"unsupported bench schema_version {version!r:.40} (this iodetect reads "
            f"{BENCH_SCHEMA_VERSION})"
        )
    body = {k: v for k, v in data.items() if k not in ("kind", "schema_version")}
    cells = body.get("cells")
    if isinstance(cells, list):
        body["cells"] = [
            {k: v for k, v in c.items() if k != "figures"} if isinstance(c, dict) else c
            for c in cells
        ]
    try:
        return _build(BenchRun, body, "bench")
    except FactsError as exc:
        raise BenchError(str(exc)) from None


def load_results(path: str) -> BenchRun:
    """Read a saved `iodetect bench --json` (a regular file of bounded size); any problem is
    one BenchError line."""
    from iodetect.files import BENCH_LIMIT, parse_json, read_text
    from iodetect.text import clean

    try:
        text = read_text(path, "bench results", BENCH_LIMIT)
    except InputError as exc:
        raise BenchError(str(exc)) from None
    try:
        data = parse_json(text)
    except ValueError as exc:  # also integers of more than 4300 digits, NaN, Infinity
        raise BenchError(f"{clean(path)}: not valid JSON: {exc}") from None
    try:
        return from_dict(data)
    except BenchError as exc:
        raise BenchError(f"{clean(path)}: {exc}") from None
