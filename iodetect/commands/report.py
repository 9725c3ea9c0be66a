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
) -> None:
    """Show what I/O machinery this interpreter on this host has, and what it recommends."""
    if json_out and facts_file is None and python is None:
        # This interpreter's probe already speaks the schema: no model round trip needed.
        import json

        from iodetect.target import probe as local_probe

        typer.echo(json.dumps(local_probe.gather(), indent=2))
        return
    from iodetect import model, probe, transport

    try:
        facts = probe.get_facts(
            str(facts_file) if facts_file is not None else None, python, timeout
        )
    except (model.FactsError, transport.TargetError) as exc:
        fail(str(exc))
    if json_out:
        typer.echo(model.to_json(facts))
        return
    from rich.console import Console

    from iodetect import render

    Console().print(render.facts_report(facts))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
