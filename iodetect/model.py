"""The facts model: what a probe found on one interpreter on one host, as frozen, versioned data."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Literal, TypeVar

from iodetect.errors import InputError
from iodetect.record import frozen

SCHEMA_VERSION = 1
FACTS_KIND = "iodetect.facts"

# The closed vocabularies, as types. Reading facts checks every field typed with one of them
# (see _convert), and parse_name() checks user input against them: one place, not ninety.
SelectorName = Literal["select", "poll", "epoll", "devpoll", "kqueue"]
LoopName = Literal["uvloop", "winloop", "rloop"]
NeedName = Literal["add_reader", "subprocess", "signals", "unix_sockets", "pty"]
LoopChoice = Literal["auto", "asyncio", "selector", "proactor", "uvloop", "winloop", "rloop"]
PlanLoop = Literal["selector", "proactor", "uvloop", "winloop", "rloop"]
Family = Literal[
    "linux", "darwin", "win32", "freebsd", "openbsd", "netbsd", "sunos", "cygwin", "aix", "unix"
]
Origin = Literal["probe", "documented"]
GetEventLoop = Literal["ok", "warns", "raises"]
Level = Literal["ok", "warn", "fail"]

SELECTOR_NAMES: tuple[SelectorName, ...] = typing.get_args(SelectorName)
LOOP_NAMES: tuple[LoopName, ...] = typing.get_args(LoopName)
NEED_NAMES: tuple[NeedName, ...] = typing.get_args(NeedName)
LOOP_CHOICES: tuple[LoopChoice, ...] = typing.get_args(LoopChoice)
PLAN_LOOPS: tuple[PlanLoop, ...] = typing.get_args(PlanLoop)
FAMILIES: tuple[Family, ...] = typing.get_args(Family)
ORIGINS: tuple[Origin, ...] = typing.get_args(Origin)
LEVELS: tuple[Level, ...] = typing.get_args(Level)


def parse_name(vocabulary: Any, value: object, what: str) -> Any:
    """`value` if it is a name of the Literal type `vocabulary`, else ValueError naming them all."""
    allowed = typing.get_args(vocabulary)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})")
    return value


class FactsError(InputError):
    """Facts that cannot be read: malformed JSON, wrong kind or schema version, bad field."""


@frozen
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


@frozen
class Interpreter:
    implementation: str  # cpython, pypy, ...
    version: tuple[int, int, int]  # the Python language version
    release: str  # full version string, e.g. 3.13.0 or 3.15.0a1
    executable: str | None = None
    free_threaded: bool = False  # built with Py_GIL_DISABLED
    gil_enabled: bool | None = True  # None where the interpreter cannot say
    # sys.implementation.version as text: the PyPy release for PyPy (8.0.1), else the same as
    # release; None in facts written before it was recorded.
    implementation_version: str | None = None

    @property
    def label(self) -> str:
        """How people name it: "CPython 3.12.4", "PyPy 3.11 (PyPy 8.0.1)"."""
        if self.implementation == "cpython":
            return f"CPython {self.release}"
        name = {"pypy": "PyPy", "graalpy": "GraalPy"}.get(self.implementation, self.implementation)
        short = f"{self.version[0]}.{self.version[1]}"
        extra = f" ({name} {self.implementation_version})" if self.implementation_version else ""
        return f"{name} {short}{extra}"


@frozen
class Selector:
    name: SelectorName
    available: bool
    reason: str | None = None  # why not, when unavailable


@frozen
class Asyncio:
    default_loop: str | None  # class name that asyncio.new_event_loop() gives
    default_selector: str | None  # its selector class name, None for a proactor loop
    # Measured by the probe: asyncio.get_event_loop_policy() warned (policies deprecated, 3.14+).
    policies_deprecated: bool
    # Measured: what get_event_loop() did in the main thread with no loop set. Where the probe
    # could not measure it (off the main thread) iodetect fills in its catalog's answer.
    get_event_loop_without_loop: GetEventLoop
    has_runner: bool  # asyncio.Runner exists (3.11+)
    run_loop_factory: bool  # asyncio.run() takes loop_factory (3.12+)
    has_eventloop_alias: bool  # asyncio.EventLoop exists (3.13+)


@frozen
class Loop:
    name: LoopName
    installed: str | None  # version from package metadata, None when not installed
    importable: bool | None  # None when not installed
    import_error: str | None = None
    # Decided by iodetect from its catalog, never by the probe (iodetect.probe.complete): does
    # this version (any, when absent) support this platform, implementation and Python?
    supported: bool = False
    support_note: str | None = None

    @property
    def usable(self) -> bool:
        """Installed, importable and supported here: a loop a recommendation may rely on."""
        return self.installed is not None and bool(self.importable) and self.supported


@frozen
class SelectCeiling:
    limit: int | None  # highest descriptor count (Windows: sockets) select() accepts
    verified: bool  # True when an experiment hit the ceiling here
    detail: str = ""


@frozen
class Limits:
    nofile_soft: int | None = None  # RLIMIT_NOFILE; -1 (UNLIMITED) stands for RLIM_INFINITY
    nofile_hard: int | None = None
    open_fds: int | None = None
    nr_open: int | None = None  # Linux fs.nr_open: ceiling of the hard limit
    file_max: int | None = None  # Linux fs.file-max: system-wide
    maxfilesperproc: int | None = None  # macOS kern.maxfilesperproc: ceiling of the soft limit
    note: str | None = None


UNLIMITED = -1  # how facts write RLIM_INFINITY


def show_limit(value: int | None) -> str:
    """A descriptor limit for people: "unlimited" for RLIM_INFINITY, "unknown" for None."""
    if value is None:
        return "unknown"
    return "unlimited" if value == UNLIMITED else str(value)


@frozen
class Kernel:
    somaxconn: int | None = None
    ip_local_port_range: tuple[int, int] | None = None
    tcp_max_syn_backlog: int | None = None


@frozen
class Library:
    name: str  # distribution name
    version: str


@frozen
class ProbeError:
    probe: str  # which fact could not be read
    error: str


@frozen
class Facts:
    host: Host
    interpreter: Interpreter
    selectors: tuple[Selector, ...]
    default_selector: SelectorName | None
    asyncio: Asyncio | None
    loops: tuple[Loop, ...]
    select_ceiling: SelectCeiling | None
    limits: Limits
    kernel: Kernel | None
    libraries: tuple[Library, ...]
    errors: tuple[ProbeError, ...] = ()
    # Where the facts come from: "probe" for a live probe, "documented" for facts written
    # from documented behaviour (test fixtures for hosts this project cannot run on).
    origin: Origin = "probe"
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
    import json

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
    return _build(Facts, body, "facts")


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
_TYPES: dict[tuple[str, str], Any] = {}  # (module, an annotation's text) -> the type it names


def hints(cls: type) -> dict[str, Any]:
    """The field types of a dataclass of facts, as typing.get_type_hints() gives them, at less
    cost: each distinct annotation text of a module ("str | None" is most of them) is evaluated
    once, in that module's namespace."""
    found = _HINTS.get(cls)
    if found is None:
        found = {}
        namespace = sys.modules[cls.__module__].__dict__
        for f in dataclasses.fields(cls):
            text = f.type
            if not isinstance(text, str):  # not written as text: the type itself
                found[f.name] = text
                continue
            key = (cls.__module__, text)
            if key not in _TYPES:
                _TYPES[key] = eval(text, namespace)  # a class's own annotation
            found[f.name] = _TYPES[key]
        _HINTS[cls] = found
    return found


def _build(cls: type[T], data: Any, path: str) -> T:
    if not isinstance(data, dict):
        raise FactsError(f"{path}: expected an object, got {type(data).__name__}")
    hints_of = hints(cls)
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
        kwargs[name] = _convert(hints_of[name], data[name], f"{path}.{name}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        raise FactsError(f"{path}: {value!r:.40} is not one of {', '.join(map(str, args))}")
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
