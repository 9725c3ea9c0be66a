"""Bench statistics: CPU speed, median, spread and the tie rule, as pure functions of the samples.

A shared host's CPU does not keep one speed: a tenant on the same physical core slows it by a
third or more for a fraction of a second at a time, and one run catches more slow moments than
the next. Every window carries speed probes (a fixed piece of work timed by the load generator
on the server's CPU). The run's reference is a low quantile of the windows' probe times: the
CPU's full speed. A window whose probes took at most FULL_SPEED times the reference ran at full
speed, and a cell's figures come from those windows: they agree from one run to the next, where
the median of all windows moves with the neighbours.

The unit of a cell's figures is the server process, not the window: one process costs up to
a quarter more per request than the next, even at full speed (memory layout), while its own
windows agree closely; so many windows of one process cannot make a cell look steadier than its
processes are. A cell's figure is the median of its processes' medians (over their windows at
full speed), and its spread is the width of the distribution-free CONFIDENCE interval of that
median (order statistics of the process medians; with 5 or 6 processes, their whole range),
over the median. A cell is stable when MIN_PROCESSES processes ran windows at full speed and the
spread is under UNSTABLE_SPREAD: two runs' medians then lie in intervals 10 % wide around the
same truth. A variant beats another only when its interval lies below the other's and its
median is at least MIN_EFFECT lower (lower is better: CPU time per request); otherwise the two
are tied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

UNSTABLE_SPREAD = 0.10
MIN_EFFECT = 0.10  # a winner's median is at least this much lower
DISTURBED = 0.10  # other processes' share of the host's CPU above which a window is redone
REPEAT_BUDGET = 0.15  # share of the planned windows that may be redone: a busy host stays busy
SATURATED_SHARE = 0.90  # CPU busy share at or above which the load generator was the limit
REFERENCE_QUANTILE = 0.05  # of the windows' probe times: the CPU's full speed
# Probe time within this factor of the reference: the window ran at full speed. Measured here,
# server CPU per request is flat up to 1.03 and 8 % higher at 1.05-1.07 (windows that caught part
# of a slow moment); a slowed CPU probes at 1.4-1.6.
FULL_SPEED = 1.05
CONFIDENCE = 0.90  # of the interval of a cell's median
MIN_PROCESSES = 5  # processes with windows at full speed a stable cell needs (5: a 94 % interval)
MIN_COMPARED = 3  # processes a cell needs before it takes part in a comparison
SIGN_LEVEL = 0.05  # one-sided sign test over paired comparisons (a loop against another)
# A verdict whose figures lie within BORDER of its edge is borderline: two quick runs in a row
# agree on a stable cell within about 2 %, so a verdict decided by less than 5 % can flip
# between them ("less than" one run, "tied with" the next), where "borderline" does not.
BORDER = 0.05


@dataclass(frozen=True)
class Summary:
    median: float
    low: float  # first quartile, or the low end of the median's interval
    high: float  # third quartile, or the high end of the median's interval
    n: int

    @property
    def spread(self) -> float:
        """The range from low to high over the median (0 for a single sample)."""
        if self.median == 0:
            return 0.0 if self.high == self.low else float("inf")
        return (self.high - self.low) / abs(self.median)


def speed_reference(probes: Sequence[float]) -> float | None:
    """The probe time of the CPU at full speed: a low quantile, so one odd probe cannot set it."""
    return quantile(probes, REFERENCE_QUANTILE) if probes else None


def at_full_speed(probe: float | None, reference: float | None) -> bool:
    """Did a window run at the CPU's full speed? Without probes there is nothing to tell: yes."""
    if probe is None or reference is None:
        return True
    return probe <= reference * FULL_SPEED


def by_process(values: Sequence[tuple[int, float]]) -> list[float]:
    """The median of each process's values, from (process, value) pairs, in process order."""
    groups: dict[int, list[float]] = {}
    for process, value in values:
        groups.setdefault(process, []).append(value)
    return [median(groups[k]) for k in sorted(groups)]


def enough_full_speed(rounds: Sequence[int]) -> bool:
    """Are windows at full speed from these rounds (one entry per window) enough to be stable?"""
    return len(set(rounds)) >= MIN_PROCESSES


