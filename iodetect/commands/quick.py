"""The quick commands: `report` for one target and `snippet`, as plain functions, and the plain
command lines of them that run without the CLI framework.

`iodetect report --json` and `iodetect snippet` run on every deploy and in editors' tasks, and
importing typer costs more than the rest of their work. command() takes a command line only
when it is made of nothing but the options below, each once, each value a separate word that
is valid as it stands; anything else (help, completion, --version, a value to refuse, an option
not listed, `--opt=value`) goes to typer, which then prints exactly what it always printed.
Both paths call the same functions below, so the result is the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iodetect.commands._support import (
    _connections,
    _loop,
    _selector,
    bench_evidence,
    facts_for,
    fail,
    usage_errors,
)
from iodetect.errors import EXIT_FAILED, Error
from iodetect.output import note

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan

# A command's options the quick path takes: flags, and options with one value.
FLAGS = {"report": {"--json": "json_out"}, "snippet": {"--fallback": "fallback"}}
VALUES = {
    "report": {
        "--facts": "facts_file",
        "--needs": "needs",
        "--connections": "connections",
        "--loop": "loop",
        "--selector": "selector",
    },
    "snippet": {
        "--facts": "facts_file",
        "--platform": "platform",
        "--target-python": "target_python",
        "--needs": "needs",
        "--connections": "connections",
        "--loop": "loop",
        "--selector": "selector",
        "-o": "output",
        "--output": "output",
    },
}
COMPLETE_VAR = "_IODETECT_COMPLETE"  # typer's shell completion asks through it


def command(argv: list[str]) -> Callable[[], None] | None:
    """The command `argv` asks for, ready to run, when the quick path takes it; else None."""
    if not argv or argv[0] not in FLAGS or COMPLETE_VAR in os.environ:
        return None
    name, flags, values = argv[0], FLAGS[argv[0]], VALUES[argv[0]]
    given: dict[str, Any] = {}
    words = iter(argv[1:])
    for word in words:
        key = flags.get(word) or values.get(word)
        if key is None or key in given:
            return None
        if word in flags:
            given[key] = True
            continue
        value = next(words, "")
        if not value or value.startswith("-"):
            return None  # a missing value, or one typer may read as an option
        given[key] = value
    options = _checked(given)
    if options is None:
        return None
    if name == "report":
        if not options.pop("json_out", False):
            return None  # the text report draws with rich: typer's cost is small beside it
        return lambda: report_one(json_out=True, python=None, timeout=30.0, **options)
    return lambda: snippet(**options)


def _checked(given: dict[str, Any]) -> dict[str, Any] | None:
    """The values as typer would pass them, when each is one typer accepts as it is."""
    options = dict(given)
    connections = given.get("connections")
    if connections is not None:
        # typer's own message for anything else, also for digits past int()'s limit
        if not (connections.isascii() and connections.isdigit()) or len(connections) > 9:
            return None
        options["connections"] = int(connections)
    facts = given.get("facts_file")
    if facts is not None:  # typer's Path: a readable file, or its own message
        if not (os.path.isfile(facts) and os.access(facts, os.R_OK)):
            return None
        options["facts_file"] = Path(facts)
    options.setdefault("loop", "auto")
    try:  # the options' own callbacks, as typer calls them
        _connections(options.get("connections"))
        _loop(options["loop"])
        _selector(options.get("selector"))
    except Error:
        return None
    return options


def report_one(
    json_out: bool,
    facts_file: Path | None = None,
    python: str | None = None,
    timeout: float = 30.0,
    needs: str | None = None,
    connections: int | None = None,
    loop: str = "auto",
    selector: str | None = None,
    bench_file: Path | None = None,
) -> None:
    """`iodetect report` for one target: its facts and recommendation, as JSON or tables."""
    from iodetect import output
    from iodetect import recommend as rec

    evidence = bench_evidence(bench_file)
    with usage_errors():
        wanted = rec.Needs(rec.parse_needs(needs), connections, loop, selector)
        facts = facts_for(facts_file, python, timeout)
        plan = rec.recommend(facts, wanted, evidence) if facts.py >= rec.OLDEST else None
    if json_out:
        import json

        from iodetect.report_json import report_dict

        output.echo(json.dumps(report_dict(facts, plan, evidence), indent=2))
    else:
        from iodetect import render

        render.show_report(output.console(), facts, plan)


def snippet(
    facts_file: Path | None = None,
    platform: str | None = None,
    target_python: str | None = None,
    needs: str | None = None,
    connections: int | None = None,
    loop: str = "auto",
    selector: str | None = None,
    fallback: bool = False,
    output: str | None = None,
) -> None:
    """`iodetect snippet` without --python, --bench, --verify and --check: write the module."""
    text, plan, _, _ = snippet_module(
        facts_file, platform, None, target_python, needs, connections, loop, selector, fallback
    )
    write_module(text, plan, output)


def snippet_module(
    facts_file: Path | None,
    platform: str | None,
    python: str | None,
    target_python: str | None,
    needs: str | None,
    connections: int | None,
    loop: str,
    selector: str | None,
    fallback: bool,
    timeout: float = 30.0,
    bench_file: Path | None = None,
) -> tuple[str, Plan, Facts, str]:
    """The setup module these options call for: its text, the plan, the facts, and the command
    line that generates it (for its header). Warnings go to stderr; a conflict exits 1."""
    from iodetect import recommend as rec

    with usage_errors():
        wanted = rec.Needs(
            needs=rec.parse_needs(needs),
            connections=connections,
            loop=loop,
            selector=selector,
        )
        target = rec.parse_python(target_python) if target_python is not None else None

    if platform is not None and target is None:
        target = rec.PythonRange(rec.OLDEST, None)
    facts = facts_for(
        facts_file, python, timeout, platform, target.low if target is not None else None
    )
    if facts.py < rec.OLDEST and target is None:  # never with --platform: it sets a target
        fail(
            f"the facts are from Python {facts.py[0]}.{facts.py[1]}; generated code needs "
            "3.8+ (pass --target-python)"
        )

    evidence = bench_evidence(bench_file)
    if evidence is not None and evidence.style_finding:
        note(f"iodetect: measured API styles {evidence.style_finding}")
    with usage_errors():
        plan = rec.recommend(facts, wanted, evidence, python=target)

    if target is not None and facts.origin != "documented" and facts.py not in target.versions():
        note(
            f"iodetect: note: the facts are from Python {facts.py[0]}.{facts.py[1]}, the code "
            f"targets {target}: installed loops were seen on {facts.py[0]}.{facts.py[1]} only"
        )
    for warning in plan.warnings:
        note(f"iodetect: warning: {warning.text}")
    if plan.conflicts:
        fail(
            " | ".join(f"conflict: {c.message}; remedy: {c.remedy}" for c in plan.conflicts),
            EXIT_FAILED,
        )

    from iodetect import snippet as render

    command = "iodetect snippet" + _args(
        platform, target_python, needs, connections, loop, selector, fallback, bench_file
    )
    text = render.render(plan, facts, fallback=fallback, command=command + " > loop_setup.py")
    return text, plan, facts, command


def write_module(text: str, plan: Plan, output: str | None) -> None:
    """The module to stdout (no -o, or -o -) or to the file, and what was chosen to stderr."""
    from iodetect import output as out

    chosen = plan.loop_factory + (f" with {plan.selector_class}" if plan.selector_class else "")
    said = f"iodetect: {chosen} for {plan.runtime} ({plan.reasons[0].text})"
    if output is None or output == "-":
        out.echo(text, nl=False)
        note(said)
        return
    from iodetect.files import write_text

    written = write_text(output, text, "-o")
    note(said)
    note(f"iodetect: wrote {written}")


def _args(
    platform: str | None,
    target_python: str | None,
    needs: str | None,
    connections: int | None,
    loop: str,
    selector: str | None,
    fallback: bool,
    bench_file: Path | None,
) -> str:
    """The options that shaped the module, for its header (values are checked by then)."""
    parts = []
    if platform:
        parts.append(f"--platform {platform}")
    if target_python:
        parts.append(f"--target-python {target_python.strip()}")
    if needs:
        parts.append("--needs " + ",".join(sorted(n.strip() for n in needs.split(",") if n)))
    if connections is not None:
        parts.append(f"--connections {connections}")
    if loop != "auto":
        parts.append(f"--loop {loop}")
    if selector:
        parts.append(f"--selector {selector}")
    if fallback:
        parts.append("--fallback")
    if bench_file is not None:
        import shlex

        parts.append(f"--bench {shlex.quote(str(bench_file))}")
    return "".join(" " + p for p in parts)
