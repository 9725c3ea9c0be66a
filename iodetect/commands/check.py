"""`iodetect check`: the pre-deploy gate; exit 0 only when the host can carry the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from iodetect.commands._common import (
    LoopOption,
    NeedsOption,
    PythonOption,
    SelectorOption,
    fail,
    note,
    seconds,
    usage_errors,
)

LOOP_NAMES = ("asyncio", "uvloop", "winloop", "rloop")


def check(
    python: PythonOption = None,
    connections: int = typer.Option(
        300,
        "--connections",
        min=1,
        max=1_000_000,
        metavar="N",
        help="Concurrent connections the service must hold; the self-test holds them live.",
    ),
    min_nofile: Optional[int] = typer.Option(
        None,
        "--min-nofile",
        min=1,
        max=1 << 40,
        metavar="N",
        help="Fail unless the service can open at least N descriptors.",
    ),
    require_loop: Optional[str] = typer.Option(
        None,
        "--require-loop",
        metavar="NAME",
        help=f"Fail unless this loop actually runs: {', '.join(LOOP_NAMES)}.",
    ),
    needs: NeedsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    snippet_file: Optional[Path] = typer.Option(
        None,
        "--snippet",
        metavar="FILE",
        help="Test the application's own loop_setup.py instead of the generated one.",
    ),
    serve: Optional[str] = typer.Option(
        None,
        "--serve",
        metavar="CMD",
        help="Also start this launch command (e.g. 'uvicorn app:app --loop "
        "loop_setup:new_event_loop --host 127.0.0.1'), check that its workers run the planned "
        "loop, selector and descriptor limit, and stop it (Linux).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the check too."),
    json_out: bool = typer.Option(
        False, "--json", help="Print the result as JSON (every finding and figure)."
    ),
    timeout: float = typer.Option(
        30.0,
        "--timeout",
        min=1.0,
        metavar="SECONDS",
        callback=seconds,
        help="Deadline for the whole check.",
    ),
) -> None:
    """Prove this host and interpreter can carry the service: rules plus a live socket self-test.

    Exit 0 when every finding is ok (warnings too, unless --strict), 1 when one failed,
    2 for a usage or input error or a target that cannot be reached.
    """
    from iodetect import check as core
    from iodetect import files, output, recommend, transport

    if require_loop is not None and require_loop not in LOOP_NAMES:
        fail(f"--require-loop must be one of {', '.join(LOOP_NAMES)}, not {require_loop!r}")
    with usage_errors():
        need_set = recommend.parse_needs(needs)
    if python is not None:
        transport.split_command(python)  # a command that cannot be parsed: exit 2 now
    source = None
    name = "loop_setup.py"
    if snippet_file is not None:
        source = files.read_source(str(snippet_file), "--snippet file")
        name = snippet_file.name or name
    options = core.Options(
        python=python,
        connections=connections,
        min_nofile=min_nofile,
        require_loop=require_loop,
        needs=need_set,
        loop=loop,
        selector=selector,
        setup_source=source,
        setup_name=name,
        timeout=timeout,
        strict=strict,
        serve=serve,
    )
    progress = note if sys.stderr.isatty() else None
    result = core.run_check(options, progress=progress)
    if json_out:
        import json

        output.echo(json.dumps(core.to_dict(result), indent=2))
    else:
        from iodetect.check.render import show

        show(result, output.console(highlight=False, soft_wrap=True))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
