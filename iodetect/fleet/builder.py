"""Building a fleet from observations: each target's plan, verdict and table row, and the drift.

Pure: no I/O, no clock. Whether the observations came from collected files or from targets
reached live makes no difference here, which is what gives both the same document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iodetect.fleet import rules
from iodetect.fleet.document import (
    COLUMNS,
    Drift,
    Fleet,
    Observation,
    Options,
    Target,
    TargetCheck,
)
from iodetect.fleet.text import clean
from iodetect.model import show_limit

if TYPE_CHECKING:
    from iodetect.model import Facts
    from iodetect.recommend import Plan


def build(observations: Sequence[Observation], options: Options) -> Fleet:
    """The fleet for these observations, in their order.

    Raises recommend.NeedsError when the options themselves are invalid (the caller's usage
    error); anything about one target stays with that target.
    """
    targets = tuple(_target(obs, options) for obs in observations)
    return Fleet(options, targets, drift(targets))


def plan_for(facts: Facts, options: Options) -> tuple[Plan | None, str | None]:
    """The recommended plan for these facts, or why there is none."""
    from iodetect import recommend

    if facts.py < recommend.OLDEST:
        return None, (
            f"Python {facts.py[0]}.{facts.py[1]}: generated code needs CPython "
            f"{recommend.OLDEST[0]}.{recommend.OLDEST[1]} or later"
        )
    return recommend.recommend(facts, rules.needs_for(options)), None


def _target(obs: Observation, options: Options) -> Target:
    if obs.facts is None:
        return Target(
            name=obs.name,
            source=obs.source,
            facts=None,
            error=obs.error or "no facts",
            seconds=obs.seconds,
            plan=None,
            plan_error=None,
            check=obs.check,
            verdict="error" if options.check is not None else None,
            row=(None,) * len(COLUMNS),
        )
    facts = obs.facts
    plan, plan_error = plan_for(facts, options)
    check = obs.check
    if check is None and options.check is not None:
        check = TargetCheck(
            "rules", rules.judge(facts, plan, plan_error, options), strict=options.strict
        )
    return Target(
        name=obs.name,
        source=obs.source,
        facts=facts,
        error=None,
        seconds=obs.seconds,
        plan=plan,
        plan_error=plan_error,
        check=check,
        verdict=rules.verdict(check.findings) if check is not None else None,
        row=row(facts, plan),
    )


def row(facts: Facts, plan: Plan | None) -> tuple[str | None, ...]:
    """The table's cells for one target (in the order of COLUMNS), as the text shown and
    compared for drift."""
    return (
        clean(facts.interpreter.label, 40),
        clean(facts.default_selector, 20) if facts.default_selector else "none",
        loop_cell(plan),
        show_limit(facts.limits.nofile_soft),
        show_limit(facts.limits.nofile_hard),
    )


def loop_cell(plan: Plan | None) -> str:
    """The recommended loop in a few words: uvloop 0.23.0, asyncio (poll), asyncio proactor."""
    if plan is None:
        return "none"
    if plan.loop == "selector":
        return f"asyncio ({plan.selector})" if plan.pin_selector else "asyncio"
    if plan.loop == "proactor":
        return "asyncio proactor"
    version = f" {clean(plan.loop_version, 20)}" if plan.loop_version else ""
    return f"{plan.loop}{version}"


def drift(targets: Sequence[Target]) -> tuple[Drift, ...]:
    """The columns whose values differ between the targets that have facts.

    A value is marked when it differs from the most common one; on a tie, from the first
    target's, so the first target named (CI, the reference host) is the baseline.
    """
    known = [t for t in targets if t.facts is not None]
    found = []
    for column, title in COLUMNS:
        values = [(t.name, t.cell(column)) for t in known]
        counts = Counter(v for _, v in values)
        if len(counts) < 2:
            continue
        top = max(counts.values())
        common = next(v for _, v in values if counts[v] == top)
        differs = tuple((n, v) for n, v in values if v != common)
        found.append(Drift(column, title, common, differs))
    return tuple(found)
