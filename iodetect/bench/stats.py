"""Bench statistics: median, spread and the tie rule, as pure functions of the samples.

A cell's spread is its interquartile range relative to the median: one disturbed round on a noisy
host widens it a little, a cell that moves from round to round widens it a lot. A cell whose
spread is UNSTABLE_SPREAD or more is unstable. A variant beats another only when its whole
interquartile range lies below the other's and its median is at least MIN_EFFECT lower (lower
is better: CPU time per request); otherwise the two are tied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

UNSTABLE_SPREAD = 0.10
MIN_EFFECT = 0.10  # a winner's median is at least this much lower
DISTURBED = 0.10  # other processes' share of the host's CPU above which a window is redone
REPEAT_BUDGET = 0.15  # share of the planned windows that may be redone: a busy host stays busy
SATURATED_SHARE = 0.90  # CPU busy share at or above which the load generator was the limit


@dataclass(frozen=True)
class Summary:
    median: float
    low: float  # first quartile
    high: float  # third quartile
    n: int

    @property
    def spread(self) -> float:
        """Interquartile range over the median (0 for a single sample)."""
        if self.median == 0:
            return 0.0 if self.high == self.low else float("inf")
        return (self.high - self.low) / abs(self.median)

    @property
    def stable(self) -> bool:
        return self.n >= 2 and self.spread < UNSTABLE_SPREAD


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


def compare(a: Summary, b: Summary) -> int:
    """-1 when a is lower beyond the spread, 1 when b is, 0 for a tie.

    Beyond the spread means the interquartile ranges do not overlap and the medians differ by
    MIN_EFFECT at least: a smaller gap is what one run differs from the next on a noisy host.
    """
    if a.high < b.low and a.median <= b.median * (1 - MIN_EFFECT):
        return -1
    if b.high < a.low and b.median <= a.median * (1 - MIN_EFFECT):
        return 1
    return 0


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
