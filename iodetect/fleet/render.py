"""The fleet for people: one table, a row per target, drift marked; then who failed and why.

A value that differs from the most common one in its column is marked with `*` as well as
colour, so the drift reads the same in a CI log without colour. Every string from a target or
a file goes into a `Text` object (never a markup string) after `clean()`.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from iodetect.fleet.document import COLUMNS, NAME_LIMIT, Fleet, Target
from iodetect.text import clean

MARK = "*"
VERDICT_STYLES = {
    "pass": ("pass", "green"),
    "warn": ("warn", "yellow"),
    "fail": ("FAIL", "bold red"),
    "error": ("ERROR", "bold red"),
}


def show(view: RenderableType) -> None:
    """Print on stdout; in a log (not a terminal) as wide as it needs, so no row is wrapped."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        # Tables take their natural width and lines are not padded: a wide console only
        # keeps rich from wrapping them at 80 columns. (Measuring first costs a whole render.)
        console = Console(highlight=False, width=max(console.width, 500))
    console.print(view)


def fleet_view(fleet: Fleet) -> RenderableType:
    """The table, its legend and the summary."""
    parts: list[RenderableType] = [table(fleet)]
    if fleet.drift:
        parts.append(
            Text(f"{MARK} differs from the most common value in its column (on a tie, the first's)")
        )
    parts.append(Text(""))
    parts.extend(summary(fleet))
    return Group(*parts)


def table(fleet: Fleet) -> Table:
    checked = fleet.options.check is not None
    t = Table(padding=(0, 1), header_style="bold")
    t.add_column("target")
    for _, title in COLUMNS:
        t.add_column(title, justify="right" if title.endswith("limit") else "left")
    if checked:
        t.add_column("verdict")
    for target in fleet.targets:
        cells: list[Text] = [Text(clean(target.name, NAME_LIMIT))]
        for column, _ in COLUMNS:
            value = target.cell(column)
            if value is None:
                cells.append(Text("-", style="dim"))
            elif fleet.marked(target.name, column):
                cells.append(Text(clean(value, 40) + MARK, style="bold yellow"))
            else:
                cells.append(Text(clean(value, 40)))
        if checked:
            cells.append(_verdict(target))
        t.add_row(*cells)
    return t


def _verdict(target: Target) -> Text:
    if target.verdict is None:
        return Text("-", style="dim")
    word, style = VERDICT_STYLES.get(target.verdict, (target.verdict, ""))
    return Text(word, style=style)


def summary(fleet: Fleet) -> list[Text]:
    """The counts, each target that did not pass with the reason, and the drift in words."""
    lines = []
    n = len(fleet.targets)
    head = f"{n} target{'s' if n != 1 else ''}"
    if fleet.options.check is not None:
        counts = fleet.counts()
        mode = "rules only" if fleet.options.check == "rules" else "live check"
        head += (
            f" ({mode}): {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
            f"{counts['error']} could not be examined"
        )
        if fleet.options.strict and counts["warn"]:
            head += " (--strict: warnings fail)"
    lines.append(Text(head, style="bold"))
    for target in fleet.targets:
        if target.verdict in (None, "pass"):
            continue
        line = Text("  ")
        word, style = VERDICT_STYLES.get(target.verdict or "", ("?", ""))
        line.append(f"{word:>5}", style=style)
        line.append(
            f"  {clean(target.name, NAME_LIMIT)}: {clean(target.reason() or 'no reason given')}"
        )
        lines.append(line)
    for d in fleet.drift:
        others = ", ".join(f"{clean(n, NAME_LIMIT)} {clean(v, 40)}" for n, v in d.differs)
        lines.append(
            Text(f"drift: {d.title}: {others} (most common: {clean(d.common or '-', 40)})")
        )
    return lines
