"""`iodetect fleet`: many targets' collected facts in one table, drift marked, rules verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from iodetect.commands._common import (
    ConnectionsOption,
    JsonOption,
    LoopOption,
    NeedsOption,
    RequireLoopOption,
    SelectorOption,
    StrictOption,
    fail,
)


def fleet(
    paths: List[Path] = typer.Argument(
        ...,
        metavar="FILES_OR_FOLDERS...",
        help="Collected facts: files (one per target) or folders of them, e.g. what Ansible "
        "fetched. A target is named by its file (web1.json -> web1), its host folder, or the "
        "`name` the document carries.",
        show_default=False,
    ),
    json_out: JsonOption = False,
    connections: ConnectionsOption = 300,
    require_loop: RequireLoopOption = None,
    needs: NeedsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    strict: StrictOption = False,
) -> None:
    """Read collected facts files and show every target in one table: the drift marked, a
    rules-only verdict each (no self-test can run on a file).

    Exit 0 when every target passes, 1 when one fails or its file cannot be read, 2 for a
    usage error (a path that does not exist, an unknown option value).
    """
    from iodetect import fleet as core
    from iodetect import recommend as rec
    from iodetect.fleet.collected import NoInput, collect

    try:
        options = core.Options(
            needs=rec.parse_needs(needs),
            connections=connections if connections is not None else 300,
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
