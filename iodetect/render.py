"""Rendering facts for people: rich tables, one per part of the host.

Facts come from a target or a file: every string of theirs goes into a Text (never markup)
through clean() (no control sequence reaches the terminal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from iodetect.model import Facts
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect.recommend import Plan

OK = Text("yes", style="green")
NO = Text("no", style="red")
UNKNOWN = Text("unknown", style="yellow")


def _value(value: object, unit: str = "") -> Text:
    if value is None:
        return Text("unknown", style="yellow")
    if value == -1:
        return Text("unlimited")
    if isinstance(value, bool):
        return OK if value else NO
    if isinstance(value, tuple):
        return Text(clean(" - ".join(str(v) for v in value)))
    return Text(clean(f"{value}{unit}"))


def _pairs(title: str, rows: list[tuple[str, object]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else _value(value))
    return table


def host_table(facts: Facts) -> Table:
    h = facts.host
    container = h.container or ("WSL" if h.wsl else None)
    rows: list[tuple[str, object]] = [
        ("platform", h.platform),
        ("system", " ".join(x for x in (h.os_name, h.os_release) if x) or None),
        ("machine", h.machine),
        ("CPUs", f"{h.cpu_count} ({h.usable_cpus} usable)" if h.cpu_count else None),
    ]
    if h.cpu_quota is not None:
        rows.append(("CPU quota", f"{h.cpu_quota:g} CPUs (cgroup)"))
    rows.append(("container", container or Text("none detected", style="dim")))
    rows.append(("virtualization", h.virtualization or Text("none detected", style="dim")))
    return _pairs("Host", rows)


def interpreter_table(facts: Facts) -> Table:
    i = facts.interpreter
    build = "free-threaded" if i.free_threaded else "standard (GIL)"
    if i.free_threaded:
        build += ", GIL " + ("enabled" if i.gil_enabled else "disabled")
    return _pairs(
        "Interpreter",
        [
            ("implementation", i.implementation),
            ("version", i.release),
            ("executable", i.executable),
            ("build", build),
        ],
    )


def selectors_table(facts: Facts) -> Table:
    table = Table(title="Selectors", title_justify="left", padding=(0, 1))
    table.add_column("selector")
    table.add_column("available")
    table.add_column("note")
    for s in facts.selectors:
        note = ""
        if s.name == facts.default_selector:
            note = "selectors.DefaultSelector"
        if s.reason:
            note = s.reason
        mark = Text("✓ yes", style="green") if s.available else Text("✗ no", style="red")
        table.add_row(Text(clean(s.name)), mark, Text(clean(note)))
    if facts.select_ceiling is not None:
        c = facts.select_ceiling
        how = "verified" if c.verified else "assumed"
        limit = f"{c.limit}" if c.limit is not None else "none"
        table.caption = Text(clean(f"select() ceiling: {limit} ({how}: {c.detail})"))
        table.caption_justify = "left"
    return table


def asyncio_table(facts: Facts) -> Table:
    a = facts.asyncio
    if a is None:
        return _pairs("asyncio", [("default loop", None)])
    return _pairs(
        "asyncio",
        [
            ("default loop", a.default_loop),
            ("its selector", a.default_selector or Text("none (proactor)", style="dim")),
            ("get_event_loop() with no loop", _get_loop_text(a.get_event_loop_without_loop)),
            (
                "event-loop policies",
                Text("deprecated", style="yellow") if a.policies_deprecated else Text("supported"),
            ),
            ("asyncio.Runner", a.has_runner),
            ("asyncio.run(loop_factory=)", a.run_loop_factory),
        ],
    )


def _get_loop_text(state: str) -> Text:
    style = {"ok": "green", "warns": "yellow", "raises": "red"}.get(state, "")
    return Text(
        clean({"warns": "DeprecationWarning", "raises": "RuntimeError"}.get(state, state)), style
    )


def loops_table(facts: Facts) -> Table:
    table = Table(title="Alternative event loops", title_justify="left", padding=(0, 1))
    table.add_column("loop")
    table.add_column("installed")
    table.add_column("imports")
    table.add_column("supported here")
    table.add_column("note")
    for lp in facts.loops:
        imports = UNKNOWN if lp.importable is None else (OK if lp.importable else NO)
        if lp.installed is None:
            imports = Text("-", style="dim")
        note = lp.import_error or lp.support_note or ""
        table.add_row(
            Text(clean(lp.name)),
            Text(clean(lp.installed)) if lp.installed else Text("no", style="dim"),
            imports,
            OK if lp.supported else NO,
            Text(clean(note)),
        )
    return table


def limits_table(facts: Facts) -> Table:
    lim = facts.limits
    rows: list[tuple[str, object]] = []
    if facts.windows:
        rows.append(("descriptors", lim.note))
    else:
        rows += [
            ("RLIMIT_NOFILE soft", lim.nofile_soft),
            ("RLIMIT_NOFILE hard", lim.nofile_hard),
            ("open now", lim.open_fds),
        ]
        if facts.host.platform.startswith("linux"):
            rows += [("fs.nr_open", lim.nr_open), ("fs.file-max", lim.file_max)]
        if facts.host.platform == "darwin":
            rows.append(("kern.maxfilesperproc", lim.maxfilesperproc))
    k = facts.kernel
    if k is not None:
        rows += [
            ("net.core.somaxconn", k.somaxconn),
            ("net.ipv4.ip_local_port_range", k.ip_local_port_range),
            ("net.ipv4.tcp_max_syn_backlog", k.tcp_max_syn_backlog),
        ]
    return _pairs("Limits", rows)


def libraries_table(facts: Facts) -> RenderableType:
    if not facts.libraries:
        return Text("Libraries that constrain the loop: none installed", style="dim")
    table = Table(title="Libraries that constrain the loop", title_justify="left", padding=(0, 1))
    table.add_column("library")
    table.add_column("version")
    for lib in facts.libraries:
        table.add_row(Text(clean(lib.name)), Text(clean(lib.version)))
    return table


def errors_table(facts: Facts) -> RenderableType | None:
    if not facts.errors:
        return None
    table = Table(title="Facts that could not be read", title_justify="left", padding=(0, 1))
    table.add_column("probe")
    table.add_column("error", style="yellow")
    for e in facts.errors:
        table.add_row(Text(clean(e.probe)), Text(clean(e.error)))
    return table


def facts_report(facts: Facts) -> Group:
    """The whole human-readable report of the facts."""
    parts: list[RenderableType] = []
    if facts.origin != "probe":
        origin = f"Facts origin: {facts.origin}"
        if facts.note:
            origin += f" ({facts.note})"
        parts.append(Text(clean(origin), style="italic yellow"))  # Text: facts are never markup
    parts += [
        host_table(facts),
        interpreter_table(facts),
        selectors_table(facts),
        asyncio_table(facts),
        loops_table(facts),
        limits_table(facts),
        libraries_table(facts),
    ]
    errors = errors_table(facts)
    if errors is not None:
        parts.append(errors)
    spaced: list[RenderableType] = []
    for p in parts:
        spaced += [p, Text("")]
    return Group(*spaced[:-1])


def show_report(console: Console, facts: Facts, plan: Plan | None) -> None:
    """`iodetect report` for people: the facts, then the plan (or why there is none)."""
    from iodetect.render_plan import render_plan

    console.print(facts_report(facts))
    console.print()
    if plan is None:
        console.print(Text("No recommendation: generated code needs CPython 3.8+", style="yellow"))
    else:
        console.print(render_plan(plan))
