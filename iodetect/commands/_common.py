"""What every command shares: errors and exit codes, output, options and where facts come from.

A command reports a problem by raising an iodetect.errors.Error (or with fail()); cli.main
prints it in one line and exits with its code, in one place for every command. The product
goes to stdout through iodetect.output (echo, console), diagnostics to stderr with note().
Every option more than one command takes is declared here once, with its validation, and
every command that works on facts gets them through facts_for(). What needs no typer lives in
iodetect.commands._support, so that the quick command lines can run without it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from iodetect.commands._support import (
    LOOP_NAMES,
    MAX_SECONDS,
    _connections,
    _loop,
    _python,
    _pythons,
    _require_loop,
    _selector,
    bench_evidence,
    facts_for,
    fail,
    output_format,
    usage_errors,
)
from iodetect.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from iodetect.output import note

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "bench_evidence",
    "facts_for",
    "fail",
    "note",
    "output_format",
    "seconds",
    "usage_errors",
]


def seconds(value: float) -> float:
    """A --timeout: a finite number of seconds, at most a day (nan, inf and 1e308 refused)."""
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise typer.BadParameter(f"must be a number of seconds up to {MAX_SECONDS:g}")
    return value


# --- options shared by several commands ------------------------------------------------------
# Annotated aliases: one definition of each option's name, help and validation; defaults stay
# per command.

PythonOption = Annotated[
    Optional[str],
    typer.Option(
        "--python",
        metavar="CMD",
        help="Another interpreter: a command line that runs it, e.g. 'python3.9', "
        "'docker exec -i app python3', 'kubectl exec -i pod -- python3', 'ssh web1 python3'. "
        "iodetect's scripts travel on its stdin; nothing needs installing there.",
        callback=_python,
    ),
]
# report and check take several targets: --python repeated, or --targets FILE, --jobs at once.
PythonsOption = Annotated[
    Optional[List[str]],
    typer.Option(
        "--python",
        metavar="CMD",
        help="Another interpreter: a command line that runs it, e.g. 'python3.9', "
        "'docker exec -i app python3', 'ssh web1 python3'. Repeat it for several targets at "
        "once (one table, drift marked).",
        callback=_pythons,
    ),
]
TargetsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--targets",
        metavar="FILE",
        help="Every target in FILE, one command line a line, optionally named "
        "(`web1 = ssh web1 python3`); `#` starts a comment.",
    ),
]
JobsOption = Annotated[
    Optional[int],
    typer.Option("--jobs", min=1, max=256, metavar="N", help="Targets run at once (default 8)."),
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
# report and check also read what an engine collected: a folder, or several files.
CollectedOption = Annotated[
    Optional[List[Path]],
    typer.Option(
        "--facts",
        metavar="PATH",
        help="Use saved `iodetect report --json` output instead of probing: a file, or several "
        "(repeat it) or a folder of collected ones (e.g. what Ansible fetched): one table, "
        "drift marked, each judged by the rules.",
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
        callback=_loop,
    ),
]
SelectorOption = Annotated[
    Optional[str],
    typer.Option(
        "--selector",
        metavar="NAME",
        help="Selector for the selector loop: epoll, kqueue, devpoll, poll or select.",
        callback=_selector,
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
ConnectionsOption = Annotated[
    Optional[int],
    typer.Option(
        "--connections",
        metavar="N",
        callback=_connections,
        help="Concurrent connections the service must hold (descriptor limits must allow them "
        "plus 64 headroom; check holds them live).",
    ),
]
RequireLoopOption = Annotated[
    Optional[str],
    typer.Option(
        "--require-loop",
        metavar="NAME",
        callback=_require_loop,
        help=f"Fail unless this loop runs: {', '.join(LOOP_NAMES)}.",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the result as JSON (its documented kind and schema)."),
]
FormatOption = Annotated[
    str,
    typer.Option("--format", metavar="FORMAT", help="Output format; --json is --format json."),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="Warnings fail too.")]
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
