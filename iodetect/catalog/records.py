"""The catalog's record types: frozen, typed, each carrying the source that says what it says."""

from __future__ import annotations

import re
from typing import Literal

from iodetect.model import Family, LoopName, NeedName, SelectorName
from iodetect.record import frozen

Version = tuple[int, int, int]
Minor = tuple[int, int]
Severity = Literal["data-integrity", "crash", "leak", "defect"]
Effect = Literal["needs", "prefers", "warns", "none"]
Idiom = Literal["manual", "runner", "run_loop_factory"]
OS = Literal["unix", "windows"]
# What an API does on a release: fine, warns (DeprecationWarning), raises, or is gone.
Verdict = Literal["fine", "warns", "raises", "removed"]
SEVERITY: dict[str, int] = {"fine": 0, "warns": 1, "raises": 2, "removed": 3}
# How a use is written: a call, a plain reference (an attribute, an import of the name, getattr
# with the name), a base class, a decorator, an import of a module.
Use = Literal["call", "ref", "subclass", "decorator", "import"]
# Whether an event loop runs where a loop-sensitive call is made.
Context = Literal["any", "running", "no_loop", "loop_set", "cleared"]


def version_tuple(text: str | None) -> Version | None:
    """'0.22.1' -> (0, 22, 1); '3.2.1rc1' -> (3, 2, 1); None or no leading number -> None."""
    if not text:
        return None
    parts: list[int] = []
    for piece in text.strip().split(".")[:3]:
        m = re.match(r"\d+", piece)
        if m is None:
            break
        parts.append(int(m.group()))
        if m.end() < len(piece):
            break  # '1rc1': the rest is a pre-release tag
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def show_version(v: Version) -> str:
    """(0, 22, 0) -> '0.22', (0, 22, 1) -> '0.22.1'."""
    return f"{v[0]}.{v[1]}" if v[2] == 0 else f"{v[0]}.{v[1]}.{v[2]}"


@frozen
class Range:
    """Versions low <= v < high; None is open on that side."""

    low: Version | None = None
    high: Version | None = None

    def __contains__(self, v: object) -> bool:
        if not isinstance(v, tuple):
            return False
        if self.low is not None and v < self.low:
            return False
        return not (self.high is not None and v >= self.high)

    def __str__(self) -> str:
        if self.low and self.high:
            return f">={show_version(self.low)},<{show_version(self.high)}"
        if self.low:
            return f">={show_version(self.low)}"
        if self.high:
            return f"<{show_version(self.high)}"
        return "any version"


ANY = Range()


@frozen
class LoopRecord:
    """An alternative event loop: what it is, where it runs, and how far to trust it."""

    name: LoopName
    package: str  # the distribution to pip install
    factory: str  # the callable the generated code uses, e.g. uvloop.new_event_loop
    loop_class: str  # type(loop).__name__ of what the factory returns
    os: OS  # unix: every non-Windows platform; windows: Windows only
    implementations: tuple[str, ...]  # sys.implementation.name values it supports
    python_floor: Minor  # oldest CPython minor any release supports
    current_floor: Minor  # oldest CPython minor its current releases support
    auto: bool  # may `--loop auto` choose it
    maturity: str  # one sentence: why (not) chosen automatically
    maturity_source: str  # what backs that sentence
    source: str  # what backs where it runs (os, implementations, floors)


@frozen
class LoopRelease:
    """The first release of a loop that supports one CPython minor (free-threaded or not)."""

    loop: LoopName
    python: Minor
    first: Version
    source: str
    free_threaded: bool = False


@frozen
class LoopTrace:
    """How an alternative loop shows from outside a Linux process (`iodetect inspect`)."""

    loop: LoopName
    module: str  # a regular expression for its native module's path in /proc/PID/maps
    wakeup: str  # what the eventfd it registers in its epoll instance is, for people; "" unknown
    source: str


@frozen
class LoopGap:
    """Something the stdlib loop offers that this loop lacks."""

    loop: LoopName
    what: str
    need: NeedName | None  # the --needs name it breaks, if any
    source: str


@frozen
class Advisory:
    """A known defect of some versions of a loop library that matters to a service."""

    id: str  # stable, e.g. uvloop-645
    loop: LoopName
    affected: Range
    severity: Severity
    summary: str
    source: str
    fixed_in: Version | None = None  # None: open, no fixed release known
    python: Range = ANY  # CPython versions (as (3, minor, 0)) it was reported on
    condition: str | None = None  # only when the service does this (debug mode, pipes)

    def applies(self, version: Version, python: tuple[int, int]) -> bool:
        return version in self.affected and (python[0], python[1], 0) in self.python


@frozen
class SelectorRecord:
    """A selectors-module mechanism: its class, where the kernel has it, and its order."""

    name: SelectorName
    cls: str  # selectors.<cls>
    home: str  # where it exists, for "why is it absent"
    rank: int  # selectors.DefaultSelector's preference, 0 first
    source: str


