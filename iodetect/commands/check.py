"""`iodetect check`: the pre-deploy gate; exit 0 only when the host can carry the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from iodetect.commands._common import (
    LoopOption,
    NeedsOption,
    SelectorOption,
    fail,
    note,
    seconds,
    usage_errors,
)

LOOP_NAMES = ("asyncio", "uvloop", "winloop", "rloop")


def check(
    python: Optional[List[str]] = typer.Option(
        None,
        "--python",
        metavar="CMD",
        help="Another interpreter: a command line that runs it, e.g. 'python3.9', "
        "'docker exec -i app python3', 'ssh web1 python3'. Repeat it to check several "
        "targets at once (one table, drift marked).",
    ),
    targets_file: Optional[Path] = typer.Option(
        None,
        "--targets",
        metavar="FILE",
        help="Check every target in FILE, one command line a line, optionally named "
        "(`web1 = ssh web1 python3`); `#` starts a comment.",
    ),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", min=1, max=256, metavar="N", help="Targets checked at once (default 8)."
    ),
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
        help="Deadline for the whole check (for each target, with several).",
    ),
) -> None:
    """Prove this host and interpreter can carry the service: rules plus a live socket self-test.

    Exit 0 when every finding is ok (warnings too, unless --strict), 1 when one failed,
    2 for a usage or input error or a target that cannot be reached. With several targets:
    0 every target passed, 1 one failed or could not be reached, 2 a usage or input error.
    """
    from iodetect import check as core
    from iodetect import files, output, recommend, transport

    if require_loop is not None and require_loop not in LOOP_NAMES:
        fail(f"--require-loop must be one of {', '.join(LOOP_NAMES)}, not {require_loop!r}")
    with usage_errors():
        need_set = recommend.parse_needs(needs)
    single = python[0] if python else None
    if single is not None:
        transport.split_command(single)  # a command that cannot be parsed: exit 2 now
    source = None
    name = "loop_setup.py"
    if snippet_file is not None:
        source = files.read_source(str(snippet_file), "--snippet file")
        name = snippet_file.name or name
    options = core.Options(
        python=single,
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
    )
    if targets_file is not None or len(python or ()) > 1:  # several targets: the fleet's table
        from iodetect.fleet import multi

        raise typer.Exit(multi.check(options, python, targets_file, jobs, json_out))
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
