"""Showing a bench run: tables of the figures, a terminal bar chart, conclusions and notes.

A bench file can come from anywhere: its strings reach the terminal as Text (never markup)
through clean() (no control sequences).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from iodetect.bench.analysis import WORKLOAD_WORDS, Agreement, conclusions, host_busy
from iodetect.bench.results import LOOPS, WORKLOAD_NAMES, BenchRun, Cell, Variant
from iodetect.bench.stats import MIN_EFFECT
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect.bench.runner import Progress, Selection

BAR_WIDTH = 40


def _order(v: Variant) -> tuple[int, int, str]:
    kind = {"selectors": 0, "asyncio": 1, "threads": 3}.get(v.kind, 2)
    loop = LOOPS.index(v.loop) if v.loop in LOOPS else 0
    return kind, loop, v.name


def _workloads(run: BenchRun) -> list[str]:
    present = {c.workload for c in run.cells}
    return [w for w in WORKLOAD_NAMES if w in present]


def _rows(run: BenchRun, measured_only: bool = True) -> list[Variant]:
    vs = sorted(run.variants(), key=_order)
    if measured_only:
        vs = [v for v in vs if any(c.variant == v and c.samples for c in run.cells)]
    return vs


def _cpu_text(cell: Cell | None) -> Text:
    if cell is None:
        return Text("·", style="dim")
    if cell.unavailable is not None:
        return Text("n/a", style="dim")
    cpu = cell.cpu
    if cpu is None:
        return Text("failed", style="red")
    text = Text(f"{cpu.median:.1f} {cpu.spread * 100:.0f}%")
    if not cell.stable:
        text.stylize("yellow")
        text.append("~", style="yellow")
    if cell.failures:
        text.append("!", style="red")
    if cell.saturated:
        text.append("*", style="magenta")
    return text


def _rate_text(cell: Cell | None) -> Text:
    if cell is None or cell.rps is None:
        return Text("·" if cell is None or cell.unavailable else "failed", style="dim")
    rps = cell.rps.median
    rate = f"{rps / 1000:.1f}k" if rps >= 1000 else f"{rps:.0f}"
    p50, p99 = cell.p50_us, cell.p99_us
    lat = f" {p50:.0f}/{p99:.0f}" if p50 is not None and p99 is not None else ""
    return Text(rate + lat)


def cpu_table(run: BenchRun) -> Table:
    table = Table(
        title="Server CPU per request, us (median of the server processes at full CPU speed, "
        "and the width of its 90 % interval; lower is better)",
        title_justify="left",
    )
    table.add_column("variant")
    workloads = _workloads(run)
    for w in workloads:
        table.add_column(Text(clean(WORKLOAD_WORDS.get(w, w))), justify="right")
    for v in _rows(run):
        table.add_row(Text(clean(v.name)), *(_cpu_text(run.cell(v.name, w)) for w in workloads))
    table.caption = (
        "~ unstable (interval >= 10 %, or under 5 processes at full speed)  ! a round failed  "
        "* load generator saturated"
    )
    return table


def rate_table(run: BenchRun) -> Table:
    table = Table(
        title="Requests per second, latency p50/p99 us (medians)",
        title_justify="left",
    )
    table.add_column("variant")
    workloads = _workloads(run)
    for w in workloads:
        table.add_column(Text(clean(WORKLOAD_WORDS.get(w, w))), justify="right")
    for v in _rows(run):
        table.add_row(Text(clean(v.name)), *(_rate_text(run.cell(v.name, w)) for w in workloads))
    return table


def bar_chart(run: BenchRun, workload: str) -> Table | None:
    """Horizontal bars of CPU per request in one workload, cheapest first."""
    points = []
    for v in _rows(run):
        cell = run.cell(v.name, workload)
        cpu = cell.cpu if cell is not None else None
        if cell is not None and cpu is not None:
            points.append((cpu.median, v.name, cell.stable))
    if not points:
        return None
    points.sort()
    top = max(p[0] for p in points) or 1.0
    table = Table.grid(padding=(0, 1))
    table.title = Text(clean(f"CPU per request, {WORKLOAD_WORDS.get(workload, workload)} (us)"))
    table.title_justify = "left"
    table.add_column()
    table.add_column()
    table.add_column(justify="right")
    for value, name, stable in points:
        width = max(1, round(value / top * BAR_WIDTH))
        bar = Text("█" * width, style="green" if stable else "yellow")
        table.add_row(Text(clean(name)), bar, Text(f"{value:.1f}"))
    return table


def environment_line(run: BenchRun) -> str:
    e, s = run.environment, run.settings
    where = ", ".join(x for x in (e.virtualization, e.container) if x) or "bare metal?"
    cpus = f"{e.usable_cpus or e.cpu_count} usable CPUs"
    if e.cpu_quota:
        cpus += f" (quota {e.cpu_quota:g})"
    loops = ", ".join(f"{lp.name} {lp.version}" for lp in e.loops if lp.error is None)
    load = ""
    if e.load_before is not None:
        after = f" -> {e.load_after}" if e.load_after is not None else ""
        load = f"; load {e.load_before}{after}"
    busy = host_busy(run)
    if busy is not None:
        load += f"; other work {busy[0] * 100:.0f} % of CPU (median)"
    ref = run.speed_reference
    speed = f", speed probe {ref * 1e6:.1f} us at full speed" if ref is not None else ""
    return (
        f"{e.os} {e.kernel} {e.machine} ({where}), {cpus}, {e.cpu_model or 'cpu unknown'}; "
        f"{e.implementation} {e.python_release}"
        + (f", {loops}" if loops else "")
        + f"; {s.rounds} rounds x {s.windows} windows of {s.duration:g} s after {s.warmup:g} s "
        f"warm-up{speed}, "
        f"placement {s.placement}{'' if e.can_pin is not False else ' (not possible here)'}, "
        f"seed {s.seed}; {run.seconds:g} s in all{load}"
    )


def notes(run: BenchRun) -> list[str]:
    out: list[str] = []
    unavailable: dict[str, list[str]] = {}
    for c in run.cells:
        if c.unavailable is None:
            continue
        whole = all(x.unavailable is not None for x in run.cells if x.variant == c.variant)
        key = c.variant.name if whole else f"{c.variant.name} ({c.workload})"
        unavailable.setdefault(c.unavailable, [])
        if key not in unavailable[c.unavailable]:
            unavailable[c.unavailable].append(key)
    for why, names in unavailable.items():
        out.append(f"not run: {', '.join(names)}: {why}")
    for c in run.cells:
        for line in c.failures:
            out.append(f"failed: {c.variant.name}, {c.workload}, {line}")
    return out


def render(run: BenchRun, console: Console) -> None:
    console.print(Text(clean(environment_line(run), 4000), style="dim"))
    console.print(cpu_table(run))
    console.print(rate_table(run))
    charts = [c for w in ("pingpong", "idle900") if (c := bar_chart(run, w)) is not None]
    if charts:
        console.print(Group(*charts))
    found = conclusions(run)
    if found:
        console.print(Text("Conclusions", style="bold"))
        for line in found:
            console.print(Text(f"- {clean(line)}"), highlight=False)
    extra = notes(run)
    if extra:
        console.print(Text("Notes", style="bold"))
        for line in extra:
            console.print(Text(f"- {clean(line)}", style="dim"), highlight=False)


def render_agreement(found: Agreement, first: str, second: str, console: Console) -> None:
    """Cells stable in both runs with their medians, then the conclusions that differ."""
    table = Table(
        title=Text(
            clean(f"Cells stable in both runs: server CPU per request, us ({first} -> {second})")
        ),
        title_justify="left",
    )
    table.add_column("variant")
    table.add_column("workload")
    for name in ("first", "second", "change"):
        table.add_column(name, justify="right")
    moved = found.moved
    for cell in found.cells:
        name, w, a, b = cell
        change = Text(f"{(b / a - 1) * 100:+.1f} %" if a > 0 else "n/a")
        if cell in moved:
            change.stylize("red")
        table.add_row(
            Text(clean(name)),
            Text(clean(WORKLOAD_WORDS.get(w, w))),
            Text(f"{a:.1f}"),
            Text(f"{b:.1f}"),
            change,
        )
    console.print(table)
    console.print(
        f"{len(found.cells)} cells stable in both runs; {len(found.cells) - len(moved)} agree "
        f"within {MIN_EFFECT * 100:.0f} %" + (f", {len(moved)} do not" if moved else ""),
        highlight=False,
    )
    if found.changed:
        console.print(Text("Conclusions that differ (numbers masked)", style="bold"))
        for which, line in found.changed:
            console.print(Text(f"- only in the {which} run: {clean(line)}"), highlight=False)
    else:
        console.print("The conclusions are the same (numbers masked).", highlight=False)


def run_with_progress(
    run_fn: Callable[[Selection, Progress | None], BenchRun], selection: Selection, err: Console
) -> BenchRun:
    """Run with a progress bar on a terminal, or a line per round on a plain stderr."""
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    if not err.is_terminal:
        last = [""]

        def lines(done: int, total: int, label: str) -> None:
            head = label.split(":", 1)[0]
            if head != last[0]:
                last[0] = head
                err.print(f"iodetect bench: {head} ({done}/{total} cells)", highlight=False)

        return run_fn(selection, lines)

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        return run_fn(selection, progress)
