"""`iodetect bench`: measure selectors, event loops and API styles on this host."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from iodetect.commands._common import EXIT_FAILED

if TYPE_CHECKING:
    from rich.console import Console

    from iodetect.bench import BenchRun
    from iodetect.bench.runner import Progress, Selection


def _names(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(x.strip() for x in value.split(",") if x.strip())


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        quick: bool = typer.Option(
            False, "--quick", help="About a minute: fewer workloads and rounds."
        ),
        loops: str = typer.Option(
            None,
            "--loops",
            help="Comma list from: selectors, asyncio, uvloop, rloop, winloop, threads.",
        ),
        selectors: str = typer.Option(
            None,
            "--selectors",
            help="Comma list from: select, poll, epoll, devpoll, kqueue, proactor (the standard "
            "loop on IOCP, Windows) (default: all present).",
        ),
        styles: str = typer.Option(
            None, "--styles", help="Comma list from: protocol, streams, sock."
        ),
        workloads: str = typer.Option(
            None,
            "--workloads",
            help="Comma list from: pingpong, concurrent, bulk, idle900, idle10000.",
        ),
        duration: float = typer.Option(None, "--duration", help="Seconds of each measured window."),
        windows: int = typer.Option(
            None, "--windows", help="Windows at full CPU speed wanted from each server process."
        ),
        rounds: int = typer.Option(
            None, "--rounds", help="Rounds; each runs every cell once in fresh processes."
        ),
        budget: float = typer.Option(
            None,
            "--budget",
            help="Seconds the whole run may take with top-up rounds (the cells not stable yet, "
            "measured again in fresh processes); 0: none.",
        ),
        seed: int = typer.Option(None, "--seed", help="Seed of the shuffled order."),
        placement: str = typer.Option(
            None,
            "--placement",
            help="same (default): server and load generator pinned to one CPU; split: two "
            "CPUs; free: the scheduler decides.",
        ),
        python: str = typer.Option(
            None, "--python", help="Interpreter command for servers and load generator."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
        save: str = typer.Option(
            None,
            "--save",
            help="Also write the JSON results to FILE (- for stdout), replacing it only once "
            "complete.",
        ),
        show: str = typer.Option(
            None, "--show", help="Show a saved run (a --json or --save FILE) instead of running."
        ),
        compare: tuple[str, str] = typer.Option(
            (None, None),
            "--compare",
            metavar="FIRST SECOND",
            help="Compare two saved runs: the medians of cells stable in both, and the "
            "conclusions. Exit 1 when a median moved by 10 % or more or a conclusion changed.",
        ),
    ) -> None:
        """Measure server CPU per request, req/s and latency of each variant on this host.

        Each cell (variant x workload) runs in a fresh server process with a separate load
        generator; rounds are shuffled; a winner is declared only beyond the spread.
        """
        import dataclasses

        from iodetect import output
        from iodetect.bench import load_results
        from iodetect.bench.render import render
        from iodetect.bench.results import BenchError, to_json
        from iodetect.bench.runner import QUICK, Selection, run

        if compare[0] is not None:
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
        changes: dict[str, object] = {"python": python, "seed": seed}
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
        result = _run_with_bar(run, selection, output.err_console())
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


def _run_with_bar(
    run_fn: Callable[[Selection, Progress | None], BenchRun], selection: Selection, err: Console
) -> BenchRun:
    """Run with a progress bar on a terminal, or a line per round on a plain stderr."""
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    if not err.is_terminal:
        last = [""]

        def lines(done: int, total: int, label: str) -> None:
            head = label.split(":", 1)[0]
            if head != last[0]:
                last[0] = head
                err.print(f"iodetect bench: {head} ({done}/{total} cells)", highlight=False)

        return run_fn(selection, lines)

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        return run_fn(selection, progress)
