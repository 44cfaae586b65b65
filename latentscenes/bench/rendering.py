"""Rendering speed on this machine: forward+backward milliseconds per view, samples per second.

`bench_render()` renders views with the reference sizes (32 channels, 64^2 planes,
48 + 48 samples, random jitter as in training), backpropagates a mean-squared loss into
the planes and the MLP, and reports the median over `repeats` runs after one warm-up.
Latent: 16 x 16 rays, C_out = 4. RGB: 128 x 128 rays, C_out = 3.
Timings: `latentscenes.bench.common.median_seconds`.
"""

from __future__ import annotations

import torch

from latentscenes.bench.common import random_cameras
from latentscenes.evaluation.timing import median_seconds
from latentscenes.rendering.config import RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.rays import camera_rays

__all__ = ["bench_render", "bench_case"]


def bench_case(
    size: int,
    out_channels: int,
    *,
    scenes: int = 1,
    views: int = 1,
    channels: int = 32,
    resolution: int = 64,
    render_config: RenderConfig | None = None,
    repeats: int = 5,
    backward: bool = True,
    device: str | torch.device = "cpu",
) -> dict:
    """Median seconds of one forward (+ backward) render of `scenes` x `views` views of size^2 rays."""
    from latentscenes.rendering.renderer import TriPlaneField, render_rays

    config = render_config or RenderConfig()
    generator = torch.Generator().manual_seed(0)
    planes = (torch.randn(scenes, 3, channels, resolution, resolution, generator=generator) * 0.1).to(device)
    planes.requires_grad_(backward)
    decoder = TriPlaneDecoder(channels, out_channels).to(device)
    cam2world, K = random_cameras(scenes * views, size, generator)
    origins, directions = camera_rays(cam2world.view(scenes, views, 4, 4), K.reshape(scenes, views, 3, 3), size, size)
    origins, directions = origins.to(device), directions.to(device)
    target = torch.rand(scenes, views, size * size, out_channels, generator=generator).to(device)

    def step() -> None:
        with torch.set_grad_enabled(backward):
            out = render_rays(TriPlaneField(planes, decoder, config), origins, directions, config, 1.0)
            loss = (out.image - target).square().mean()
            if backward:
                loss.backward()
                planes.grad = None
                decoder.zero_grad(set_to_none=True)

    seconds, times = median_seconds(step, repeats, device=device)
    samples = scenes * views * size * size * (config.samples + config.importance_samples)
    return {
        "seconds": seconds,
        "ms_per_view": 1e3 * seconds / (scenes * views),
        "samples_per_s": samples / seconds,
        "times_s": times,
    }


def bench_render(repeats: int = 5, device: str | torch.device = "cpu", compare_samplers: bool = False) -> dict:
    """Forward+backward ms per view and samples/s for latent (16x16x4) and RGB (128x128x3) renders.

    Reference sizes: 32 channels, 64^2 planes, 48 + 48 samples, training-mode jitter.
    Cases: "latent" renders a phase-A batch, 32 scenes x 1 view in one call (per-view
    figure = call time / 32); "latent_single" one latent view per call; "rgb" one
    128 x 128 view per call. With `compare_samplers` each case is also run with the
    `grid_sample` Tri-Plane lookup (the CPU default is `gather`), keyed "<case>_grid_sample".
    Returns {"threads", "device", "allocator_tuned", "omp_wait_policy", <cases>}; each case
    has ms_per_view, samples_per_s, seconds (median per call) and times_s (all repeats).
    """
    import os

    from latentscenes.process import is_tuned

    cases = {
        "latent": dict(size=16, out_channels=4, scenes=32),
        "latent_single": dict(size=16, out_channels=4, scenes=1),
        "rgb": dict(size=128, out_channels=3, scenes=1),
    }
    samplers = ["auto", "grid_sample"] if compare_samplers else ["auto"]
    result: dict = {
        "threads": torch.get_num_threads(),
        "device": str(device),
        "allocator_tuned": is_tuned(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
    }
    for name, case in cases.items():
        for sampler in samplers:
            config = RenderConfig(sampler=sampler)
            timing = bench_case(**case, repeats=repeats, device=device, render_config=config)
            key = name if sampler == "auto" else f"{name}_{sampler}"
            result[key] = {**case, "views_per_call": case["scenes"], "sampler": sampler, **timing}
    return result


if __name__ == "__main__":
    import json
    import sys

    if "--tune-allocator" in sys.argv:
        from latentscenes.process import keep_freed_memory

        keep_freed_memory()
    summary = bench_render(compare_samplers="--compare" in sys.argv)
    brief = {
        key: {k: v for k, v in value.items() if k != "times_s"} if isinstance(value, dict) else value
        for key, value in summary.items()
    }
    print(json.dumps(brief, indent=2))
