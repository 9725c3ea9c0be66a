"""What the commands share that needs no CLI framework: errors, validation, where facts come from.

iodetect.commands._common adds the typer options on top; `report --json` and `snippet` run
from here alone when their command line is a plain one (iodetect.commands.quick).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from iodetect.errors import EXIT_FAILED, EXIT_USAGE, Error, Failed, UsageError

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import BenchEvidence

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
