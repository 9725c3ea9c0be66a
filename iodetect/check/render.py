"""The check's findings for people: doctor-style lines, a mark, the message, the remedy below.

Every string is put in a rich Text, never into markup: a container name such as `[/]` or a
message with `[bold]` in it is shown as it is written (and was cleaned of controls already).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from iodetect.check.result import Result
from iodetect.text import clean

MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


def show(result: Result, console: Console) -> None:
    t = result.target
    if t:
        head = Text("iodetect check", style="bold")
        where = f" in {clean(t['container'])}" if t.get("container") else ""
        head.append(
            f": {clean(t.get('implementation'))} {clean(t.get('python'))} on "
            f"{clean(t.get('platform'))}{where}"
        )
        console.print(head)
    step = None
    for f in result.findings:
        if f.step != step:
            step = f.step
            console.print(Text(step, style="bold"))
        mark, colour = MARKS.get(f.level, (f.level, "white"))
        line = Text("  ")
        line.append(f"{mark:>4}", style=colour)
        line.append(f"  {clean(f.message)}")
        console.print(line)
        if f.remedy and f.level != "ok":
            fix = Text("        ")
            fix.append("fix:", style="dim")
            fix.append(f" {clean(f.remedy)}")
            console.print(fix)
    counts = {lvl: sum(1 for f in result.findings if f.level == lvl) for lvl in MARKS}
    verdict = Text("PASS", style="green") if result.ok else Text("FAIL", style="red")
    strict = " (--strict: warnings fail)" if result.strict and counts["warn"] else ""
    verdict.append(
        f": {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed{strict} "
        f"in {result.seconds:.2f} s",
        style="default",
    )
    console.print(verdict)
