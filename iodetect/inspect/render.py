"""The inspection for people: each process, its threads, the watch as small charts, findings."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iodetect.inspect.model import Finding, Inspection, Report, Watch
from iodetect.output import note

if TYPE_CHECKING:
    from rich.console import Console

MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}
BARS = "▁▂▃▄▅▆▇█"
CHART_WIDTH = 48
THREADS_SHOWN = 12


def sparkline(
    values: Sequence[float | None], width: int = CHART_WIDTH, top: float | None = None
) -> str:
    """Values as a row of block characters, resampled to at most `width`; gaps as spaces."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        buckets = [
            values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]
            for i in range(width)
        ]
        picked: list[float | None] = []
        for b in buckets:
            known = [v for v in b if v is not None]
            picked.append(max(known) if known else None)
        values = picked
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low = 0.0
    high = top if top is not None else max(known)
    span = (high - low) or 1.0
    out = []
    for v in values:
        if v is None:
            out.append(" ")
            continue
        level = int((min(max(v, low), high) - low) / span * (len(BARS) - 1) + 0.5)
        out.append(BARS[level])
    return "".join(out)


def show(report: Report, console: Console) -> None:
    from rich.markup import escape

    if report.serve is not None:
        s = report.serve
        console.print(f"[bold]iodetect inspect --serve[/bold] {escape(s.command)}")
        for line in s.output_tail:
            console.print(f"  [dim]| {escape(line)}[/dim]")
        if s.supervisors:
            console.print(f"  supervisor(s) {', '.join(map(str, s.supervisors))}")
    by_pid: dict[int | None, list[Finding]] = {}
    for f in report.findings:
        by_pid.setdefault(f.pid, []).append(f)
    last = [f for f in by_pid.get(None, []) if f.code == "serve.stopped"]
    for f in by_pid.pop(None, []):
        if f not in last:
            _finding(console, f)
    for ins in report.inspections:
        _process(console, ins)
        for f in by_pid.get(ins.snapshot.pid, []):
            _finding(console, f)
    for f in last:
        _finding(console, f)
    for line in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(line)}")
    counts = {lvl: sum(1 for f in report.findings if f.level == lvl) for lvl in MARKS}
    verdict = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
    strict = " (--strict: warnings fail)" if report.strict and counts["warn"] else ""
    console.print(
        f"{verdict}: {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed"
        f"{strict} in {report.seconds:.2f} s"
    )


def _finding(console: Console, f: Finding) -> None:
    from rich.markup import escape

    mark, colour = MARKS.get(f.level, (f.level, "white"))
    console.print(f"  [{colour}]{mark:>4}[/{colour}]  {escape(f.message)}")
    if f.remedy and f.level != "ok":
        console.print(f"        [dim]fix:[/dim] {escape(f.remedy)}")


def _process(console: Console, ins: Inspection) -> None:
    from rich.markup import escape

    s = ins.snapshot
    role = "" if ins.role == "process" else f" ({ins.role})"
    console.print(f"[bold]process {s.pid}[/bold]{role}: {escape(s.command)}")
    loop = s.loop
    if loop.model == "event loop":
        what = loop.running or "unrecognised"
        sel = f" ({loop.selector})" if loop.selector else ""
        where = f" thread {loop.thread}" if loop.thread else ""
        reg = f", {loop.registered} registered" if loop.registered is not None else ""
        console.print(f"  loop      {what}{sel}, {loop.call or loop.mechanism}{where}{reg}")
    else:
        console.print(f"  loop      {loop.model}")
    if ins.plan:
        console.print(f"  plan      {escape(str(ins.plan['loop_factory']))}")
    lim = s.limits
    console.print(
        f"  fds       {s.descriptors.open} open, soft {lim.nofile_soft}, hard {lim.nofile_hard}"
    )
    shown = s.threads[:THREADS_SHOWN]
    console.print(f"  threads   {s.threads_total}")
    for t in shown:
        on = f"  {escape(t.on)}" if t.on else ""
        row = f"    {t.tid:>8} {escape(t.name):<16} {escape(t.call or '?'):<14}{on}"
        console.print(row.rstrip())
    if len(s.threads) > THREADS_SHOWN:
        console.print(f"    ... {len(s.threads) - THREADS_SHOWN} more")
    if ins.watch is not None:
        _watch(console, ins.watch, lim.nofile_soft)


def _watch(console: Console, w: Watch, soft: int | None) -> None:
    console.print(
        f"  watch     {w.seconds:.1f} s, a sample every {w.interval:g} s"
        + (f", exited after {w.exited_at:.1f} s" if w.exited_at is not None else "")
    )
    busy = [p.loop_busy for p in w.points[1:]]
    if w.loop_busy is not None:
        cpu = f", cpu {w.loop_cpu:.0%}" if w.loop_cpu is not None else ""
        console.print(f"    loop busy    {sparkline(busy, top=1.0)}  {w.loop_busy:.0%}{cpu}")
    fds = [p.fds for p in w.points]
    known = [f for f in fds if f is not None]
    if known:
        limit = f" of soft {soft}" if soft and soft > 0 else ""
        console.print(
            f"    descriptors  {sparkline([float(f) if f is not None else None for f in fds])}"
            f"  {known[0]} -> {known[-1]}, peak {max(known)}{limit}"
        )
    est = [p.established for p in w.points]
    known_est = [e for e in est if e is not None]
    if known_est:
        console.print(
            f"    connections  {sparkline([float(e) if e is not None else None for e in est])}"
            f"  {known_est[0]} -> {known_est[-1]}, peak {max(known_est)}"
        )


class Progress:
    """Progress on stderr: a live line on a terminal; on a pipe, a line now and then."""

    def __init__(self, watching: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.watching = watching
        self.last = 0.0
        self.live = False

    def __call__(self, message: str) -> None:
        if message.startswith("watch "):
            now = time.monotonic()
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + message)
                sys.stderr.flush()
                self.live = True
            elif now - self.last >= 5.0:
                self.last = now
                note(message)
        elif self.tty:
            self.done()
            note(message)

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.live = False
