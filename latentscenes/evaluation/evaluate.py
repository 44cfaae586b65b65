"""Evaluate learned scenes on their views: PSNR and SSIM per scene and split, `eval.json`.

`eval.json` is shaped
`{"mean": {"test": {"psnr", "ssim"}, "train": {...}}, "scenes": {"<id>": {"test": {...}, "train": {...}}}}`
with extra metrics (e.g. `latent_psnr`, `ae_psnr` for latent runs) beside psnr and ssim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import torch

from latentscenes.data import Scene
from latentscenes.evaluation.view_metrics import view_metrics
from latentscenes.io import atomic_write_json


ViewMetrics = Callable[[int, Scene, torch.Tensor], dict[str, torch.Tensor]]
"""(bank row, scene, view indices (V,)) -> per-view metrics, each a (V,) tensor."""


def evaluate_model(
    model, scenes: Iterable[tuple[int, Scene]], splits: tuple[str, ...] = ("test", "train"), max_views: int | None = None
) -> dict:
    """`evaluate_scenes` with `view_metrics` of a learned model (RGB or latent scenes)."""
    return evaluate_scenes(partial(view_metrics, model), scenes, splits, max_views)


def evaluate_scenes(
    metrics: ViewMetrics,
    scenes: Iterable[tuple[int, Scene]],
    splits: tuple[str, ...] = ("test", "train"),
    max_views: int | None = None,
    chunk: int = 8,
) -> dict:
    """Per-scene and mean `metrics` of scenes (bank row, scene) over `splits`; at most
    `max_views` views per split."""
    per_scene: dict[str, dict[str, dict[str, float]]] = {}
    totals: dict[str, dict[str, list[torch.Tensor]]] = {split: {} for split in splits}
    for row, scene in scenes:
        per_scene[scene.scene_id] = {}
        for split in splits:
            views = scene.split(split)[:max_views]
            if len(views) == 0:
                continue
            values: dict[str, list[torch.Tensor]] = {}
            for start in range(0, len(views), chunk):
                with torch.no_grad():
                    result = metrics(row, scene, views[start : start + chunk])
                for name, value in result.items():
                    values.setdefault(name, []).append(value.float())
            merged = {name: torch.cat(parts) for name, parts in values.items()}
            per_scene[scene.scene_id][split] = {name: float(v.mean()) for name, v in merged.items()}
            for name, value in merged.items():
                totals[split].setdefault(name, []).append(value)
    mean = {
        split: {name: float(torch.cat(parts).mean()) for name, parts in names.items()}
        for split, names in totals.items()
        if names
    }
    return {"mean": mean, "scenes": per_scene}


def evaluate_autoencoder(
    autoencoder,
    scenes: Iterable[tuple[int, Scene]],
    splits: Iterable[str],
    max_views: int | None = None,
    warped: bool = False,
) -> dict:
    """An autoencoder's own reconstruction, `decode(encode(x))` (posterior mean), PSNR and
    SSIM per view of `scenes`, in `evaluate_scenes`' format; with `warped`, also `warped_psnr`
    (three more decodes per view), the PSNR of
    decoding *resampled* latents, `decode(T(z))` vs `T(x)`, averaged over the fixed warps of
    `probe_warps` (a renderer's latents are resampled ones: low values mean renders decode
    worse than the autoencoder reconstructs)."""
    from latentscenes.autoencoder.equivariance import probe_warps, warped_decoding_error
    from latentscenes.evaluation.metrics import psnr, psnr_from_mse, ssim

    @torch.no_grad()
    def reconstruction_metrics(row: int, scene: Scene, views: torch.Tensor) -> dict[str, torch.Tensor]:
        target = scene.model_images(views)
        latents = autoencoder.encode(target, sample=False)
        output = autoencoder.decode(latents).clamp(-1, 1)
        metrics = {"psnr": psnr(output, target), "ssim": ssim(output, target)}
        if warped:
            warps = probe_warps(target.shape[-1])
            errors = torch.stack([warped_decoding_error(autoencoder.decode, latents, target, t) for t in warps])
            metrics["warped_psnr"] = psnr_from_mse(errors).mean(0)
        return metrics

    return evaluate_scenes(reconstruction_metrics, scenes, splits, max_views)


def write_eval(path: Path, result: dict) -> None:
    atomic_write_json(path, result)


def format_table(result: dict) -> str:
    """A text table: one row per split with the mean of every metric."""
    names = sorted({name for split in result["mean"].values() for name in split}, key=_metric_order)
    lines = [f"{'split':<8}" + "".join(f"{name:>12}" for name in names)]
    for split, values in result["mean"].items():
        lines.append(f"{split:<8}" + "".join(f"{values.get(name, float('nan')):>12.4f}" for name in names))
    lines.append(f"({len(result['scenes'])} scenes)")
    return "\n".join(lines)


def _metric_order(name: str) -> tuple[int, str]:
    return ({"psnr": 0, "ssim": 1}.get(name, 2), name)
