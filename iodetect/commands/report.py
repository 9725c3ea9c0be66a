"""`iodetect report`: the host's facts, for people or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from iodetect.commands._common import fail


def report(
    json_out: bool = typer.Option(
        False, "--json", help="Print the facts as JSON (the public schema)."
    ),
    facts_file: Optional[Path] = typer.Option(
        None, "--facts", metavar="FILE", help="Render a saved report instead of probing."
    ),
    python: Optional[str] = typer.Option(
        None,
        "--python",
        metavar="CMD",
        help="Probe another interpreter: a command line that runs it, e.g. "
        "'python3.9', 'docker exec -i app python3', 'ssh web1 python3'. "
        "The probe is sent on its stdin; nothing needs installing there.",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=0.1, help="Deadline in seconds for the --python probe."
    ),
    needs: Optional[str] = typer.Option(
        None,
        "--needs",
        metavar="LIST",
        help="What the application needs, for the recommendation: add_reader, subprocess, "
        "signals, unix_sockets, pty (comma-separated).",
    ),
    connections: Optional[int] = typer.Option(
        None, "--connections", min=1, metavar="N", help="Concurrent connections to plan for."
    ),
    loop: str = typer.Option(
        "auto",
        "--loop",
        metavar="NAME",
        help="Preferred loop: auto, asyncio, selector, proactor, uvloop, winloop or rloop.",
    ),
    selector: Optional[str] = typer.Option(
        None, "--selector", metavar="NAME", help="Preferred selector: epoll, kqueue, ..."
    ),
    bench_file: Optional[Path] = typer.Option(
        None,
        "--bench",
        metavar="FILE",
        help="Recommend from a saved `iodetect bench --json` run: the measured-fastest stable "
        "loop wins; a tie goes to the standard loop.",
    ),
) -> None:
    """Show what I/O machinery this interpreter on this host has, and what it recommends."""
    from iodetect import model, probe, transport
    from iodetect import recommend as rec

    evidence = None
    if bench_file is not None:
        from iodetect.bench import BenchError, load_results
        from iodetect.bench import evidence as bench_evidence

        try:
            evidence = bench_evidence(load_results(str(bench_file)))
        except BenchError as exc:
            fail(str(exc))
    try:
        wanted = rec.Needs(rec.parse_needs(needs), connections, loop, selector)
        facts = probe.get_facts(
            str(facts_file) if facts_file is not None else None, python, timeout
        )
        plan = rec.recommend(facts, wanted, evidence) if facts.py >= rec.OLDEST else None
    except (rec.NeedsError, model.FactsError, transport.TargetError) as exc:
        fail(str(exc))
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
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.text import Text

    from iodetect import render
    from iodetect.render_plan import render_plan

    console = Console()
    console.print(render.facts_report(facts))
    console.print()
    if plan is None:
        console.print(Text("No recommendation: generated code needs CPython 3.8+", style="yellow"))
    else:
        console.print(render_plan(plan))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
