"""`iodetect report`: the host's facts, for people or as JSON."""

from __future__ import annotations

import typer

from iodetect.commands._common import (
    BenchOption,
    CollectedOption,
    ConnectionsOption,
    JobsOption,
    JsonOption,
    LoopOption,
    NeedsOption,
    ProbeTimeoutOption,
    PythonsOption,
    SelectorOption,
    TargetsOption,
    usage_errors,
)


def report(
    json_out: JsonOption = False,
    facts_paths: CollectedOption = None,
    python: PythonsOption = None,
    targets_file: TargetsOption = None,
    jobs: JobsOption = None,
    timeout: ProbeTimeoutOption = 30.0,
    needs: NeedsOption = None,
    connections: ConnectionsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    bench_file: BenchOption = None,
) -> None:
    """Show what I/O machinery this interpreter on this host has, and what it recommends.

    With several targets (--python repeated, --targets): one table, the drift marked, each
    target judged by the rules; exit 1 when one fails or cannot be reached.
    """
    from iodetect import recommend as rec

    facts_file = facts_paths[0] if facts_paths else None
    if targets_file is not None or len(python or ()) > 1:  # several targets: the fleet's table
        from iodetect.fleet import multi

        raise typer.Exit(
            multi.report(
                python,
                targets_file,
                jobs,
                timeout,
                json_out,
                needs=needs,
                connections=connections,
                loop=loop,
                selector=selector,
                facts_file=facts_file,
                bench_file=bench_file,
            )
        )
    if facts_paths and (len(facts_paths) > 1 or facts_paths[0].is_dir()):  # collected files
        from iodetect import fleet
        from iodetect.fleet import multi

        with usage_errors():
            need_names = rec.parse_needs(needs)
        collected = fleet.Options(
            needs=frozenset(need_names), connections=connections, loop=loop, selector=selector
        )
        raise typer.Exit(multi.collected(facts_paths, collected, json_out))
    from iodetect.commands import quick

    quick.report_one(
        json_out,
        facts_file,
        python[0] if python else None,
        timeout,
        needs,
        connections,
        loop,
        selector,
        bench_file,
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
