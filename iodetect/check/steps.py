"""The steps of the check, in order: probe, limits and plan, setup, self-test (the serve step,
last, is in steps_serve).

Each takes the recorder and what the steps before it produced, and returns what the next one
needs (None when the check cannot go on); what it finds on the way is a finding. Each has its
deadline: the probe a share of the budget, the self-test what is left of it (half of it
when the serve step follows; that step has the rest).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iodetect.check.findings import Recorder
from iodetect.check.limits import judge_descriptors
from iodetect.check.options import SELECT_CEILING, Expectation, Options, needed_nofile
from iodetect.check.report import Report, parse_report
from iodetect.errors import UsageError
from iodetect.text import clean

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan
    from iodetect.transport import Outcome, TargetError


# --- probe -------------------------------------------------------------------------------------


def probe(rec: Recorder, options: Options) -> Facts | None:
    from iodetect import probe as probing
    from iodetect import transport

    # This interpreter too is probed in a child: the probe imports the installed loops, and a
    # hanging import must meet the deadline like everything else.
    command = [sys.executable] if options.python is None else options.python
    try:
        facts = probing.remote_facts(command, rec.deadline.share(0.5, 1.0, 15.0))
    except transport.TargetError as exc:
        if exc.cause == "deadline":
            code, remedy = (
                "probe.deadline",
                "raise --timeout if the target is slow to start; otherwise something on it "
                "blocks (an import of a broken loop package, a prompt for a password)",
            )
        elif exc.cause == "flood":
            code, remedy = (
                "probe.flood",
                "the target prints without end before answering (a login banner or profile "
                "that loops, a sitecustomize): make the --python command start Python quietly",
            )
        else:
            code, remedy = (
                "probe.target",
                "check that the --python command starts a Python 3.8+ interpreter that reads a "
                "program on stdin (e.g. `docker exec -i app python3`; note the -i)",
            )
        rec.add("probe", "fail", str(exc), remedy, code)
        return None
    iv = facts.interpreter
    where = f" ({iv.executable})" if iv.executable else ""
    rec.add("probe", "ok", f"{iv.implementation} {iv.release} on {facts.host.platform}{where}")
    for err in facts.errors:
        rec.add("probe", "warn", f"could not read {err.probe}: {err.error}", code="probe.partial")
    return facts


def target_view(facts: Facts) -> dict[str, Any]:
    """What the JSON says of the target: the interpreter and its limits, never its environment."""
    return {
        "python": facts.interpreter.release,
        "implementation": facts.interpreter.implementation,
        "executable": facts.interpreter.executable,
        "platform": facts.host.platform,
        "container": facts.host.container,
        "nofile_soft": facts.limits.nofile_soft,
        "nofile_hard": facts.limits.nofile_hard,
    }


# --- limits and the plan -----------------------------------------------------------------------


def plan(rec: Recorder, facts: Facts, options: Options) -> tuple[Plan, Expectation] | None:
    """The recommender's plan for these options; its descriptor conflicts are the limits step's
    findings (judge_descriptors), the others the recommend step's."""
    from iodetect import recommend

    loop = options.loop
    if options.require_loop and loop == "auto":
        loop = options.require_loop
    # The recommender adds its own headroom to connections; --min-nofile is folded in here.
    connections = max(options.connections, (options.min_nofile or 0) - recommend.HEADROOM)
    needs = recommend.Needs(
        needs=options.needs, connections=connections, loop=loop, selector=options.selector
    )
    try:
        made = recommend.recommend(facts, needs)
    except recommend.NeedsError as exc:
        raise UsageError(str(exc)) from None
    judged = rec.isolated("limits", lambda: judge_descriptors(rec, facts, options, made))
    covered = judged.covered if judged is not None else ()
    if options.require_loop and options.require_loop != "asyncio":
        _required_loop_present(rec, facts, options.require_loop)
    for conflict in made.conflicts:
        if conflict in covered:
            continue  # a finding of the limits step already, with the fuller remedy
        rec.add(
            "recommend",
            "fail",
            conflict.message,
            conflict.remedy,
            "nofile.plan"
            if conflict.code.startswith(("nofile.", "select."))
            else "recommend.conflict",
        )
    for note in made.reasons:
        if note.code.startswith("advisory."):
            rec.add("recommend", "ok", note.text, code="recommend.advisory")
    for note in made.warnings:
        rec.add("recommend", "warn", note.text, code="recommend.warning")
    expect = expectation(made, facts, options)
    rec.add(
        "recommend",
        "ok",
        f"plan: {made.loop_factory}"
        + (f" with {made.expect.selector_class}" if made.expect.selector_class else "")
        + (f" ({made.reasons[0].text})" if made.reasons else "")
        + ("; the soft descriptor limit is raised at start-up" if made.nofile else ""),
        code="recommend.plan",
    )
    return made, expect


