"""`iodetect check`: the pre-deploy gate; exit 0 only when the host can carry the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from iodetect.commands._common import (
    CollectedOption,
    ConnectionsOption,
    FormatOption,
    JobsOption,
    JsonOption,
    LoopOption,
    NeedsOption,
    PythonsOption,
    RequireLoopOption,
    SelectorOption,
    TargetsOption,
    fail,
    note,
    output_format,
    seconds,
    usage_errors,
)

FORMATS = ("text", "json", "github")
FAIL_ON = ("warn", "fail")


def check(
    python: PythonsOption = None,
    targets_file: TargetsOption = None,
    facts_paths: CollectedOption = None,
    jobs: JobsOption = None,
    connections: ConnectionsOption = 300,
    min_nofile: Optional[int] = typer.Option(
        None,
        "--min-nofile",
        min=1,
        max=1 << 40,
        metavar="N",
        help="Fail unless the service can open at least N descriptors.",
    ),
    require_loop: RequireLoopOption = None,
    needs: NeedsOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    snippet_file: Optional[Path] = typer.Option(
        None,
        "--snippet",
        metavar="FILE",
        help="Test the application's own loop_setup.py instead of the generated one.",
    ),
    serve: Optional[str] = typer.Option(
        None,
        "--serve",
        metavar="CMD",
        help="Also start this launch command (e.g. 'uvicorn app:app --loop "
        "loop_setup:new_event_loop --host 127.0.0.1'), check that its workers run the planned "
        "loop, selector and descriptor limit, and stop it (Linux).",
    ),
    fail_on: str = typer.Option(
        "fail",
        "--fail-on",
        metavar="LEVEL",
        help="The lowest level that fails the check: fail (default) or warn.",
    ),
    ignore: Optional[List[str]] = typer.Option(
        None,
        "--ignore",
        metavar="CODE",
        help="Accept the warnings of this finding code (repeatable): they are still shown, "
        "marked ignored, and never fail; a failure cannot be ignored.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too: --fail-on warn."),
    json_out: JsonOption = False,
    fmt: FormatOption = "text",
    junit: Optional[str] = typer.Option(
        None,
        "--junit",
        metavar="FILE",
        help="Also write the findings as JUnit XML to FILE (GitLab, Jenkins, Azure Pipelines), "
        "replacing it only once complete.",
    ),
    timeout: float = typer.Option(
        30.0,
        "--timeout",
        min=1.0,
        metavar="SECONDS",
        callback=seconds,
        help="Deadline for the whole check (for each target, with several).",
    ),
) -> None:
    """Prove this host and interpreter can carry the service: rules plus a live socket self-test.

    Exit 0 when every finding is ok (warnings too, unless --fail-on warn), 1 when one failed,
    2 for a usage or input error or a target that cannot be reached. With several targets:
    0 every target passed, 1 one failed or could not be reached, 2 a usage or input error.
    --format: text, json or github (workflow annotations on stdout, the text on stderr).
    """
    from iodetect import check as core
    from iodetect import files, output, recommend
    from iodetect.check import codes
    from iodetect.check import render as view

    shown = output_format(fmt, json_out, FORMATS)
    if fail_on not in FAIL_ON:
        fail(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    accepted = frozenset(ignore or ())
    for code in sorted(accepted):
        known = codes.BY_NAME.get(code)
        if known is None:
            fail(f"--ignore: unknown finding code {code!r} (docs/ci.md lists them)")
        if "warn" not in known.levels:
            fail(f"--ignore {code}: this code is never a warning, and a failure cannot be ignored")
    if junit == "":
        fail("--junit: the file name is empty")
    with usage_errors():
        need_set = recommend.parse_needs(needs)
    single = python[0] if python else None
    source = None
    name = "loop_setup.py"
    if snippet_file is not None:
        source = files.read_source(str(snippet_file), "--snippet file")
        name = snippet_file.name or name
    options = core.Options(
        python=single,
        connections=connections if connections is not None else core.DEFAULT_CONNECTIONS,
        min_nofile=min_nofile,
        require_loop=require_loop,
        needs=need_set,
        loop=loop,
        selector=selector,
        setup_source=source,
        setup_name=name,
        timeout=timeout,
        strict=strict or fail_on == "warn",
        ignore=accepted,
        serve=serve,
    )
    if facts_paths:  # collected files: the rules alone, as `iodetect fleet` judges them
        from iodetect import fleet
        from iodetect.fleet import multi

        if python or targets_file is not None or snippet_file is not None or serve is not None:
            fail("--facts is judged by the rules: no --python, --targets, --snippet or --serve")
        if junit is not None or shown == "github":
            fail("--junit and --format github report one live target; with --facts use --json")
        collected = fleet.Options(
            needs=need_set,
            connections=options.connections,
            loop=loop,
            selector=selector,
            require_loop=require_loop,
            strict=options.strict,
        )
        raise typer.Exit(multi.collected(facts_paths, collected, shown == "json"))
    if targets_file is not None or len(python or ()) > 1:  # several targets: the fleet's table
        from iodetect.fleet import multi

        if junit is not None or shown == "github":
            fail("--junit and --format github report one target; with several use --json")
        if serve is not None:
            fail("--serve starts one launch command: give it with one target")
        raise typer.Exit(multi.check(options, python, targets_file, jobs, shown == "json"))
    progress = note if sys.stderr.isatty() else None
    result = core.run_check(options, progress=progress)
    if junit is not None:
        files.write_text(junit, view.junit_xml(result), "--junit")
    if shown == "json":
        import json

        output.echo(json.dumps(core.to_dict(result), indent=2))
    elif shown == "github":
        for line in view.github_lines(result):
            output.echo(line)
        view.show(result, output.err_console(highlight=False, soft_wrap=True))
    else:
        view.show(result, output.console(highlight=False, soft_wrap=True))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
