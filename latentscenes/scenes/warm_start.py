"""New scenes that start from scenes learned earlier: the shared parts copied, each new scene
the average of the earlier ones (its micro planes resampled when the new bank stores them at
another side, `micro_resolution`). Stage 2 starts from stage 1 this way (`scene_init=mean`,
`mlp_init=reuse`), and so does the warm-started RGB control (`fit --space rgb
init_from=RUN`), which gives RGB Tri-Planes the same head start."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentscenes.errors import CheckpointError
from latentscenes.scenes import SceneBank
from latentscenes.scenes.bank import upsample_planes


@torch.no_grad()
def warm_start(bank: SceneBank, mlp: nn.Module, tensors: dict[str, torch.Tensor], mean_scene: bool, reuse_mlp: bool) -> None:
    """Copy the earlier run's base planes (micro-macro banks), and optionally its mean scene
    into every row of `bank` and its MLP into `mlp`. `tensors` is the earlier run's
    checkpoint (`model.bank.*`, `model.mlp.*`); a shape mismatch is a `CheckpointError`."""
    copies = []
    if bank.config.micro_macro:
        copies.append((bank.bases, tensors.get("model.bank.bases"), "model.bank.bases"))
    if mean_scene:
        for name in bank.per_scene_names():
            per_scene = getattr(bank, name)
            copies.append((per_scene, _mean_scene(tensors.get(f"model.bank.{name}"), name, per_scene), name))
    if reuse_mlp:
        state = mlp.state_dict()
        copies += [(value, tensors.get(f"model.mlp.{key}"), f"model.mlp.{key}") for key, value in state.items()]
    for target, source, name in copies:
        if source is None or source.shape != target.shape:
            found = "missing" if source is None else f"shaped {tuple(source.shape)}"
            raise CheckpointError(
                f"cannot start from the earlier run: its {name} is {found}, this run needs {tuple(target.shape)} "
                "(use the same planes and mlp settings)"
            )
        target.copy_(source)


def _mean_scene(earlier: torch.Tensor | None, name: str, target: torch.Tensor) -> torch.Tensor | None:
    """The earlier scenes' mean of the per-scene tensor `name`, in every row of `target`
    (micro planes resampled to its side); left unexpanded when the shapes differ otherwise."""
    if earlier is None:
        return None
    mean = earlier.mean(0, keepdim=True)
    if name == "micro" and mean.dim() == 5:
        mean = resample_micro(mean, target.shape[-1])
    return mean.expand_as(target) if mean.shape[1:] == target.shape[1:] else mean


def resample_micro(micro: torch.Tensor, side: int) -> torch.Tensor:
    """Micro planes (B, 3, C, r, r) at side x side: the bank's own bilinear upsampling when
    side > r (the same planes it rendered), the mean of each texel's footprint when smaller."""
    b, p, c, r, _ = micro.shape
    if side >= r or c == 0:
        return upsample_planes(micro, side)
    pooled = F.interpolate(micro.reshape(b * p, c, r, r), size=(side, side), mode="area")
    return pooled.view(b, p, c, side, side)
