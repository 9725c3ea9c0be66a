"""`iodetect check`: the pre-deploy gate; exit 0 only when the host can carry the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from iodetect.commands._common import (
    EXIT_OK,
    LoopOption,
    NeedsOption,
    PythonOption,
    SelectorOption,
    fail,
    note,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iodetect.check import Result

LOOP_NAMES = ("asyncio", "uvloop", "winloop", "rloop")
MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


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
        30.0, "--timeout", min=1.0, metavar="SECONDS", help="Deadline for the whole check."
    ),
) -> None:
    """Prove this host and interpreter can carry the service: rules plus a live socket self-test.

    Exit 0 when every finding is ok (warnings too, unless --strict), 1 when one failed,
    2 for a usage or input error.
    """
    from iodetect import check as core
    from iodetect import recommend, transport

    if require_loop is not None and require_loop not in LOOP_NAMES:
        fail(f"--require-loop must be one of {', '.join(LOOP_NAMES)}, not {require_loop!r}")
    try:
        need_set = recommend.parse_needs(needs)
    except recommend.NeedsError as exc:
        fail(str(exc))
    if python is not None:
        try:
            transport.split_command(python)
        except transport.TargetError as exc:
            fail(str(exc))
    source = None
    name = "loop_setup.py"
    if snippet_file is not None:
        source = _read_setup(snippet_file)
        name = snippet_file.name
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
    )
    progress = note if sys.stderr.isatty() else None
    try:
        result = core.run_check(options, progress=progress)
    except core.UsageError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # the target's process group is already killed by the transport
        note("iodetect: check interrupted; the self-test was stopped")
        raise typer.Exit(130) from None
    if json_out:
        import json

        typer.echo(json.dumps(core.to_dict(result), indent=2))
    else:
        from rich.console import Console

        show(result, Console(highlight=False, soft_wrap=True))
    if result.exit_code != EXIT_OK:
        raise typer.Exit(result.exit_code)


def _read_setup(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"--snippet: no such file: {path}")
    except IsADirectoryError:
        fail(f"--snippet: {path} is a directory")
    except UnicodeDecodeError:
        fail(f"--snippet: {path} is not UTF-8 text")
    except OSError as exc:
        fail(f"--snippet: cannot read {path}: {exc.strerror or exc}")


def show(result: Result, console: Console) -> None:
    """Doctor-style lines: a mark, the message, and the remedy indented below it."""
    from rich.markup import escape

    t = result.target
    if t:
        where = f" in {t['container']}" if t.get("container") else ""
        console.print(
            f"[bold]iodetect check[/bold]: {t.get('implementation')} {t.get('python')} "
            f"on {t.get('platform')}{where}"
        )
    step = None
    for f in result.findings:
        if f.step != step:
            step = f.step
            console.print(f"[bold]{step}[/bold]")
        mark, colour = MARKS.get(f.level, (f.level, "white"))
        console.print(f"  [{colour}]{mark:>4}[/{colour}]  {escape(f.message)}")
        if f.remedy and f.level != "ok":
            console.print(f"        [dim]fix:[/dim] {escape(f.remedy)}")
    counts = {lvl: sum(1 for f in result.findings if f.level == lvl) for lvl in MARKS}
    verdict = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
    strict = " (--strict: warnings fail)" if result.strict and counts["warn"] else ""
    console.print(
        f"{verdict}: {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed"
        f"{strict} in {result.seconds:.2f} s"
    )


def register(app: typer.Typer) -> None:
    app.command("check")(check)
