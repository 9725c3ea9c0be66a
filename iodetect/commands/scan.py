"""`iodetect scan`: the event-loop code that breaks on the target CPython, before it runs."""

from __future__ import annotations

from typing import List, Optional

import typer

from iodetect import output
from iodetect.commands._common import (
    FormatOption,
    JsonOption,
    PythonOption,
    fail,
    note,
    output_format,
)

FORMATS = ("text", "json", "github")


def scan(
    paths: Optional[List[str]] = typer.Argument(
        None,
        metavar="[PATHS]...",
        help="Files and folders of the project (default: the current folder, unless --deps).",
        show_default=False,
    ),
    deps: bool = typer.Option(
        False,
        "--deps",
        help="Scan the installed distributions of the target interpreter too (--python).",
    ),
    deps_tests: bool = typer.Option(
        False, "--deps-tests", help="With --deps, scan the distributions' own test folders too."
    ),
    python: PythonOption = None,
    target_python: Optional[str] = typer.Option(
        None,
        "--target-python",
        metavar="VERSIONS",
        help="Judge for these CPython versions: 3.14, 3.11.7, 3.10-3.15, 3.12+ or a list "
        "(default: the target interpreter's own version).",
    ),
    json_out: JsonOption = False,
    fmt: FormatOption = "text",
    fail_on: str = typer.Option(
        "raise",
        "--fail-on",
        metavar="LEVEL",
        help="Exit 1 on: raise (a use that raises or is removed on a target version), warn "
        "(also one that warns), possible (also one that may break, depending on its callers), "
        "never.",
    ),
    max_fds: Optional[int] = typer.Option(
        None,
        "--max-fds",
        min=1,
        metavar="N",
        help="The most descriptors the service holds (decides select()'s verdict; default: the "
        "target's hard limit, which `iodetect snippet` raises the soft limit to).",
    ),
    exclude: Optional[List[str]] = typer.Option(
        None, "--exclude", metavar="GLOB", help="Leave out matching files and folders (repeatable)."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also list the uses that are fine and the skipped files."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, metavar="SECONDS", help="Deadline for the whole scan."
    ),
    max_file_size: int = typer.Option(
        4 << 20, "--max-file-size", min=1024, metavar="BYTES", help="Skip larger files (say so)."
    ),
) -> None:
    """Find the event-loop code that breaks on the target CPython, in the project and its
    dependencies, by parsing it (nothing is imported or run).

    Exit 0 when nothing fails the --fail-on level, 1 when something does (or the scan could not
    finish), 2 for a usage or input error.
    """
    from iodetect import scan as core

    fmt = output_format(fmt, json_out, FORMATS)
    if fail_on not in core.FAIL_LEVELS:
        fail(f"--fail-on must be one of {', '.join(core.FAIL_LEVELS)}, not {fail_on!r}")
    chosen = tuple(paths or ()) or (() if deps else (".",))
    opts = core.Options(
        paths=chosen,
        deps=deps,
        python=python,
        targets=target_python,
        fail_on=fail_on,
        max_fds=max_fds,
        timeout=timeout,
        exclude=tuple(exclude or ()),
        max_file_bytes=max_file_size,
        deps_tests=deps_tests,
    )
    try:
        result = core.scan(opts)
    except (core.ScanError, core.TargetError, core.ReportError) as exc:
        fail(str(exc))
    if fmt == "json":
        import json

        from iodetect.scan.report import to_dict

        output.echo(json.dumps(to_dict(result), indent=2))
    elif fmt == "github":
        from iodetect.scan.render import github_lines, summary_lines

        for line in github_lines(result):
            output.echo(line)
        for text, _ in summary_lines(result, 100):
            note(text)
    else:
        from iodetect.scan.render import show

        show(result, output.console(highlight=False, soft_wrap=True), verbose)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
