"""CPython versions: the ones iodetect covers, the idiom to run a loop on each, and the one
parser of the versions a user asks for (`--target-python` of `snippet` and of `scan`).

What each asyncio API does on each release (get_event_loop(), the policies, uvloop.install...)
is the table in iodetect.catalog.apis.
"""

from __future__ import annotations

import re

from iodetect.catalog.records import IdiomRecord, Minor
from iodetect.record import frozen

OLDEST: Minor = (3, 8)  # generated code runs on CPython 3.8+
NEWEST: Minor = (3, 15)  # newest CPython the catalog is verified against
SRC_OLDEST = (
    "asyncio.all_tasks(), shutdown_asyncgens() and the other calls of the manual lifecycle "
    "exist from CPython 3.7; iodetect tests every generated module on 3.8-3.15"
)
SRC_NEWEST = "iodetect's targets tests run the generated modules on CPython 3.8-3.15 and PyPy"

SRC_RUNNER = "docs asyncio-runner.html: asyncio.Runner(loop_factory=), 3.11 (bpo-47062)"
SRC_RUN_FACTORY = "cpython gh-99388: asyncio.run(loop_factory=), 3.12"
SRC_MANUAL = "cpython Lib/asyncio/runners.py 3.8-3.10: asyncio.run() written out"

IDIOMS: tuple[IdiomRecord, ...] = (
    IdiomRecord(
        "manual",
        (3, 8),
        (3, 10),
        "manual loop lifecycle (new loop, run_until_complete, shut down async generators and "
        "the executor, close)",
        SRC_MANUAL,
    ),
    IdiomRecord("runner", (3, 11), (3, 11), "asyncio.Runner(loop_factory=...)", SRC_RUNNER),
    IdiomRecord(
        "run_loop_factory", (3, 12), None, "asyncio.run(main, loop_factory=...)", SRC_RUN_FACTORY
    ),
)


def idiom(minor: Minor) -> IdiomRecord:
    """The idiom for one CPython minor (minors past NEWEST use the newest idiom)."""
    for record in IDIOMS:
        if record.since <= minor and (record.until is None or minor <= record.until):
            return record
    return IDIOMS[0] if minor < IDIOMS[0].since else IDIOMS[-1]


def idioms_text(records: tuple[IdiomRecord, ...] = IDIOMS) -> str:
    """'asyncio.run(main, loop_factory=...) on 3.12+, ... on 3.8-3.10', newest first."""
    return ", ".join(
        f"{r.text.split(' (')[0]} on {minors_text(r.since, r.until)}" for r in reversed(records)
    )


def minors_text(since: Minor, until: Minor | None) -> str:
    """(3, 8), (3, 10) -> '3.8-3.10'; until None -> '3.8+'."""
    low = f"{since[0]}.{since[1]}"
    if until is None:
        return low + "+"
    return low if until == since else f"{low}-{until[0]}.{until[1]}"


# --- the versions a user asks for ---------------------------------------------------------------
class VersionError(ValueError):
    """A --target-python value that cannot be used. One line."""


@frozen
class VersionSpan:
    """One item of a --target-python value: a minor, one release of it, or a range of minors."""

    low: Minor
    high: Minor | None  # the last minor, inclusive; None: every later one ("3.9+")
    patch: int | None = None  # "3.11.7": that one release of `low`

    def __str__(self) -> str:
        text = f"{self.low[0]}.{self.low[1]}"
        if self.patch is not None:
            return f"{text}.{self.patch}"
        return minors_text(self.low, self.high)


FORMS = "3.12, 3.11.7, 3.9+, 3.9-3.12 or a list of them (3.9,3.12)"
_ITEM = re.compile(r"3\.(\d{1,2})(?:\.(\d{1,3}))?\s*(\+|-\s*3\.(\d{1,2}))?")


def parse_versions(text: str, newest: Minor | None = None) -> tuple[VersionSpan, ...]:
    """'3.12', '3.11.7', '3.9+', '3.9-3.12' or a comma-separated list of those, in order.

    Every version is OLDEST or later; with `newest`, none goes past it (the API records end
    there; generated code may aim past NEWEST, which the recommender warns about).
    Raises VersionError with a one-line message for either command.
    """
    spans = [_parse_item(part.strip(), newest) for part in text.split(",")]
    return tuple(sorted(set(spans), key=lambda s: (s.low, s.patch or 0, s.high or (99, 0))))


def _parse_item(part: str, newest: Minor | None) -> VersionSpan:
    m = _ITEM.fullmatch(part)
    if m is None:
        raise VersionError(f"--target-python must look like {FORMS}, not {part!r}")
    low: Minor = (3, int(m.group(1)))
    patch = int(m.group(2)) if m.group(2) is not None else None
    high: Minor | None = low
    if m.group(3) == "+":
        high = None
    elif m.group(3) is not None:
        high = (3, int(m.group(4)))
    if patch is not None and high != low:
        raise VersionError(
            f"--target-python {part!r}: a range takes minor versions (3.10-3.12), not releases"
        )
    if low < OLDEST:
        raise VersionError(
            f"--target-python {part!r}: iodetect covers CPython {OLDEST[0]}.{OLDEST[1]} and later"
        )
    if high is not None and high < low:
        raise VersionError(f"--target-python range {part!r} is empty")
    if newest is not None and max(low, high or low) > newest:
        raise VersionError(
            f"--target-python {part!r}: the records cover CPython {OLDEST[0]}.{OLDEST[1]} to "
            f"{newest[0]}.{newest[1]}"
        )
    return VersionSpan(low, high, patch)


def hull(spans: tuple[VersionSpan, ...]) -> tuple[Minor, Minor | None]:
    """The smallest range of minors holding every span: (low, high), high None when open."""
    low = min(s.low for s in spans)
    high = None if any(s.high is None for s in spans) else max(s.high or s.low for s in spans)
    return low, high
