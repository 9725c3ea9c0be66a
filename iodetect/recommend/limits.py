"""Descriptor limits: the one rule that says whether a host's limits carry a service.

`assess_nofile` is the rule, shared by the recommender and `iodetect check`: a need above the
most a process may raise its soft limit to (the hard limit; on Linux with an unlimited hard
limit, fs.nr_open; on macOS, kern.maxfilesperproc as well) cannot be met from inside. A need
equal to that ceiling is fine.
"""

from __future__ import annotations

from iodetect.catalog import limits as lim
from iodetect.catalog import platforms
from iodetect.model import UNLIMITED, Limits, show_limit
from iodetect.recommend.needs import Notes
from iodetect.recommend.plan import NofilePlan
from iodetect.record import frozen

FAILING = ("nofile.hard", "nofile.maxfilesperproc", "nofile.nr_open")
# Codes of assess_nofile, stable for scripts:
#   nofile.ok              the soft limit already covers the need (or no need was stated)
#   nofile.raisable        the soft limit is below the need; the process may raise it
#   nofile.hard            the need is above the hard limit: only the parent can fix it
#   nofile.maxfilesperproc the need is above macOS' kern.maxfilesperproc
#   nofile.nr_open         the hard limit is unlimited; Linux caps it at fs.nr_open
#   nofile.unknown         the limits could not be read
#   nofile.windows         Windows has no RLIMIT_NOFILE


@frozen
class NofileVerdict:
    code: str
    need: int | None
    soft: int | None
    hard: int | None
    cap: int | None  # the most this process may raise its soft limit to; None: no known cap
    capped_by: str  # "hard", "kern.maxfilesperproc", "fs.nr_open" or ""

    @property
    def fails(self) -> bool:
        return self.code in FAILING

    @property
    def cap_text(self) -> str:
        """The cap for a sentence: "hard descriptor limit 256", "kern.maxfilesperproc 10240"."""
        if self.capped_by == "hard":
            return f"hard descriptor limit {show_limit(self.cap)}"
        return f"{self.capped_by} {show_limit(self.cap)}"


def descriptor_cap(limits: Limits, family: str) -> tuple[int | None, str]:
    """The most a process may raise its soft limit to, and what sets it."""
    hard = limits.nofile_hard
    cap: int | None = None
    by = ""
    if hard is not None and hard != UNLIMITED:
        cap, by = hard, "hard"
    elif hard == UNLIMITED and family == "linux" and limits.nr_open:
        cap, by = limits.nr_open, "fs.nr_open"
    if (
        family == "darwin"
        and limits.maxfilesperproc
        and (cap is None or limits.maxfilesperproc < cap)
    ):
        cap, by = limits.maxfilesperproc, "kern.maxfilesperproc"
    return cap, by


def assess_nofile(limits: Limits, platform: str, need: int | None) -> NofileVerdict:
    """Can a process with these limits open `need` descriptors? (None: nothing stated.)"""
    family = platforms.family(platform)
    soft, hard = limits.nofile_soft, limits.nofile_hard
    if family == "win32":
        return NofileVerdict("nofile.windows", need, soft, hard, None, "")
    if hard is None:
        return NofileVerdict("nofile.unknown", need, soft, hard, None, "")
    cap, by = descriptor_cap(limits, family)
    if need is not None and cap is not None and need > cap:
        code = {"hard": "nofile.hard", "fs.nr_open": "nofile.nr_open"}.get(
            by, "nofile.maxfilesperproc"
        )
        return NofileVerdict(code, need, soft, hard, cap, by)
    covered = need is None or soft == UNLIMITED or (soft is not None and soft >= need)
    return NofileVerdict("nofile.ok" if covered else "nofile.raisable", need, soft, hard, cap, by)


def suggest_nofile(need: int) -> int:
    """The figure a remedy names: a round one at or above the need."""
    return next((n for n in lim.ROUND_NOFILE if n >= need), need)


def nofile_remedy(code: str, want: int) -> str:
    """What to do about a verdict of assess_nofile, to reach `want` descriptors: the same
    words in every command. For a failing verdict, what raises the cap that failed; else
    what raises the soft limit."""
    if code == "nofile.nr_open":
        return lim.NR_OPEN_REMEDY.format(n=want)
    if code == "nofile.maxfilesperproc":
        return lim.MAXFILESPERPROC_REMEDY.format(n=want)
    if code == "nofile.hard":
        return lim.HARD_REMEDY.format(n=want)
    return lim.NOFILE_REMEDY.format(n=want)


def soft_remedy(want: int, hard: int | None) -> str:
    """How a running process gets a soft limit of `want`: from its own start-up when the hard
    limit allows it, else only from what starts it (the hard limit must rise first)."""
    if hard is not None and 0 <= hard < want:
        return (
            f"the hard limit ({hard}) is below {want}: "
            + lim.HARD_REMEDY.format(n=want)
            + " (set the soft limit with it)"
        )
    return lim.NOFILE_REMEDY.format(n=want)


