"""Rules-only verdicts: what the facts and the plan already say about a target, without a self-test.

The same judgement `iodetect check` makes before its live self-test: the descriptor limits the
plan needs, the plan's conflicts and warnings, and `--require-loop`. A collected file cannot
run a self-test, so this is all a fleet of collected facts can be held to. The rules are the
recommender's; this module only words them as findings, in the check's shape.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from iodetect.fleet.text import clean

if TYPE_CHECKING:
    from collections.abc import Callable

    from iodetect.check import Finding
    from iodetect.fleet.document import Options
    from iodetect.model import Facts
    from iodetect.recommend import Conflict, Needs, Plan

    _Add = Callable[[str, str, str, "str | None", str], None]

HARD_REMEDY = (
    "the hard limit caps what a process may raise itself to; only its parent can raise it: "
    "`LimitNOFILE={n}` in the systemd unit, `docker run --ulimit nofile={n}:{n}`, the container "
    "runtime's default ulimits for Kubernetes, or /etc/security/limits.conf for logins"
)


def needs_for(options: Options) -> Needs:
    """The recommender's needs for these options (a required loop is the loop asked for)."""
    from iodetect import recommend

    loop = options.loop
    if options.require_loop and loop == "auto":
        loop = options.require_loop
    return recommend.Needs(options.needs, options.connections, loop, options.selector)


def judge(
    facts: Facts, plan: Plan | None, plan_error: str | None, options: Options
) -> tuple[Finding, ...]:
    """The findings of the rules for one target."""
    from iodetect.check import Finding

    out: list[Finding] = []

    def add(step: str, level: str, message: str, remedy: str | None, code: str) -> None:
        out.append(Finding(step, level, message, remedy, code))

    iv = facts.interpreter
    add(
        "probe",
        "ok",
        f"{clean(iv.implementation, 40)} {clean(iv.release, 40)} on "
        f"{clean(facts.host.platform, 40)}",
        None,
        "probe",
    )
    for err in facts.errors:
        add(
            "probe",
            "warn",
            f"could not read {clean(err.probe, 60)}: {clean(err.error)}",
            None,
            "probe.partial",
        )
    if plan is None:
        add(
            "recommend",
            "fail",
            plan_error or "no plan",
            "examine an interpreter the generated code supports",
            "recommend.python",
        )
        return tuple(out)
    covered = _limits(facts, plan, options, add)
    if options.require_loop and options.require_loop != "asyncio":
        _required_loop(facts, options.require_loop, add)
    for conflict in plan.conflicts:
        if conflict in covered:
            continue
        add("recommend", "fail", conflict.message, conflict.remedy, "recommend.conflict")
    for warning in plan.warnings:
        add("recommend", "warn", warning.text, None, "recommend.warning")
    add(
        "recommend",
        "ok",
        f"plan: {plan.loop_factory}"
        + (f" with {plan.selector_class}" if plan.selector_class else "")
        + ("; the soft descriptor limit is raised at start-up" if plan.nofile else ""),
        None,
        "recommend.plan",
    )
    return tuple(out)


def _limits(facts: Facts, plan: Plan, options: Options, add: _Add) -> tuple[Conflict, ...]:
    """Findings of the limits step; the plan's conflicts they account for.

    A conflict is about descriptors when the same needs without a connection count do not
    have it: the recommender decides, this only tells which of its conflicts those are.
    """
    from iodetect import recommend

    lim = facts.limits
    if options.connections is None:
        if lim.nofile_hard is None and not facts.windows:
            add("limits", "warn", "the descriptor limits could not be read", None, "nofile")
        return ()
    need = options.connections + recommend.HEADROOM
    without = recommend.recommend(facts, dataclasses.replace(needs_for(options), connections=None))
    covered = tuple(c for c in plan.conflicts if c not in without.conflicts)
    wanted = f"{options.connections} connections + {recommend.HEADROOM} headroom"
    for conflict in covered:
        add(
            "limits",
            "fail",
            f"{conflict.message} ({wanted})",
            HARD_REMEDY.format(n=_suggest(need))
            if "hard limit" in conflict.message
            else conflict.remedy,
            "nofile.hard" if "hard limit" in conflict.message else "nofile.plan",
        )
    if covered:
        return covered
    soft, hard = _number(lim.nofile_soft), _number(lim.nofile_hard)
    if hard is None:
        if not facts.windows:
            add("limits", "warn", "the descriptor limits could not be read", None, "nofile")
    elif soft is not None and soft < need:
        add(
            "limits",
            "ok",
            f"soft descriptor limit {_show(lim.nofile_soft)} is below the {need} needed "
            f"({wanted}); the hard limit {_show(lim.nofile_hard)} allows raising it"
            + (
                ", and the generated loop_setup.py does at start-up"
                if plan.nofile
                else "; the service's setup must raise it"
            ),
            None,
            "nofile.raisable",
        )
    else:
        add(
            "limits",
            "ok",
            f"descriptor limits soft {_show(lim.nofile_soft)} / hard {_show(lim.nofile_hard)} "
            f"cover the {need} needed",
            None,
            "nofile",
        )
    return ()


def _required_loop(facts: Facts, name: str, add: _Add) -> None:
    lp = facts.loop(name)
    if lp is None:
        return
    note = f" ({clean(lp.support_note)})" if lp.support_note else ""
    if lp.installed is None:
        add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} is not installed on the target",
            f"install it in the service's environment: `pip install {name}`{note}",
            "loop.missing",
        )
    elif not lp.importable:
        add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {clean(lp.installed, 40)} is installed but does not "
            f"import: {clean(lp.import_error or 'unknown error')}",
            f"reinstall a {name} built for this Python (`pip install --force-reinstall {name}`)",
            "loop.broken",
        )
    elif not lp.supported:
        add(
            "recommend",
            "fail",
            f"--require-loop {name}: {name} {clean(lp.installed, 40)} does not support this "
            f"target{note}",
            f"upgrade {name} or choose another loop",
            "loop.unsupported",
        )


def verdict(findings: tuple[Finding, ...]) -> str:
    """pass, warn or fail: the worst level among the findings."""
    levels = {f.level for f in findings}
    if "fail" in levels:
        return "fail"
    return "warn" if "warn" in levels else "pass"


def _number(value: int | None) -> float | None:
    """A limit as a number; -1 (RLIM_INFINITY) is unlimited."""
    if value is None:
        return None
    return float("inf") if value < 0 else float(value)


def _show(value: int | None) -> str:
    if value is None:
        return "unknown"
    return "unlimited" if value < 0 else str(value)


def _suggest(need: int) -> int:
    """A round figure at or above the need."""
    for n in (1024, 4096, 8192, 16384, 65536, 262144, 1048576):
        if n >= need:
            return n
    return need
