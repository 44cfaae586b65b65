"""What every benchmark shares: random cameras around the origin (the timing loop is
`evaluation.timing.median_seconds`).

Timings on a shared CPU are noisy: compare figures from one run. Two process-wide settings
change them by 2x and more (`latentscenes.process`): glibc's handling of freed memory, and
OpenMP's busy-waiting when the cores are oversubscribed.
"""

from __future__ import annotations

import math

import torch

from latentscenes.cameras import look_at


def random_cameras(views: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`views` cameras (V, 4, 4) on a sphere of radius 1.3 looking at the origin, and their
    intrinsics (V, 3, 3) for size x size images with a ~50 degree field of view."""
    azimuth = torch.rand(views, generator=generator) * 2 * math.pi
    elevation = 0.2 + 0.6 * torch.rand(views, generator=generator)
    eye = 1.3 * torch.stack(
        [torch.cos(elevation) * torch.cos(azimuth), torch.cos(elevation) * torch.sin(azimuth), torch.sin(elevation)], -1
    )
    cam2world = look_at(eye)
    focal = 0.5 * size / math.tan(math.radians(25))
    K = torch.tensor([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]]).expand(views, 3, 3)
    return cam2world, K
