"""The descriptor-limit judgement: can this host give the service the descriptors it needs?

One function, and the rule is the recommender's (recommend.assess_nofile, which plans use
too): the check keeps no copy of it. What it adds is the wording and the fuller remedies a
deploy needs; the plan's conflicts with the same codes (recommend.NOFILE_FAILING) are then this
step's, and the recommend step leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from iodetect import recommend
from iodetect.check.findings import Recorder
from iodetect.check.options import NOFILE_HEADROOM, Options, needed_nofile
from iodetect.model import Facts

NOFILE_REMEDY = (
    "raise the open-files limit where the service starts: `ulimit -n {n}` in the shell or "
    "entrypoint (up to the hard limit), `LimitNOFILE={n}` in the systemd unit, "
    "`docker run --ulimit nofile={n}:{n}` (or `ulimits: nofile:` in compose); Kubernetes has no "
    "per-pod setting, so raise it in the container runtime (containerd/CRI-O default ulimits or "
    "LimitNOFILE= of its systemd unit) or with `ulimit -n` in the entrypoint"
)
HARD_REMEDY = (
    "the hard limit caps what a process may raise itself to; only its parent can raise it: "
    "`LimitNOFILE={n}` in the systemd unit, `docker run --ulimit nofile={n}:{n}`, the container "
    "runtime's default ulimits for Kubernetes, or /etc/security/limits.conf for logins"
)


@dataclass(frozen=True)
class Judgement:
    """The limits step's verdict and the plan conflicts it accounts for."""

    covered: tuple[recommend.Conflict, ...]


def limit(value: int | None) -> float | None:
    """A limit as a number; -1 (RLIM_INFINITY) is unlimited."""
    if value is None:
        return None
    return float("inf") if value < 0 else float(value)


def show(value: int | None) -> str:
    return "unlimited" if value is not None and value < 0 else str(value)


def suggest(need: int) -> int:
    """A round figure at or above the need."""
    for n in (1024, 4096, 8192, 16384, 65536, 262144, 1048576):
        if n >= need:
            return n
    return need


def judge_descriptors(
    rec: Recorder, facts: Facts, options: Options, plan: recommend.Plan
) -> Judgement:
    """Findings of the limits step; the conflicts of `plan` they account for."""
    need = needed_nofile(options)
    verdict = recommend.assess_nofile(facts.limits, facts.host.platform, need)
    lim = facts.limits
    extra = f", --min-nofile {options.min_nofile}" if options.min_nofile else ""
    wanted = f"{options.connections} connections + {NOFILE_HEADROOM} headroom{extra}"
    if verdict.code in ("nofile.unknown", "nofile.windows"):
        if not facts.windows:
            rec.add("limits", "warn", "the descriptor limits could not be read", code="nofile")
        return Judgement(())
    if verdict.fails:
        rec.add(
            "limits",
            "fail",
            f"{verdict.cap_text} is below the {need} this service needs ({wanted}); no process "
            "can raise it itself",
            HARD_REMEDY.format(n=suggest(need)),
            "nofile.hard",
        )
        return Judgement(tuple(c for c in plan.conflicts if c.code in recommend.NOFILE_FAILING))
    if verdict.code == "nofile.raisable":
        rec.add(
            "limits",
            "ok",
            f"soft descriptor limit {show(lim.nofile_soft)} is below the {need} needed "
            f"({wanted}); the hard limit {show(lim.nofile_hard)} allows raising it (the "
            "self-test shows whether the setup does)",
            code="nofile.raisable",
        )
    else:
        rec.add(
            "limits",
            "ok",
            f"descriptor limits soft {show(lim.nofile_soft)} / hard {show(lim.nofile_hard)} "
            f"cover the {need} needed",
            code="nofile",
        )
    return Judgement(())
