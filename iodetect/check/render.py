"""The check's findings for people and for CI: text, GitHub annotations and JUnit XML.

text    doctor-style lines (a mark, the message, the remedy below), wrapped to the console's
        width with a hanging indent, so that a CI log of 80 columns or a narrow pane stays
        readable; every string goes into a rich Text, never into markup, so a container named
        `[/]` or a message with `[bold]` in it is shown as it is written.
github  one workflow-command annotation per finding that is not ok (iodetect.workflow).
junit   one testcase per finding, and one per step that did not run, as JUnit XML readers
        (GitLab, Jenkins, Azure Pipelines) expect: a failed finding is a <failure>, a target
        that could not be reached or a step that crashed an <error>, an accepted (--ignore)
        warning and a step that did not run are <skipped>.
Messages were cleaned of control characters when the findings were made.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.text import Text

from iodetect.check.findings import STEPS, UNREACHABLE, Finding
from iodetect.check.result import Result
from iodetect.text import clean
from iodetect.workflow import command

MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}
INDENT = 8  # "  FAIL  ": where a message starts, and its continuation lines
NARROWEST = 20  # below this a console is not wider in fact: wrap as if it were


def title(result: Result) -> str | None:
    """What was checked, in a line: `cpython 3.12.3 on linux in app`."""
    t = result.target
    if not t:
        return None
    where = f" in {clean(t['container'])}" if t.get("container") else ""
    return (
        f"{clean(t.get('implementation'))} {clean(t.get('python'))} on "
        f"{clean(t.get('platform'))}{where}"
    )


def verdict(result: Result) -> str:
    """The last line: PASS or FAIL and the counts."""
    counts = {lvl: sum(1 for f in result.findings if f.level == lvl) for lvl in MARKS}
    ignored = sum(1 for f in result.findings if result.ignored(f))
    accepted = f" ({ignored} ignored)" if ignored else ""
    strict = " (--fail-on warn: warnings fail)" if result.strict and counts["warn"] else ""
    return (
        f"{'PASS' if result.ok else 'FAIL'}: {counts['ok']} ok, {counts['warn']} warning(s)"
        f"{accepted}, {counts['fail']} failed{strict} in {result.seconds:.2f} s"
    )


def _lines(text: str, width: int, first: int, indent: int) -> list[str]:
    """`text` wrapped to `width` columns after a prefix of `first` columns on its first line
    and `indent` spaces on the others (the prefix is not included; the indent is)."""
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent="\0" * first,
        subsequent_indent=" " * indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    lines = wrapper.wrap(text) or ["\0" * first]
    return [lines[0][first:], *lines[1:]]


def _print_wrapped(
    console: Console, prefix: Text, text: str, indent: int, width: int | None
) -> None:
    if width is None:
        whole = prefix.copy()
        whole.append(text)
        console.print(whole)
        return
    lines = _lines(text, width, min(prefix.cell_len, width - 1), min(indent, width - 1))
    first = prefix.copy()
    first.append(lines[0])
    console.print(first)
    for line in lines[1:]:
        console.print(Text(line))


def show(result: Result, console: Console) -> None:
    """The findings as text, no line wider than the terminal (or COLUMNS); in a log without
    COLUMNS each finding on a line of its own, however long."""
    from iodetect.output import wrap_width

    wrap = wrap_width(console)
    width = max(wrap, NARROWEST) if wrap is not None else None
    head = title(result)
    if head is not None:
        _print_wrapped(console, Text("iodetect check", style="bold"), f": {head}", 4, width)
    step = None
    for f in result.findings:
        if f.step != step:
            step = f.step
            console.print(Text(step, style="bold"))
        mark, colour = MARKS.get(f.level, (f.level, "white"))
        ignored = result.ignored(f)
        prefix = Text("  ")
        prefix.append(f"{mark:>4}", style="dim" if ignored else colour)
        prefix.append("  ")
        message = clean(f.message) + (f" (ignored: --ignore {f.code})" if ignored else "")
        _print_wrapped(console, prefix, message, INDENT, width)
        if f.remedy and f.level != "ok":
            fix = Text(" " * INDENT)
            fix.append("fix:", style="dim")
            fix.append(" ")
            _print_wrapped(console, fix, clean(f.remedy), INDENT + 5, width)
    text = verdict(result)
    shown = Text()
    shown.append(text[:4], style="green" if result.ok else "red")
    _print_wrapped(console, shown, text[4:], 6, width)


# --- GitHub Actions ------------------------------------------------------------------------


def github_lines(result: Result) -> Iterator[str]:
    """Annotations: a failed finding is an error, a warning a warning (a notice when accepted
    with --ignore, or an error with --fail-on warn), each titled with its code; then the
    verdict as a notice."""
    failing = {id(f) for f in result.failed}
    for f in result.findings:
        if f.level == "ok":
            continue
        if id(f) in failing:
            level = "error"
        elif result.ignored(f):
            level = "notice"
        else:
            level = "warning"
        message = clean(f.message)
        if f.remedy:
            message += f"\nfix: {clean(f.remedy)}"
        if result.ignored(f):
            message += f"\nignored: --ignore {f.code}"
        yield command(level, message, {"title": f.code or f.step})
    head = title(result)
    yield command(
        "notice", verdict(result) + (f" ({head})" if head else ""), {"title": "iodetect check"}
    )


# --- JUnit XML -----------------------------------------------------------------------------

# XML 1.0 allows no other characters, not even as references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(value: object) -> str:
    return _NOT_XML.sub("\ufffd", clean(value, 4000))


def _case_names(findings: tuple[Finding, ...]) -> list[str]:
    """A stable name per finding: its code, numbered when the code repeats (two advisories)."""
    seen: dict[str, int] = {}
    names = []
    for f in findings:
        base = f.code or f.step
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return names


def junit_xml(result: Result) -> str:
    """The check as a JUnit XML document: one suite, one testcase per finding and per step that
    did not run."""
    failing = {id(f) for f in result.failed}
    suite_name = "iodetect check" + (f": {title(result)}" if result.target else "")
    cases: list[ET.Element] = []
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for f, name in zip(result.findings, _case_names(result.findings)):
        case = ET.Element(
            "testcase", {"classname": f"iodetect.check.{f.step}", "name": _xml(name), "time": "0"}
        )
        text = _xml(f.message) + (f"\nfix: {_xml(f.remedy)}" if f.remedy else "")
        if id(f) in failing:
            crashed = f.code in UNREACHABLE or f.code.endswith(".crash")
            kind = "error" if crashed and f.level == "fail" else "failure"
            counts["errors" if kind == "error" else "failures"] += 1
            node = ET.SubElement(case, kind, {"message": _xml(f.message), "type": _xml(f.code)})
            node.text = text
        elif result.ignored(f):
            counts["skipped"] += 1
            ET.SubElement(
                case,
                "skipped",
                {"message": _xml(f"warning accepted with --ignore {f.code}: {f.message}")},
            )
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{f.level}: {text}"
        cases.append(case)
    ran = {f.step for f in result.findings}
    for step in STEPS:
        if step not in ran:
            counts["skipped"] += 1
            case = ET.Element(
                "testcase", {"classname": f"iodetect.check.{step}", "name": step, "time": "0"}
            )
            ET.SubElement(case, "skipped", {"message": "not run: an earlier step ended the check"})
            cases.append(case)
    totals = {
        "tests": str(len(cases)),
        "failures": str(counts["failures"]),
        "errors": str(counts["errors"]),
        "skipped": str(counts["skipped"]),
        "time": f"{result.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": "iodetect check", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": _xml(suite_name), **totals})
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("fail_on", "warn" if result.strict else "fail"),
        ("ignore", ",".join(sorted(result.ignore))),
        ("exit_code", str(result.exit_code)),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _xml(value)})
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
