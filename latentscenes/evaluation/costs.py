"""One-time costs shared by every new scene (the autoencoder, stage 1) spread over N scenes.

A per-scene speed-up of the latent method hides what it starts from: an autoencoder and a
stage-1 run that RGB Tri-Planes do not need. Over N new scenes each pays 1/N of them.
"""

from __future__ import annotations

SCENE_COUNTS = (17, 100, 1000)


def amortised_speedups(
    fast_seconds_per_scene: float,
    slow_seconds_per_scene: float,
    one_time_seconds: float,
    scene_counts: tuple[int, ...] = SCENE_COUNTS,
) -> list[dict]:
    """Per N in `scene_counts`: the fast method's seconds per scene with `one_time_seconds`
    spread over N scenes, and the slow method's time over it.
    Returns [{"scenes", "fast_seconds_per_scene", "speedup"}, ...]."""
    rows = []
    for count in scene_counts:
        fast = fast_seconds_per_scene + one_time_seconds / count
        rows.append({"scenes": count, "fast_seconds_per_scene": fast, "speedup": slow_seconds_per_scene / fast})
    return rows
