"""Rendering a recommendation for people: the choice, every reason, and the command for the code."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from iodetect.recommend import Plan
from iodetect.text import clean


def _notes(title: str, rows: list[tuple[str, str]], style: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style=style, no_wrap=True)
    table.add_column()
    for mark, text in rows:
        table.add_row(mark, Text(clean(text)))  # Text, not str: "[source]" is not markup
    return table


def render_plan(plan: Plan) -> RenderableType:
    """The recommendation section of `iodetect report` (all text is plain, never markup, and
    cleaned: a plan quotes versions and errors from the facts)."""
    choice = Text()
    choice.append("Recommendation: ", style="bold")
    choice.append(plan.loop_factory, style="bold green" if plan.ok else "bold red")
    if plan.selector_class:
        choice.append(f" with {plan.selector_class}")
    if plan.loop_version:
        choice.append(clean(f" ({plan.loop} {plan.loop_version})"))
    choice.append(clean(f" for {plan.runtime}"))

    summary = Table(show_header=False, box=None, padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    expect = plan.expect.loop_class + (
        f" with {plan.expect.selector_class}" if plan.expect.selector_class else ""
    )
    summary.add_row("self-test expects", Text(f"{expect} (package {plan.expect.loop_package})"))
    if plan.needs:
        summary.add_row("needs", Text(", ".join(sorted(plan.needs))))
    if plan.connections is not None:
        summary.add_row("connections", Text(str(plan.connections)))
    if plan.nofile is not None:
        target = "the hard limit" if plan.nofile.target is None else str(plan.nofile.target)
        summary.add_row("descriptor limit", Text(f"raise the soft limit to {target} at start-up"))

    parts: list[RenderableType] = [choice, summary]
    parts.append(_notes("Why", [("-", f"{n.text} [{n.source}]") for n in plan.reasons], "dim"))
    if plan.warnings:
        parts.append(
            _notes("Warnings", [("!", f"{n.text} [{n.source}]") for n in plan.warnings], "yellow")
        )
    if plan.conflicts:
        parts.append(
            _notes(
                "Conflicts (no setup code until resolved)",
                [("x", f"{c.message}. Remedy: {c.remedy} [{c.source}]") for c in plan.conflicts],
                "red",
            )
        )
    else:
        code = Text("Code: ", style="bold")
        code.append(clean(plan.command))
        parts.append(code)
    return Group(*parts)
