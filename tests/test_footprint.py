"""Effective bytes per scene, in closed form on a small bank and against the optimiser's real state."""

import pytest
import torch

from latentscenes.engine.footprint import scene_footprint
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.scenes import SceneBank
from latentscenes.scenes.config import TriPlaneConfig

SMALL = dict(channels=4, resolution=2, micro_channels=1, num_bases=3)


def test_effective_bytes_per_scene_in_closed_form():
    """N = 4 scenes; micro 3 x 1 x 2 x 2 = 12 values, weights 3, bias 1: 16 float32 = 64 bytes.
    Adam state: 2 x 64 + 3 per-row int64 step counts (24) = 152 bytes. Shared: bases
    3 x 3 x 3 x 2 x 2 = 108 values (432 bytes) + MLP Linear(4, 2) 10 values (40 bytes) = 472,
    118 per scene. Effective: 64 + 152 + 118 = 334 bytes."""
    bank = SceneBank(4, TriPlaneConfig(**SMALL))
    footprint = scene_footprint(bank, [torch.nn.Linear(4, 2)])
    assert footprint.parameter_bytes_per_scene == 64
    assert footprint.optimizer_bytes_per_scene == 152
    assert footprint.shared_bytes == 472
    assert footprint.effective_bytes_per_scene == 334
    assert footprint.to_dict()["effective_bytes_per_scene"] == 334


def test_dense_adam_has_no_step_counts_per_row_and_plain_planes_share_only_the_mlp():
    """Plain 3 x 4 x 2 x 2 = 48 values (192 bytes), dense Adam 384; MLP 40 bytes over N = 5."""
    bank = SceneBank(5, TriPlaneConfig(**{**SMALL, "micro_macro": False, "sparse_grad": False}))
    footprint = scene_footprint(bank, [torch.nn.Linear(4, 2)])
    assert (footprint.parameter_bytes_per_scene, footprint.optimizer_bytes_per_scene) == (192, 384)
    assert footprint.effective_bytes_per_scene == 192 + 384 + 40 / 5


@pytest.mark.parametrize("micro_channels", [1, 0])
def test_optimizer_bytes_are_what_the_optimizer_holds_per_scene(micro_channels):
    """After a step touching every scene, the per-scene tensors' optimiser state is N times
    the per-scene figure (ultra-lightweight: weights and bias only)."""
    bank = SceneBank(4, TriPlaneConfig(**{**SMALL, "micro_channels": micro_channels}))
    groups = [{"params": bank.plane_parameters() + [bank.weights, bank.bias], "lr": 0.1, "name": "planes"}]
    optimizer = PhaseOptimizer(groups, bank.sparse_parameters())
    bank(torch.arange(4)).square().sum().backward()
    optimizer.step()
    state = optimizer.parts["optim_sparse"].state
    held = sum(t.numel() * t.element_size() for entry in state.values() for t in entry.values())
    footprint = scene_footprint(bank)
    assert held == 4 * footprint.optimizer_bytes_per_scene
    if micro_channels == 0:
        assert footprint.parameter_bytes_per_scene == 4 * (3 + 1)
