"""The command line: thin commands that parse, call the core, render and choose the exit code."""

from __future__ import annotations

import typer

from iodetect import __version__
from iodetect.commands import bench, check, report, snippet

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


for _module in (report, snippet, check, bench):
    _module.register(app)


def main() -> None:
    app()
