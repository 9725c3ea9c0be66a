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
    fail,
    note,
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
    from iodetect.commands import quick

    if check is not None and (output is not None or verify):
        fail("--check compares FILE with the module; it takes neither -o nor --verify")
    if output == "":
        fail("-o: the file name is empty (use -o - for stdout)")
    text, plan, facts, command = quick.snippet_module(
        facts_file,
        platform,
        python,
        target_python,
        needs,
        connections,
        loop,
        selector,
        fallback,
        timeout,
        bench_file,
    )
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
    quick.write_module(text, plan, output)


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


def register(app: typer.Typer) -> None:
    app.command("snippet")(snippet)
