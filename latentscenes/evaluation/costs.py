"""One-time costs shared by every new scene (the autoencoder, stage 1) spread over N scenes.

A per-scene speed-up of the latent method hides what it starts from: an autoencoder and a
stage-1 run that RGB Tri-Planes do not need. Over N new scenes each pays 1/N of them.
`amortised_speedup` is the one place this is computed (`compare`, `bench scale`).
"""

from __future__ import annotations

SCENE_COUNTS = (17, 100, 1000)  # the N that reports amortise over


def amortised_seconds(seconds_per_scene: float, one_time_seconds: float, scenes: int) -> float:
    """Seconds per scene when `scenes` scenes share `one_time_seconds`:
    seconds_per_scene + one_time_seconds / scenes."""
    return seconds_per_scene + one_time_seconds / scenes


def amortised_speedup(
    fast_seconds_per_scene: float,
    slow_seconds_per_scene: float,
    scenes: int,
    fast_one_time_seconds: float = 0.0,
    slow_one_time_seconds: float = 0.0,
) -> float:
    """How many times sooner the fast method learns a scene once each method's one-time seconds
    are spread over `scenes` scenes:
    (slow_seconds_per_scene + slow_one_time_seconds / N) / (fast_seconds_per_scene + fast_one_time_seconds / N)."""
    return (amortised_seconds(slow_seconds_per_scene, slow_one_time_seconds, scenes)
            / amortised_seconds(fast_seconds_per_scene, fast_one_time_seconds, scenes))
