"""`iodetect bench`: measure selectors, event loops and API styles on this host."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Tuple

import typer

from iodetect.commands._common import EXIT_FAILED, JsonOption, PythonOption


def _names(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(x.strip() for x in value.split(",") if x.strip())


QuickOption = Annotated[
    bool, typer.Option("--quick", help="About a minute: fewer workloads and rounds.")
]
LoopsOption = Annotated[
    Optional[str],
    typer.Option(
        "--loops",
        metavar="LIST",
        help="Comma list from: selectors, asyncio, uvloop, rloop, winloop, threads.",
    ),
]
SelectorsOption = Annotated[
    Optional[str],
    typer.Option(
        "--selectors",
        metavar="LIST",
        help="Comma list from: select, poll, epoll, devpoll, kqueue, proactor (the standard "
        "loop on IOCP, Windows) (default: all present).",
    ),
]
StylesOption = Annotated[
    Optional[str],
    typer.Option("--styles", metavar="LIST", help="Comma list from: protocol, streams, sock."),
]
WorkloadsOption = Annotated[
    Optional[str],
    typer.Option(
        "--workloads",
        metavar="LIST",
        help="Comma list from: pingpong, concurrent, bulk, idle900, idle10000.",
    ),
]
DurationOption = Annotated[
    Optional[float],
    typer.Option("--duration", metavar="SECONDS", help="Seconds of each measured window."),
]
WindowsOption = Annotated[
    Optional[int],
    typer.Option(
        "--windows", metavar="N", help="Windows at full CPU speed wanted from each server process."
    ),
]
RoundsOption = Annotated[
    Optional[int],
    typer.Option(
        "--rounds", metavar="N", help="Rounds; each runs every cell once in fresh processes."
    ),
]
BudgetOption = Annotated[
    Optional[float],
    typer.Option(
        "--budget",
        metavar="SECONDS",
        help="Seconds the whole run may take with top-up rounds (the cells not stable yet, "
        "measured again in fresh processes); 0: none.",
    ),
]
SeedOption = Annotated[
    Optional[int], typer.Option("--seed", metavar="N", help="Seed of the shuffled order.")
]
PlacementOption = Annotated[
    Optional[str],
    typer.Option(
        "--placement",
        metavar="NAME",
        help="same (default): server and load generator pinned to one CPU; split: two "
        "CPUs; free: the scheduler decides.",
    ),
]
SaveOption = Annotated[
    Optional[str],
    typer.Option(
        "--save",
        metavar="FILE",
        help="Also write the JSON results to FILE (- for stdout), replacing it only once complete.",
    ),
]
ShowOption = Annotated[
    Optional[str],
    typer.Option(
        "--show",
        metavar="FILE",
        help="Show a saved run (a --json or --save FILE) instead of running.",
    ),
]
CompareOption = Annotated[
    Optional[Tuple[str, str]],
    typer.Option(
        "--compare",
        metavar="FIRST SECOND",
        help="Compare two saved runs: the medians of cells stable in both, and the "
        "conclusions. Exit 1 when a median moved by 10 % or more or a conclusion changed.",
    ),
]


def bench(
    quick: QuickOption = False,
    loops: LoopsOption = None,
    selectors: SelectorsOption = None,
    styles: StylesOption = None,
    workloads: WorkloadsOption = None,
    duration: DurationOption = None,
    windows: WindowsOption = None,
    rounds: RoundsOption = None,
    budget: BudgetOption = None,
    seed: SeedOption = None,
    placement: PlacementOption = None,
    python: PythonOption = None,
    json_out: JsonOption = False,
    save: SaveOption = None,
    show: ShowOption = None,
    compare: CompareOption = None,
) -> None:
    """Measure server CPU per request, req/s and latency of each variant on this host.

    Each cell (variant x workload) runs in a fresh server process with a separate load
    generator; rounds are shuffled; a winner is declared only beyond the spread. --python: the
    interpreter of the servers and the load generator.
    """
    import dataclasses

    from iodetect import output
    from iodetect.bench import load_results
    from iodetect.bench.render import render, run_with_progress
    from iodetect.bench.results import BenchError, to_json
    from iodetect.bench.runner import QUICK, Selection, run

    if compare is not None:
        from iodetect.bench.analysis import agreement
        from iodetect.bench.render import render_agreement

        first, second = (load_results(path) for path in compare)
        found = agreement(first, second)
        render_agreement(found, compare[0], compare[1], output.console(soft_wrap=False))
        raise typer.Exit(0 if found.agree else EXIT_FAILED)
    if show is not None:
        saved = load_results(show)
        if json_out:
            output.echo(to_json(saved))
        else:
            render(saved, output.console(soft_wrap=False))
        return

    base = QUICK if quick else Selection()
    changes: dict[str, Any] = {"python": python, "seed": seed}
    for key, value in (
        ("loops", _names(loops)),
        ("selectors", _names(selectors)),
        ("styles", _names(styles)),
        ("workloads", _names(workloads)),
        ("duration", duration),
        ("windows", windows),
        ("rounds", rounds),
        ("placement", placement),
    ):
        if value is not None:
            changes[key] = value
    if budget is not None:
        changes["budget"] = None if budget == 0 else budget
    selection = dataclasses.replace(base, **changes)
    selection.validate()  # BenchError: exit 2
    if save == "":
        raise BenchError("--save: the file name is empty (use --save - for stdout)")

    # A signal (SIGINT, SIGTERM, SIGHUP) unwinds the run: every server is killed on the way.
    result = run_with_progress(run, selection, output.err_console())
    if save is not None:
        if save == "-":
            output.echo(to_json(result))
        else:
            from iodetect.files import write_text

            write_text(save, to_json(result) + "\n", "--save")
    if json_out:
        output.echo(to_json(result))
    else:
        render(result, output.console(soft_wrap=False))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