@frozen
class SelectCeiling:
    """What select() accepts on a platform family: descriptors below N, or N sockets per set."""

    family: Family
    limit: int
    unit: Literal["descriptors", "sockets"]  # descriptor numbers, or sockets in one set
    reserved: int  # the loop's own entries in a select() set (Windows: listener + self-pipe)
    source: str


@frozen
class SelectorCaveat:
    """A selector that a platform's build may offer but should not be used, and the alternative."""

    family: Family
    selector: SelectorName
    prefer: SelectorName
    why: str
    source: str


@frozen
class PlatformRecord:
    """What CPython has on a platform family by default, for facts written from documentation."""

    family: Family
    sys_platform: str  # a typical sys.platform value
    os_name: str  # platform.system()
    selectors: tuple[SelectorName, ...]  # mechanisms the select module has there
    default_loop: str  # type(asyncio.new_event_loop()).__name__
    source: str


@frozen
class IdiomRecord:
    """How to run a coroutine on a chosen loop for a span of CPython minors."""

    idiom: Idiom
    since: Minor
    until: Minor | None  # last minor it is the idiom for; None: still current
    text: str
    source: str


@frozen
class Span:
    """CPython releases from `since` (inclusive) up to `until` (exclusive); until None runs on."""

    since: Version
    until: Version | None = None

    def __contains__(self, v: object) -> bool:
        if not isinstance(v, tuple):
            return False
        return bool(self.since <= v and (self.until is None or v < self.until))


@frozen
class Behaviour:
    """What an API does on some releases: warns, raises or is gone; `source` says who says so."""

    verdict: Verdict
    spans: tuple[Span, ...]
    effect: str  # what the code sees, e.g. "RuntimeError: There is no current event loop"
    error: str | None  # the exception the caller gets (None for a warning)
    source: str
    uses: tuple[Use, ...] | None = None  # None: every use; else only these (e.g. a call)

    def covers(self, release: Version, use: Use = "call") -> bool:
        return (self.uses is None or use in self.uses) and any(release in s for s in self.spans)


@frozen
class Pattern:
    """How a use of an API is recognised in a syntax tree (iodetect.scan.engine takes it)."""

    names: tuple[str, ...] = ()  # fully qualified names, e.g. "asyncio.get_event_loop"
    form: Literal["call", "ref", "import", "method"] = "call"
    keyword: str | None = None  # only calls that pass this keyword argument
    without_keyword: str | None = None  # only calls that do not pass it
    method: str | None = None  # form "method": any `x.method(...)`
    receiver: tuple[str, ...] = ()  # form "method": only when x is a call of one of these
    loop_sensitive: bool = False  # the outcome depends on whether a loop runs (Context)
    # Only calls given a coroutine, written as a call (gather(f(), g())), or no argument at all:
    # with futures or tasks these functions take the loop from them, not get_event_loop().
    coroutine_arg: bool = False


@frozen
class ApiChange:
    """One API in one situation: what each CPython release does with it, and what to write.

    Releases outside every behaviour's spans are fine. A behaviour carries its own source; `cite`
    backs the record itself where it lists none (an API that is fine in that situation).
    """

    id: str
    api: str  # as shown to people
    pattern: Pattern
    behaviours: tuple[Behaviour, ...]
    replacement: str
    context: Context = "any"
    when: str = ""  # the situation, for people: "with no event loop running or set"
    note: str = ""
    fd_ceiling: bool = False  # breaks only on descriptors at or above select()'s ceiling
    cite: str = ""

    @property
    def source(self) -> str:
        """Every source the record rests on, once each."""
        found = [self.cite] if self.cite else []
        found += [b.source for b in self.behaviours]
        return "; ".join(dict.fromkeys(found))

    def behaviour(self, release: Version, use: Use = "call") -> Behaviour | None:
        """The most severe behaviour on this release, None where the API is fine."""
        hits = [b for b in self.behaviours if b.covers(release, use)]
        return max(hits, key=lambda b: SEVERITY[b.verdict], default=None)

    def verdict(self, release: Version, use: Use = "call") -> Verdict:
        found = self.behaviour(release, use)
        return "fine" if found is None else found.verdict


@frozen
class LibReq:
    """Another distribution in a version range; dependency: its absence means "unknown"."""

    dist: str
    versions: Range
    dependency: bool = False


@frozen
class LibraryRule:
    """What an installed library asks of the event loop, for a range of its versions."""

    dist: str  # distribution name, normalized (lowercase, dashes)
    versions: Range
    effect: Effect  # needs: strict; prefers: copes at a cost; warns: unsourced or conditional
    need: NeedName | None
    why: str
    source: str
    families: tuple[Family, ...] | None = None  # None: every platform
    when: LibReq | None = None  # the rule applies only with this other library
    unless: LibReq | None = None  # the rule does not apply with this other library
