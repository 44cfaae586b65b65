"""Time to reach a PSNR on a training curve, and the matched-PSNR speed-up of two runs."""

import pytest

from latentscenes.evaluation.curves import matched_speedup, time_to_reach


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