def _required_loop_present(rec: Recorder, facts: Facts, name: str) -> None:
    lp = facts.loop(name)
    if lp is None:
        return  # a loop the probe does not know: the self-test will say what ran
    if lp.installed is None:
        rec.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} is not installed on the target",
            f"install it in the service's environment: `pip install {name}`"
            + (f" ({lp.support_note})" if lp.support_note else ""),
            "loop.missing",
        )
    elif not lp.importable:
        rec.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {lp.installed} is installed but does not import: "
            f"{lp.import_error or 'unknown error'}",
            f"reinstall a {name} built for this Python (`pip install --force-reinstall {name}`)"
            + (f"; {lp.support_note}" if lp.support_note else ""),
            "loop.broken",
        )
    elif not lp.supported:
        rec.add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {lp.installed} does not support this target"
            + (f" ({lp.support_note})" if lp.support_note else ""),
            f"upgrade {name} or choose another loop",
            "loop.unsupported",
        )


def expectation(plan: Plan, facts: Facts, opts: Options) -> Expectation:
    ceiling = facts.select_ceiling.limit if facts.select_ceiling else None
    if ceiling is None and not facts.windows:
        ceiling = SELECT_CEILING
    # Prove descriptors above the select() ceiling whenever the service may use them: it needs
    # more, or the setup raises the soft limit past the ceiling.
    reach = needed_nofile(opts)
    hard = facts.limits.nofile_hard
    if plan.nofile is not None:
        raised = plan.nofile.target if plan.nofile.target is not None else hard
        if raised is not None and raised < 0:
            raised = hard if hard is not None and hard > 0 else 1 << 20
        if raised is not None and hard is not None and hard > 0:
            raised = min(raised, hard)
        reach = max(reach, raised or 0)
    above = ceiling if ceiling is not None and reach > ceiling and not facts.windows else None
    return Expectation(
        plan.expect.loop_package,
        plan.expect.loop_class,
        plan.expect.selector_class,
        above,
        unix=not facts.windows,
    )


def plan_view(plan: Plan, expect: Expectation) -> dict[str, Any]:
    return {
        "loop": plan.loop,
        "loop_factory": plan.loop_factory,
        "loop_package": expect.loop,
        "loop_class": expect.loop_class,
        "selector_class": expect.selector_class,
        "nofile_target": plan.nofile.target if plan.nofile else None,
        "raise_nofile": plan.nofile is not None,
        "above_fd": expect.above_fd,
        "reasons": [n.text for n in plan.reasons],
    }


# --- the setup module --------------------------------------------------------------------------


