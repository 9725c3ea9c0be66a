"""`iodetect diff A B`: what differs between two environments that matters to the plan."""

from __future__ import annotations

from pathlib import Path

import typer

from iodetect.commands._common import (
    ConnectionsOption,
    JsonOption,
    LoopOption,
    NeedsOption,
    SelectorOption,
    fail,
)


def diff(
    a: Path = typer.Argument(
        ...,
        metavar="A",
        help="The reference: a saved facts or fleet document (e.g. CI's).",
        show_default=False,
    ),
    b: Path = typer.Argument(
        ...,
        metavar="B",
        help="Where the service runs: a facts or fleet document.",
        show_default=False,
    ),
    needs: NeedsOption = None,
    connections: ConnectionsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Compare two saved facts (or fleet) documents, e.g. the CI image and a production host:
    the facts that matter to the plan, and whether the recommended plan differs.

    With --connections, a limit lower on B fails only when it no longer covers them (plus 64
    headroom); without it, any drop fails. Exit 0 when B gets the same plan and no limit the
    plan needs is lower there, 1 when the plans differ or such a limit is lower on B, 2 for
    bad input.
    """
    from iodetect import recommend as rec
    from iodetect.fleet import comparison
    from iodetect.fleet.collected import CollectError, read_document
    from iodetect.text import clean

    docs = []
    for label, path in (("A", a), ("B", b)):
        try:
            docs.append(read_document(path))
        except CollectError as exc:
            fail(f"{label} ({clean(str(path))}): {exc}")
    try:
        wanted = rec.Needs(rec.parse_needs(needs), connections, loop, selector)
        result = comparison.compare(docs[0], docs[1], wanted, str(a), str(b))
    except (rec.NeedsError, comparison.ComparisonError) as exc:
        fail(str(exc))
    if json_out:
        import json

        typer.echo(json.dumps(comparison.to_dict(result), indent=2))
    else:
        from iodetect.fleet.render import show

        show(comparison.view(result))
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
