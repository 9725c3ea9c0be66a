"""The facts model: what a probe found on one interpreter on one host, as frozen, versioned data."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from iodetect.errors import InputError

SCHEMA_VERSION = 1
FACTS_KIND = "iodetect.facts"

SELECTOR_NAMES = ("select", "poll", "epoll", "devpoll", "kqueue")
LOOP_NAMES = ("uvloop", "winloop", "rloop")
ORIGINS = ("probe", "documented")


class FactsError(InputError):
    """Facts that cannot be read: malformed JSON, wrong kind or schema version, bad field."""


@dataclass(frozen=True)
class Host:
    platform: str  # sys.platform: linux, darwin, win32, freebsd14, sunos5, ...
    os_name: str | None = None  # platform.system()
    os_release: str | None = None  # platform.release()
    machine: str | None = None
    cpu_count: int | None = None
    usable_cpus: int | None = None  # CPUs this process may run on (affinity)
    cpu_quota: float | None = None  # cgroup CPU quota in CPUs, None when unlimited or unknown
    container: str | None = None  # docker, podman, kubernetes, lxc, ... when detected
    virtualization: str | None = None  # hypervisor hint, e.g. kvm, vmware, microsoft
    wsl: bool = False


@dataclass(frozen=True)
class Interpreter:
    implementation: str  # cpython, pypy, ...
    version: tuple[int, int, int]
    release: str  # full version string, e.g. 3.13.0 or 3.15.0a1
    executable: str | None = None
    free_threaded: bool = False  # built with Py_GIL_DISABLED
    gil_enabled: bool | None = True  # None where the interpreter cannot say


@dataclass(frozen=True)
class Selector:
    name: str  # one of SELECTOR_NAMES
    available: bool
    reason: str | None = None  # why not, when unavailable


@dataclass(frozen=True)
class Asyncio:
    default_loop: str | None  # class name that asyncio.new_event_loop() gives
    default_selector: str | None  # its selector class name, None for a proactor loop
    policies_deprecated: bool  # event-loop policies warn on this version (3.14+)
    get_event_loop_without_loop: str  # "ok", "warns" or "raises" with no loop set
    has_runner: bool  # asyncio.Runner (3.11+)
    run_loop_factory: bool  # asyncio.run(..., loop_factory=) (3.12+)
    has_eventloop_alias: bool  # asyncio.EventLoop (3.13+)


@dataclass(frozen=True)
class Loop:
    name: str  # one of LOOP_NAMES
    installed: str | None  # version from package metadata, None when not installed
    importable: bool | None  # None when not installed
    import_error: str | None = None
    supported: bool = False  # does this version (any, when absent) support this platform and Python
    support_note: str | None = None

    @property
    def usable(self) -> bool:
        """Installed, importable and supported here: a loop a recommendation may rely on."""
        return self.installed is not None and bool(self.importable) and self.supported


@dataclass(frozen=True)
class SelectCeiling:
    limit: int | None  # highest descriptor count (Windows: sockets) select() accepts
    verified: bool  # True when an experiment hit the ceiling here
    detail: str = ""


@dataclass(frozen=True)
class Limits:
    nofile_soft: int | None = None  # RLIMIT_NOFILE; -1 stands for RLIM_INFINITY
    nofile_hard: int | None = None
    open_fds: int | None = None
    nr_open: int | None = None  # Linux fs.nr_open: ceiling of the hard limit
    file_max: int | None = None  # Linux fs.file-max: system-wide
    maxfilesperproc: int | None = None  # macOS kern.maxfilesperproc: ceiling of the soft limit
    note: str | None = None


@dataclass(frozen=True)
class Kernel:
    somaxconn: int | None = None
    ip_local_port_range: tuple[int, int] | None = None
    tcp_max_syn_backlog: int | None = None


@dataclass(frozen=True)
class Library:
    name: str  # distribution name
    version: str


@dataclass(frozen=True)
class ProbeError:
    probe: str  # which fact could not be read
    error: str


@dataclass(frozen=True)
class Facts:
    host: Host
    interpreter: Interpreter
    selectors: tuple[Selector, ...]
    default_selector: str | None
    asyncio: Asyncio | None
    loops: tuple[Loop, ...]
    select_ceiling: SelectCeiling | None
    limits: Limits
    kernel: Kernel | None
    libraries: tuple[Library, ...]
    errors: tuple[ProbeError, ...] = ()
    # Where the facts come from: "probe" for a live probe, "documented" for facts written
    # from documented behaviour (test fixtures for hosts this project cannot run on).
    origin: str = "probe"
    note: str | None = None
    probe_seconds: float | None = None

    def selector(self, name: str) -> Selector | None:
        return next((s for s in self.selectors if s.name == name), None)

    def loop(self, name: str) -> Loop | None:
        return next((lp for lp in self.loops if lp.name == name), None)

    def library(self, name: str) -> Library | None:
        return next((lib for lib in self.libraries if lib.name == name), None)

    @property
    def windows(self) -> bool:
        return self.host.platform == "win32"

    @property
    def py(self) -> tuple[int, int]:
        return self.interpreter.version[0], self.interpreter.version[1]


# --- JSON ------------------------------------------------------------------------------------

T = TypeVar("T")


def to_dict(facts: Facts) -> dict[str, Any]:
    """The public JSON form: kind and schema version first, then the fields."""
    return {"kind": FACTS_KIND, "schema_version": SCHEMA_VERSION, **_plain(facts)}


def to_json(facts: Facts, indent: int | None = 2) -> str:
    return json.dumps(to_dict(facts), indent=indent)


def from_dict(data: Any) -> Facts:
    """Build facts from parsed JSON, checking the kind, the schema version and every field."""
    if not isinstance(data, dict):
        raise FactsError("facts must be a JSON object")
    kind = data.get("kind")
    if kind != FACTS_KIND:
        raise FactsError(f"not iodetect facts (kind is {kind!r}, expected {FACTS_KIND!r})")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # not 1.0, not true
        raise FactsError(
            f"unsupported facts schema_version {version!r:.40} (this iodetect reads "
            f"{SCHEMA_VERSION})"
        )
    # A report's recommendation is derived from the facts: it is recomputed, never read back.
    body = {k: v for k, v in data.items() if k not in ("kind", "schema_version", "recommendation")}
    facts = _build(Facts, body, "facts")
    _check_names(facts)
    return facts


def _check_names(facts: Facts) -> None:
    """Values with a closed set of names, which the recommender relies on."""
    checks: list[tuple[str, object, tuple[object, ...]]] = [
        ("facts.origin", facts.origin, ORIGINS),
        ("facts.default_selector", facts.default_selector, (*SELECTOR_NAMES, None)),
    ]
    checks += [
        (f"facts.selectors[{i}].name", s.name, SELECTOR_NAMES)
        for i, s in enumerate(facts.selectors)
    ]
    checks += [(f"facts.loops[{i}].name", lp.name, LOOP_NAMES) for i, lp in enumerate(facts.loops)]
    if facts.asyncio is not None:
        checks.append(
            (
                "facts.asyncio.get_event_loop_without_loop",
                facts.asyncio.get_event_loop_without_loop,
                ("ok", "warns", "raises"),
            )
        )
    for path, value, allowed in checks:
        if value not in allowed:
            raise FactsError(f"{path}: {value!r} is not one of {', '.join(map(str, allowed))}")


def from_json(text: str) -> Facts:
    from iodetect.files import parse_json

    try:
        data = parse_json(text)
    except ValueError as exc:  # also integers of more than 4300 digits, NaN, Infinity
        raise FactsError(f"facts are not valid JSON: {exc}") from None
    return from_dict(data)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _build(cls: type[T], data: Any, path: str) -> T:
    if not isinstance(data, dict):
        raise FactsError(f"{path}: expected an object, got {type(data).__name__}")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FactsError(f"{path}: unknown field {unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FactsError(f"{path}: missing field {name!r}")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{path}.{name}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except FactsError as exc:
                errors.append(str(exc))
        raise FactsError(errors[0] if errors else f"{path}: unexpected null")
    if origin is tuple:
        if not isinstance(value, list):
            raise FactsError(f"{path}: expected an array, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise FactsError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise FactsError(f"{path}: expected true or false, got {value!r:.40}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FactsError(f"{path}: expected an integer, got {value!r:.40}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FactsError(f"{path}: expected a number, got {value!r:.40}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise FactsError(f"{path}: expected a string, got {value!r:.40}")
        return value
    raise FactsError(f"{path}: unsupported type {hint!r}")  # pragma: no cover - model bug


def load(path: str) -> Facts:
    """Read a facts file (a saved `iodetect report --json`): a regular file of bounded size."""
    from iodetect.files import FACTS_LIMIT, read_text
    from iodetect.text import clean

    try:
        text = read_text(path, "facts file", FACTS_LIMIT)
    except InputError as exc:
        raise FactsError(str(exc)) from None
    try:
        return from_json(text)
    except FactsError as exc:
        raise FactsError(f"{clean(path)}: {exc}") from None
