"""`iodetect snippet`: write the loop_setup.py module the recommendation calls for."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Optional

import typer

from iodetect.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    BenchOption,
    ConnectionsOption,
    FactsOption,
    LoopOption,
    NeedsOption,
    ProbeTimeoutOption,
    PythonOption,
    SelectorOption,
    bench_evidence,
    facts_for,
    fail,
    note,
    usage_errors,
)


def snippet(
    facts_file: FactsOption = None,
    platform: Optional[str] = typer.Option(
        None,
        "--platform",
        metavar="NAME",
        help="Write code for another platform from its documented defaults: "
        "linux, darwin, win32, freebsd or sunos.",
    ),
    python: PythonOption = None,
    target_python: Optional[str] = typer.Option(
        None,
        "--target-python",
        metavar="3.X[+]",
        help="CPython version the code is for: 3.12 for one version, 3.9+ for one module that "
        "is correct on every version from 3.9. Default: the facts' version (3.8+ with --platform).",
    ),
    needs: NeedsOption = None,
    connections: ConnectionsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    fallback: bool = typer.Option(
        False,
        "--fallback",
        help="If the chosen loop is missing at run time, warn and use the standard loop "
        "instead of failing.",
    ),
    output: Optional[str] = typer.Option(
        None,
        "-o",
        "--output",
        metavar="FILE",
        help="Write the module here (- for stdout), replacing the file only once it is complete: "
        "on any failure the old file is left as it was.",
    ),
    timeout: ProbeTimeoutOption = 30.0,
    bench_file: BenchOption = None,
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Self-test the module live on the target first (as iodetect check does); "
        "write nothing and exit 1 if it fails.",
    ),
    check: Optional[Path] = typer.Option(
        None,
        "--check",
        metavar="FILE",
        help="Compare FILE with the module these options generate now: exit 0 when identical, "
        "1 with a unified diff on stdout when not, 2 when FILE cannot be read.",
    ),
) -> None:
    """Write setup code for the recommended event loop: iodetect snippet > loop_setup.py

    Only code goes to stdout; the choice, its warnings and errors go to stderr. Exit 1 when the
    needs conflict with the host (the message names the conflict and a remedy).
    """
    from iodetect import output as out
    from iodetect import recommend as rec

    if check is not None and (output is not None or verify):
        fail("--check compares FILE with the module; it takes neither -o nor --verify")
    if output == "":
        fail("-o: the file name is empty (use -o - for stdout)")
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
    if check is not None:
        import shlex

        source = "".join(
            f" {flag} {shlex.quote(str(value))}"
            for flag, value in (("--facts", facts_file), ("--python", python))
            if value is not None
        )
        _check(check, text, command + source)
    if verify:
        from iodetect.check import verify_setup

        verified = verify_setup(
            text, plan, facts, python, connections, timeout, saved=facts_file is not None
        )
        for f in verified.findings:  # the check's warnings and failures, then its verdict
            fix = f"; fix: {f.remedy}" if f.remedy else ""
            if f.level == "warn":
                note(f"iodetect: verify: warning: {f.message}{fix} [{f.code}]")
            elif f.level == "fail":
                note(f"iodetect: verify failed: {f.message}{fix} [{f.code}]")
        note(f"iodetect: verify: {verified.summary()}")
        if not verified.ok:
            raise typer.Exit(EXIT_FAILED)
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


def _check(path: Path, text: str, command: str) -> NoReturn:
    """`--check FILE`: exit 0 when FILE is `text`, 1 with the diff on stdout, 2 if unreadable."""
    import shlex

    from iodetect.drift import compare, read_module
    from iodetect.errors import InputError

    try:
        drift = compare(read_module(path), text, str(path))
    except InputError as exc:
        fail(f"--check: {exc}")
    shown = drift.name
    if drift.current:
        note(f"iodetect: {shown} is current")
        raise typer.Exit(EXIT_OK)
    from iodetect import output

    output.echo(drift.diff, nl=False)
    note(
        f"iodetect: {shown} differs from what this iodetect generates now; regenerate it: "
        f"{command} -o {shlex.quote(shown)}"
    )
    raise typer.Exit(EXIT_FAILED)


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
    import shlex

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
        parts.append(f"--bench {shlex.quote(str(bench_file))}")
    return "".join(" " + p for p in parts)


def register(app: typer.Typer) -> None:
    app.command("snippet")(snippet)
