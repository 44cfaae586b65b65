"""Time to reach a PSNR on a training curve, and the matched-PSNR speed-up of two runs."""

import pytest

from latentscenes.evaluation.curves import late_rise, matched_speedup, time_to_reach, value_at


def curve(*pairs):
    return [{"train_seconds": t, "test_psnr": p} for t, p in pairs]


def test_time_to_reach_interpolates_between_points():
    points = curve((10, 15.0), (20, 19.0), (30, 21.0))
    assert time_to_reach(points, 17.0) == pytest.approx(15.0)
    assert time_to_reach(points, 21.0) == pytest.approx(30.0)
    assert time_to_reach(points, 12.0) == 10.0  # reached by the first evaluation
    assert time_to_reach(points, 21.5) is None


def test_time_to_reach_ignores_later_dips():
    assert time_to_reach(curve((10, 20.0), (20, 18.0), (30, 22.0)), 19.0) == pytest.approx(10.0)


def test_matched_speedup_uses_the_lower_final_psnr():
    fast = curve((2, 18.0), (4, 20.0))
    slow = curve((10, 16.0), (30, 20.0), (50, 22.0))
    result = matched_speedup(fast, slow)
    assert result["psnr"] == 20.0
    assert result["fast_seconds"] == pytest.approx(4.0) and result["slow_seconds"] == pytest.approx(30.0)
    assert result["speedup"] == pytest.approx(7.5)
    with pytest.raises(ValueError):
        matched_speedup([], slow)


def test_matched_speedup_at_a_given_target():
    fast = curve((2, 18.0), (4, 20.0))
    slow = curve((10, 16.0), (30, 20.0), (50, 22.0))
    assert matched_speedup(fast, slow, target=19.0)["speedup"] == pytest.approx(25.0 / 3.0)
    never = matched_speedup(fast, slow, target=21.0)
    assert never["fast_seconds"] is None and never["speedup"] is None and never["slow_seconds"] == pytest.approx(40.0)


def test_value_at_interpolates_and_holds_the_ends():
    points = curve((10, 15.0), (20, 19.0))
    assert value_at(points, 15) == pytest.approx(17.0)
    assert value_at(points, 5) == 15.0 and value_at(points, 99) == 19.0


def test_late_rise_is_small_at_a_plateau_and_large_while_rising():
    rising = curve((10, 15.0), (20, 18.0), (30, 20.0), (40, 22.0))
    assert late_rise(rising) == pytest.approx(2.0)  # from 20.0 at 30 s to 22.0 at 40 s
    flat = curve((10, 15.0), (20, 21.9), (30, 22.0), (40, 21.95))
    assert abs(late_rise(flat)) < 0.1


def test_the_matched_speedup_one_db_below_the_slow_runs_end():
    fast = curve((2, 18.0), (4, 20.0), (8, 21.5))
    slow = curve((10, 16.0), (30, 20.0), (50, 22.0), (70, 22.0))
    result = matched_speedup(fast, slow, target=22.0 - 1.0)
    assert result["psnr"] == pytest.approx(21.0)
    assert result["fast_seconds"] == pytest.approx(4 + 4 * 2 / 3)
    assert result["slow_seconds"] == pytest.approx(40.0)
    assert result["speedup"] == pytest.approx(40.0 / (4 + 4 * 2 / 3))
    assert matched_speedup(fast, slow, target=22.0 - 0.2)["speedup"] is None  # the fast run never gets there
