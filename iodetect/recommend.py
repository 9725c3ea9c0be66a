"""The recommender: which event loop and selector a service should use, from facts and needs alone.

Pure by design (no sys, os, select or I/O): that is what lets tests on one Linux host cover
macOS, Windows, the BSDs and illumos from fixture facts. Every choice carries a reason with a
short source reference; anything the facts cannot satisfy is a conflict with a remedy, never a
silently weaker setup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iodetect.model import SELECTOR_NAMES, Facts, Loop

NEED_NAMES = ("add_reader", "subprocess", "signals", "unix_sockets", "pty")
LOOP_CHOICES = ("auto", "asyncio", "selector", "proactor", "uvloop", "winloop", "rloop")
PLAN_LOOPS = ("selector", "proactor", "uvloop", "winloop", "rloop")
STANDARD_LOOPS = ("selector", "proactor")
SELECTOR_CLASSES = {
    "select": "SelectSelector",
    "poll": "PollSelector",
    "epoll": "EpollSelector",
    "devpoll": "DevpollSelector",
    "kqueue": "KqueueSelector",
}
# selectors.DefaultSelector's order of preference, best first.
SELECTOR_ORDER = ("kqueue", "epoll", "devpoll", "poll", "select")
OLDEST = (3, 8)  # generated code runs on CPython 3.8+
NEWEST = (3, 15)  # newest CPython the rules are verified against
# Descriptors a service needs besides one per connection: listeners, the loop's own (selector,
# self-pipe), logs, standard streams, a resolver.
HEADROOM = 64
WINDOWS_SELECT_SOCKETS = 512  # CPython builds select on Windows with FD_SETSIZE 512
WINDOWS_LOOP_SOCKETS = 3  # a listener and the selector loop's self-pipe socket pair
UNIX_FD_SETSIZE = 1024

# Short source references, cited by reasons, warnings and conflicts.
SRC_PLATFORMS = "docs.python.org/3/library/asyncio-platforms.html"
SRC_RUNNER = "docs.python.org/3/library/asyncio-runner.html (Runner, 3.11)"
SRC_RUN_FACTORY = "cpython gh-99388 (asyncio.run loop_factory, 3.12)"
SRC_GET_EVENT_LOOP = "cpython gh-93453, gh-126354 (get_event_loop raises on 3.14)"
SRC_POLICIES = "cpython gh-127949 (policies deprecated in 3.14, removal in 3.16)"
SRC_SELECTORS = "docs.python.org/3/library/selectors.html; cpython bpo-41182"
SRC_SELECT_WIN = "asyncio-platforms: SelectSelector limited to 512 sockets on Windows"
SRC_SELECT_UNIX = "select(2): FD_SETSIZE 1024; ValueError: filedescriptor out of range"
SRC_UVLOOP = "github.com/MagicStack/uvloop (README: uvloop.run, loop_factory)"
SRC_UVLOOP_314 = (
    "uvloop#547 (3.12 from 0.18), uvicorn#2482 (3.13 needs 0.21), uvloop#637 (0.21 fails on "
    "3.14), uvloop#702 (the policy idiom raises on 0.22)"
)
SRC_WINLOOP = "github.com/Vizonex/Winloop (README: one maintainer, help wanted, 0.x)"
SRC_RLOOP = "github.com/gi0baro/rloop (Development Status 3 - Alpha)"
SRC_GO_NOFILE = "golang/go#46279 (Go 1.19 raises the soft RLIMIT_NOFILE to the hard limit)"
SRC_MACOS_NOFILE = "macOS setrlimit(2): soft RLIMIT_NOFILE capped by kern.maxfilesperproc"
SRC_MACOS_PTY = "twisted/twisted#2234, bpo-5154 (macOS poll/kqueue and ptys; Twisted uses select)"
SRC_PSYCOPG = "psycopg.org/psycopg3/docs/advanced/async.html#async (no ProactorEventLoop)"
SRC_AIODNS = "aio-libs/aiodns#86 (add_reader: NotImplementedError on Proactor)"
SRC_PYZMQ = "zeromq/pyzmq#1524, #1830 (Proactor: selector thread via tornado >= 6.1)"
SRC_TORNADO = "tornadoweb/tornado#2737, #3029 (Proactor support from 6.1, in a thread)"
SRC_TWISTED = "twisted.internet.asyncioreactor uses add_reader/add_writer"
SRC_PLAYWRIGHT = "playwright.dev/python (drives the browser over a subprocess pipe)"
SRC_GEVENT = "gevent/eventlet monkey-patching replaces socket and selectors"
SRC_BENCH = "iodetect bench (measured on this host)"


class NeedsError(ValueError):
    """Needs that cannot be understood: an unknown need, loop or selector name. One line."""


@dataclass(frozen=True)
class Needs:
    """What the application asks of its event loop."""

    needs: frozenset[str] = frozenset()
    connections: int | None = None  # concurrent connections it must hold
    loop: str = "auto"  # one of LOOP_CHOICES
    selector: str | None = None  # one of SELECTOR_NAMES, for the selector loop


@dataclass(frozen=True)
class BenchEvidence:
    """What a saved `iodetect bench` run measured, reduced to what the recommender uses."""

    fastest_loop: str | None  # None: a tie within the spread, so the standard loop
    summary: str
    style_finding: str | None = None


@dataclass(frozen=True)
class PythonRange:
    """The CPython versions a module must run on: low..high inclusive; high None is open."""

    low: tuple[int, int]
    high: tuple[int, int] | None

    @property
    def single(self) -> bool:
        return self.high == self.low

    def versions(self) -> tuple[tuple[int, int], ...]:
        """Every minor version in the range, an open range ending at NEWEST."""
        top = self.high if self.high is not None else max(NEWEST, self.low)
        return tuple((3, m) for m in range(self.low[1], top[1] + 1))

    def __str__(self) -> str:
        text = f"{self.low[0]}.{self.low[1]}"
        if self.single:
            return text
        if self.high is None:
            return text + "+"
        return f"{text}-{self.high[0]}.{self.high[1]}"


def parse_python(text: str) -> PythonRange:
    """'3.12' is one version, '3.9+' every version from 3.9, '3.9-3.12' a closed range."""
    m = re.fullmatch(r"\s*3\.(\d{1,2})\s*(\+|-\s*3\.(\d{1,2}))?\s*", text)
    if m is None:
        raise NeedsError(f"--target-python must look like 3.12, 3.9+ or 3.9-3.12, not {text!r}")
    low = (3, int(m.group(1)))
    if m.group(2) is None:
        high: tuple[int, int] | None = low
    elif m.group(2) == "+":
        high = None
    else:
        high = (3, int(m.group(3)))
    if low < OLDEST:
        raise NeedsError(f"generated code needs CPython {OLDEST[0]}.{OLDEST[1]} or later")
    if high is not None and high < low:
        raise NeedsError(f"--target-python range {text.strip()!r} is empty")
    return PythonRange(low, high)


def parse_needs(text: str | None) -> frozenset[str]:
    """'add_reader,subprocess' -> frozenset; unknown names are an error naming the valid ones."""
    if not text:
        return frozenset()
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(NEED_NAMES))
    if unknown:
        raise NeedsError(f"unknown need {unknown[0]!r} (choose from {', '.join(NEED_NAMES)})")
    return frozenset(names)


@dataclass(frozen=True)
class Note:
    """A reason or a warning: one sentence and where it comes from."""

    text: str
    source: str


@dataclass(frozen=True)
class DerivedNeed:
    """A need the facts imply: an installed library that requires it."""

    need: str
    library: str  # "psycopg 3.2.1"
    why: str
    source: str
    strict: bool = True  # False: the library copes without it (with a cost), so only a preference


@dataclass(frozen=True)
class Conflict:
    """A requirement the facts cannot satisfy; the plan must not be used."""

    message: str
    remedy: str
    source: str


@dataclass(frozen=True)
class NofilePlan:
    """Raise the soft RLIMIT_NOFILE at start-up.

    target None means "to the hard limit found at run time". The generated code always clamps
    to the hard limit and, on macOS, to kern.maxfilesperproc, so a host with other limits gets
    the most it allows. need is the count the service needs (None when unknown): the generated
    code fails clearly when the limit it reaches is lower.
    """

    target: int | None
    need: int | None
    why: str


@dataclass(frozen=True)
class Expectation:
    """What a live self-test must observe when it runs the generated setup.

    Observe it inside the running loop as:
      loop = asyncio.get_running_loop()
      loop_class   == type(loop).__name__
      loop_package == type(loop).__module__.partition(".")[0]
      selector_class == type(loop._selector).__name__ (selector loops; None for the others)
    """

    loop_class: str
    loop_package: str  # asyncio, uvloop, winloop, rloop
    selector_class: str | None


@dataclass(frozen=True)
class Plan:
    """The recommendation: the loop, how to build it, the descriptor plan, and why."""

    loop: str  # one of PLAN_LOOPS
    loop_factory: str  # dotted name, e.g. uvloop.new_event_loop, asyncio.SelectorEventLoop
    selector: str | None  # selector name (epoll, ...) for a selector loop, else None
    pin_selector: bool  # the code names the selector instead of relying on DefaultSelector
    expect: Expectation
    nofile: NofilePlan | None
    platform: str  # platform family: linux, darwin, win32, freebsd, sunos, ...
    python: PythonRange
    needs: frozenset[str]  # asked for and derived (strict ones)
    connections: int | None
    reasons: tuple[Note, ...]
    derived: tuple[DerivedNeed, ...]
    warnings: tuple[Note, ...]
    conflicts: tuple[Conflict, ...]
    loop_version: str | None = None  # installed version of an alternative loop, when known
    min_loop_version: str | None = None  # oldest version of it that supports the target range
    fallback_factory: str | None = None  # the standard loop, for a --fallback module
    select_ceiling: int | None = None  # applies when the selector is select
    command: str = "iodetect snippet > loop_setup.py"

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def standard(self) -> bool:
        return self.loop in STANDARD_LOOPS

    @property
    def selector_class(self) -> str | None:
        return SELECTOR_CLASSES[self.selector] if self.selector else None


# --- helpers ---------------------------------------------------------------------------------


def platform_family(platform: str) -> str:
    """sys.platform -> the family the rules speak of (freebsd14 -> freebsd, sunos5 -> sunos)."""
    for family in ("linux", "darwin", "win32", "cygwin", "freebsd", "openbsd", "netbsd"):
        if platform.startswith(family):
            return family
    if platform.startswith(("sunos", "solaris", "illumos")):
        return "sunos"
    if platform.startswith("aix"):
        return "aix"
    return "unix"


def version_tuple(text: str | None) -> tuple[int, int, int] | None:
    """'0.22.1' -> (0, 22, 1); None or text with no leading number -> None."""
    if not text:
        return None
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        m = re.match(r"\d+", piece)
        if m is None:
            break
        parts.append(int(m.group()))
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


# uvloop: the oldest release that supports each CPython minor version (3.15 from 0.23 wheels).
UVLOOP_MIN = {(3, 12): (0, 18, 0), (3, 13): (0, 21, 0), (3, 14): (0, 22, 0), (3, 15): (0, 23, 0)}


def _fmt(v: tuple[int, int, int]) -> str:
    return f"{v[0]}.{v[1]}" if v[2] == 0 else f"{v[0]}.{v[1]}.{v[2]}"


def min_uvloop(python: PythonRange) -> tuple[int, int, int]:
    need = (0, 18, 0)  # uvloop.run and loop_factory-friendly API (README, 0.18)
    for v in python.versions():
        need = max(need, UVLOOP_MIN.get(v, (0, 18, 0)))
    return need


@dataclass(frozen=True)
class _Usable:
    ok: bool
    why: str  # why not, or a note when ok
    known: bool = True  # False: documented facts cannot say whether it is installed
    broken: bool = False  # installed, but it does not import or does not support this Python


def loop_usability(facts: Facts, name: str, python: PythonRange) -> _Usable:
    """Can this alternative loop run here for every version in the range? Netty-style: say why."""
    family = platform_family(facts.host.platform)
    lows = python.low
    if name == "uvloop":
        if family == "win32":
            return _Usable(False, "uvloop does not support Windows")
        if facts.interpreter.free_threaded and (3, 13) in python.versions():
            return _Usable(False, "uvloop has no wheels for free-threaded 3.13 (cp313t)")
    elif name == "winloop":
        if family != "win32":
            return _Usable(False, "winloop supports Windows only")
        if lows < (3, 9):
            return _Usable(False, "winloop needs Python 3.9+")
    elif name == "rloop":
        if family == "win32":
            return _Usable(False, "rloop supports Unix only")
        if lows < (3, 10):
            return _Usable(False, "rloop needs Python 3.10+ (older releases lack a usable loop)")
    loop: Loop | None = facts.loop(name)
    installed = loop.installed if loop is not None else None
    if installed is None:
        if facts.origin == "documented":
            return _Usable(
                True,
                f"documented facts cannot say whether {name} is installed; the module checks "
                "when it is imported",
                known=False,
            )
        return _Usable(False, f"{name} is not installed")
    assert loop is not None
    if loop.importable is False:
        error = loop.import_error or "unknown error"
        return _Usable(
            False, f"{name} {installed} is installed but does not import: {error}", broken=True
        )
    if name == "uvloop":
        have = version_tuple(installed)
        need = min_uvloop(python)
        if have is not None and have < need:
            return _Usable(
                False,
                f"uvloop {installed} is too old for Python {python}: {_fmt(need)}+ needed",
                broken=True,
            )
    if not loop.supported and facts.origin != "documented":
        note = loop.support_note or "the probe found it unsupported here"
        return _Usable(False, f"{name} {installed}: {note}", broken=True)
    return _Usable(True, f"{name} {installed} is installed and imports")


def _lib_version(facts: Facts, name: str) -> tuple[str, tuple[int, int, int] | None] | None:
    for lib in facts.libraries:
        if lib.name.lower().replace("_", "-") == name:
            return lib.version, version_tuple(lib.version)
    return None


def derive_needs(facts: Facts) -> tuple[DerivedNeed, ...]:
    """Needs implied by installed libraries, each naming the library that causes it."""
    found: list[DerivedNeed] = []
    windows = platform_family(facts.host.platform) == "win32"

    def lib(name: str) -> tuple[str, tuple[int, int, int] | None] | None:
        return _lib_version(facts, name)

    if (v := lib("psycopg")) is not None:
        found.append(
            DerivedNeed(
                "add_reader",
                f"psycopg {v[0]}",
                "psycopg 3 async waits on its socket with add_reader; on "
                "ProactorEventLoop it raises InterfaceError",
                SRC_PSYCOPG,
            )
        )
    for name in ("aiodns", "pycares"):
        if (v := lib(name)) is not None:
            found.append(
                DerivedNeed(
                    "add_reader",
                    f"{name} {v[0]}",
                    "c-ares hands its sockets to the loop with add_reader",
                    SRC_AIODNS,
                )
            )
    tornado = lib("tornado")
    tornado_61 = tornado is not None and tornado[1] is not None and tornado[1] >= (6, 1, 0)
    if (v := lib("pyzmq")) is not None:
        if tornado_61:
            found.append(
                DerivedNeed(
                    "add_reader",
                    f"pyzmq {v[0]}",
                    "zmq.asyncio needs add_reader; with tornado >= 6.1 it runs "
                    "a selector thread on Proactor and warns",
                    SRC_PYZMQ,
                    strict=False,
                )
            )
        else:
            found.append(
                DerivedNeed(
                    "add_reader",
                    f"pyzmq {v[0]}",
                    "zmq.asyncio needs add_reader and, without tornado >= 6.1, fails on Proactor",
                    SRC_PYZMQ,
                )
            )
    if tornado is not None and windows:
        if tornado_61:
            found.append(
                DerivedNeed(
                    "add_reader",
                    f"tornado {tornado[0]}",
                    "tornado >= 6.1 runs add_reader in a selector thread on Proactor",
                    SRC_TORNADO,
                    strict=False,
                )
            )
        else:
            found.append(
                DerivedNeed(
                    "add_reader",
                    f"tornado {tornado[0]}",
                    "tornado < 6.1 calls add_reader, which Proactor lacks",
                    SRC_TORNADO,
                )
            )
    if (v := lib("twisted")) is not None:
        found.append(
            DerivedNeed(
                "add_reader",
                f"twisted {v[0]}",
                "Twisted's asyncioreactor calls add_reader/add_writer (only if "
                "the application installs that reactor)",
                SRC_TWISTED,
                strict=False,
            )
        )
    if (v := lib("playwright")) is not None:
        found.append(
            DerivedNeed(
                "subprocess",
                f"playwright {v[0]}",
                "Playwright starts and talks to its driver as a subprocess",
                SRC_PLAYWRIGHT,
            )
        )
    return tuple(found)


# --- the recommender -------------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.reasons: list[Note] = []
        self.warnings: list[Note] = []
        self.conflicts: list[Conflict] = []

    def reason(self, text: str, source: str) -> None:
        self.reasons.append(Note(text, source))

    def warn(self, text: str, source: str) -> None:
        if Note(text, source) not in self.warnings:
            self.warnings.append(Note(text, source))

    def conflict(self, message: str, remedy: str, source: str) -> None:
        self.conflicts.append(Conflict(message, remedy, source))


def _validate(needs: Needs) -> None:
    unknown = sorted(set(needs.needs) - set(NEED_NAMES))
    if unknown:
        raise NeedsError(f"unknown need {unknown[0]!r} (choose from {', '.join(NEED_NAMES)})")
    if needs.loop not in LOOP_CHOICES:
        raise NeedsError(f"unknown loop {needs.loop!r} (choose from {', '.join(LOOP_CHOICES)})")
    if needs.selector is not None and needs.selector not in SELECTOR_NAMES:
        raise NeedsError(
            f"unknown selector {needs.selector!r} (choose from {', '.join(SELECTOR_NAMES)})"
        )
    if needs.connections is not None and needs.connections < 1:
        raise NeedsError("--connections must be a positive number")


def _bench_loop(name: str | None) -> str | None:
    """A bench loop name in plan terms: asyncio/standard -> the standard loop."""
    if name is None:
        return None
    if name in ("asyncio", "standard", "default"):
        return "standard"
    return name


def recommend(
    facts: Facts,
    needs: Needs,
    bench: BenchEvidence | None = None,
    *,
    python: PythonRange | None = None,
) -> Plan:
    """The loop, selector and descriptor plan for this host and these needs, with reasons.

    python: the CPython versions the code must run on (default: the facts' interpreter).
    """
    _validate(needs)
    py = python or PythonRange(facts.py, facts.py)
    family = platform_family(facts.host.platform)
    windows = family == "win32"
    b = _Builder()
    derived = derive_needs(facts)
    strict = set(needs.needs) | {d.need for d in derived if d.strict}
    soft = {d.need for d in derived if not d.strict} - strict
    for d in derived:
        b.reason(f"{d.library} needs {d.need}: {d.why}", d.source)
    for name in ("gevent", "eventlet"):
        if (v := _lib_version(facts, name)) is not None:
            b.warn(
                f"{name} {v[0]} is installed: if the application monkey-patches, the loop "
                "and selector differ from this plan",
                SRC_GEVENT,
            )
    if facts.interpreter.implementation != "cpython":
        b.warn(
            f"the rules are verified for CPython; this is {facts.interpreter.implementation}",
            SRC_UVLOOP,
        )
    if py.low < OLDEST:
        b.conflict(
            f"Python {py}: the generated code needs CPython {OLDEST[0]}.{OLDEST[1]} or later",
            "upgrade the interpreter, or pass a supported --target-python",
            SRC_RUN_FACTORY,
        )
    if py.high is not None and py.high > NEWEST:
        b.warn(
            f"Python {py} goes past {NEWEST[0]}.{NEWEST[1]}, the newest version these "
            "rules are verified on",
            SRC_POLICIES,
        )

    # Needs no loop on Windows can meet.
    if windows:
        for need, what in (
            ("signals", "no event loop on Windows has add_signal_handler"),
            ("unix_sockets", "no event loop on Windows has Unix socket servers or connections"),
            ("pty", "Windows has no ptys (no pty module)"),
        ):
            if need in strict:
                b.conflict(
                    f"{need} on Windows: {what}",
                    "drop the need, or deploy on Linux or macOS"
                    + (
                        "; on Windows use signal.signal() in the main thread"
                        if need == "signals"
                        else ""
                    ),
                    SRC_PLATFORMS,
                )
        if "add_reader" in strict and "subprocess" in strict:
            who = _who(derived, "add_reader", needs.needs)
            who2 = _who(derived, "subprocess", needs.needs)
            b.conflict(
                f"add_reader ({who}) and subprocess ({who2}) on Windows: SelectorEventLoop "
                "has add_reader but no subprocesses, ProactorEventLoop subprocesses but no "
                "add_reader",
                "run one side in a thread with its own loop (e.g. the subprocess work on a "
                "ProactorEventLoop in a worker thread), or deploy on Linux or macOS",
                SRC_PLATFORMS,
            )

    loop, loop_reason = _choose_loop(facts, needs, bench, py, family, strict, soft, derived, b)
    if bench is not None:
        measured = _bench_loop(bench.fastest_loop) or "standard"
        chosen = "standard" if loop in STANDARD_LOOPS else loop
        if needs.loop != "auto" and measured != chosen:
            b.warn(
                f"measured here, {bench.fastest_loop or 'the standard loop'} was fastest "
                f"({bench.summary}); --loop {needs.loop} overrides it",
                SRC_BENCH,
            )
        if bench.style_finding:
            b.reason(f"API style: {bench.style_finding}", SRC_BENCH)

    # Selector.
    selector: str | None = None
    pin = False
    ceiling: int | None = None
    if loop == "selector":
        selector, pin = _choose_selector(facts, needs, family, strict, b)
        if selector == "select":
            ceiling = _select_ceiling(facts, windows)
    elif needs.selector is not None:
        b.conflict(
            f"--selector {needs.selector} applies only to the standard selector loop, not {loop}",
            "drop --selector, or use --loop selector",
            SRC_SELECTORS,
        )

    # Connections against ceilings and limits.
    nofile = _nofile_plan(facts, needs, family, selector, ceiling, strict, b)

    if loop == "selector" and selector == "select" and ceiling is not None:
        # Windows counts sockets only: the listener and the loop's self-pipe socket pair.
        reserve = WINDOWS_LOOP_SOCKETS if windows else HEADROOM
        limit = ceiling - reserve
        what = "sockets" if windows else "descriptors"
        src = SRC_SELECT_WIN if windows else SRC_SELECT_UNIX
        if needs.connections is not None and needs.connections > limit:
            b.conflict(
                f"{needs.connections} connections exceed what select() can watch here "
                f"({ceiling} {what}, {reserve} kept for the "
                + ("listener and the loop's own sockets" if windows else "service")
                + ")",
                "drop the need that forces the selector loop"
                + (
                    " (add_reader), or split the load over processes"
                    if windows
                    else ", or use another selector"
                ),
                src,
            )
        elif needs.connections is None:
            b.warn(
                ("the Windows SelectorEventLoop" if windows else "select()")
                + f" watches at most {ceiling} {what}; pass --connections to "
                "check the load against it",
                src,
            )

    expect = _expect(loop, family, selector)
    factory = {
        "selector": "asyncio.SelectorEventLoop",
        "proactor": "asyncio.ProactorEventLoop",
        "uvloop": "uvloop.new_event_loop",
        "winloop": "winloop.new_event_loop",
        "rloop": "rloop.new_event_loop",
    }[loop]
    fallback = "asyncio.ProactorEventLoop" if windows else "asyncio.SelectorEventLoop"
    if windows and "add_reader" in strict:
        fallback = "asyncio.SelectorEventLoop"
    loop_version = None
    min_version = None
    if loop not in STANDARD_LOOPS:
        lp = facts.loop(loop)
        loop_version = lp.installed if lp is not None else None
        if loop == "uvloop":
            min_version = _fmt(min_uvloop(py))
    b.reasons.insert(0, loop_reason)
    b.reason(_idiom_reason(py), _idiom_source(py))
    return Plan(
        loop=loop,
        loop_factory=factory,
        selector=selector,
        pin_selector=pin,
        expect=expect,
        nofile=nofile,
        platform=family,
        python=py,
        needs=frozenset(strict),
        connections=needs.connections,
        reasons=tuple(b.reasons),
        derived=derived,
        warnings=tuple(b.warnings),
        conflicts=tuple(b.conflicts),
        loop_version=loop_version,
        min_loop_version=min_version,
        fallback_factory=None if loop in STANDARD_LOOPS else fallback,
        select_ceiling=ceiling,
    )


def _who(derived: tuple[DerivedNeed, ...], need: str, asked: frozenset[str]) -> str:
    names = [d.library for d in derived if d.need == need and d.strict]
    if need in asked:
        names.insert(0, "--needs")
    return ", ".join(names) or "--needs"


def _idiom_reason(py: PythonRange) -> str:
    if py.single:
        v = py.low
        if v >= (3, 12):
            return (
                f"Python {py}: asyncio.run(main, loop_factory=...); no get_event_loop(), "
                "no policies"
            )
        if v == (3, 11):
            return "Python 3.11: asyncio.Runner(loop_factory=...); no get_event_loop(), no policies"
        return (
            f"Python {py}: manual loop lifecycle (new loop, run_until_complete, shut down "
            "async generators and the executor, close); no get_event_loop(), no policies"
        )
    return (
        f"Python {py}: one module that picks the idiom at run time (asyncio.run with "
        "loop_factory on 3.12+, Runner on 3.11, manual lifecycle before)"
    )


def _idiom_source(py: PythonRange) -> str:
    versions = py.versions()
    parts = []
    if any(v >= (3, 12) for v in versions):
        parts.append(SRC_RUN_FACTORY)
    if (3, 11) in versions:
        parts.append(SRC_RUNNER)
    parts.append(SRC_GET_EVENT_LOOP)
    if any(v >= (3, 14) for v in versions):
        parts.append(SRC_POLICIES)
    return "; ".join(parts)


def _choose_loop(
    facts: Facts,
    needs: Needs,
    bench: BenchEvidence | None,
    py: PythonRange,
    family: str,
    strict: set[str],
    soft: set[str],
    derived: tuple[DerivedNeed, ...],
    b: _Builder,
) -> tuple[str, Note]:
    windows = family == "win32"
    asked = needs.loop
    if asked == "asyncio" or (asked == "auto" and needs.selector is not None):
        if asked == "auto":
            b.reason(
                f"--selector {needs.selector} implies the standard selector loop", SRC_SELECTORS
            )
        asked = "standard"

    def standard_loop(why: str) -> tuple[str, Note]:
        """The standard loop that fits the needs on this platform."""
        if not windows:
            return "selector", Note(f"standard SelectorEventLoop: {why}", SRC_SELECTORS)
        if "add_reader" in strict:
            who = _who(derived, "add_reader", needs.needs)
            return "selector", Note(
                f"SelectorEventLoop on Windows: add_reader ({who}) needs it; {why}", SRC_PLATFORMS
            )
        if "subprocess" in strict:
            return "proactor", Note(
                f"ProactorEventLoop: subprocesses need it on Windows; {why}", SRC_PLATFORMS
            )
        if "add_reader" in soft:
            return "selector", Note(
                "SelectorEventLoop on Windows: keeps add_reader on the loop's own thread "
                f"(Proactor would add a selector thread); {why}",
                SRC_PYZMQ,
            )
        return "proactor", Note(
            f"ProactorEventLoop (IOCP), the Windows default since 3.8; {why}", SRC_PLATFORMS
        )

    if asked == "selector":
        if windows and "subprocess" in strict:
            b.conflict(
                "--loop selector on Windows cannot start subprocesses ("
                + _who(derived, "subprocess", needs.needs)
                + ")",
                "use --loop proactor, or drop the subprocess need",
                SRC_PLATFORMS,
            )
        return "selector", Note("SelectorEventLoop: requested with --loop selector", SRC_SELECTORS)
    if asked == "proactor":
        if not windows:
            b.conflict(
                f"--loop proactor: ProactorEventLoop exists only on Windows, not {family}",
                "use --loop auto or --loop selector",
                SRC_PLATFORMS,
            )
            return "selector", Note(
                "ProactorEventLoop requested, but it is Windows-only", SRC_PLATFORMS
            )
        if "add_reader" in strict:
            b.conflict(
                "--loop proactor has no add_reader ("
                + _who(derived, "add_reader", needs.needs)
                + ")",
                "use --loop selector, or drop the library that needs add_reader",
                SRC_PLATFORMS,
            )
        return "proactor", Note("ProactorEventLoop: requested with --loop proactor", SRC_PLATFORMS)
    if asked in ("uvloop", "winloop", "rloop"):
        use = loop_usability(facts, asked, py)
        if not use.ok:
            remedy = {
                "uvloop": f"pip install 'uvloop>={_fmt(min_uvloop(py))}' (not on Windows), or "
                "use --loop auto",
                "winloop": "pip install winloop (Windows, Python 3.9+), or use --loop auto",
                "rloop": "pip install rloop (Unix, Python 3.10+), or use --loop auto",
            }[asked]
            b.conflict(
                f"--loop {asked}: {use.why}",
                remedy,
                {"uvloop": SRC_UVLOOP_314, "winloop": SRC_WINLOOP, "rloop": SRC_RLOOP}[asked],
            )
        elif not use.known:
            b.warn(use.why, "facts origin: documented (iodetect.platforms)")
        if asked == "rloop":
            b.warn(
                "rloop is self-declared alpha (no SSL, no Unix sockets); never chosen "
                "automatically",
                SRC_RLOOP,
            )
            if "unix_sockets" in strict:
                b.conflict(
                    "--loop rloop has no Unix sockets (unix_sockets needed)",
                    "use --loop auto, or drop the need",
                    SRC_RLOOP,
                )
        if asked == "winloop":
            b.warn(
                "winloop is a 0.x project with one maintainer asking for help; not chosen "
                "automatically",
                SRC_WINLOOP,
            )
        if asked in ("uvloop", "rloop") and family == "darwin" and "pty" in strict:
            b.warn(
                f"{asked} on macOS watches ptys with kqueue, which mishandles them; the "
                "standard loop with select() is the safe choice",
                SRC_MACOS_PTY,
            )
        return asked, Note(
            f"{asked}: requested with --loop {asked}" + (f" ({use.why})" if use.ok else ""),
            {"uvloop": SRC_UVLOOP, "winloop": SRC_WINLOOP, "rloop": SRC_RLOOP}[asked],
        )
    if asked == "standard":
        return standard_loop("requested with --loop asyncio")

    # auto
    uv = loop_usability(facts, "uvloop", py) if not windows else None
    blocked_by_pty = family == "darwin" and "pty" in strict
    if bench is not None:
        fastest = _bench_loop(bench.fastest_loop)
        if fastest is None:
            return standard_loop(f"measured: no loop beats it beyond the spread ({bench.summary})")
        if fastest in ("rloop", "winloop"):
            b.warn(
                f"{fastest} measured fastest ({bench.summary}), but it is not stable enough "
                f"to choose automatically; ask with --loop {fastest}",
                SRC_BENCH,
            )
        elif fastest == "uvloop" and uv is not None and uv.ok and uv.known and not blocked_by_pty:
            return "uvloop", Note(f"uvloop: measured fastest here ({bench.summary})", SRC_BENCH)
        elif fastest in ("standard", "selector", "proactor"):
            return standard_loop(f"measured fastest here ({bench.summary})")
        else:
            b.warn(
                f"{bench.fastest_loop} measured fastest ({bench.summary}), but it cannot be "
                "used here",
                SRC_BENCH,
            )
    if windows:
        winloop = facts.loop("winloop")
        if winloop is not None and winloop.installed:
            b.warn(
                "winloop is installed but not chosen automatically (0.x, one maintainer); "
                "ask with --loop winloop",
                SRC_WINLOOP,
            )
        return standard_loop("no stable alternative loop exists for Windows")
    assert uv is not None
    if uv.ok and uv.known and not blocked_by_pty:
        return "uvloop", Note(
            f"uvloop: {uv.why}; a libuv loop, faster than the standard one for the same code",
            SRC_UVLOOP,
        )
    if blocked_by_pty and uv.ok and uv.known:
        b.reason(
            "uvloop is installed, but a pty on macOS needs select(): kqueue and poll "
            "mishandle ptys there",
            SRC_MACOS_PTY,
        )
        return standard_loop("pty on macOS")
    if uv.broken:
        b.warn(f"uvloop not used: {uv.why}", SRC_UVLOOP_314)
    if not uv.known:
        return standard_loop(
            "the facts cannot say whether uvloop is installed; ask with "
            "--loop uvloop to use it (the module then checks it on import)"
        )
    return standard_loop(uv.why if not uv.ok else "no faster stable loop here")


def _choose_selector(
    facts: Facts, needs: Needs, family: str, strict: set[str], b: _Builder
) -> tuple[str, bool]:
    """The selector for a selector loop, and whether the code must name it."""
    if family == "win32":
        if needs.selector not in (None, "select"):
            b.conflict(
                f"--selector {needs.selector}: Windows has only select()",
                "drop --selector",
                SRC_PLATFORMS,
            )
        b.reason("SelectorEventLoop on Windows uses select() (SelectSelector)", SRC_SELECT_WIN)
        return "select", False
    # Only names this project knows become code: a facts file is data.
    available = [s.name for s in facts.selectors if s.available and s.name in SELECTOR_CLASSES]
    default = facts.default_selector if facts.default_selector in SELECTOR_CLASSES else None
    if needs.selector is not None:
        sel = facts.selector(needs.selector)
        if sel is None or not sel.available:
            why = sel.reason if sel is not None and sel.reason else "not available here"
            b.conflict(
                f"--selector {needs.selector}: {why}",
                "choose one of: " + (", ".join(available) or "(none available)"),
                SRC_SELECTORS,
            )
        else:
            b.reason(f"selector {needs.selector}: requested with --selector", SRC_SELECTORS)
        if needs.selector == "epoll" and "pty" in strict:
            b.warn("epoll works with ptys, but not with regular files (EPERM)", SRC_SELECTORS)
        return needs.selector, True
    if family == "darwin" and "pty" in strict:
        b.reason(
            "selector select: kqueue and poll on macOS mishandle ptys and character "
            "devices (Twisted uses select on macOS for that)",
            SRC_MACOS_PTY,
        )
        return "select", True
    if default in available:
        assert default is not None
        b.reason(
            f"selector {default}: selectors.DefaultSelector picks it here (order kqueue, "
            "epoll, devpoll, poll, select)",
            SRC_SELECTORS,
        )
        return default, False
    for name in SELECTOR_ORDER:
        if name in available:
            b.reason(
                f"selector {name}: the best that works here"
                + (f" ({default} is listed but unusable)" if default else ""),
                SRC_SELECTORS,
            )
            return name, True
    b.conflict("no selector works on this host", "check the facts' selector errors", SRC_SELECTORS)
    return "select", True


def _select_ceiling(facts: Facts, windows: bool) -> int:
    if facts.select_ceiling is not None and facts.select_ceiling.limit:
        return facts.select_ceiling.limit
    return WINDOWS_SELECT_SOCKETS if windows else UNIX_FD_SETSIZE


def _nofile_plan(
    facts: Facts,
    needs: Needs,
    family: str,
    selector: str | None,
    ceiling: int | None,
    strict: set[str],
    b: _Builder,
) -> NofilePlan | None:
    """Raise the soft descriptor limit where it helps; conflict where the hard limit is short."""
    if family == "win32":
        return None
    lim = facts.limits
    need = needs.connections + HEADROOM if needs.connections is not None else None
    soft, hard = lim.nofile_soft, lim.nofile_hard
    inf = -1
    cap: int | None = hard if hard is not None and hard != inf else None
    if cap is None and hard == inf:
        if family == "linux" and lim.nr_open:
            cap = lim.nr_open
        if family == "darwin" and lim.maxfilesperproc:
            cap = lim.maxfilesperproc
    if family == "darwin" and lim.maxfilesperproc and cap is not None:
        cap = min(cap, lim.maxfilesperproc)
    if selector == "select":
        top = ceiling or UNIX_FD_SETSIZE
        cap = top if cap is None else min(cap, top)
    if need is not None and cap is not None and need > cap:
        where = (
            "kern.maxfilesperproc"
            if family == "darwin" and lim.maxfilesperproc == cap
            else "select()'s ceiling"
            if selector == "select" and cap == ceiling
            else "the hard limit"
        )
        remedy = (
            "raise the hard limit: ulimit -Hn, systemd LimitNOFILE=, "
            "docker run --ulimit nofile=N:N, or the container runtime's default for "
            "Kubernetes"
        )
        if family == "darwin":
            remedy = "raise it: sudo sysctl kern.maxfilesperproc=N and launchctl limit maxfiles"
        if selector == "select":
            remedy = "use a selector without a ceiling, or fewer connections per process"
        b.conflict(
            f"{needs.connections} connections need about {need} descriptors; {where} is {cap}",
            remedy,
            SRC_SELECT_UNIX if selector == "select" else SRC_GO_NOFILE,
        )
        return None
    if soft == inf:
        b.reason("descriptor limit: the soft limit is already unlimited", SRC_GO_NOFILE)
        return None
    if soft is not None and cap is not None and soft >= cap:
        b.reason(
            f"descriptor limit: soft {soft} is already at the most this host allows", SRC_GO_NOFILE
        )
        return None
    if selector == "select":
        # Raising only helps up to the ceiling; select() breaks above it.
        if need is not None and soft is not None and soft < need:
            b.reason(
                f"descriptor limit: raise the soft limit to {need}, not above select()'s ceiling",
                SRC_SELECT_UNIX,
            )
            return NofilePlan(
                target=need, need=need, why="enough for the connections, below select()'s ceiling"
            )
        return None
    target = cap
    src = SRC_MACOS_NOFILE if family == "darwin" else SRC_GO_NOFILE
    text = (
        "descriptor limit: raise the soft limit to the hard limit at start-up, as the Go "
        "runtime does"
    )
    if soft is not None:
        text += f" (soft {soft}" + (f", to {target})" if target is not None else ")")
    if family == "darwin":
        text += "; clamped to kern.maxfilesperproc"
    b.reason(text, src)
    if "subprocess" in strict and (target is None or target > UNIX_FD_SETSIZE):
        b.warn(
            "children inherit the raised descriptor limit: a child that uses select() "
            "breaks on descriptors above 1024",
            SRC_GO_NOFILE,
        )
    return NofilePlan(
        target=target, need=need, why="a network service holds one descriptor per connection"
    )


def _expect(loop: str, family: str, selector: str | None) -> Expectation:
    if loop == "selector":
        cls = "_WindowsSelectorEventLoop" if family == "win32" else "_UnixSelectorEventLoop"
        return Expectation(cls, "asyncio", SELECTOR_CLASSES[selector or "select"])
    if loop == "proactor":
        return Expectation("ProactorEventLoop", "asyncio", None)
    if loop == "rloop":
        return Expectation("RLoop", "rloop", None)
    return Expectation("Loop", loop, None)  # uvloop.Loop, winloop.Loop


def plan_dict(plan: Plan) -> dict[str, object]:
    """The plan as plain JSON data (for report --json and check --json); sets become lists."""
    import dataclasses

    data = dataclasses.asdict(plan)
    data["needs"] = sorted(plan.needs)
    data["python"] = str(plan.python)
    data["selector_class"] = plan.selector_class
    data["ok"] = plan.ok
    return data
