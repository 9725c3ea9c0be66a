"""The scan report for people (plain lines that wrap, colour optional) and as GitHub annotations."""

from __future__ import annotations

import os
import textwrap
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING

from iodetect import workflow
from iodetect.catalog.records import SEVERITY
from iodetect.scan.report import Finding, Group, ScanReport, fails
from iodetect.scan.verdicts import VersionVerdict

if TYPE_CHECKING:
    from rich.console import Console

LABELS = {"removed": "REMOVED", "raises": "RAISES", "warns": "WARNS", "fine": "fine"}
STYLES = {"removed": "bold red", "raises": "bold red", "warns": "yellow", "fine": "green"}


def safe(text: object, limit: int = 500) -> str:
    """One line of text from a file or a target, with every control, format, bidi or surrogate
    character escaped, so that it cannot move the cursor, recolour, reorder or split a line."""
    out = []
    for ch in str(text):
        if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Co", "Cs")):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 3] + "..."


POSSIBLE = {"removed": "MAY BREAK", "raises": "MAY RAISE", "warns": "MAY WARN", "fine": "fine"}


def label(f: Finding) -> str:
    return LABELS[f.worst] if f.certainty == "certain" else POSSIBLE[f.worst]


def short_source(source: str) -> str:
    """The first citation of a source, for the text report (--verbose and JSON have it all)."""
    return source.split(" (")[0].split(";")[0].strip()


def version_lines(verdicts: tuple[VersionVerdict, ...]) -> list[tuple[str, VersionVerdict]]:
    """Consecutive targets with the same verdict, effect and note, merged: ('3.12-3.13', v)."""
    out: list[tuple[list[str], VersionVerdict]] = []
    for v in verdicts:
        if out and (out[-1][1].verdict, out[-1][1].effect, out[-1][1].note) == (
            v.verdict,
            v.effect,
            v.note,
        ):
            out[-1][0].append(v.target)
        else:
            out.append(([v.target], v))
    return [(t[0] if len(t) == 1 else f"{t[0]}-{t[-1]}", v) for t, v in out]


