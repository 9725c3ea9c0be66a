"""`report` and `check` over several targets: the one call each command makes when given them.

Several `--python` options, or a `--targets` file, turn either command into a run over many
targets (iodetect.fleet.runner) whose product is the fleet: one table with a row per target and
the drift marked, or with `--json` the fleet document (kind iodetect.fleet). `check` runs its
live self-test on every target; `report` judges each by the rules alone, as `iodetect fleet`
does a collected file. Both exit as `fleet` does: 0 every target passed, 1 one failed or could
not be reached (an unreachable target is that target's verdict, `error`, not a usage error of
the run); 2 only for a usage or input error, found before any target is reached.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from iodetect.errors import UsageError
from iodetect.fleet import rules
from iodetect.fleet.document import Fleet, Observation, Options
from iodetect.fleet.runner import DEFAULT_JOBS, run
from iodetect.fleet.targets import TargetSpec, combined, from_commands, read_file
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect import check as checking


def specs(python: Sequence[str] | None, targets_file: Path | None) -> list[TargetSpec]:
    """The targets: the --python commands first, then the file's; names made unique."""
    found = from_commands(python or ())
    if targets_file is not None:
        found.extend(read_file(str(targets_file)))
    return combined(found)


def check(
    options: checking.Options,
    python: Sequence[str] | None,
    targets_file: Path | None,
    jobs: int | None,
    json_out: bool,
) -> int:
    """`iodetect check` on every target, each within `options.timeout`: the exit code."""
    from iodetect.recommend import HEADROOM

    targets = specs(python, targets_file)
    connections = options.connections
    if options.min_nofile is not None:  # the plan is made for it, as the check's own is
        connections = max(connections, options.min_nofile - HEADROOM)
    fleet_options = Options(
        needs=options.needs,
        connections=connections,
        loop=options.loop,
        selector=options.selector,
        require_loop=options.require_loop,
        strict=options.strict,
        check="live",
    )
    result = _run(targets, fleet_options, options.timeout, jobs, options)
    return _show(result, json_out)


def report(
    python: Sequence[str] | None,
    targets_file: Path | None,
    jobs: int | None,
    timeout: float,
    json_out: bool,
    *,
    needs: str | None = None,
    connections: int | None = None,
    loop: str = "auto",
    selector: str | None = None,
    facts_file: Path | None = None,
    bench_file: Path | None = None,
) -> int:
    """`iodetect report` on every target, each within `timeout`, judged by the rules: the exit
    code."""
    from iodetect.recommend import NeedsError, parse_needs

    if facts_file is not None:
        raise UsageError(
            "--facts reads one saved target: for many saved ones use `iodetect fleet FILES...`"
        )
    if bench_file is not None:
        raise UsageError("--bench is one host's measurement: use it with a single --python")
    try:
        wanted = parse_needs(needs)
    except NeedsError as exc:
        raise UsageError(str(exc)) from None
    targets = specs(python, targets_file)
    fleet_options = Options(
        needs=frozenset(wanted),
        connections=connections,
        loop=loop,
        selector=selector,
        check="rules",
    )
    return _show(_run(targets, fleet_options, timeout, jobs, None), json_out)


def collected(paths: Sequence[Path], options: Options, json_out: bool) -> int:
    """`report --facts DIR` and `check --facts PATH...`: the collected files' fleet, judged by
    the rules (a file cannot be self-tested), shown as `iodetect fleet` shows it."""
    from iodetect.fleet.builder import build
    from iodetect.fleet.collected import NoInput, collect

    try:
        result = build(collect(list(paths)), options)
    except NoInput as exc:
        raise UsageError(str(exc)) from None
    return _show(result, json_out)


def _run(
    targets: list[TargetSpec],
    options: Options,
    timeout: float,
    jobs: int | None,
    live: checking.Options | None,
) -> Fleet:
    from iodetect.output import note
    from iodetect.recommend import NeedsError

    jobs = jobs or DEFAULT_JOBS
    tty = sys.stderr.isatty()
    if tty:
        what = "checking" if live is not None else "probing"
        note(
            f"{what} {len(targets)} targets, {min(jobs, len(targets))} at a time, each within "
            f"{timeout:g} s"
        )

    def progress(obs: Observation, done: int, total: int) -> None:
        if obs.facts is None:
            how = "could not be examined"
        elif obs.check is not None:
            how = rules.verdict(obs.check.findings)
        else:
            how = "probed"
        took = f" in {obs.seconds:.1f} s" if obs.seconds is not None else ""
        note(f"  [{done}/{total}] {clean(obs.name, 80)}: {how}{took}")

    try:
        return run(
            targets,
            options,
            timeout=timeout,
            jobs=jobs,
            live=live,
            progress=progress if tty else None,
        )
    except NeedsError as exc:
        raise UsageError(str(exc)) from None


def _show(result: Fleet, json_out: bool) -> int:
    if json_out:
        import json

        from iodetect import output
        from iodetect.fleet.document import to_dict

        output.echo(json.dumps(to_dict(result), indent=2))
    else:
        from iodetect.fleet.render import fleet_view, show

        show(fleet_view(result))
    return result.exit_code
