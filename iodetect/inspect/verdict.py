"""Findings about an inspected process: what it runs against the plan, its limits, its load.

Pure: a function of what was read (snapshot, watch, task summary) and of the plan the same
recommender as `iodetect report` makes for the process's own interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iodetect import recommend
from iodetect.inspect.model import Finding, Inspection, Snapshot, Tasks, Watch
from iodetect.model import Limits, show_limit

if TYPE_CHECKING:
    from iodetect.recommend import Plan

NEAR = 0.90  # share of the soft limit in use that fails
WARN = 0.75
SELECT_CEILING = 1024  # FD_SETSIZE on Linux: select() raises ValueError at descriptor 1024
SATURATED = 0.90
BUSY = 0.60
MIN_SAMPLES = 20  # fewer loop-thread samples say nothing about its load

LOOP_REMEDY = {
    "uvloop": (
        "run the loop the plan names: `uvicorn --loop uvloop` (or `--loop "
        "loop_setup:new_event_loop` with the module `iodetect snippet` writes, uvicorn 0.36+), "
        "gunicorn's UvicornWorker (it picks uvloop when installed; UvicornH11Worker does not), "
        "or asyncio.run(main(), loop_factory=uvloop.new_event_loop) in code"
    ),
    "asyncio": (
        "run the standard loop: `uvicorn --loop asyncio`, or asyncio.run(main()) without a "
        "loop factory; or pass --loop to compare against the loop you mean to run"
    ),
}


@dataclass(frozen=True)
class Judgement:
    """What the verdict is asked to hold the process to."""

    connections: int | None = None  # connections it must hold (--connections)
    strict_plan: bool = False  # a mismatch with the plan fails (--serve, or --loop given)
    serve: bool = False


def _raised_to(plan: Plan) -> int:
    """The most the generated module raises the soft limit to, before the hard limit caps it."""
    from iodetect.catalog.limits import SANE_MAX

    nf = plan.nofile
    if nf is None:
        return 0
    return nf.target if nf.target is not None else max(nf.need or 0, SANE_MAX)


def plan_view(plan: Plan) -> dict[str, Any]:
    """The parts of a plan the comparison uses, as JSON data."""
    return {
        "loop": plan.loop,
        "loop_factory": plan.loop_factory,
        "loop_package": plan.expect.loop_package,
        "loop_class": plan.expect.loop_class,
        "selector": plan.selector,
        "selector_class": plan.expect.selector_class,
        "raise_nofile": plan.nofile is not None,
        "nofile_target": plan.nofile.target if plan.nofile else None,
        "reasons": [n.text for n in plan.reasons],
        "warnings": [n.text for n in plan.warnings],
        "conflicts": [c.message for c in plan.conflicts],
    }


def judge(ins: Inspection, plan: Plan | None, how: Judgement) -> list[Finding]:
    """Every finding about one inspected process."""
    snap = ins.snapshot
    out: list[Finding] = []

    def add(step: str, level: str, message: str, remedy: str | None, code: str) -> None:
        out.append(Finding(step, level, message, remedy, code, snap.pid))

    _interpreter(snap, add)
    _loop(snap, how, add)
    if plan is not None:
        _plan(snap, plan, how, add)
    elif ins.plan_error:
        add(
            "plan",
            "warn" if how.strict_plan else "ok",
            f"no plan to compare with: {ins.plan_error}",
            "pass --python with a command that runs the service's interpreter",
            "plan.unavailable",
        )
    _descriptors(snap, plan, how, add)
    if ins.tasks is not None:
        _tasks(ins.tasks, add)
    if ins.watch is not None:
        _watch(snap, ins.watch, add)
    for note in snap.notes:
        add("inspect", "warn", note, None, "inspect.partial")
    return out


Add = Any  # the add() closure of judge()


def _interpreter(snap: Snapshot, add: Add) -> None:
    it = snap.interpreter
    version = it.release or it.version or "(version unknown)"
    build = ", free-threaded build" if it.free_threaded else ""
    env = f", virtual environment {it.venv}" if it.venv else ""
    where = "" if snap.own_root and snap.own_mount_ns else f", in its own root {snap.root}"
    add(
        "interpreter",
        "ok",
        f"{it.implementation} {version}{build} ({it.executable}){env}{where}",
        None,
        "interpreter",
    )
    if it.replaced:
        add(
            "interpreter",
            "warn",
            f"the executable {it.executable} was deleted or replaced after the process started "
            "(an upgrade?): the process still runs the old one",
            "restart the service so that it runs the interpreter now installed",
            "interpreter.replaced",
        )


def _loop(snap: Snapshot, how: Judgement, add: Add) -> None:
    loop = snap.loop
    why = "; ".join(loop.evidence)
    if loop.model == "thread per connection":
        add(
            "loop",
            "ok",
            f"no event loop: a thread-per-connection server ({why})",
            None,
            "loop.threads",
        )
        return
    if loop.model == "none seen":
        add(
            "loop",
            "warn" if how.serve else "ok",
            f"no event loop seen ({why})",
            "inspect a worker process: a supervisor runs no loop" if how.serve else None,
            "loop.none",
        )
        return
    what = {"asyncio": "the standard asyncio loop", None: "an unrecognised loop"}.get(
        loop.running, loop.running
    )
    selector = f" with {loop.selector}" if loop.selector else ""
    add("loop", "ok", f"runs {what}{selector} on {loop.mechanism}: {why}", None, "loop")
    if loop.library and loop.running == "asyncio":
        add(
            "loop",
            "warn",
            f"{loop.library} is imported, but the loop that waits is the standard one",
            f"the service meant {loop.library} and fell back, or imports it without using it; "
            "check the server's loop option",
            "loop.unused",
        )


def _plan(snap: Snapshot, plan: Plan, how: Judgement, add: Add) -> None:
    loop = snap.loop
    level = "fail" if how.strict_plan else "warn"
    expected = plan.expect.loop_package
    head = f"plan: {plan.loop_factory}" + (
        f" with {plan.expect.selector_class}" if plan.expect.selector_class else ""
    )
    reason = f" ({plan.reasons[0].text})" if plan.reasons else ""
    for conflict in plan.conflicts:
        if "descriptor" in conflict.message:
            continue  # the descriptor findings below say it with the process's own figures
        add("plan", "fail", conflict.message, conflict.remedy, "plan.conflict")
    if loop.running is None:
        add(
            "plan",
            level if how.serve else "ok",
            f"{head}; the process runs no loop iodetect recognises, so nothing to compare",
            None,
            "plan.loop",
        )
        return
    problems = []
    if loop.running != expected:
        ran = "the standard loop" if loop.running == "asyncio" else loop.running
        problems.append(f"it runs {ran}")
        add(
            "plan",
            level,
            f"{head}{reason}, but {problems[-1]}",
            LOOP_REMEDY.get(expected, LOOP_REMEDY["asyncio"]),
            "plan.loop",
        )
    elif plan.expect.selector_class and loop.selector not in (None, plan.expect.selector_class):
        problems.append(f"its selector is {loop.selector}")
        add(
            "plan",
            level,
            f"{head}, but the loop waits in {loop.call} ({loop.selector})",
            f"build the loop on the plan's selector: asyncio.SelectorEventLoop("
            f"selectors.{plan.expect.selector_class}()), or let DefaultSelector choose",
            "plan.selector",
        )
    if not problems:
        add("plan", "ok", f"{head}: the process runs it{reason}", None, "plan.loop")


def _descriptors(snap: Snapshot, plan: Plan | None, how: Judgement, add: Add) -> None:
    d = snap.descriptors
    soft, hard = snap.limits.nofile_soft, snap.limits.nofile_hard
    kinds = ", ".join(f"{n} {k}" for k, n in list(d.by_kind.items())[:8])
    more = "at least " if d.truncated else ""
    listening = f"; listening on {', '.join(d.listening[:6])}" if d.listening else ""
    add(
        "descriptors",
        "ok",
        f"{more}{d.open} open (soft limit {show_limit(soft)}, hard {show_limit(hard)}): {kinds}"
        f"{listening}; {d.established} established TCP connection(s)",
        None,
        "descriptors",
    )
    if soft is not None and soft > 0:
        share = d.open / soft
        if share >= WARN:
            add(
                "descriptors",
                "fail" if share >= NEAR else "warn",
                f"{d.open} of {soft} descriptors in use ({share:.0%} of the soft limit): new "
                "connections fail with EMFILE (Too many open files) when it is reached",
                recommend.soft_remedy(recommend.suggest_nofile(max(soft * 4, d.open * 2)), hard),
                "nofile.near",
            )
    if how.connections is not None:
        # The recommender's rule, as check and fleet apply it; a running process whose soft
        # limit is short has not raised it, so that fails here too.
        need = how.connections + recommend.HEADROOM
        verdict = recommend.assess_nofile(Limits(soft, hard), "linux", need)
        if verdict.fails:
            add(
                "descriptors",
                "fail",
                f"hard limit {hard} is below the {need} descriptors {how.connections} "
                "connections need: the process cannot raise it itself",
                recommend.nofile_remedy(verdict.code, recommend.suggest_nofile(need)),
                "nofile.hard",
            )
        elif verdict.code == "nofile.raisable" or (
            hard is None and soft is not None and 0 <= soft < need
        ):
            add(
                "descriptors",
                "fail",
                f"soft limit {soft} is below the {need} descriptors {how.connections} "
                f"connections need (the hard limit {show_limit(hard)} would allow it)",
                recommend.nofile_remedy(verdict.code, recommend.suggest_nofile(need)),
                "nofile.need",
            )
        else:
            add(
                "descriptors",
                "ok",
                f"soft limit {show_limit(soft)} covers the {need} descriptors {how.connections} "
                "connections need",
                None,
                "nofile.need",
            )
    elif (
        plan is not None
        and plan.nofile is not None
        and soft is not None
        and hard is not None
        and soft >= 0
        and (hard < 0 or soft < hard)
        and soft < _raised_to(plan)
    ):
        add(
            "descriptors",
            "warn",
            f"the plan raises the soft descriptor limit to the hard limit at start-up; this "
            f"process runs with soft {soft} (hard {show_limit(hard)})",
            recommend.nofile_remedy(
                "nofile.raisable", hard if hard > 0 else recommend.suggest_nofile(soft * 4)
            ),
            "nofile.raise",
        )
    if snap.loop.mechanism == "select":
        if d.highest is not None and d.highest >= SELECT_CEILING:
            add(
                "descriptors",
                "fail",
                f"a select() loop with descriptor {d.highest} open: select() raises ValueError "
                f"for descriptors at or above {SELECT_CEILING}",
                "use epoll: asyncio's default selector (selectors.DefaultSelector) or uvloop",
                "select.ceiling",
            )
        elif soft is None or soft < 0 or soft > SELECT_CEILING:
            add(
                "descriptors",
                "warn",
                f"a select() loop whose soft limit ({show_limit(soft)}) lets it open "
                f"descriptors at or above {SELECT_CEILING}, where select() raises ValueError",
                "use epoll: asyncio's default selector (selectors.DefaultSelector) or uvloop",
                "select.ceiling",
            )


def _tasks(tasks: Tasks, add: Add) -> None:
    if not tasks.available:
        add("tasks", "ok", f"task summary unavailable: {tasks.reason}", None, "tasks")
        return
    top = "; ".join(f"{stack} x{n}" for stack, n in tasks.top[:3])
    add(
        "tasks",
        "ok",
        f"{tasks.count} asyncio task(s) in {tasks.threads} thread(s) (python -m asyncio ps)"
        + (f"; most common: {top}" if top else ""),
        None,
        "tasks",
    )


def _watch(snap: Snapshot, w: Watch, add: Add) -> None:
    if w.exited_at is not None:
        add(
            "watch",
            "fail",
            f"the process exited {w.exited_at:.1f} s into the watch; the figures cover the time "
            "before",
            "read the service's log for why it stopped",
            "process.exited",
        )
    if w.loop_busy is not None and w.samples >= MIN_SAMPLES:
        cpu = f", {w.loop_cpu:.0%} of a CPU" if w.loop_cpu is not None else ""
        text = (
            f"loop thread {w.loop_thread} was busy (outside its wait call) in "
            f"{w.loop_busy:.0%} of {w.samples} samples{cpu}"
        )
        if w.loop_busy >= SATURATED:
            add(
                "watch",
                "fail",
                text + ": the loop is saturated, so every connection waits for it",
                "move CPU-bound work off the loop thread (run_in_executor with a "
                "ProcessPoolExecutor), or run more worker processes; a faster loop (uvloop) "
                "speeds up only the I/O part",
                "loop.saturated",
            )
        elif w.loop_busy >= BUSY:
            add(
                "watch",
                "warn",
                text + ": close to saturation",
                "profile the callbacks that run long (python -X dev warns about slow ones "
                "with asyncio debug mode), or spread the load over more workers",
                "loop.busy",
            )
        else:
            add("watch", "ok", text, None, "loop.busy")
    elif w.loop_thread is None and w.samples == 0 and w.exited_at is None:
        add("watch", "ok", "no loop thread to sample", None, "loop.busy")
    soft = snap.limits.nofile_soft
    if w.peak_fds is not None:
        share = w.peak_fds / soft if soft and soft > 0 else 0.0
        level = "fail" if share >= NEAR else "warn" if share >= WARN else "ok"
        add(
            "watch",
            level,
            f"highest descriptor count seen: {w.peak_fds} of soft limit {show_limit(soft)}"
            + (f" ({share:.0%})" if soft and soft > 0 else "")
            + (
                f"; highest established TCP connections: {w.peak_established}"
                if w.peak_established is not None
                else ""
            ),
            recommend.soft_remedy(
                recommend.suggest_nofile(max((soft or 1024) * 4, w.peak_fds * 2)),
                snap.limits.nofile_hard,
            )
            if level != "ok"
            else None,
            "nofile.peak",
        )
    if w.fd_growth is not None:
        last = next((p.fds for p in reversed(w.points) if p.fds is not None), None)
        eta = ""
        if soft and soft > 0 and last is not None and w.fd_growth > 0:
            minutes = (soft - last) / w.fd_growth
            eta = f"; at this rate the soft limit is reached in about {max(minutes, 0):.0f} min"
        add(
            "watch",
            "warn",
            f"descriptors grew steadily by {w.fd_growth:.0f} per minute and never fell back: "
            f"it looks like a leak{eta}",
            "look for sockets, files or subprocess pipes that are opened per request and never "
            "closed (python -X dev shows ResourceWarnings for them)",
            "nofile.growth",
        )
    if w.established_growth is not None:
        add(
            "watch",
            "warn",
            f"established connections grew steadily by {w.established_growth:.0f} per minute",
            "if the load did not grow, connections are kept open: check keep-alive timeouts "
            "and that clients' connections are closed",
            "connections.growth",
        )
