"""I/O mechanisms: the selectors, DefaultSelector's order, select()'s ceiling per platform.

A probe's measurement wins over every table here: the select() ceiling it verified, the
selectors it could construct, the default it found.
"""

from __future__ import annotations

from iodetect.catalog.records import SelectCeiling, SelectorCaveat, SelectorRecord

SRC_ORDER = (
    "cpython Lib/selectors.py: DefaultSelector, the first of kqueue, epoll, devpoll, poll, select "
    "that _can_use() constructs (3.9+)"
)
SRC_HOMES = "docs.python.org/3/library/select.html (epoll: Linux; devpoll: Solaris; kqueue: BSD)"

SELECTORS: tuple[SelectorRecord, ...] = (
    SelectorRecord("kqueue", "KqueueSelector", "macOS and the BSDs only", 0, SRC_ORDER),
    SelectorRecord("epoll", "EpollSelector", "Linux only", 1, SRC_ORDER),
    SelectorRecord("devpoll", "DevpollSelector", "Solaris and illumos only", 2, SRC_ORDER),
    SelectorRecord("poll", "PollSelector", "Unix only", 3, SRC_ORDER),
    SelectorRecord("select", "SelectSelector", "everywhere", 4, SRC_ORDER),
)
SELECTOR_CLASSES: dict[str, str] = {s.name: s.cls for s in SELECTORS}
ORDER = tuple(s.name for s in sorted(SELECTORS, key=lambda s: s.rank))

SRC_SELECT_WIN = (
    "cpython Modules/selectmodule.c: '#define FD_SETSIZE 512' on MS_WINDOWS; "
    "docs asyncio-platforms: SelectSelector 'is limited to 512 sockets'"
)
SRC_SELECT_RESERVED_WIN = (
    "cpython Lib/asyncio/selector_events.py: _make_self_pipe() registers one socket of its "
    "pair (_ssock) with the selector; the listener is the other"
)
SRC_SELECT_UNIX = (
    "select(2): FD_SETSIZE 1024 on Linux and macOS; cpython select() raises "
    "'ValueError: filedescriptor out of range in select()' at or above it"
)
SRC_SELECT_FREEBSD = "freebsd-src sys/sys/select.h: FD_SETSIZE 1024U"
SRC_SELECT_ILLUMOS = (
    "illumos-gate usr/src/uts/common/sys/select.h: FD_SETSIZE 65536 for _LP64 (1024 for "
    "32-bit); CPython redefines FD_SETSIZE only on Windows"
)

CEILINGS: tuple[SelectCeiling, ...] = (
    SelectCeiling("linux", 1024, "descriptors", 64, SRC_SELECT_UNIX),
    SelectCeiling("darwin", 1024, "descriptors", 64, SRC_SELECT_UNIX),
    SelectCeiling("freebsd", 1024, "descriptors", 64, SRC_SELECT_FREEBSD),
    SelectCeiling("sunos", 65536, "descriptors", 64, SRC_SELECT_ILLUMOS),
    SelectCeiling("win32", 512, "sockets", 2, f"{SRC_SELECT_WIN}; {SRC_SELECT_RESERVED_WIN}"),
)
# A family the table does not name: the POSIX default, an assumption (the probe measures it).
UNIX_DEFAULT_CEILING = SelectCeiling("unix", 1024, "descriptors", 64, SRC_SELECT_UNIX)

CAVEATS: tuple[SelectorCaveat, ...] = (
    SelectorCaveat(
        family="sunos",
        selector="epoll",
        prefer="devpoll",
        why="illumos' epoll exists for lx zones and Linux compatibility; OmniOS removes it from "
        "its Python because it 'can cause socket related failures', and pkgsrc hides it too",
        source="omniosorg/omnios-build build/python313/patches/disable_epoll.patch",
    ),
)


def selector(name: str) -> SelectorRecord | None:
    return next((s for s in SELECTORS if s.name == name), None)


def ceiling(family: str) -> SelectCeiling:
    """select()'s documented ceiling on this platform family."""
    return next((c for c in CEILINGS if c.family == family), UNIX_DEFAULT_CEILING)


def caveat(family: str, name: str) -> SelectorCaveat | None:
    return next((c for c in CAVEATS if c.family == family and c.selector == name), None)
