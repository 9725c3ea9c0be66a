"""`iodetect report --json`: the facts, the plan and the bench evidence as one JSON document.

Apart from the rich tables of `render` on purpose: the JSON path imports no rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iodetect.model import Facts

if TYPE_CHECKING:
    from iodetect.recommend import BenchEvidence, Plan


def report_dict(facts: Facts, plan: Plan | None, evidence: BenchEvidence | None) -> dict[str, Any]:
    """`iodetect report --json`: the facts (the public schema), the plan and the bench evidence."""
    from iodetect import model
    from iodetect.recommend import plan_dict

    data = model.to_dict(facts)
    data["recommendation"] = plan_dict(plan) if plan is not None else None
    if evidence is not None:
        data["bench"] = {
            "fastest_loop": evidence.fastest_loop,
            "summary": evidence.summary,
            "style_finding": evidence.style_finding,
        }
    return data
