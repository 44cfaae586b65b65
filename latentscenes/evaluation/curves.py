"""Training curves (held-out PSNR against training seconds) and the cost ratio between two runs.

A curve is the `points` list of a run's `curve.json`: `{"train_seconds", "test_psnr", ...}`
dicts in training order, evaluated on the same held-out views throughout a run.
"""

from __future__ import annotations

KEY = "test_psnr"


def time_to_reach(points: list[dict], value: float, key: str = KEY) -> float | None:
    """Training seconds at which `key` first reaches `value`, linearly interpolated between
    evaluation points (from 0 s at the start); None if the curve never reaches it."""
    previous_time, previous_value = 0.0, None
    for point in points:
        time, current = float(point["train_seconds"]), float(point[key])
        if current >= value:
            if previous_value is None or previous_value >= current:
                return time
            fraction = (value - previous_value) / (current - previous_value)
            return previous_time + max(0.0, fraction) * (time - previous_time)
        previous_time, previous_value = time, current
    return None


def matched_speedup(fast: list[dict], slow: list[dict], key: str = KEY) -> dict:
    """How much sooner `fast` reaches the PSNR both curves end up reaching.

    The matched value is the lower of the two final values; the ratio is `slow`'s time to
    reach it over `fast`'s. Both curves must be evaluated on the same views.
    Returns {"psnr", "fast_seconds", "slow_seconds", "speedup"}.
    """
    if not fast or not slow:
        raise ValueError("both curves need at least one evaluation point")
    target = min(float(fast[-1][key]), float(slow[-1][key]))
    fast_seconds, slow_seconds = time_to_reach(fast, target, key), time_to_reach(slow, target, key)
    return {
        "psnr": target,
        "fast_seconds": fast_seconds,
        "slow_seconds": slow_seconds,
        "speedup": slow_seconds / fast_seconds if fast_seconds else float("inf"),
    }
