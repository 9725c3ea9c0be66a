"""What every command shares: one-line errors with documented exit codes, stdout/stderr consoles."""

from __future__ import annotations

from typing import NoReturn

import typer

EXIT_OK = 0
EXIT_FAILED = 1  # a check or a verification failed, or a conflict cannot be satisfied
EXIT_USAGE = 2  # usage or input error


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line on stderr and exit with `code`; never a traceback."""
    typer.echo(f"iodetect: error: {message}", err=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """A diagnostic for people: stderr, so stdout carries only the product."""
    typer.echo(message, err=True)
