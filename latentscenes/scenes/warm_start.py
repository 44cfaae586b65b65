"""New scenes that start from scenes learned earlier: the shared parts copied, each new scene
the average of the earlier ones. Stage 2 starts from stage 1 this way (`scene_init=mean`,
`mlp_init=reuse`), and so does the warm-started RGB control (`fit --space rgb
init_from=RUN`), which gives RGB Tri-Planes the same head start."""

from __future__ import annotations

import torch
from torch import nn

from latentscenes.errors import CheckpointError
from latentscenes.scenes import SceneBank


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
            earlier = tensors.get(f"model.bank.{name}")
            copies.append((per_scene, None if earlier is None else earlier.mean(0, keepdim=True).expand_as(per_scene), name))
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
