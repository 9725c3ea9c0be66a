"""The catalog: what iodetect knows about loops, selectors, platforms, CPython and libraries.

One source of truth, host-side, as typed frozen records that each cite a primary source (a
repository file at a tag, a docs page, a maintainers' thread, or a measurement named as one).
The probe reports raw facts; everything here turns them into decisions. Pure data and pure
queries: no I/O.
"""

from __future__ import annotations

from iodetect.catalog import (
    advisories,
    apis,
    cpython,
    libraries,
    limits,
    loops,
    mechanisms,
    platforms,
    support,
)
from iodetect.catalog.records import (
    Advisory,
    ApiChange,
    Behaviour,
    IdiomRecord,
    LibraryRule,
    LibReq,
    LoopGap,
    LoopRecord,
    LoopRelease,
    Pattern,
    PlatformRecord,
    Range,
    SelectCeiling,
    SelectorCaveat,
    SelectorRecord,
    Span,
    show_version,
    version_tuple,
)
from iodetect.model import SELECTOR_NAMES

__all__ = [
    "Advisory",
    "ApiChange",
    "Behaviour",
    "IdiomRecord",
    "LibReq",
    "LibraryRule",
    "LoopGap",
    "LoopRecord",
    "LoopRelease",
    "Pattern",
    "PlatformRecord",
    "Range",
    "SelectCeiling",
    "SelectorCaveat",
    "SelectorRecord",
    "Span",
    "advisories",
    "all_records",
    "apis",
    "cpython",
    "libraries",
    "limits",
    "loops",
    "mechanisms",
    "platforms",
    "probe_request",
    "show_version",
    "support",
    "version_tuple",
]


def all_records() -> tuple[object, ...]:
    """Every record of the catalog, for tests that hold each to its source."""
    return (
        *loops.LOOPS,
        *loops.LOOP_RELEASES,
        *loops.LOOP_GAPS,
        *advisories.ADVISORIES,
        *mechanisms.SELECTORS,
        *mechanisms.CEILINGS,
        mechanisms.UNIX_DEFAULT_CEILING,
        *mechanisms.CAVEATS,
        *platforms.PLATFORMS,
        *cpython.IDIOMS,
        *apis.RECORDS,
        *libraries.RULES,
    )


def probe_request() -> dict[str, object]:
    """What the probe is asked to look for: it carries no list of its own."""
    return {
        "selectors": [[n, mechanisms.SELECTOR_CLASSES[n]] for n in SELECTOR_NAMES],
        "loops": [lp.name for lp in loops.LOOPS],
        "libraries": list(libraries.DISTRIBUTIONS),
    }
