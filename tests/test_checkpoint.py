import pickle

import pytest
import torch

from latentscenes.engine.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
)
from latentscenes.errors import CheckpointError


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


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "bit flip":  # same size: only the checksum tells
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 1]) + data[-2:])
    else:  # a pickle payload where weights are expected
        path.write_bytes(pickle.dumps({"x": [1.0, 2.0]}))


@pytest.mark.parametrize("how", ["truncated", "bit flip", "pickle"])
def test_damaged_checkpoint_is_refused_and_keeps_files(tmp_path, how):
    target = save_checkpoint(tmp_path, "step-00000001", {"x": torch.ones(2)}, {"step": 1})
    meta_before = (target / "meta.json").read_text()
    _damage(target / "tensors.safetensors", how)
    with pytest.raises(CheckpointError, match="tensors.safetensors is damaged"):
        load_checkpoint(tmp_path)
    assert (target / "meta.json").read_text() == meta_before
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_resuming_falls_back_to_the_newest_intact_checkpoint(tmp_path):
    for step in (1, 2):
        save_checkpoint(tmp_path, f"step-{step:08d}", {"x": torch.full((2,), float(step))}, {"step": step})
    _damage(tmp_path / "step-00000002" / "tensors.safetensors", "bit flip")
    with pytest.warns(UserWarning, match="step-00000002.*damaged.*using the intact checkpoint .*step-00000001"):
        tensors, meta = load_checkpoint(tmp_path, fall_back=True)
    assert meta["step"] == 1 and torch.equal(tensors["x"], torch.ones(2))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(tmp_path)  # eval and render never fall back silently


def test_saving_the_same_step_again_never_leaves_latest_dangling(tmp_path):
    """The final save reuses the last periodic step's name; a crash between moving the old
    folder aside and renaming the new one in leaves the previous checkpoint to resume from."""
    save_checkpoint(tmp_path, "step-00000001", {"x": torch.ones(2)}, {"step": 1})
    save_checkpoint(tmp_path, "step-00000002", {"x": torch.full((2,), 2.0)}, {"step": 2})
    (tmp_path / "step-00000002").rename(tmp_path / ".step-00000002.replaced")  # the crash point
    with pytest.warns(UserWarning, match="using the intact checkpoint"):
        assert load_checkpoint(tmp_path, fall_back=True)[1]["step"] == 1
    save_checkpoint(tmp_path, "step-00000002", {"x": torch.full((2,), 3.0)}, {"step": 2, "final": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step-00000001", "step-00000002"]
    assert load_checkpoint(tmp_path)[1]["final"]
