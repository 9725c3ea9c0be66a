"""Bench statistics and the tie rule on synthetic samples: no timing, no processes."""

from __future__ import annotations

import math

import pytest

from iodetect.bench import stats
from iodetect.bench.stats import Summary


def test_quantile_interpolates_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.quantile(values, 0.0) == 1.0
    assert stats.quantile(values, 1.0) == 4.0
    assert stats.quantile(values, 0.5) == 2.5
    assert stats.quantile(values, 0.25) == pytest.approx(1.75)
    assert stats.median([5.0]) == 5.0
    with pytest.raises(ValueError):
        stats.quantile([], 0.5)
    with pytest.raises(ValueError):
        stats.quantile([1.0], 1.5)


def test_summary_median_quartiles_spread() -> None:
    s = stats.summarize([10.0, 10.2, 9.9, 10.1, 10.0])
    assert s is not None
    assert s.median == 10.0
    assert (s.low, s.high) == (10.0, 10.1)
    assert s.spread == pytest.approx(0.01)
    assert stats.summarize([]) is None


def test_quartiles_shrug_off_one_odd_value_not_two() -> None:
    one = stats.summarize([10.0, 10.1, 9.9, 10.0, 30.0])
    two = stats.summarize([10.0, 10.1, 25.0, 10.0, 30.0])
    assert one is not None and one.spread < stats.UNSTABLE_SPREAD
    assert two is not None and two.spread > stats.UNSTABLE_SPREAD


def test_spread_of_a_summary() -> None:
    assert Summary(median=10.0, low=9.5, high=10.5, n=5).spread == pytest.approx(0.10)
    assert Summary(median=0.0, low=0.0, high=0.0, n=3).spread == 0.0
    assert math.isinf(Summary(median=0.0, low=-1.0, high=1.0, n=3).spread)


def test_tie_rule_needs_the_whole_range_below() -> None:
    a = Summary(median=10.0, low=9.0, high=11.0, n=5)
    b = Summary(median=20.0, low=19.0, high=21.0, n=5)
    near = Summary(median=11.5, low=10.5, high=12.5, n=5)
    assert stats.compare(a, b) == -1
    assert stats.compare(b, a) == 1
    assert stats.compare(a, near) == 0  # medians differ, ranges overlap: a tie
    assert stats.compare(a, a) == 0
    tight = Summary(median=10.0, low=9.95, high=10.05, n=5)
    close = Summary(median=10.5, low=10.45, high=10.55, n=5)
    assert stats.compare(tight, close) == 0  # apart, but 5 %: under the least effect


def test_best_declares_a_winner_only_beyond_the_spread() -> None:
    a = Summary(median=10.0, low=9.0, high=11.0, n=5)
    b = Summary(median=20.0, low=19.0, high=21.0, n=5)
    near = Summary(median=11.5, low=10.5, high=12.5, n=5)
    assert stats.best({"a": a, "b": b}) == ("a", ("a",))
    assert stats.best({"a": a, "b": b, "near": near}) == (None, ("a", "near"))
    assert stats.best({}) == (None, ())


def test_ratio_and_saturation() -> None:
    a = Summary(median=4.5, low=4.4, high=4.6, n=3)
    b = Summary(median=10.0, low=9.9, high=10.1, n=3)
    assert stats.ratio(a, b) == pytest.approx(0.45)
    assert stats.saturated([True, True, False])
    assert not stats.saturated([False, True, False])
    assert not stats.saturated([])


def test_load_bound_on_own_and_shared_cpu() -> None:
    # Its own CPU: busy 95 % of a 1 s window.
    assert stats.load_bound(0.95, 0.3, 1.0, shared=False)
    assert not stats.load_bound(0.5, 0.3, 1.0, shared=False)
    # One CPU for both: busy, and the load generator took more than the server.
    assert stats.load_bound(0.7, 0.25, 1.0, shared=True)
    assert not stats.load_bound(0.55, 0.4, 1.0, shared=True)
    assert not stats.load_bound(0.3, 0.2, 1.0, shared=True)  # CPU mostly idle
    assert not stats.load_bound(1.0, 0.0, 0.0, shared=False)


def test_speed_reference_and_full_speed() -> None:
    probes = [26.0] * 10 + [38.0] * 90  # the CPU at full speed a tenth of the time
    ref = stats.speed_reference([p * 1e-6 for p in probes])
    assert ref == pytest.approx(26.0e-6)
    assert stats.speed_reference([]) is None
    assert stats.at_full_speed(26.0e-6 * 1.05, ref)
    assert not stats.at_full_speed(26.0e-6 * 1.06, ref)
    assert stats.at_full_speed(None, ref) and stats.at_full_speed(1.0, None)  # nothing to tell
    one_odd = stats.speed_reference([1e-6] + [26e-6] * 99)  # one odd probe cannot set it
    assert one_odd == pytest.approx(26e-6)


def test_enough_full_speed_counts_processes_not_windows() -> None:
    assert stats.enough_full_speed([1, 2, 3, 4, 5])
    assert not stats.enough_full_speed([1, 2, 3, 4] * 3)


def test_the_interval_of_the_median_from_order_statistics() -> None:
    # The k-th smallest and largest of n bound the median with >= 90 %: binomial tails.
    assert [stats.interval_rank(n) for n in (1, 4, 5, 6, 8, 9, 12, 20)] == [
        None, None, 1, 1, 2, 2, 3, 6,
    ]  # fmt: skip
    for n in range(5, 40):
        k = stats.interval_rank(n)
        assert k is not None
        outside = 2 * sum(math.comb(n, i) for i in range(k)) / 2**n
        assert outside <= 0.10 < 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    s = stats.median_interval([10.0, 10.4, 9.8, 10.2, 10.1, 30.0, 10.3, 9.9])
    assert s is not None and (s.low, s.high, s.n) == (9.9, 10.4, 8)
    assert s.median == pytest.approx(10.15)
    few = stats.median_interval([10.0, 11.0, 12.0])  # too few for 90 %: the whole range
    assert few is not None and (few.low, few.high) == (10.0, 12.0)
    assert stats.median_interval([]) is None


def test_by_process_takes_each_process_median() -> None:
    pairs = [(2, 5.0), (1, 10.0), (1, 12.0), (2, 7.0), (1, 11.0), (3, 1.0)]
    assert stats.by_process(pairs) == [11.0, 6.0, 1.0]