def _wrap(text: str, width: int, indent: str, hang: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=max(width, len(indent) + 20),
        initial_indent=indent,
        subsequent_indent=hang if hang is not None else indent + "  ",
        break_long_words=True,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def group_title(g: Group) -> str:
    if g.kind == "project":
        return f"project: {safe(g.location, 200)}"
    return f"{safe(g.name, 100)} {safe(g.version, 50)}".strip()


def group_summary(g: Group, targets: str) -> str:
    counts = {v: 0 for v in SEVERITY}
    possible = 0
    for f in g.findings:
        if f.certainty == "possible" and f.worst != "fine":
            possible += 1
        else:
            counts[f.worst] += 1
    uses = len(g.findings)
    if not uses:
        return f"no uses; {g.files} {'file' if g.files == 1 else 'files'}, {g.lines:,} lines"
    words = {"removed": "removed", "raises": "raise", "warns": "warn"}
    parts = [f"{counts[v]} {words[v]}" for v in ("removed", "raises", "warns") if counts[v]]
    if possible:
        parts.append(f"{possible} may break (it depends on callers or limits)")
    if counts["fine"]:
        parts.append(f"{counts['fine']} fine")
    use_word = "use" if uses == 1 else "uses"
    return f"{uses} {use_word} on {targets}: " + ", ".join(parts)


def finding_lines(f: Finding, width: int, verbose: bool) -> Iterator[tuple[str, str]]:
    """(text, style) lines for one finding."""
    where = f"{safe(f.path, 300)}:{f.line}:{f.column}"
    yield from (
        (line, STYLES[f.worst])
        for line in _wrap(f"{label(f)}  {where}  {f.api}", width, "  ", "      ")
    )
    if f.code:
        yield from ((line, "dim") for line in _wrap(f"| {safe(f.code, 200)}", width, "      "))
    if f.situation:
        yield from ((line, "") for line in _wrap(safe(f.situation, 300), width, "      "))
    for targets, v in version_lines(f.verdicts):
        text = f"{targets}: {v.verdict}"
        if v.verdict != "fine" and v.effect:
            text += f": {v.effect}"
        if v.note:
            text += f" ({v.note})" if v.verdict != "fine" else f": {v.note}"
        if v.source and (v.verdict != "fine" or verbose):
            text += f" [{v.source if verbose else short_source(v.source)}]"
        yield from ((line, STYLES[v.verdict]) for line in _wrap(text, width, "      ", "        "))
    if f.note:
        yield from ((line, "") for line in _wrap(f"note: {f.note}", width, "      ", "        "))
    if f.worst != "fine":
        yield from (
            (line, "") for line in _wrap(f"fix: {f.replacement}", width, "      ", "        ")
        )


def text_lines(report: ScanReport, width: int, verbose: bool) -> Iterator[tuple[str, str]]:
    """The whole report for people, most severe group and finding first."""
    targets = ", ".join(str(t) for t in report.targets)
    if len(report.targets) > 2:
        targets = f"{report.targets[0]}-{report.targets[-1]}"
    files = sum(g.files for g in report.groups)
    lines = sum(g.lines for g in report.groups)
    head = (
        f"iodetect scan for CPython {targets}: {len(report.groups)} "
        f"{'group' if len(report.groups) == 1 else 'groups'}, {files:,} files, {lines:,} lines, "
        f"{report.seconds:.2f} s"
    )
    yield from ((line, "bold") for line in _wrap(head, width, "", "  "))
    py = report.python
    if py is not None:
        yield from (
            (line, "")
            for line in _wrap(
                f"interpreter: {safe(py.implementation, 40)} {safe(py.version, 20)} "
                f"({safe(py.executable, 300)})",
                width,
                "",
                "  ",
            )
        )
    if any(f.record.startswith("select") for f in report.findings):
        d = report.descriptors
        limit = "unknown" if d.limit is None else "unlimited" if d.limit == -1 else str(d.limit)
        yield from (
            (line, "")
            for line in _wrap(
                f"descriptors: up to {limit}, from {safe(d.source, 300)}", width, "", "  "
            )
        )
    quiet = [
        g
        for g in report.groups
        if not g.findings
        and not g.skipped
        and not g.skipped_more
        and not g.note
        and g.kind == "distribution"
    ]
    for g in report.groups:
        if g in quiet and not verbose:
            continue
        yield "", ""
        title = group_title(g)
        yield from ((line, "bold") for line in _wrap(title, width, "", "  "))
        yield from (
            (line, STYLES[g.worst]) for line in _wrap(group_summary(g, targets), width, "  ")
        )
        if g.note:
            yield from ((line, "dim") for line in _wrap(safe(g.note), width, "  "))
        if g.tests:
            yield from (
                (line, "dim")
                for line in _wrap(
                    f"{g.tests} test {'file' if g.tests == 1 else 'files'} of the distribution "
                    "left out (--deps-tests scans them)",
                    width,
                    "  ",
                )
            )
        for f in g.findings:
            if f.worst == "fine" and not verbose:
                continue
            yield "", ""
            yield from finding_lines(f, width, verbose)
        skipped = len(g.skipped) + g.skipped_more
        if skipped:
            yield from (
                (line, "dim")
                for line in _wrap(
                    f"skipped {skipped} {'file' if skipped == 1 else 'files'}"
                    + ("" if verbose else " (--verbose lists them)"),
                    width,
                    "  ",
                )
            )
            if verbose:
                for s in g.skipped:
                    yield from (
                        (line, "dim")
                        for line in _wrap(
                            f"{safe(s.path, 300)}: {safe(s.reason, 300)}", width, "    ", "      "
                        )
                    )
    if quiet and not verbose:
        yield "", ""
        names = ", ".join(group_title(g) for g in quiet)
        yield from (
            (line, "dim")
            for line in _wrap(
                f"no uses in {len(quiet)} more distributions: {names}", width, "", "  "
            )
        )
    yield "", ""
    yield from summary_lines(report, width)


def summary_lines(report: ScanReport, width: int) -> Iterator[tuple[str, str]]:
    findings = report.findings
    breaks = sum(f.worst in ("raises", "removed") and f.certainty == "certain" for f in findings)
    warns = sum(f.worst == "warns" and f.certainty == "certain" for f in findings)
    possible = sum(f.certainty == "possible" and f.worst != "fine" for f in findings)
    fine = sum(f.worst == "fine" for f in findings)
    text = (
        f"{breaks} raise or removed, {warns} warn, {possible} may break, {fine} fine; "
        f"gate --fail-on {report.fail_on}"
    )
    yield from ((line, "") for line in _wrap(text, width, "", "  "))
    if report.incomplete:
        yield from (
            (line, "bold red")
            for line in _wrap(
                f"INCOMPLETE: {safe(report.incomplete, 300)}: the scan did not cover everything",
                width,
                "",
                "  ",
            )
        )
    failing = report.failing()
    if failing or report.incomplete:
        yield f"FAIL: exit {report.exit_code}", "bold red"
    else:
        yield "PASS: exit 0", "bold green"


# --- GitHub workflow commands ----------------------------------------------------------------
def github_lines(report: ScanReport) -> Iterator[str]:
    """One annotation per finding that is not fine: error when it fails the gate."""
    for g in report.groups:
        for f in g.findings:
            if f.worst == "fine":
                continue
            level = "error" if fails(f, report.fail_on) else "warning"
            path = f.path if g.kind == "project" else os.path.join(g.location, f.path)
            bad = [f"{t} {v.verdict}" for t, v in version_lines(f.verdicts) if v.verdict != "fine"]
            worst = next(v for v in f.verdicts if v.verdict == f.worst)
            message = (
                f"{f.api}: {'; '.join(bad)}"
                + (" (if no loop runs where it is called)" if f.certainty == "possible" else "")
                + f". {f.situation}. {worst.effect} [{worst.source}]. Fix: {f.replacement}"
            )
            props = {
                "file": safe(path, 1000),
                "line": str(f.line),
                "endLine": str(f.end_line),
                "col": str(f.column),
                "endColumn": str(f.end_column),
                "title": f"iodetect scan: {f.api} {label(f).lower()}",
            }
            yield workflow.command(level, safe(message, 4000), props)


def show(report: ScanReport, console: Console, verbose: bool) -> None:
    """The report as text on `console`, wrapped to its width."""
    from rich.text import Text

    for text, style in text_lines(report, console.width, verbose):
        console.print(Text(text, style=style or ""))