def interval_rank(n: int, confidence: float = CONFIDENCE) -> int | None:
    """k such that the k-th smallest and k-th largest of n values bound the median with at least
    `confidence` (the binomial order-statistic interval, no assumption on the distribution);
    None when n values are too few."""
    tail = (1 - confidence) / 2
    rank, below = None, 0.0
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n  # P(fewer than k values below the median)
        if below > tail:
            break
        rank = k
    return rank


def sign_needed(n: int, level: float = SIGN_LEVEL) -> int | None:
    """How many of n paired comparisons must go one way for a one-sided sign test at `level`
    (8 of 9); None when n is too small for any count to pass."""
    tail = 0.0
    for k in range(n, 0, -1):
        tail += math.comb(n, k) / 2**n  # P(at least k of n by chance)
        if tail > level:
            return k + 1 if k < n else None
    return 1


def median_interval(values: Sequence[float]) -> Summary | None:
    """The median with its CONFIDENCE interval as low and high; with too few values for that
    confidence, the whole range (a wide interval, and a cell that few is unstable anyway)."""
    if not values:
        return None
    ordered = sorted(values)
    k = interval_rank(len(ordered)) or 1
    return Summary(median(ordered), ordered[k - 1], ordered[-k], len(ordered))


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lower = int(pos)
    upper = min(lower + 1, len(ordered) - 1)
    frac = pos - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * frac


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def summarize(values: Sequence[float]) -> Summary | None:
    """Median and quartiles of the samples of one cell; None when there are none."""
    if not values:
        return None
    return Summary(
        median=median(values),
        low=quantile(values, 0.25),
        high=quantile(values, 0.75),
        n=len(values),
    )


def compare(a: Summary, b: Summary, margin: float = 0.0) -> int:
    """-1 when a is lower beyond the spread, 1 when b is, 0 for a tie.

    Beyond the spread means the interquartile ranges do not overlap and the medians differ by
    MIN_EFFECT at least: a smaller gap is what one run differs from the next on a noisy host.
    A positive `margin` asks for that much more on both counts, a negative one for less.
    """
    k = 1 + margin
    if a.high * k < b.low and a.median * k <= b.median * (1 - MIN_EFFECT):
        return -1
    if b.high * k < a.low and b.median * k <= a.median * (1 - MIN_EFFECT):
        return 1
    return 0


def verdict(a: Summary, b: Summary) -> tuple[int, bool]:
    """compare()'s verdict, and whether it is borderline: a figure moved by BORDER (either way)
    would change it. A borderline verdict is the looser one (a win or a loss, not a tie)."""
    firm, loose = compare(a, b, BORDER), compare(a, b, -BORDER)
    return loose, firm != loose


def near_edge(ratio: float, edge: float) -> bool:
    """Is a ratio within BORDER of a band's edge, on either side?"""
    return edge / (1 + BORDER) < ratio < edge * (1 + BORDER)


def ratio(a: Summary, b: Summary) -> float:
    """a's median as a multiple of b's (0.45 means a needs 0.45x what b needs)."""
    return a.median / b.median if b.median else float("inf")


def best(summaries: dict[str, Summary]) -> tuple[str | None, tuple[str, ...]]:
    """The lowest median, and whether it wins beyond the spread.

    Returns (winner, tied): winner is None when the lowest is tied with any other; tied names
    every entry that cannot be told apart from the lowest.
    """
    if not summaries:
        return None, ()
    lowest = min(summaries, key=lambda k: summaries[k].median)
    tied = tuple(
        sorted(
            (k for k in summaries if compare(summaries[lowest], summaries[k]) == 0),
            key=lambda k: summaries[k].median,
        )
    )
    return (lowest if tied == (lowest,) else None), tied


def load_bound(load_cpu: float, server_cpu: float, wall: float, shared: bool) -> bool:
    """Was the load generator, not the server, the limit in one window?

    On a CPU of its own: it was busy SATURATED_SHARE of the time. On a CPU it shares with the
    server: that CPU was busy and the load generator used at least twice the server's CPU, so
    requests per second measure the client far more than the server.
    """
    if wall <= 0:
        return False
    if not shared:
        return load_cpu / wall >= SATURATED_SHARE
    return (load_cpu + server_cpu) / wall >= SATURATED_SHARE and load_cpu >= 2 * server_cpu


def saturated(bound: Sequence[bool]) -> bool:
    """A cell is load-bound when most of its windows were."""
    return sum(bound) * 2 > len(bound)
