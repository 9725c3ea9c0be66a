"""The recommender's inputs and output: needs, bench evidence, the Python range, and the plan."""

from __future__ import annotations

import dataclasses
import re

from iodetect.catalog import cpython, limits, mechanisms
from iodetect.model import NeedName, PlanLoop, SelectorName
from iodetect.record import frozen

OLDEST = cpython.OLDEST
NEWEST = cpython.NEWEST
HEADROOM = limits.HEADROOM
SELECTOR_CLASSES = mechanisms.SELECTOR_CLASSES
SELECTOR_ORDER = mechanisms.ORDER
STANDARD_LOOPS: tuple[PlanLoop, ...] = ("selector", "proactor")


class NeedsError(ValueError):
    """Needs that cannot be understood: an unknown need, loop or selector name. One line."""


@frozen
class Needs:
    """What the application asks of its event loop.

    User input, so plain strings: recommend() checks every one against the vocabularies
    (NeedName, LoopChoice, SelectorName in iodetect.model) before it reads them.
    """

    needs: frozenset[str] = frozenset()
    connections: int | None = None  # concurrent connections it must hold
    loop: str = "auto"  # a LoopChoice
    selector: str | None = None  # a SelectorName, for the selector loop


@frozen
class BenchEvidence:
    """What a saved `iodetect bench` run measured, reduced to what the recommender uses."""

    fastest_loop: str | None  # None: a tie within the spread, so the standard loop
    summary: str
    style_finding: str | None = None


@frozen
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


@frozen
class Note:
    """A reason or a warning: one sentence, where it comes from, and a stable code."""

    text: str
    source: str
    code: str = ""


@frozen
class DerivedNeed:
    """A need the facts imply: an installed library that requires it."""

    need: NeedName
    library: str  # "psycopg 3.2.1"
    why: str
    source: str
    strict: bool = True  # False: the library copes without it (with a cost), so only a preference


@frozen
class Conflict:
    """A requirement the facts cannot satisfy; the plan must not be used."""

    message: str
    remedy: str
    source: str
    code: str = ""  # stable, e.g. nofile.hard, windows.add_reader_subprocess


@frozen
class NofilePlan:
    """Raise the soft RLIMIT_NOFILE when the generated module makes a loop.

    target None (the rule): the hard limit read at run time, but no higher than
    limits.SANE_MAX unless need is higher; on macOS also no higher than kern.maxfilesperproc.
    target set: only with select(), the need capped below select()'s ceiling. Never a limit
    seen where the plan was made: the module must be the same on every host of the same kind.
    need is the count the service needs (None when unknown): the generated code fails clearly
    when the most it may reach is lower.
    """

    target: int | None
    need: int | None
    why: str


@frozen
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


@frozen
class Plan:
    """The recommendation: the loop, how to build it, the descriptor plan, and why."""

    loop: PlanLoop
    loop_factory: str  # dotted name, e.g. uvloop.new_event_loop, asyncio.SelectorEventLoop
    selector: SelectorName | None  # for a selector loop, else None
    pin_selector: bool  # the code names the selector instead of relying on DefaultSelector
    expect: Expectation
    nofile: NofilePlan | None
    platform: str  # platform family: linux, darwin, win32, freebsd, sunos, ...
    python: PythonRange
    needs: frozenset[NeedName]  # asked for and derived (strict ones)
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
    implementation: str = "cpython"  # sys.implementation.name the code is for
    implementation_version: str | None = None  # PyPy's own release, e.g. 8.0.1
    install: str | None = None  # pip requirement for the loop, clear of known advisories
    advisories: tuple[str, ...] = ()  # ids of the catalog advisories that apply

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def standard(self) -> bool:
        return self.loop in STANDARD_LOOPS

    @property
    def selector_class(self) -> str | None:
        return SELECTOR_CLASSES[self.selector] if self.selector else None

    @property
    def runtime(self) -> str:
        """The interpreter the code is for: "CPython 3.9+", "PyPy 3.11 (PyPy 8.0.1)".

        Both names come from facts, so only short, plain words of them are shown.
        """
        if self.implementation == "cpython":
            return f"CPython {self.python}"
        name = {"pypy": "PyPy"}.get(self.implementation) or _plain(self.implementation)
        version = _plain(self.implementation_version or "")
        extra = f" ({name} {version})" if version else ""
        return f"{name} {self.python}{extra}"


def _plain(text: str, limit: int = 40) -> str:
    """Letters, digits and . _ + - only, at most `limit` of them."""
    return re.sub(r"[^A-Za-z0-9._+-]", "", text)[:limit] or "?"


def plan_dict(plan: Plan) -> dict[str, object]:
    """The plan as plain JSON data (for report --json and check --json); sets become lists."""
    data = dataclasses.asdict(plan)
    data["needs"] = sorted(plan.needs)
    data["python"] = str(plan.python)
    data["runtime"] = plan.runtime
    data["selector_class"] = plan.selector_class
    data["ok"] = plan.ok
    return data