def setup(rec: Recorder, plan: Plan, facts: Facts, options: Options) -> str | None:
    if options.setup_source is not None:
        name = clean(options.setup_name, 200)
        try:
            compile(options.setup_source, options.setup_name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            rec.add(
                "setup",
                "fail",
                f"{name} line {exc.lineno}: syntax error: {exc.msg}",
                "fix the module; the self-test runs it as the service would import it",
                "setup.syntax",
            )
            return None
        except ValueError as exc:  # e.g. null bytes in the source
            rec.add("setup", "fail", f"{name}: {exc}", code="setup.syntax")
            return None
        rec.add("setup", "ok", f"testing the application's {name}", code="setup")
        return options.setup_source
    from iodetect import snippet

    if plan.conflicts:
        rec.add(
            "setup",
            "fail",
            "no setup generated: the plan has conflicts (above); nothing to self-test",
            "resolve the conflicts, or test the application's own module with --snippet FILE",
            "setup.conflict",
        )
        return None
    source = snippet.render(plan, facts)
    rec.add("setup", "ok", "testing the generated loop_setup.py", code="setup")
    return source


# --- the self-test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerParams:
    """What the worker is sent: the setup source travels with it (the target sees no files)."""

    setup_source: str
    setup_name: str
    connections: int
    above_fd: int | None
    deadline: float  # the worker ends itself at this many seconds, before it is killed
    budget_tcp: float  # of which the many-connection test may take this much
    client_source: str

    @classmethod
    def make(
        cls, options: Options, source: str, above_fd: int | None, timeout: float
    ) -> WorkerParams:
        from iodetect import target

        # The worker ends itself (its watchdog fires a second after this) well before the
        # caller kills it: the rest is for starting the interpreter on a busy or remote host.
        deadline = max(1.0, timeout - 3.0)
        return cls(
            setup_source=source,
            setup_name=options.setup_name,
            connections=options.connections,
            above_fd=above_fd,
            deadline=deadline,
            # Most of the time goes to the many-connection test; the others take milliseconds
            # (each has 4 s at most).
            budget_tcp=max(2.0, deadline * 0.75),
            client_source=target.source("selftest_client"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "setup_source": self.setup_source,
            "setup_name": self.setup_name,
            "connections": self.connections,
            "above_fd": self.above_fd,
            "deadline": self.deadline,
            "budget_tcp": self.budget_tcp,
            "client_source": self.client_source,
        }


def run_worker(
    python: str | Sequence[str] | None, params: WorkerParams, timeout: float
) -> tuple[Report, Outcome]:
    """Run the worker on the target; TargetError (one line, with its cause) when it gives no
    report, ReportError when the report is not one."""
    from iodetect import target, transport

    program = target.program("selftest", params.to_json())
    outcome = transport.run_program(program, python, timeout, what="self-test")
    return parse_report(outcome.result), outcome


_TARGET_CODES = {
    "deadline": (
        "selftest.deadline",
        "raise --timeout if the target is slow to start; otherwise the setup or the loop hangs "
        "with the GIL held, or the worker was stopped: run the service's loop_setup.py by hand",
    ),
    "flood": (
        "selftest.flood",
        "the setup module or the loop prints without end: a logger in a loop, a debug print "
        "per event; make it quiet",
    ),
    "duplicate": (
        "selftest.forged",
        "something in the target printed a second result line of this run: the setup module "
        "must not write iodetect's protocol",
    ),
    "hang": (
        "selftest.hang",
        "the worker could not exit after its report: a non-daemon thread, a child process or "
        "an atexit handler of the setup keeps it alive, as it would keep the service from "
        "stopping",
    ),
    "exit": (
        "selftest.exit",
        "the worker's process ended badly (an atexit handler of the setup, a crash in the "
        "loop's library): run the service's loop_setup.py by hand to see it",
    ),
}


PROGRESS_AFTER = 1.0  # seconds before the first progress line, then every PROGRESS_EVERY
PROGRESS_EVERY = 2.0


def ticking(
    progress: Callable[[str], None] | None, what: str, timeout: float
) -> threading.Event | None:
    """Progress lines while a step runs longer than PROGRESS_AFTER; set the event to stop."""
    if progress is None:
        return None
    import time

    stop = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        wait = PROGRESS_AFTER
        while not stop.wait(wait):
            progress(f"{what}: still running, {time.monotonic() - start:.0f} s of {timeout:.0f}")
            wait = PROGRESS_EVERY

    threading.Thread(target=tick, daemon=True).start()
    return stop


def selftest(
    rec: Recorder,
    options: Options,
    source: str,
    expect: Expectation,
    progress: Callable[[str], None] | None = None,
) -> Report | None:
    """The live self-test: the worker's typed report, or None when it gave none. With
    `progress`, a line every few seconds once it has taken more than one."""
    from iodetect import transport
    from iodetect.check import steps_serve
    from iodetect.check.report import ReportError

    # What is left, or a share of it when the serve step follows and needs its own time.
    share = steps_serve.SELFTEST_SHARE if options.serve is not None else 1.0
    timeout = round(max(2.0, rec.deadline.remaining() * share), 1)
    params = WorkerParams.make(options, source, expect.above_fd, timeout)
    stop = ticking(progress, f"self-test of {options.connections} connections", timeout)
    try:
        report, outcome = run_worker(options.python, params, timeout)
    except ReportError as exc:
        rec.add("selftest", "fail", str(exc), None, "selftest.malformed")
        return None
    except transport.TargetError as exc:
        return _failed_worker(rec, exc)
    finally:
        if stop is not None:
            stop.set()
    _outcome_notes(rec, outcome)
    return report


def _failed_worker(rec: Recorder, exc: TargetError) -> Report | None:
    """A worker that did not end as it should: a finding; its report when it gave one."""
    from iodetect.check.report import ReportError

    code, remedy = _TARGET_CODES.get(exc.cause, ("selftest.target", ""))
    if exc.cause == "exit" and exc.result is None:
        code, remedy = "selftest.target", ""
    rec.add("selftest", "fail", str(exc), remedy or None, code)
    if exc.result is None:
        return None
    try:
        return parse_report(exc.result)
    except ReportError as bad:
        rec.add("selftest", "fail", str(bad), None, "selftest.malformed")
        return None


def _outcome_notes(rec: Recorder, outcome: Outcome) -> None:
    if outcome.impostors:
        rec.add(
            "selftest",
            "warn",
            f"{outcome.impostors} line(s) imitating iodetect's result were printed during the "
            "self-test and ignored (they lack this run's nonce)",
            "find what prints them: the setup module or a library it imports",
            "selftest.impostor",
        )
    if outcome.lingering:
        rec.add(
            "selftest",
            "warn",
            "a process started during the self-test left its process group and kept its output "
            "open after the worker exited; iodetect stopped waiting for it",
            "the setup module starts a daemon (a detached child) at import or in run(): it "
            "outlives the service's process too",
            "selftest.lingering",
        )
