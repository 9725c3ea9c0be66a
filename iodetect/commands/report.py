"""`iodetect report`: the host's facts, for people or as JSON."""

from __future__ import annotations

from typing import Optional

import typer

from iodetect.commands._common import (
    BenchOption,
    FactsOption,
    LoopOption,
    NeedsOption,
    ProbeTimeoutOption,
    PythonOption,
    SelectorOption,
    bench_evidence,
    usage_errors,
)


def report(
    json_out: bool = typer.Option(
        False, "--json", help="Print the facts as JSON (the public schema)."
    ),
    facts_file: FactsOption = None,
    python: PythonOption = None,
    timeout: ProbeTimeoutOption = 30.0,
    needs: NeedsOption = None,
    connections: Optional[int] = typer.Option(
        None, "--connections", min=1, metavar="N", help="Concurrent connections to plan for."
    ),
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    bench_file: BenchOption = None,
) -> None:
    """Show what I/O machinery this interpreter on this host has, and what it recommends."""
    from iodetect import model, output, probe
    from iodetect import recommend as rec

    evidence = bench_evidence(bench_file)
    with usage_errors():
        wanted = rec.Needs(rec.parse_needs(needs), connections, loop, selector)
        facts = probe.get_facts(
            str(facts_file) if facts_file is not None else None, python, timeout
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
