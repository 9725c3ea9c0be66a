"""Putting an inspection together: snapshot, the plan for the process's interpreter, tasks, watch.

Each process is inspected on its own: one that exits, hides its details or is not Python is
one line in `skipped`, and the others go on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iodetect.errors import InspectError
from iodetect.inspect import procfs, runner, snapshot, verdict
from iodetect.inspect import watch as watching
from iodetect.inspect.model import Finding, Inspection, Report, Snapshot
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Options:
    """What to inspect for, and the needs the plan is made for."""

    watch: float | None = None  # seconds of --watch
    interval: float = 0.1
    timeout: float = DEFAULT_TIMEOUT  # for everything but the watch itself
    python: str | Sequence[str] | None = None  # how to run the interpreter, instead of its own
    plan: bool = True  # run the interpreter for the facts the plan needs
    tasks: bool = True  # `python -m asyncio ps` on 3.14+
    loop: str = "auto"
    selector: str | None = None
    needs: frozenset[str] = frozenset()
    connections: int | None = None
    strict: bool = False
    serve: bool = False

    @property
    def judgement(self) -> verdict.Judgement:
        return verdict.Judgement(
            connections=self.connections,
            strict_plan=self.serve or self.loop != "auto" or self.selector is not None,
            serve=self.serve,
        )


class _Facts:
    """Facts per interpreter command: the workers of one service share one probe."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, ...], Facts | str] = {}

    def get(self, argv: tuple[str, ...], timeout: float) -> Facts | str:
        if argv not in self.cache:
            from iodetect import probe, transport
            from iodetect.model import FactsError

            try:
                self.cache[argv] = probe.get_facts(python=list(argv), timeout=timeout)
            except (transport.TargetError, FactsError) as exc:
                self.cache[argv] = clean(str(exc), 300, controls="escape")
        return self.cache[argv]


def plan_for(
    snap: Snapshot, options: Options, timeout: float, facts_cache: _Facts | None = None
) -> tuple[Plan | None, str | None, str | None]:
    """(the plan, the interpreter's exact release, why there is no plan)."""
    from iodetect import recommend

    cmd = runner.interpreter_command(snap, options.python)
    if cmd.argv is None:
        return None, None, cmd.reason
    got = (facts_cache or _Facts()).get(cmd.argv, timeout)
    if isinstance(got, str):
        return None, None, f"its interpreter did not answer the probe: {got}"
    facts = got
    # The probe ran in a new process: the limits that count are the service's own.
    observed = snap.limits
    facts = dataclasses.replace(
        facts,
        limits=dataclasses.replace(
            facts.limits,
            nofile_soft=observed.nofile_soft,
            nofile_hard=observed.nofile_hard,
            open_fds=snap.descriptors.open,
        ),
    )
    needs = recommend.Needs(
        needs=options.needs,
        connections=options.connections,
        loop=options.loop,
        selector=options.selector,
    )
    try:
        plan = recommend.recommend(facts, needs)
    except recommend.NeedsError as exc:
        return None, facts.interpreter.release, str(exc)
    return plan, facts.interpreter.release, None


def inspect_pids(
    pids: Sequence[int],
    options: Options,
    roles: dict[int, str] | None = None,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    deadline: procfs.Deadline | None = None,
) -> tuple[list[Inspection], list[Finding], list[str], list[InspectError]]:
    """Inspect each PID: (inspections, findings, one line per PID skipped, the errors).

    `deadline` bounds the work when a caller has spent part of --timeout already (--serve);
    without it the inspection has the whole --timeout."""
    say = progress or (lambda _m: None)
    deadline = deadline or procfs.Deadline(options.timeout)
    snaps: list[Snapshot] = []
    skipped: list[str] = []
    errors: list[InspectError] = []
    for pid in pids:
        if deadline.passed():
            skipped.append(f"process {pid}: not inspected, the --timeout ran out")
            continue
        say(f"reading process {pid}")
        try:
            snaps.append(snapshot.take(pid, deadline))
        except InspectError as exc:
            skipped.append(str(exc))
            errors.append(exc)
    facts_cache = _Facts()
    plans: dict[int, tuple[Plan | None, str | None]] = {}
    inspections: dict[int, Inspection] = {}
    for snap in snaps:
        plan = release = error = None
        if options.plan:
            say(f"probing the interpreter of process {snap.pid}")
            budget = max(2.0, min(20.0, deadline.left()))
            plan, release, error = plan_for(snap, options, budget, facts_cache)
        if release:
            interp = dataclasses.replace(snap.interpreter, release=release)
            snap = dataclasses.replace(snap, interpreter=interp)
        tasks = None
        if options.tasks:
            budget = max(2.0, min(10.0, deadline.left()))
            tasks = runner.tasks(snap, budget)
        plans[snap.pid] = (plan, error)
        inspections[snap.pid] = Inspection(
            snapshot=snap,
            role=(roles or {}).get(snap.pid, "process"),
            plan=verdict.plan_view(plan) if plan is not None else None,
            plan_error=error,
            tasks=tasks,
        )
    if options.watch and inspections:
        watched = watching.watch(
            [i.snapshot for i in inspections.values()],
            options.watch,
            options.interval,
            progress=progress,
            should_stop=should_stop,
        )
        for pid, w in watched.items():
            inspections[pid] = dataclasses.replace(inspections[pid], watch=w)
    findings: list[Finding] = []
    for pid, ins in inspections.items():
        findings += verdict.judge(ins, plans[pid][0], options.judgement)
    return list(inspections.values()), findings, skipped, errors


def inspect(
    pids: Sequence[int],
    options: Options,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Inspect processes; raises the first InspectError when not one could be inspected."""
    start = time.monotonic()
    inspections, findings, skipped, errors = inspect_pids(pids, options, progress=progress)
    if not inspections and errors:
        raise errors[0]
    return Report(
        tuple(inspections),
        tuple(findings),
        time.monotonic() - start,
        options.strict,
        skipped=tuple(skipped),
    )
