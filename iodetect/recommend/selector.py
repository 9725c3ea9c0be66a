"""The selector for a selector loop, and what select() can watch when it is the one."""

from __future__ import annotations

from iodetect.catalog import mechanisms
from iodetect.catalog.platforms import SRC_PLATFORMS
from iodetect.model import Facts, SelectorName
from iodetect.recommend.needs import Notes
from iodetect.recommend.plan import SELECTOR_CLASSES, Needs
from iodetect.record import frozen

SRC_EPOLL_FILES = "epoll_ctl(2): EPERM when the descriptor is a regular file or a directory"
SRC_MACOS_PTY = (
    "docs asyncio-platforms: 'Modern macOS versions are fully supported' (KqueueSelector lacks "
    "character devices on macOS 10.6-10.8 only); libuv src/unix/stream.c "
    "uv__stream_try_select() watches such descriptors with select() in a thread"
)


@frozen
class SelectLimit:
    """What select() accepts here: a measurement when the probe made one, else the table."""

    limit: int | None  # None: no ceiling known
    unit: str  # descriptors (numbers below the limit) or sockets (per set, Windows)
    reserved: int  # entries the loop itself puts in a set
    source: str
    verified: bool


def select_limit(facts: Facts, family: str) -> SelectLimit:
    """The probe's verified ceiling wins over the table; the table fills in the rest."""
    table = mechanisms.ceiling(family)
    measured = facts.select_ceiling
    if measured is not None and measured.verified:
        if measured.limit is not None:
            return SelectLimit(
                measured.limit,
                table.unit,
                table.reserved,
                "measured by the probe: " + measured.detail,
                True,
            )
        if table.limit <= 1024:
            # The experiment found no ceiling at descriptor 1024: there is none the table knows.
            return SelectLimit(None, table.unit, table.reserved, measured.detail, True)
    return SelectLimit(table.limit, table.unit, table.reserved, table.source, False)


def choose_selector(
    facts: Facts, needs: Needs, family: str, strict: set[str], notes: Notes
) -> tuple[SelectorName, bool]:
    """The selector for a selector loop, and whether the code must name it."""
    if family == "win32":
        if needs.selector not in (None, "select"):
            notes.conflict(
                f"--selector {needs.selector}: Windows has only select()",
                "drop --selector",
                SRC_PLATFORMS,
                "selector.unavailable",
            )
        notes.reason(
            "SelectorEventLoop on Windows uses select() (SelectSelector)",
            mechanisms.SRC_SELECT_WIN,
            "selector.windows",
        )
        return "select", False
    if needs.selector is not None:
        return _requested(facts, needs.selector, family, strict, notes), True
    return _default(facts, family, notes)


def _known(facts: Facts) -> tuple[list[SelectorName], SelectorName | None]:
    """Available selectors and the default, limited to names this project knows (facts are
    data: no other name becomes code)."""
    available = [s.name for s in facts.selectors if s.available and s.name in SELECTOR_CLASSES]
    default = facts.default_selector if facts.default_selector in SELECTOR_CLASSES else None
    return available, default


def _requested(
    facts: Facts, name: str, family: str, strict: set[str], notes: Notes
) -> SelectorName:
    available, _ = _known(facts)
    sel = facts.selector(name)
    chosen: SelectorName = next(s for s in mechanisms.ORDER if s == name)
    if sel is None or not sel.available:
        why = sel.reason if sel is not None and sel.reason else "not available here"
        notes.conflict(
            f"--selector {name}: {why}",
            "choose one of: " + (", ".join(available) or "(none available)"),
            mechanisms.SRC_ORDER,
            "selector.unavailable",
        )
    else:
        notes.reason(
            f"selector {name}: requested with --selector",
            mechanisms.SRC_ORDER,
            "selector.requested",
        )
    caveat = mechanisms.caveat(family, name)
    if caveat is not None:
        notes.warn(f"--selector {name} on {family}: {caveat.why}", caveat.source, "selector.caveat")
    if name == "epoll" and "pty" in strict:
        notes.warn(
            "epoll works with ptys, but not with regular files (EPERM)",
            SRC_EPOLL_FILES,
            "selector.epoll_files",
        )
    return chosen


def _default(facts: Facts, family: str, notes: Notes) -> tuple[SelectorName, bool]:
    available, default = _known(facts)
    if default is not None and default in available:
        caveat = mechanisms.caveat(family, default)
        if caveat is not None and caveat.prefer in available:
            notes.reason(
                f"selector {caveat.prefer}, not {default}: this build of Python has {default} "
                f"as its default, but {caveat.why}",
                caveat.source,
                "selector.caveat",
            )
            notes.warn(
                f"this Python's DefaultSelector is {default}; the plan names {caveat.prefer} "
                f"instead ({caveat.why})",
                caveat.source,
                "selector.caveat",
            )
            return caveat.prefer, True
        notes.reason(
            f"selector {default}: selectors.DefaultSelector picks it here (order "
            + ", ".join(mechanisms.ORDER)
            + ")",
            mechanisms.SRC_ORDER,
            "selector.default",
        )
        return default, False
    for name in mechanisms.ORDER:
        if name in available:
            notes.reason(
                f"selector {name}: the best that works here"
                + (f" ({default} is listed but unusable)" if default else ""),
                mechanisms.SRC_ORDER,
                "selector.best",
            )
            return name, True
    notes.conflict(
        "no selector works on this host",
        "check the facts' selector errors",
        mechanisms.SRC_ORDER,
        "selector.none",
    )
    return "select", True


def check_capacity(
    connections: int | None, limit: SelectLimit, windows: bool, notes: Notes
) -> None:
    """select() watches a bounded number of descriptors: the connections must fit."""
    if limit.limit is None:
        return
    room = limit.limit - limit.reserved
    who = "the Windows SelectorEventLoop" if windows else "select()"
    if connections is None:
        notes.warn(
            f"{who} watches at most {limit.limit} {limit.unit}; pass --connections to check the "
            "load against it",
            limit.source,
            "select.capacity_unknown",
        )
        return
    if connections > room:
        kept = "the listener and the loop's own socket" if windows else "the service"
        notes.conflict(
            f"{connections} connections exceed what select() can watch here ({limit.limit} "
            f"{limit.unit}, {limit.reserved} kept for {kept})",
            "drop the need that forces the selector loop (add_reader), or split the load over "
            "processes"
            if windows
            else "drop the need that forces the selector loop, or use another selector",
            limit.source,
            "select.capacity",
        )
