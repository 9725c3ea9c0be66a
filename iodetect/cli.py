"""The command line: thin commands that parse, call the core, render and choose the exit code."""

from __future__ import annotations

import sys

import typer

from iodetect import __version__
from iodetect.commands import (
    bench,
    check,
    diff,
    fleet,
    inspect,
    probe_script,
    report,
    scan,
    snippet,
)

app = typer.Typer(
    name="iodetect",
    help=(
        "Which I/O mechanism and asyncio event loop a network service should use on this host, "
        "the setup code for it, a live socket self-test, and measurements.\n\n"
        "Exit codes: 0 ok, 1 a check failed, 2 usage or input error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iodetect {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """iodetect: the right event loop for this host, with evidence."""


for _module in (report, snippet, check, bench, inspect, scan, fleet, diff, probe_script):
    _module.register(app)


def main() -> None:
    """Run the CLI: usage errors are one line with exit 2; Ctrl-C exits 130 without a traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # usage and parameter errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(0)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"iodetect: error: {exc.format_message()}{hint}", err=True)
        code = getattr(exc, "exit_code", 2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("iodetect: interrupted", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
