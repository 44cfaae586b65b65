"""One-time costs amortised over N new scenes."""

import pytest

from latentscenes.evaluation.costs import amortised_speedups


def test_one_time_costs_are_spread_over_the_scenes():
    rows = amortised_speedups(fast_seconds_per_scene=10.0, slow_seconds_per_scene=100.0, one_time_seconds=1000.0,
                              scene_counts=(10, 100, 1000))
    assert [row["scenes"] for row in rows] == [10, 100, 1000]
    assert [row["fast_seconds_per_scene"] for row in rows] == pytest.approx([110.0, 20.0, 11.0])
    assert [row["speedup"] for row in rows] == pytest.approx([100 / 110, 5.0, 100 / 11])


def test_without_one_time_costs_the_speedup_is_the_per_scene_ratio():
    rows = amortised_speedups(4.0, 20.0, 0.0)
    assert all(row["speedup"] == pytest.approx(5.0) for row in rows)
