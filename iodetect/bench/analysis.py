"""What a bench run shows, in words, and the evidence the recommender takes from it.

Every comparison goes through the tie rule of `stats.compare`: a winner only where the
interquartile ranges do not overlap and the medians are 10 % apart. Unstable cells (spread of
10 % or more) take part, but their wide ranges make ties likely, so a noisy run says less
rather than something wrong. The headline and the threads baseline claim "beyond the spread" or
"tied" only from cells of MIN_PROCESSES processes at least: with fewer (a quick run has three),
the interval of a median is the whole range of three values, and two runs in a row drew
opposite verdicts from the same order of medians; such a line names the lowest median and the
cells that are not settled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iodetect.bench import stats
from iodetect.bench.results import (
    LOOPS,
    STANDARD_LOOP,
    STYLE_NAMES,
    STYLES,
    BenchRun,
    Variant,
)
from iodetect.bench.stats import (
    DISTURBED,
    MIN_COMPARED,
    MIN_PROCESSES,
    REPEAT_BUDGET,
    Summary,
)
from iodetect.catalog import loops as catalog_loops
from iodetect.recommend import BenchEvidence

WORKLOAD_WORDS = {
    "pingpong": "ping-pong",
    "concurrent": "50 connections",
    "bulk": "bulk",
    "idle900": "900 idle",
    "idle10000": "10000 idle",
}
LOOP_WORKLOADS = ("pingpong", "concurrent", "bulk")
# A style's ratio against streams is a tie within TIE_BAND of 1 and clear from CLEAR on; between
# is borderline. Measured here over six runs: rloop sock_* 1.07-1.18x, every other style ratio
# 0.56-0.66x or 1.38-1.77x.
TIE_BAND = 1.05
CLEAR = 1.25
FLAT = 1.25  # idle cost within this factor of the no-idle cost counts as flat
BUSY = 0.20  # other work above this share of the host's CPU makes a run noisy
# Loops the evidence may name as fastest: rloop (self-declared alpha) and winloop (0.x) are
# measured and reported, but never chosen automatically.
STABLE_LOOPS: tuple[str, ...] = tuple(
    lp.name for lp in catalog_loops.LOOPS if lp.auto
)  # chosen automatically


def host_busy(run: BenchRun) -> tuple[float, float] | None:
    """Median and highest share of the host's CPU used by other processes while measuring."""
    shares = [s.other for c in run.cells for s in c.samples if s.other is not None]
    if not shares:
        return None
    return stats.median(shares), max(shares)


def loop_variant(run: BenchRun, loop: str, style: str) -> Variant:
    if loop == STANDARD_LOOP:
        mechanism = run.environment.standard_mechanism  # a selector, or proactor on Windows
        return Variant("asyncio", loop=loop, selector=mechanism, style=style)
    return Variant("asyncio", loop=loop, style=style)


def figure(
    run: BenchRun, variant: Variant, workload: str, compared: bool = False
) -> Summary | None:
    """The CPU-per-request summary of a cell; None when not measured, or, for a comparison,
    measured fewer than MIN_COMPARED times (too few for a range)."""
    cell = run.cell(variant.name, workload)
    if cell is None or cell.unavailable is not None:
        return None
    cpu = cell.cpu
    if cpu is None or (compared and cpu.n < MIN_COMPARED):
        return None
    return cpu


def pair(run: BenchRun, a: Variant, b: Variant, workload: str) -> tuple[Summary, Summary] | None:
    """Two cells' CPU-per-request figures on one footing, for a comparison: over their windows
    at full speed when both have them from MIN_COMPARED processes, else over every window of
    both. A cell at full speed against one whose every window counts (a busy host) would set a
    fast CPU against a slowed one: measured on a 2-vCPU VM, that turned uvloop at 50 connections
    from 0.85x the standard loop into 1.22x. None when either has too few processes."""
    ca, cb = run.cell(a.name, workload), run.cell(b.name, workload)
    if ca is None or cb is None or ca.unavailable is not None or cb.unavailable is not None:
        return None
    full = ca.at_full_speed and cb.at_full_speed
    fa, fb = ca.cpu_over(full), cb.cpu_over(full)
    if fa is None or fb is None or fa.n < MIN_COMPARED or fb.n < MIN_COMPARED:
        return None
    return fa, fb


