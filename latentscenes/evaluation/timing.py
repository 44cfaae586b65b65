"""Wall time of a step, and of rendering one view of a learned scene: the median of repeats
after a warm-up. Timings on a shared CPU are noisy: compare figures from one run. Two
process-wide settings change them by 2x and more (`latentscenes.process`): glibc's handling
of freed memory, and OpenMP's busy-waiting when the cores are oversubscribed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from latentscenes.cameras import scale_intrinsics
from latentscenes.data import Scene


def median_seconds(
    step: Callable[[], object], repeats: int, warm_up: bool = True, device: str | torch.device = "cpu"
) -> tuple[float, list[float]]:
    """The median wall time of `repeats` calls of `step` (after one untimed call when
    `warm_up`) and every call's time; on CUDA the device is synchronised around each call."""
    cuda = torch.device(device).type == "cuda"
    if warm_up:
        step()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times



@torch.no_grad()
def render_milliseconds(model, scene: Scene, size: int = 128, repeats: int = 3) -> float:
    """Median milliseconds to render (and for latent scenes decode) bank row 0 of `model` seen
    from `scene`'s first view at `size` x `size` pixels, after one warm-up render."""
    intrinsics = scale_intrinsics(scene.intrinsics[:1], size / scene.width, size / scene.height)
    camera = Scene(
        scene_id=scene.scene_id, images=torch.zeros(1, size, size, 3, dtype=torch.uint8),
        cam2world=scene.cam2world[:1], intrinsics=intrinsics, view_names=["render"],
    )
    seconds, _ = median_seconds(lambda: model.render_images(0, camera, torch.tensor([0])), repeats)
    return seconds * 1e3
