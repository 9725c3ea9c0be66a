"""Rules-only verdicts: what the facts and the plan already say about a target, without a self-test.

The same judgement `iodetect check` makes before its live self-test: the descriptor limits the
plan needs, the plan's conflicts and warnings, and `--require-loop`. A collected file cannot
run a self-test, so this is all a fleet of collected facts can be held to. The rules are the
recommender's; this module only words them as findings, in the check's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iodetect.fleet.text import clean
from iodetect.model import show_limit

if TYPE_CHECKING:
    from collections.abc import Callable

    from iodetect.check import Finding
    from iodetect.fleet.document import Options
    from iodetect.model import Facts
    from iodetect.recommend import Needs, Plan

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
    from iodetect import recommend
    from iodetect.check import Finding

    out: list[Finding] = []

    def add(step: str, level: str, message: str, remedy: str | None, code: str) -> None:
        out.append(Finding(step, level, message, remedy, code))

    add(
        "probe",
        "ok",
        f"{clean(facts.interpreter.label, 60)} on {clean(facts.host.platform, 40)}",
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
    failed_limit = _limits(facts, plan, options, add)
    if options.require_loop and options.require_loop != "asyncio":
        _required_loop(facts, options.require_loop, add)
    for conflict in plan.conflicts:
        if failed_limit and conflict.code in recommend.NOFILE_FAILING:
            continue  # already a finding of the limits step, with the fuller remedy
        add(
            "recommend",
            "fail",
            conflict.message,
            conflict.remedy,
            "nofile.plan"
            if conflict.code.startswith(("nofile.", "select."))
            else "recommend.conflict",
        )
    for note in plan.reasons:
        if note.code.startswith("advisory."):
            add("recommend", "ok", note.text, None, "recommend.advisory")
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


def _limits(facts: Facts, plan: Plan, options: Options, add: _Add) -> bool:
    """Findings of the limits step, by the recommender's own rule; True when it failed."""
    from iodetect import recommend

    if options.connections is None:
        return False
    need = options.connections + recommend.HEADROOM
    verdict = recommend.assess_nofile(facts.limits, facts.host.platform, need)
    lim = facts.limits
    wanted = f"{options.connections} connections + {recommend.HEADROOM} headroom"
    if verdict.code in ("nofile.unknown", "nofile.windows"):
        if not facts.windows:
            add("limits", "warn", "the descriptor limits could not be read", None, "nofile")
        return False
    if verdict.fails:
        add(
            "limits",
            "fail",
            f"{verdict.cap_text} is below the {need} this service needs ({wanted}); no process "
            "can raise it itself",
            HARD_REMEDY.format(n=_suggest(need)),
            verdict.code,
        )
        return True
    if verdict.code == "nofile.raisable":
        add(
            "limits",
            "ok",
            f"soft descriptor limit {show_limit(lim.nofile_soft)} is below the {need} needed "
            f"({wanted}); the hard limit {show_limit(lim.nofile_hard)} allows raising it"
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
            f"descriptor limits soft {show_limit(lim.nofile_soft)} / hard "
            f"{show_limit(lim.nofile_hard)} cover the {need} needed",
            None,
            "nofile",
        )
    return False


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


def _suggest(need: int) -> int:
    """A round figure at or above the need."""
    for n in (1024, 4096, 8192, 16384, 65536, 262144, 1048576):
        if n >= need:
            return n
    return need