@dataclass(frozen=True)
class Versus:
    """A against B over matching cells: the median ratio, how many pairs A's median is lower
    or higher in, and the tie rule's verdicts (beyond the spread, per pair)."""

    ratio: float | None
    wins: int
    ties: int
    losses: int
    cheaper: int = 0  # pairs where A's median is lower
    dearer: int = 0

    @property
    def pairs(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def better(self) -> bool:
        """A needs MIN_EFFECT less by the median ratio, is cheaper in enough pairs to pass a
        sign test (8 of 9; every pair when there are too few for one) and dearer beyond the
        spread in none. Many pairs each a little noisy say more than any one cell's interval:
        on a contended host the intervals widen and turn wins into ties, while the medians keep
        their order."""
        far = self.ratio is not None and self.ratio <= 1 - stats.MIN_EFFECT
        return self._firm(self.cheaper, self.losses, far)

    @property
    def borderline(self) -> bool:
        """The median ratio lies within BORDER of the least effect, on either side: the next run
        may land on the other side, so neither "less" nor "no clear difference" holds firmly."""
        if self.ratio is None:
            return False
        edge = 1 - stats.MIN_EFFECT
        return stats.near_edge(self.ratio, edge) or stats.near_edge(self.ratio, 1 / edge)

    @property
    def worse(self) -> bool:
        far = self.ratio is not None and self.ratio >= 1 / (1 - stats.MIN_EFFECT)
        return self._firm(self.dearer, self.wins, far)

    def _firm(self, agreeing: int, against: int, far: bool) -> bool:
        need = stats.sign_needed(self.pairs) or self.pairs
        return self.pairs > 0 and far and against == 0 and agreeing >= need


def versus(run: BenchRun, pairs: list[tuple[Variant, Variant, str]]) -> Versus:
    ratios: list[float] = []
    verdicts: list[int] = []
    for a, b, workload in pairs:
        got = pair(run, a, b, workload)
        if got is None:
            continue
        fa, fb = got
        ratios.append(stats.ratio(fa, fb))
        verdicts.append(stats.compare(fa, fb))
    return Versus(
        ratio=stats.median(ratios) if ratios else None,
        wins=verdicts.count(-1),
        ties=verdicts.count(0),
        losses=verdicts.count(1),
        cheaper=sum(r < 1 for r in ratios),
        dearer=sum(r > 1 for r in ratios),
    )


def loop_versus(run: BenchRun, loop: str) -> Versus:
    """`loop` against the standard loop, same API style, same workload."""
    return versus(
        run,
        [
            (loop_variant(run, loop, style), loop_variant(run, STANDARD_LOOP, style), w)
            for style in STYLES
            for w in LOOP_WORKLOADS
        ],
    )


def style_versus(run: BenchRun, loop: str, style: str, base: str = "streams") -> Versus:
    return versus(
        run,
        [
            (loop_variant(run, loop, style), loop_variant(run, loop, base), w)
            for w in LOOP_WORKLOADS
        ],
    )


def _tally(v: Versus) -> str:
    return (
        f"cheaper in {v.cheaper} of {v.pairs} comparisons, dearer in {v.dearer}; beyond the "
        f"spread: wins {v.wins}, ties {v.ties}, loses {v.losses}"
    )


def evidence(run: BenchRun) -> BenchEvidence:
    """The measured-fastest stable loop (None: the standard loop, also on a tie) and the style
    finding on it.

    A loop is faster when it is `better` than the standard loop over the comparisons with the
    same API style and workload: 10 % cheaper by the median ratio, cheaper in 8 of 9 (a sign
    test), dearer beyond the spread in none: a firm result, not one lucky cell.
    """
    found: dict[str, Versus] = {}
    for loop in LOOPS:
        if loop == STANDARD_LOOP:
            continue
        v = loop_versus(run, loop)
        if v.pairs:
            found[loop] = v
    winners = {
        k: v
        for k, v in found.items()
        if v.better and not v.borderline and v.ratio is not None and k in STABLE_LOOPS
    }
    fastest = min(winners, key=lambda k: winners[k].ratio or 0.0) if winners else None
    others = [
        f"{k} {v.ratio:.2f}x ({_tally(v)}"
        + ("" if k in STABLE_LOOPS else "; not a stable release, never chosen automatically")
        + ")"
        for k, v in found.items()
        if k != fastest and v.ratio is not None
    ]
    if fastest is not None:
        v = winners[fastest]
        summary = (
            f"{fastest} needs {v.ratio:.2f}x the server CPU per request of the standard loop, "
            f"same API style ({_tally(v)})"
        )
        if others:
            summary += "; also measured: " + "; ".join(others)
    elif found:
        summary = "no stable loop beats the standard loop beyond the spread: " + "; ".join(others)
    else:
        summary = "no measurement of an alternative loop against the standard loop"
    return BenchEvidence(
        fastest_loop=fastest, summary=summary, style_finding=style_finding(run, fastest)
    )


def style_finding(run: BenchRun, loop: str | None) -> str | None:
    """How the API styles compare on the chosen loop, when the measurement says something."""
    name = loop or STANDARD_LOOP
    words = "the standard loop" if name == STANDARD_LOOP else name
    parts = []
    decided = False
    for style in ("protocol", "sock"):
        v = style_versus(run, name, style)
        if v.ratio is None:
            continue
        verdict = "less" if v.better else "more" if v.worse else None
        decided = decided or verdict is not None
        label = "Protocol (create_server)" if style == "protocol" else "loop.sock_*"
        parts.append(
            f"{label} needs {v.ratio:.2f}x the server CPU per request of streams"
            + ("" if verdict else " (a tie within the spread)")
        )
    if not decided:
        return None
    return f"on {words}: " + "; ".join(parts)


def conclusions(run: BenchRun) -> tuple[str, ...]:
    """The findings in words, most important first."""
    out: list[str] = []
    std_sel = run.environment.standard_mechanism
    streams = loop_variant(run, STANDARD_LOOP, "streams")

    # The headline: the cheapest event-loop servers against the usual asyncio streams code. A
    # tie group is named in a fixed order: within it, which one is lowest is noise.
    for w in LOOP_WORKLOADS:
        base = figure(run, streams, w)
        candidates = {
            v.name: f
            for v in run.variants()
            if v.kind == "asyncio" and (f := figure(run, v, w, True)) is not None
        }
        winner, tied = stats.best(candidates)
        if base is None or not candidates:
            continue
        short = _not_settled(run, candidates, w)
        if short:
            lowest = min(candidates, key=lambda n: candidates[n].median)
            f = candidates[lowest]
            out.append(
                f"{WORKLOAD_WORDS[w]}: lowest median: {lowest}, {stats.ratio(f, base):.2f}x the "
                f"server CPU per request of asyncio streams ({f.median:.1f} vs "
                f"{base.median:.1f} us); {short}"
            )
        elif winner:
            f = candidates[winner]
            out.append(
                f"{WORKLOAD_WORDS[w]}: the cheapest event-loop server is {winner}, beyond the "
                f"spread: {stats.ratio(f, base):.2f}x the server CPU per request of asyncio "
                f"streams ({f.median:.1f} vs {base.median:.1f} us)"
            )
        else:
            group = ", ".join(f"{n} {stats.ratio(candidates[n], base):.2f}x" for n in sorted(tied))
            out.append(
                f"{WORKLOAD_WORDS[w]}: the cheapest event-loop servers, tied within the spread, "
                f"against the server CPU per request of asyncio streams ({base.median:.1f} us): "
                f"{group}"
            )
        break

    # Loops against the standard loop.
    for loop in LOOPS:
        if loop == STANDARD_LOOP:
            continue
        v = loop_versus(run, loop)
        if v.ratio is None:
            continue
        verdict = (
            "borderline against"
            if v.borderline
            else "less than"
            if v.better
            else "more than"
            if v.worse
            else "no clear difference to"
        )
        out.append(
            f"{loop} needs {v.ratio:.2f}x the server CPU per request of the standard loop with the "
            f"same API style: {verdict} it ({_tally(v)})"
        )

    # API styles on each loop.
    for loop in LOOPS:
        parts = []
        for style in ("protocol", "sock"):
            v = style_versus(run, loop, style)
            if v.ratio is None:
                continue
            parts.append(f"{STYLE_NAMES[style]} {v.ratio:.2f}x{_style_mark(v)}")
        if parts:
            where = f"asyncio ({std_sel})" if loop == STANDARD_LOOP else loop
            out.append(f"API styles on {where}, against streams: " + ", ".join(parts))

    # Selectors: what idle connections cost per request.
    idle = _idle_costs(run)
    if idle:
        out.append(idle)
    big = _big_idle(run)
    if big:
        out.append(big)

    # The threads baseline, against the cheapest event loops (the whole tie group).
    threads = Variant("threads")
    for w in ("pingpong",):
        t = figure(run, threads, w, True)
        loops = {
            v.name: f
            for v in run.variants()
            if v.kind == "asyncio" and (f := figure(run, v, w, True)) is not None
        }
        if t is None or not loops:
            continue
        short = _not_settled(run, {**loops, threads.name: t}, w)
        if short:
            lowest = min(loops, key=lambda n: loops[n].median)
            out.append(
                f"the blocking thread-per-connection baseline needs {t.median:.1f} us per request "
                f"at ping-pong; the lowest event-loop median is {lowest} "
                f"{loops[lowest].median:.1f} us; {short}"
            )
            continue
        _, cheapest = stats.best(loops)
        named = {v.name: v for v in run.variants()}
        pairs = [pair(run, threads, named[n], w) for n in cheapest]
        found = [stats.verdict(*p) for p in pairs if p is not None]
        verdicts = {v for v, _ in found}
        verdict = (
            "borderline against"  # within BORDER of the edge: the next run may say either
            if any(border for _, border in found)
            else "less than"
            if verdicts == {-1}
            else "more than"
            if verdicts == {1}
            else "tied with"
        )
        names = ", ".join(f"{n} {loops[n].median:.1f} us" for n in sorted(cheapest))
        out.append(
            f"the blocking thread-per-connection baseline needs {t.median:.1f} us per request at "
            f"ping-pong: {verdict} the cheapest event loops ({names})"
        )

    # How far to trust it.
    busy = host_busy(run)
    if busy is not None and busy[0] >= BUSY:
        out.append(
            f"other processes used a median {busy[0] * 100:.0f} % of this host's CPU during "
            f"the measured windows (up to {busy[1] * 100:.0f} %): expect noisy cells; a quiet "
            "host gives firmer figures"
        )
    measured = [c for c in run.cells if c.unavailable is None]
    windows = [s for c in measured for s in c.samples]
    slow = [s for s in windows if not s.full_speed]
    if slow:
        out.append(
            f"the CPU ran slower than its full speed in {len(slow)} of {len(windows)} windows "
            f"({len(slow) / len(windows) * 100:.0f} %; other work on its core, by the speed "
            "probe): the figures come from the windows at full speed"
        )
    unstable = [c for c in measured if c.status == "unstable"]
    if unstable:
        out.append(
            f"{len(unstable)} of {len(measured)} cells are unstable (the interval of the median "
            f"10 % wide or more, or fewer than {MIN_PROCESSES} server processes with windows at "
            "full speed): their wide ranges make ties more likely"
        )
    sat = [c for c in measured if c.saturated]
    if sat:
        out.append(
            f"the load generator was the limit in {len(sat)} cells (marked *): their req/s "
            "understate the server; CPU per request still holds"
        )
    again = sum(c.repeated for c in measured)
    if again:
        out.append(
            f"{again} windows were measured again because other processes used more than "
            f"{DISTURBED * 100:.0f} % of the host's CPU during them (at most "
            f"{REPEAT_BUDGET * 100:.0f} % of the windows are)"
        )
    failed = [c for c in measured if c.failures]
    if failed:
        out.append(f"{len(failed)} cells had failed rounds (see the notes)")
    return tuple(out)


def _not_settled(run: BenchRun, names: dict[str, Summary], workload: str) -> str | None:
    """None when every named cell ran MIN_PROCESSES processes at full speed; else the words
    that say which did not, for a line that then claims no verdict. The names are sorted, so
    two runs whose medians keep their order say the same."""
    counts: dict[str, int] = {}
    for name in names:
        cell = run.cell(name, workload)
        if cell is not None:
            counts[name] = cell.processes
    short = sorted(n for n, k in counts.items() if k < MIN_PROCESSES)
    if not short:
        return None
    which = (
        f"every one of the {len(counts)} cells compared"
        if len(short) == len(counts)
        else ", ".join(short)
    )
    return (
        f"not settled: {which} ran fewer than {MIN_PROCESSES} server processes at full speed "
        f"(at most {max(counts[n] for n in short)}); the default bench decides"
    )


def _style_mark(v: Versus) -> str:
    """How firm a style's ratio is: " (tie)" within TIE_BAND of 1, nothing from CLEAR on,
    " (borderline)" between. Three workloads are too few pairs for a test, and the ratio of one
    run differs from the next by about 5 %: the bands are wider than that."""
    if v.ratio is None or 1 / TIE_BAND <= v.ratio <= TIE_BAND:
        return " (tie)"
    if v.ratio >= CLEAR or v.ratio <= 1 / CLEAR:
        return ""
    return " (borderline)"


def _idle_costs(run: BenchRun) -> str | None:
    grows: list[str] = []
    flat: list[str] = []
    for v in run.variants():
        if v.selector is None or v.style not in (None, "protocol"):
            continue
        base, loaded = figure(run, v, "pingpong"), figure(run, v, "idle900")
        if base is None or loaded is None:
            continue
        delta = loaded.median - base.median
        label = v.name.replace(" Protocol", "")
        if stats.compare(base, loaded) == -1 and loaded.median > FLAT * base.median:
            grows.append(f"{label} +{delta:.0f} us")
        else:
            flat.append(f"{label} {delta:+.1f} us")
    if not grows and not flat:
        return None
    text = "with 900 idle connections, per request: "
    if grows:
        text += ", ".join(grows) + " more"
    if flat:
        text += ("; " if grows else "") + ", ".join(flat) + " (flat)"
    return text


def _big_idle(run: BenchRun) -> str | None:
    parts = []
    for v in run.variants():
        f = figure(run, v, "idle10000")
        if f is not None:
            parts.append((f.median, v.name.replace(" Protocol", "")))
    if not parts:
        return None
    parts.sort(key=lambda p: p[1])  # by name: an order by medians would change with the noise
    return "with 10000 idle connections, per request: " + ", ".join(
        f"{n} {m:.0f} us" for m, n in parts
    )


# --- two runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Two runs side by side: the cells stable in both and the conclusions that differ."""

    cells: tuple[tuple[str, str, float, float], ...]  # variant, workload, first, second median
    changed: tuple[tuple[str, str], ...]  # conclusions (numbers masked) in one run, not the other

    @property
    def moved(self) -> tuple[tuple[str, str, float, float], ...]:
        """Cells stable in both whose medians differ by MIN_EFFECT or more."""
        return tuple(c for c in self.cells if c[2] <= 0 or abs(c[3] / c[2] - 1) >= stats.MIN_EFFECT)

    @property
    def agree(self) -> bool:
        return not self.changed and not self.moved


def _verdicts(run: BenchRun) -> list[str]:
    """The conclusions with every number masked: what they say, not the figures."""
    return [re.sub(r"[-+]?\d+(?:\.\d+)?", "#", line) for line in conclusions(run)]


def agreement(first: BenchRun, second: BenchRun) -> Agreement:
    """Do two runs (on one host, or before and after a change) say the same?"""
    cells = []
    for a in first.cells:
        b = second.cell(a.variant.name, a.workload)
        ca, cb = a.cpu, b.cpu if b is not None else None
        if b is not None and a.stable and b.stable and ca is not None and cb is not None:
            cells.append((a.variant.name, a.workload, ca.median, cb.median))
    va, vb = _verdicts(first), _verdicts(second)
    changed = tuple(("first", v) for v in va if v not in vb) + tuple(
        ("second", v) for v in vb if v not in va
    )
    return Agreement(tuple(cells), changed)
