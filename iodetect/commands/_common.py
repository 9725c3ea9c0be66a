"""What every command shares: one-line errors with documented exit codes, stdout/stderr consoles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from iodetect.recommend import BenchEvidence

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
    typer.Option("--timeout", min=0.1, metavar="SECONDS", help="Deadline for the --python probe."),
]


def bench_evidence(path: Path | None) -> BenchEvidence | None:
    """The evidence of a saved bench run, or None; a bad file is a usage error."""
    if path is None:
        return None
    from iodetect.bench import BenchError, evidence, load_results

    try:
        return evidence(load_results(str(path)))
    except BenchError as exc:
        fail(str(exc))
