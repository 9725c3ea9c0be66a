"""The self-test worker's report as a typed record, read strictly from what the target printed.

The worker runs on a target we do not control, next to a setup module we did not write: its
report is input, not truth. Every field is checked for its type and bounded in size here, once,
so the judge works on plain typed values and the JSON output echoes only what was understood.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from iodetect.errors import TargetError

REPORT_KIND = "iodetect.selftest"
STATUSES = ("ok", "warn", "fail", "skip", "unsupported")
STAGES = ("import", "run", "deadline", "worker")
ORIGINS = ("setup", "worker", "library")
MAX_TESTS = 64
MAX_WARNINGS = 20
MAX_LEAKED = 20
MAX_TEXT = 2000


class ReportError(TargetError):
    """The worker's report is not what this iodetect's worker writes."""


@dataclass(frozen=True)
class Test:
    name: str  # tcp4, tcp6, unix, udp, fds_above_N
    status: str  # one of STATUSES
    detail: str | None = None
    cause: str | None = None  # why it failed or was skipped: a stable word from the worker
    connections: int | None = None
    held: int | None = None  # connections the server held at once
    clients: int | None = None  # client processes that made them
    lowest_fd: int | None = None
    highest_fd: int | None = None
    datagrams: int | None = None
    address: str | None = None  # unix: abstract, path
    soft: int | None = None  # the soft limit, when it is why the test failed
    seconds: float | None = None


@dataclass(frozen=True)
class Warned:
    category: str
    message: str
    where: str
    origin: str = "library"  # one of ORIGINS: whose code the warning points at
    phase: str = ""  # what the worker was doing: a test's name, run, import setup, ...


@dataclass(frozen=True)
class Limits:
    soft: int | None  # -1 is RLIM_INFINITY
    hard: int | None


@dataclass(frozen=True)
class Latency:
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True)
class Memory:
    """KiB of resident memory: the worker (the service's side) and the client processes."""

    worker_before: int | None = None
    worker_peak: int | None = None
    client_start: int | None = None
    client_peak: int | None = None
    worker_held: int | None = None  # with every connection held, after a collection
    client_held: int | None = None


@dataclass(frozen=True)
class Figures:
    connections_held: int = 0
    round_trips: int = 0
    bytes: int = 0
    latency_ms: Latency | None = None
    elapsed: float | None = None
    memory_kib: Memory | None = None
    accept_rate: float | None = None  # connections the loop accepted per second while opening
    memory_per_connection_kib: float | None = None  # the worker's, per held connection
    tcp_seconds: float | None = None  # the many-connection test, inside the loop


@dataclass(frozen=True)
class Leaked:
    fd: int
    target: str


@dataclass(frozen=True)
class Fds:
    before: int
    after: int
    leaked: tuple[Leaked, ...] = ()


@dataclass(frozen=True)
class Report:
    """What the worker saw: the loop that ran, each test, warnings, descriptors, figures."""

    error: str | None = None
    error_stage: str | None = None  # one of STAGES
    error_line: int | None = None
    python: str | None = None
    implementation: str | None = None
    platform: str | None = None
    loop: str | None = None  # module.qualname of the running loop
    selector: str | None = None
    factory_loop: str | None = None
    factory_error: str | None = None
    exposes: tuple[str, ...] = ()
    ran_with: str | None = None
    tests: tuple[Test, ...] = ()
    warnings: tuple[Warned, ...] = ()
    figures: Figures | None = None
    fds: Fds | None = None
    nofile_before: Limits | None = None
    nofile_in_loop: Limits | None = None
    nofile_after: Limits | None = None
    connections_wanted: int | None = None
    elapsed: float | None = None
    warmup_opened: int | None = None

    def test(self, name: str) -> Test | None:
        return next((t for t in self.tests if t.name == name), None)


# --- reading ---------------------------------------------------------------------------------


def _text(value: Any, path: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ReportError(f"self-test: the worker's report has a bad {path}")
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _opt_text(value: Any, path: str, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else _text(value, path, limit)


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 1 << 62:
        raise ReportError(f"self-test: the worker's report has a bad {path}")
    return value


def _opt_int(value: Any, path: str) -> int | None:
    return None if value is None else _int(value, path)


def _num(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"self-test: the worker's report has a bad {path}")
    return float(value)


def _opt_num(value: Any, path: str) -> float | None:
    return None if value is None else _num(value, path)


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"self-test: the worker's report has a bad {path}")
    return value


def _list(value: Any, path: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"self-test: the worker's report has a bad {path}")
    return value[:limit]


def _limits(value: Any, path: str) -> Limits | None:
    if value is None:
        return None
    d = _obj(value, path)
    return Limits(_opt_int(d.get("soft"), path + ".soft"), _opt_int(d.get("hard"), path + ".hard"))


def _test(value: Any, i: int) -> Test:
    path = f"tests[{i}]"
    d = _obj(value, path)
    status = _text(d.get("status"), path + ".status", 20)
    if status not in STATUSES:
        raise ReportError(f"self-test: the worker's report has a bad {path}.status")
    return Test(
        name=_text(d.get("name"), path + ".name", 40),
        status=status,
        detail=_opt_text(d.get("detail"), path + ".detail"),
        cause=_opt_text(d.get("cause"), path + ".cause", 40),
        connections=_opt_int(d.get("connections"), path + ".connections"),
        held=_opt_int(d.get("held"), path + ".held"),
        clients=_opt_int(d.get("clients"), path + ".clients"),
        lowest_fd=_opt_int(d.get("lowest_fd"), path + ".lowest_fd"),
        highest_fd=_opt_int(d.get("highest_fd"), path + ".highest_fd"),
        datagrams=_opt_int(d.get("datagrams"), path + ".datagrams"),
        address=_opt_text(d.get("address"), path + ".address", 80),
        soft=_opt_int(d.get("soft"), path + ".soft"),
        seconds=_opt_num(d.get("seconds"), path + ".seconds"),
    )


def _warned(value: Any, i: int) -> Warned:
    path = f"warnings[{i}]"
    d = _obj(value, path)
    origin = _opt_text(d.get("origin"), path + ".origin", 20) or "library"
    return Warned(
        category=_text(d.get("category"), path + ".category", 80),
        message=_text(d.get("message"), path + ".message", 300),
        where=_text(d.get("where"), path + ".where", 200),
        origin=origin if origin in ORIGINS else "library",
        phase=_opt_text(d.get("phase"), path + ".phase", 40) or "",
    )


def _figures(value: Any) -> Figures | None:
    if value is None:
        return None
    d = _obj(value, "figures")
    lat = d.get("latency_ms")
    latency = None
    if lat is not None:
        ld = _obj(lat, "figures.latency_ms")
        latency = Latency(
            *(_num(ld.get(k), f"figures.latency_ms.{k}") for k in ("p50", "p90", "p99", "max"))
        )
    mem = d.get("memory_kib")
    memory = None
    if mem is not None:
        md = _obj(mem, "figures.memory_kib")
        memory = Memory(
            *(
                _opt_int(md.get(k), f"figures.memory_kib.{k}")
                for k in (
                    "worker_before",
                    "worker_peak",
                    "client_start",
                    "client_peak",
                    "worker_held",
                    "client_held",
                )
            )
        )
    return Figures(
        connections_held=_int(d.get("connections_held", 0), "figures.connections_held"),
        round_trips=_int(d.get("round_trips", 0), "figures.round_trips"),
        bytes=_int(d.get("bytes", 0), "figures.bytes"),
        latency_ms=latency,
        elapsed=_opt_num(d.get("elapsed"), "figures.elapsed"),
        memory_kib=memory,
        accept_rate=_opt_num(d.get("accept_rate"), "figures.accept_rate"),
        memory_per_connection_kib=_opt_num(
            d.get("memory_per_connection_kib"), "figures.memory_per_connection_kib"
        ),
        tcp_seconds=_opt_num(d.get("tcp_seconds"), "figures.tcp_seconds"),
    )


def _fds(value: Any) -> Fds | None:
    if value is None:
        return None
    d = _obj(value, "fds")
    leaked = tuple(
        Leaked(
            _int(_obj(x, f"fds.leaked[{i}]").get("fd"), f"fds.leaked[{i}].fd"),
            _text(x.get("target"), f"fds.leaked[{i}].target", 300),
        )
        for i, x in enumerate(_list(d.get("leaked"), "fds.leaked", MAX_LEAKED))
    )
    return Fds(_int(d.get("before"), "fds.before"), _int(d.get("after"), "fds.after"), leaked)


def parse_report(data: Any) -> Report:
    """The typed report; ReportError (a TargetError) when it is not a worker's report."""
    d = _obj(data, "document")
    if d.get("kind") != REPORT_KIND:
        raise ReportError("self-test: the worker answered with something other than its report")
    version = d.get("schema_version")
    if type(version) is not int or version != 1:
        raise ReportError(f"self-test: unsupported report schema_version {version!r:.20}")
    stage = _opt_text(d.get("error_stage"), "error_stage", 20)
    if stage is not None and stage not in STAGES:
        raise ReportError("self-test: the worker's report has a bad error_stage")
    exposes = tuple(_text(x, "exposes", 40) for x in _list(d.get("exposes"), "exposes", 4))
    return Report(
        error=_opt_text(d.get("error"), "error"),
        error_stage=stage,
        error_line=_opt_int(d.get("error_line"), "error_line"),
        python=_opt_text(d.get("python"), "python", 40),
        implementation=_opt_text(d.get("implementation"), "implementation", 40),
        platform=_opt_text(d.get("platform"), "platform", 40),
        loop=_opt_text(d.get("loop"), "loop", 200),
        selector=_opt_text(d.get("selector"), "selector", 80),
        factory_loop=_opt_text(d.get("factory_loop"), "factory_loop", 200),
        factory_error=_opt_text(d.get("factory_error"), "factory_error"),
        exposes=exposes,
        ran_with=_opt_text(d.get("ran_with"), "ran_with", 40),
        tests=tuple(_test(t, i) for i, t in enumerate(_list(d.get("tests"), "tests", MAX_TESTS))),
        warnings=tuple(
            _warned(w, i) for i, w in enumerate(_list(d.get("warnings"), "warnings", MAX_WARNINGS))
        ),
        figures=_figures(d.get("figures")),
        fds=_fds(d.get("fds")),
        nofile_before=_limits(d.get("nofile_before"), "nofile_before"),
        nofile_in_loop=_limits(d.get("nofile_in_loop"), "nofile_in_loop"),
        nofile_after=_limits(d.get("nofile_after"), "nofile_after"),
        connections_wanted=_opt_int(d.get("connections_wanted"), "connections_wanted"),
        elapsed=_opt_num(d.get("elapsed"), "elapsed"),
        warmup_opened=_opt_int(d.get("warmup_opened"), "warmup_opened"),
    )


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON form of the report (schema: iodetect/schemas/check.schema.json, `selftest`):
    absent values are left out, but for those the schema always has (null when unknown)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            keep = _KEEP_NULL.get(type(value), frozenset())
            out = {}
            for f in dataclasses.fields(value):
                item = getattr(value, f.name)
                if item is not None or f.name in keep:
                    out[f.name] = plain(item)
            return out
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return {"kind": REPORT_KIND, "schema_version": 1, **plain(report)}


_KEEP_NULL: dict[type, frozenset[str]] = {
    Report: frozenset({"error", "selector", "fds"}),
    Test: frozenset({"detail"}),
    Limits: frozenset({"soft", "hard"}),
    Figures: frozenset({"latency_ms"}),
}
