import json

import pytest
import torch

from latentscenes.errors import CheckpointError
from latentscenes.training.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
)


def _trained_adam():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(3, 2))
    optimizer = torch.optim.Adam([{"params": [weight], "lr": 0.1}])
    for _ in range(3):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    return weight, optimizer


def test_save_load_round_trip_with_optimizer(tmp_path):
    weight, optimizer = _trained_adam()
    optim_tensors, optim_meta = optimizer_to_flat(optimizer, "optim")
    save_checkpoint(tmp_path, "step-00000003", {"weight": weight, **optim_tensors}, {"step": 3, "optim": optim_meta})
    tensors, meta = load_checkpoint(tmp_path)
    assert meta["step"] == 3
    assert torch.equal(tensors["weight"], weight.detach())

    restored = torch.nn.Parameter(tensors["weight"].clone())
    fresh = torch.optim.Adam([{"params": [restored], "lr": 0.5}])
    optimizer_from_flat(fresh, tensors, meta["optim"], "optim")
    for opt, param in ((optimizer, weight), (fresh, restored)):
        opt.zero_grad()
        (param**2).sum().backward()
        opt.step()
    assert torch.allclose(weight, restored)


def test_latest_pointer_and_pruning(tmp_path):
    for step in range(4):
        save_checkpoint(tmp_path, f"step-{step:08d}", {"x": torch.full((2,), float(step))}, {"step": step}, keep=2)
    assert latest_checkpoint(tmp_path).name == "step-00000003"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["step-00000002", "step-00000003"]
    tensors, meta = load_checkpoint(tmp_path)
    assert meta["step"] == 3 and tensors["x"][0] == 3


def test_corrupt_checkpoint_is_a_clear_error_and_keeps_files(tmp_path):
    target = save_checkpoint(tmp_path, "step-00000001", {"x": torch.ones(2)}, {"step": 1})
    (target / "tensors.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="tensors.safetensors is corrupt"):
        load_checkpoint(tmp_path)
    assert json.loads((target / "meta.json").read_text()) == {"step": 1}
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