_REMEDY = {
    "nofile.hard": "raise the hard limit: ulimit -Hn, systemd LimitNOFILE=, docker run "
    "--ulimit nofile=N:N, or the container runtime's default for Kubernetes",
    "nofile.nr_open": "raise fs.nr_open (sysctl -w fs.nr_open=N), then the hard limit",
    "nofile.maxfilesperproc": "raise it: sudo sysctl kern.maxfilesperproc=N and launchctl limit "
    "maxfiles",
}
_SOURCE = {
    "nofile.hard": lim.SRC_HARD,
    "nofile.nr_open": lim.SRC_LINUX_NR_OPEN,
    "nofile.maxfilesperproc": lim.SRC_MACOS,
}


def plan_nofile(
    limits: Limits,
    platform: str,
    connections: int | None,
    select_ceiling: int | None,
    subprocesses: bool,
    notes: Notes,
) -> NofilePlan | None:
    """Raise the soft descriptor limit where it helps; a conflict where the cap is short.

    select_ceiling: the selector is select(), which breaks on descriptors at or above it, so
    the soft limit is raised only as far as the connections need and never past it.
    """
    need = connections + lim.HEADROOM if connections is not None else None
    verdict = assess_nofile(limits, platform, need)
    if verdict.code in ("nofile.windows",):
        return None
    if verdict.fails:
        where = {"hard": "the hard limit"}.get(verdict.capped_by, verdict.capped_by)
        notes.conflict(
            f"{connections} connections need about {need} descriptors; {where} is {verdict.cap}",
            _REMEDY[verdict.code],
            _SOURCE[verdict.code],
            verdict.code,
        )
        return None
    soft = verdict.soft
    if soft is not None and soft != UNLIMITED and soft > lim.SANE_MAX:
        notes.warn(
            f"the soft descriptor limit is {soft}: code that walks every possible descriptor "
            "(subprocess's close_fds without /proc, os.closerange(3, limit)) makes that many "
            f"close() calls; a limit up to {lim.SANE_MAX} is plenty for most services "
            "(ulimit -n, docker run --ulimit nofile=N:N)",
            lim.SRC_HUGE,
            "nofile.huge",
        )
    if select_ceiling is not None:
        return _plan_for_select(verdict, select_ceiling, notes)
    return _plan_to_cap(verdict, platform, subprocesses, notes)


def _plan_for_select(verdict: NofileVerdict, ceiling: int, notes: Notes) -> NofilePlan | None:
    """select() breaks above its ceiling: raise only as far as the connections need."""
    need, soft = verdict.need, verdict.soft
    if need is None:
        return None
    target = min(need, ceiling)
    here = f" (soft {show_limit(soft)} here)" if soft is not None else ""
    notes.reason(
        f"descriptor limit: new_event_loop() raises the soft limit to {target}, not above "
        f"select()'s ceiling{here}",
        "select(2): FD_SETSIZE; cpython select() refuses descriptors at or above it",
        "nofile.raise_select",
    )
    return NofilePlan(target, need, "enough for the connections, below select()'s ceiling")


def _plan_to_cap(
    verdict: NofileVerdict, platform: str, subprocesses: bool, notes: Notes
) -> NofilePlan:
    """Raise the soft limit toward the hard one, decided where the code runs.

    The plan never carries the limits seen here: the generated module reads them when it makes
    a loop, so the same module is right on every host of the same kind (and `iodetect snippet
    --check` passes there). What was seen here only shapes the reason.
    """
    soft, cap, need = verdict.soft, verdict.cap, verdict.need
    want = max(need or 0, lim.SANE_MAX)
    text = (
        "descriptor limit: raise the soft limit to the hard one when a loop is made "
        f"(new_event_loop()), as the Go runtime does, but no higher than {want}"
    )
    if need is not None and need > lim.SANE_MAX:
        text += " (the connections need that many)"
    else:
        text += ": above that, code that walks every descriptor slows down"
    target = min(cap, want) if cap is not None else None
    if soft == UNLIMITED:
        text += "; the soft limit is already unlimited here"
    elif soft is not None and cap is not None and soft >= cap:
        text += f"; here soft {soft} is already at the most this host allows"
    elif soft is not None and target is not None and soft >= target:
        text += f"; here soft {soft} already covers it"
    elif soft is not None:
        text += f"; here from {soft}" + (f" to {target}" if target is not None else "")
        if cap is not None and target is not None and target < cap:
            text += f", not to the hard limit {show_limit(verdict.hard)}"
    sources = [lim.SRC_GO]
    if need is None or need <= lim.SANE_MAX:
        sources.append(lim.SRC_HUGE)
    if platforms.family(platform) == "darwin":
        text += (
            "; clamped to kern.maxfilesperproc, which older macOS requires and XNU enforces anyway"
        )
        sources += [lim.SRC_GO_DARWIN, lim.SRC_MACOS]
    notes.reason(text, "; ".join(sources), "nofile.raise")
    if subprocesses:
        notes.warn(
            "children inherit the raised descriptor limit: a child that uses select() breaks "
            "on descriptors above 1024",
            lim.SRC_GO,
            "nofile.children",
        )
    return NofilePlan(None, need, "a network service holds one descriptor per connection")
