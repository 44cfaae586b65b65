"""Training curves (held-out PSNR against training seconds) and the cost ratio between two runs.

A curve is the `points` list of a run's `curve.json`: `{"train_seconds", "test_psnr", ...}`
dicts in training order, evaluated on the same held-out views throughout a run (`val_psnr`
too when the data has validation views: read that one to choose settings or judge a plateau).
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


def value_at(points: list[dict], seconds: float, key: str = KEY) -> float:
    """`key` at training time `seconds`, linearly interpolated between evaluation points (the
    first point's value before it, the last one's after it)."""
    if not points:
        raise ValueError("the curve has no evaluation points")
    previous = points[0]
    for point in points:
        if float(point["train_seconds"]) >= seconds:
            span = float(point["train_seconds"]) - float(previous["train_seconds"])
            if span <= 0:
                return float(point[key])
            fraction = (seconds - float(previous["train_seconds"])) / span
            return float(previous[key]) + fraction * (float(point[key]) - float(previous[key]))
        previous = point
    return float(points[-1][key])


def late_rise(points: list[dict], key: str = KEY, fraction: float = 0.25) -> float:
    """How much `key` rose during the last `fraction` of the run's training time: near 0 (or
    negative) at a plateau; clearly positive while the run is still improving."""
    end = float(points[-1]["train_seconds"])
    return float(points[-1][key]) - value_at(points, end * (1 - fraction), key)


def matched_speedup(fast: list[dict], slow: list[dict], key: str = KEY, target: float | None = None) -> dict:
    """How much sooner `fast` reaches a PSNR than `slow`.

    The target is `target` when given (e.g. the slow run's converged PSNR - 1 dB), else the
    lower of the two final values; the ratio is `slow`'s time to reach it over `fast`'s
    (None when either never reaches it). Both curves must be evaluated on the same views.
    Returns {"psnr", "fast_seconds", "slow_seconds", "speedup"}.
    """
    if not fast or not slow:
        raise ValueError("both curves need at least one evaluation point")
    if target is None:
        target = min(float(fast[-1][key]), float(slow[-1][key]))
    fast_seconds, slow_seconds = time_to_reach(fast, target, key), time_to_reach(slow, target, key)
    speedup = None
    if fast_seconds is not None and slow_seconds is not None:
        speedup = slow_seconds / fast_seconds if fast_seconds else float("inf")
    return {"psnr": target, "fast_seconds": fast_seconds, "slow_seconds": slow_seconds, "speedup": speedup}
