"""The check from start to end: probe, limits and plan, setup, self-test, judge, serve.

A deploy gate must not crash where it should report: every step runs isolated, and whatever
goes wrong in it (a missing interpreter, a setup module that raises, a worker that hangs)
becomes a finding with a level, a message and a remedy, like the doctor commands people know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from iodetect.check import declared as declared_choice
from iodetect.check import steps, steps_serve
from iodetect.check.findings import Deadline, Recorder
from iodetect.check.judge import judge
from iodetect.check.options import DEFAULT_CONNECTIONS, DEFAULT_TIMEOUT, Options
from iodetect.check.report import Report
from iodetect.check.result import Result
from iodetect.errors import UsageError

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan


def run_check(
    options: Options,
    *,
    facts: Facts | None = None,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Probe, recommend, take the setup, self-test, and with options.serve start the launch
    command and compare what it runs; never raises for anything found on the way (UsageError
    for options that cannot be used, a KeyboardInterrupt or Stopped for a signal)."""
    rec = Recorder(Deadline(options.timeout))
    say = progress or (lambda _msg: None)

    def result(
        target: dict[str, Any] | None = None,
        plan: dict[str, Any] | None = None,
        report: Report | None = None,
        served: dict[str, Any] | None = None,
    ) -> Result:
        return Result(
            tuple(rec.findings),
            options.strict,
            target or {},
            plan,
            report,
            rec.deadline.elapsed(),
            options.ignore,
            served,
        )

    if options.serve is not None:
        steps_serve.argv_of(options.serve)  # a command that cannot be used: exit 2 now
    if facts is None:
        say("probing the target interpreter")
        facts = rec.isolated("probe", lambda: steps.probe(rec, options))
    if facts is None:
        return result()
    known: Facts = facts
    target = steps.target_view(known)

    # A generated module's header declares the loop it chose: the check plans with that choice
    # unless its own --loop says otherwise (check.declared).
    asked = options
    source_given = options.setup_source
    declared = (
        rec.isolated("setup", lambda: declared_choice.read(source_given))
        if source_given is not None
        else None
    )
    options = declared_choice.apply(options, declared)

    say("choosing the loop")
    planned = rec.isolated("recommend", lambda: steps.plan(rec, known, options))
    if planned is None:
        return result(target)
    plan, expect = planned
    view = steps.plan_view(plan, expect)

    say("preparing the setup module")
    source = rec.isolated("setup", lambda: steps.setup(rec, plan, known, options))
    report = None
    if source is not None:
        if declared is not None:
            level, text = declared_choice.message(asked, declared, asked.setup_name)
            rec.add("setup", level, text, code="setup.declared")
        say(f"self-test: {options.connections} connections through the loop")
        report = rec.isolated(
            "selftest", lambda: steps.selftest(rec, options, source, expect, progress)
        )
        if report is not None:
            tested = report
            rec.isolated("selftest", lambda: judge(rec, expect, options, tested))
    served = None
    if options.serve is not None:
        # The launch command is proved against the plan even when the setup or the self-test
        # failed: what it runs is a separate question, and its answer is still wanted.
        tested_report = report
        served = rec.isolated(
            "serve",
            lambda: steps_serve.serve(rec, options, expect, known, tested_report, say),
        )
    return result(target, view, report, served)


def verify_setup(
    source: str,
    plan: Plan,
    facts: Facts,
    python: str | Sequence[str] | None,
    connections: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    saved: bool = False,
) -> Result:
    """`snippet --verify`: the self-test of a module before it is written, as a Result (its
    findings, summary and exit code as the check's).

    It runs on the interpreter the facts came from, so saved (`saved`) or documented facts
    cannot be verified (UsageError).
    """
    if saved or facts.origin != "probe":
        raise UsageError(
            "--verify runs the module on a live interpreter: not with --facts or --platform"
        )
    options = Options(
        python=python,
        connections=connections or DEFAULT_CONNECTIONS,
        setup_source=source,
        timeout=timeout,
    )
    rec = Recorder(Deadline(timeout))
    expect = steps.expectation(plan, facts, options)
    report = rec.isolated("selftest", lambda: steps.selftest(rec, options, source, expect))
    if report is not None:
        rec.isolated("selftest", lambda: judge(rec, expect, options, report))
    return Result(tuple(rec.findings), selftest=report, seconds=rec.deadline.elapsed())
