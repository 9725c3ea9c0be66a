"""`iodetect fleet`: many targets' collected facts in one table, drift marked, rules verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from iodetect.commands._common import LoopOption, NeedsOption, SelectorOption, fail

LOOP_NAMES = ("asyncio", "uvloop", "winloop", "rloop")


def fleet(
    paths: List[Path] = typer.Argument(
        ...,
        metavar="FILES_OR_FOLDERS...",
        help="Collected facts: files (one per target) or folders of them, e.g. what Ansible "
        "fetched. A target is named by its file (web1.json -> web1), its host folder, or the "
        "`name` the document carries.",
        show_default=False,
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the fleet document (kind iodetect.fleet) as JSON."
    ),
    connections: int = typer.Option(
        300,
        "--connections",
        min=1,
        max=1_000_000,
        metavar="N",
        help="Concurrent connections each target must hold: its descriptor limits must allow "
        "them (plus 64 headroom).",
    ),
    require_loop: Optional[str] = typer.Option(
        None,
        "--require-loop",
        metavar="NAME",
        help=f"Fail a target where this loop cannot run: {', '.join(LOOP_NAMES)}.",
    ),
    needs: NeedsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    strict: bool = typer.Option(False, "--strict", help="Warnings fail a target too."),
) -> None:
    """Read collected facts files and show every target in one table: the drift marked, a
    rules-only verdict each (no self-test can run on a file).

    Exit 0 when every target passes, 1 when one fails or its file cannot be read, 2 for a
    usage error (a path that does not exist, an unknown option value).
    """
    from iodetect import fleet as core
    from iodetect import model
    from iodetect import recommend as rec
    from iodetect.fleet.collected import NoInput, collect

    if require_loop is not None and require_loop not in LOOP_NAMES:
        fail(f"--require-loop must be one of {', '.join(LOOP_NAMES)}, not {require_loop!r}")
    if loop not in rec.LOOP_CHOICES:
        fail(f"unknown loop {loop!r} (choose from {', '.join(rec.LOOP_CHOICES)})")
    if selector is not None and selector not in model.SELECTOR_NAMES:
        fail(f"unknown selector {selector!r} (choose from {', '.join(model.SELECTOR_NAMES)})")
    try:
        options = core.Options(
            needs=rec.parse_needs(needs),
            connections=connections,
            loop=loop,
            selector=selector,
            require_loop=require_loop,
            strict=strict,
            check="rules",
        )
        result = core.build(collect(paths), options)
    except (NoInput, rec.NeedsError) as exc:
        fail(str(exc))
    if json_out:
        import json

        typer.echo(json.dumps(core.to_dict(result), indent=2))
    else:
        from iodetect.fleet.render import fleet_view, show

        show(fleet_view(result))
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("fleet")(fleet)
