"""`iodetect inspect`: what a running service really uses, seen from outside (Linux)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from iodetect import output
from iodetect.commands._common import (
    EXIT_OK,
    ConnectionsOption,
    JsonOption,
    LoopOption,
    NeedsOption,
    PythonOption,
    SelectorOption,
    StrictOption,
    fail,
    note,
)
from iodetect.text import clean


def inspect(
    pid: Optional[int] = typer.Argument(
        None, metavar="[PID]", min=1, help="The process to inspect."
    ),
    port: Optional[int] = typer.Option(
        None,
        "--port",
        min=1,
        max=65535,
        metavar="N",
        help="Inspect the processes listening on this TCP port (with --serve: the port to wait "
        "for).",
    ),
    match: Optional[str] = typer.Option(
        None,
        "--match",
        metavar="TEXT",
        help="Inspect the processes whose command line contains TEXT.",
    ),
    serve: Optional[str] = typer.Option(
        None,
        "--serve",
        metavar="CMD",
        help="Start this launch command (e.g. 'uvicorn app:app --workers 2 --host 127.0.0.1'), "
        "inspect every worker, compare with the plan, stop everything; exit 1 on a mismatch.",
    ),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        min=1,
        max=1024,
        metavar="N",
        help="With --serve: wait until N workers serve (default: until the set is stable).",
    ),
    watch: Optional[float] = typer.Option(
        None,
        "--watch",
        min=0.5,
        max=86400,
        metavar="SECONDS",
        help="Sample for this long: loop-thread load, CPU, descriptors and connections over "
        "time, peaks against the limit, growth that looks like a leak.",
    ),
    interval: float = typer.Option(
        0.1, "--interval", min=0.01, max=10, metavar="SECONDS", help="--watch sampling period."
    ),
    python: PythonOption = None,
    loop: LoopOption = "auto",
    selector: SelectorOption = None,
    needs: NeedsOption = None,
    connections: ConnectionsOption = None,
    no_plan: bool = typer.Option(
        False,
        "--no-plan",
        help="Do not run the process's interpreter for the plan (and `asyncio ps`).",
    ),
    strict: StrictOption = False,
    json_out: JsonOption = False,
    timeout: float = typer.Option(
        30.0,
        "--timeout",
        min=1.0,
        max=3600,
        metavar="SECONDS",
        help="Deadline for everything but --watch (with --serve: for the workers to be ready).",
    ),
) -> None:
    """Inspect a running Python service from outside: interpreter, event loop, the mechanism
    each thread waits in, descriptors against the limits, and the verdict of the plan.

    Linux only; nothing is installed in the process. Exit 0 when no finding fails, 1 when one
    does, 2 for a usage error or a process that cannot be inspected.
    """
    if not sys.platform.startswith("linux"):
        fail(f"inspect reads /proc and works on Linux only (this is {sys.platform})")
    chosen = [n for n, v in (("PID", pid), ("--port", port), ("--match", match)) if v]
    if serve is not None:
        chosen = [n for n in chosen if n != "--port"]  # --port names the port to wait for
        if chosen:
            fail(f"--serve starts its own processes: drop {chosen[0]}")
    elif len(chosen) != 1:
        fail(
            "name one process: a PID, --port N, --match TEXT, or --serve CMD"
            if not chosen
            else f"{chosen[0]} and {chosen[1]} cannot be used together"
        )
    if workers is not None and serve is None:
        fail("--workers applies to --serve")
    from iodetect import recommend
    from iodetect.inspect import inspector
    from iodetect.inspect.render import Progress

    try:
        need_set = recommend.parse_needs(needs)
    except recommend.NeedsError as exc:
        fail(str(exc))
    options = inspector.Options(
        watch=watch,
        interval=interval,
        timeout=timeout,
        python=python,
        plan=not no_plan,
        tasks=not no_plan,
        loop=loop,
        selector=selector,
        needs=need_set,
        connections=connections,
        strict=strict,
    )
    progress = Progress(watch is not None)
    try:  # an InspectError or a signal ends the command in iodetect.cli, with its exit code
        if serve is not None:
            from iodetect.inspect import serve as serving

            report = serving.serve(serve, options, port, workers, progress)
        else:
            pids = _pids(pid, port, match)
            report = inspector.inspect(pids, options, progress)
    finally:
        progress.done()
    if json_out:
        import json

        from iodetect.inspect.model import to_dict

        output.echo(json.dumps(to_dict(report), indent=2))
    else:
        from iodetect.inspect.render import show

        # No emoji codes: ":warning:" in a command line is text, not a picture.
        show(report, output.console(highlight=False, soft_wrap=True, emoji=False))
    if report.exit_code != EXIT_OK:
        raise typer.Exit(report.exit_code)


def _pids(pid: int | None, port: int | None, match: str | None) -> list[int]:
    from iodetect.inspect import targets

    if pid is not None:
        return [pid]
    found = targets.by_port(port) if port is not None else targets.by_match(match or "")
    for line in found.notes:
        note(f"iodetect: {line}")
    if not found.pids:
        pattern = clean(match or "", 200, controls="escape")
        what = f"TCP port {port}" if port is not None else f"--match {pattern!r}"
        fail(f"no process to inspect for {what}")
    return list(found.pids)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
