"""What every command shares: errors and exit codes, output, options and where facts come from.

A command reports a problem by raising an iodetect.errors.Error (or with fail()); cli.main
prints it in one line and exits with its code, in one place for every command. The product
goes to stdout through iodetect.output (echo, console), diagnostics to stderr with note().
Every option more than one command takes is declared here once, with its validation, and
every command that works on facts gets them through facts_for().
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, NoReturn, Optional

import typer

from iodetect.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Error, Failed, UsageError
from iodetect.output import note

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import BenchEvidence

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "facts_for",
    "fail",
    "note",
    "output_format",
    "seconds",
    "usage_errors",
]

MAX_SECONDS = 86400.0  # a deadline of a day: more is a typo, not a plan
# Connections a service may ask for: Linux caps descriptors per process at fs.nr_open, 1048576
# by default; a million is beyond any real plan already.
MAX_CONNECTIONS = 1_000_000
LOOP_NAMES = ("asyncio", "uvloop", "winloop", "rloop")  # what --require-loop can demand


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


# --- validation of the shared options: one place each -----------------------------------------
# Callbacks raise UsageError (exit 2, one line), as the core does for a bad value it is given.


def _python(value: str | None) -> str | None:
    """--python: a command line that can be split (its text is never echoed: it may hold a
    secret, which transport.show_command redacts)."""
    if value is not None:
        from iodetect import transport

        try:
            transport.split_command(value)
        except transport.TargetError as exc:
            fail(str(exc))
    return value


def _pythons(values: list[str] | None) -> list[str] | None:
    """--python repeated (report, check): each command line must split."""
    for value in values or ():
        _python(value)
    return values


def _connections(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_CONNECTIONS:
        fail(f"--connections must be a positive number up to {MAX_CONNECTIONS}, not {value}")
    return value


def _loop(value: str) -> str:
    from iodetect.model import LOOP_CHOICES

    if value not in LOOP_CHOICES:
        fail(f"unknown loop {value!r} (choose from {', '.join(LOOP_CHOICES)})")
    return value


def _selector(value: str | None) -> str | None:
    from iodetect.model import SELECTOR_NAMES

    if value is not None and value not in SELECTOR_NAMES:
        fail(f"unknown selector {value!r} (choose from {', '.join(SELECTOR_NAMES)})")
    return value


def _require_loop(value: str | None) -> str | None:
    if value is not None and value not in LOOP_NAMES:
        fail(f"--require-loop must be one of {', '.join(LOOP_NAMES)}, not {value!r}")
    return value


def output_format(fmt: str, json_out: bool, allowed: tuple[str, ...]) -> str:
    """The --format a command renders in: --json is --format json (and wins); a format the
    command does not write is a usage error."""
    if json_out:
        return "json"
    if fmt not in allowed:
        fail(f"--format must be one of {', '.join(allowed)}, not {fmt!r}")
    return fmt


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


def bench_evidence(path: Path | None) -> BenchEvidence | None:
    """The evidence of a saved bench run, or None; a bad file is an input error (exit 2)."""
    if path is None:
        return None
    from iodetect.bench import evidence, load_results

    return evidence(load_results(str(path)))


def facts_for(
    facts_file: Path | None,
    python: str | None,
    timeout: float,
    platform: str | None = None,
    version: tuple[int, int] | None = None,
) -> Facts:
    """The facts a command works on, the same way for every command: a saved report
    (--facts), another interpreter (--python), a platform's documented defaults (--platform,
    for CPython `version`), or this interpreter. More than one source is a usage error."""
    given = [
        name
        for name, value in (("--facts", facts_file), ("--platform", platform), ("--python", python))
        if value is not None
    ]
    if len(given) > 1:
        fail("use only one of " + " and ".join(given))
    if platform is not None:
        from iodetect.platforms import PLATFORMS, documented_facts

        if platform not in PLATFORMS:
            fail(f"unknown platform {platform!r} (choose from {', '.join(PLATFORMS)})")
        return documented_facts(platform, version or (3, 8))
    from iodetect import probe

    return probe.get_facts(str(facts_file) if facts_file is not None else None, python, timeout)
