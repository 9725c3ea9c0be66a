"""The descriptor-limit judgement: can this host give the service the descriptors it needs?

One function, and the rule is the recommender's: the conflicts a plan has only because of the
number of connections (the hard limit, kern.maxfilesperproc, select()'s ceiling) are this
step's findings, with the fuller remedies a deploy needs; the recommend step leaves them out.
The check keeps no copy of the rule; what it adds is the wording for limits that suffice.
"""

from __future__ import annotations

import dataclasses
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
# The recommender's sources for a conflict about select()'s ceiling (its remedy is the right one).
_SELECT_SOURCES = frozenset({recommend.SRC_SELECT_UNIX, recommend.SRC_SELECT_WIN})


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
    rec: Recorder, facts: Facts, options: Options, needs: recommend.Needs, plan: recommend.Plan
) -> Judgement:
    """Findings of the limits step for `plan` (made for `needs`); the conflicts it covered.

    A conflict is the descriptors' when the same needs without a connection count do not have
    it: the recommender decides, the check only tells which of its conflicts are about limits.
    """
    need = needed_nofile(options)
    without = recommend.recommend(facts, dataclasses.replace(needs, connections=None))
    covered = tuple(c for c in plan.conflicts if c not in without.conflicts)
    lim = facts.limits
    extra = f", --min-nofile {options.min_nofile}" if options.min_nofile else ""
    wanted = f"{options.connections} connections + {NOFILE_HEADROOM} headroom{extra}"
    for conflict in covered:
        if conflict.source in _SELECT_SOURCES:
            rec.add("limits", "fail", conflict.message, conflict.remedy, "nofile.select")
        else:
            rec.add(
                "limits",
                "fail",
                f"{conflict.message} ({wanted}); no process can raise its own hard limit",
                HARD_REMEDY.format(n=suggest(need))
                if facts.host.platform != "darwin"
                else conflict.remedy,
                "nofile.hard",
            )
    if covered:
        return Judgement(covered)
    soft, hard = limit(lim.nofile_soft), limit(lim.nofile_hard)
    if hard is None:
        if not facts.windows:
            rec.add("limits", "warn", "the descriptor limits could not be read", code="nofile")
    elif soft is not None and soft < need:
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
    return Judgement(covered)
