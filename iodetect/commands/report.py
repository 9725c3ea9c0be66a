"""`iodetect report`: the host's facts, for people or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from iodetect.commands._common import (
    BenchOption,
    FactsOption,
    LoopOption,
    NeedsOption,
    ProbeTimeoutOption,
    SelectorOption,
    bench_evidence,
    usage_errors,
)


def report(
    json_out: bool = typer.Option(
        False, "--json", help="Print the facts as JSON (the public schema)."
    ),
    facts_file: FactsOption = None,
    python: Optional[List[str]] = typer.Option(
        None,
        "--python",
        metavar="CMD",
        help="Another interpreter: a command line that runs it, e.g. 'python3.9', "
        "'docker exec -i app python3', 'ssh web1 python3'. Repeat it to report on several "
        "targets at once (one table, drift marked).",
    ),
    targets_file: Optional[Path] = typer.Option(
        None,
        "--targets",
        metavar="FILE",
        help="Report on every target in FILE, one command line a line, optionally named "
        "(`web1 = ssh web1 python3`); `#` starts a comment.",
    ),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", min=1, max=256, metavar="N", help="Targets probed at once (default 8)."
    ),
    timeout: ProbeTimeoutOption = 30.0,
    needs: NeedsOption = None,
    connections: Optional[int] = typer.Option(
        None, "--connections", min=1, metavar="N", help="Concurrent connections to plan for."
    ),
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    bench_file: BenchOption = None,
) -> None:
    """Show what I/O machinery this interpreter on this host has, and what it recommends.

    With several targets (--python repeated, --targets): one table, the drift marked, each
    target judged by the rules; exit 1 when one fails or cannot be reached.
    """
    from iodetect import model, output, probe
    from iodetect import recommend as rec

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
    evidence = bench_evidence(bench_file)
    with usage_errors():
        wanted = rec.Needs(rec.parse_needs(needs), connections, loop, selector)
        facts = probe.get_facts(
            str(facts_file) if facts_file is not None else None,
            python[0] if python else None,
            timeout,
        )
        plan = rec.recommend(facts, wanted, evidence) if facts.py >= rec.OLDEST else None
    if json_out:
        import json

        data = model.to_dict(facts)
        data["recommendation"] = rec.plan_dict(plan) if plan is not None else None
        if evidence is not None:
            data["bench"] = {
                "fastest_loop": evidence.fastest_loop,
                "summary": evidence.summary,
                "style_finding": evidence.style_finding,
            }
        output.echo(json.dumps(data, indent=2))
        return
    from rich.text import Text

    from iodetect import render
    from iodetect.render_plan import render_plan

    console = output.console()
    console.print(render.facts_report(facts))
    console.print()
    if plan is None:
        console.print(Text("No recommendation: generated code needs CPython 3.8+", style="yellow"))
    else:
        console.print(render_plan(plan))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
