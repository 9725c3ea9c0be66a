"""What every command shares: errors and exit codes, product and diagnostic output, options.

A command reports a problem by raising an iodetect.errors.Error (or with fail()); cli.main
prints it in one line and exits with its code, in one place for every command. The product
goes to stdout through iodetect.output (echo, console), diagnostics to stderr with note().
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from iodetect.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Error, Failed, UsageError
from iodetect.output import note

if TYPE_CHECKING:
    from iodetect.recommend import BenchEvidence

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "fail",
    "note",
    "seconds",
    "usage_errors",
]

MAX_SECONDS = 86400.0  # a deadline of a day: more is a typo, not a plan


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with a one-line error and exit `code` (cli.main prints it)."""
    if code == EXIT_FAILED:
        raise Failed(message)
    if code == EXIT_USAGE:
        raise UsageError(message)
    error = Error(message)
    error.exit_code = code
    raise error


@contextmanager
def usage_errors() -> Iterator[None]:
    """The recommender's NeedsError (a bad --needs, --loop, --target-python...) as UsageError."""
    from iodetect.recommend import NeedsError

    try:
        yield
    except NeedsError as exc:
        raise UsageError(str(exc)) from None


def seconds(value: float) -> float:
    """A --timeout: a finite number of seconds, at most a day (nan, inf and 1e308 refused)."""
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise typer.BadParameter(f"must be a number of seconds up to {MAX_SECONDS:g}")
    return value


# --- options shared by several commands ------------------------------------------------------
# Annotated aliases: one definition of each option's name and help; defaults stay per command.

PythonOption = Annotated[
    Optional[str],
    typer.Option(
        "--python",
        metavar="CMD",
        help="Another interpreter: a command line that runs it, e.g. 'python3.9', "
        "'docker exec -i app python3', 'kubectl exec -i pod -- python3', 'ssh web1 python3'. "
        "iodetect's scripts travel on its stdin; nothing needs installing there.",
    ),
]
FactsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--facts",
        metavar="FILE",
        help="Use a saved `iodetect report --json` (a deploy host's, a fixture) instead of "
        "probing.",
    ),
]
NeedsOption = Annotated[
    Optional[str],
    typer.Option(
        "--needs",
        metavar="LIST",
        help="What the application needs of its loop, comma-separated: add_reader, "
        "subprocess, signals, unix_sockets, pty.",
    ),
]
LoopOption = Annotated[
    str,
    typer.Option(
        "--loop",
        metavar="NAME",
        help="auto (stable loops only), asyncio, selector, proactor, uvloop, winloop or rloop.",
    ),
]
SelectorOption = Annotated[
    Optional[str],
    typer.Option(
        "--selector",
        metavar="NAME",
        help="Selector for the selector loop: epoll, kqueue, devpoll, poll or select.",
    ),
]
BenchOption = Annotated[
    Optional[Path],
    typer.Option(
        "--bench",
        metavar="FILE",
        help="Recommend from a saved `iodetect bench --json` run: the measured-fastest stable "
        "loop wins; a tie goes to the standard loop.",
    ),
]
ProbeTimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.1,
        metavar="SECONDS",
        callback=seconds,
        help="Deadline for the --python probe.",
    ),
]


def bench_evidence(path: Path | None) -> BenchEvidence | None:
    """The evidence of a saved bench run, or None; a bad file is an input error (exit 2)."""
    if path is None:
        return None
    from iodetect.bench import evidence, load_results

    return evidence(load_results(str(path)))
