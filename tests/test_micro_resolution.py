"""Micro planes stored smaller than the planes (`micro_resolution`): what a scene stores,
how it renders (bilinear upsampling, closed form), its gradients, the mean-scene start
averaged down to the smaller side, and stage 2 end to end with its export."""

import pytest
import torch
import torch.nn.functional as F

from latentscenes.cli.main import main
from latentscenes.engine.footprint import scene_footprint
from latentscenes.engine.runs import open_run
from latentscenes.errors import CheckpointError, ConfigError
from latentscenes.export import ExportedScenes
from latentscenes.recipes.restore import load_trained
from latentscenes.scenes import SceneBank, TriPlaneConfig
from latentscenes.scenes.warm_start import warm_start
from tests.conftest import TINY_RUN

SMALL = {"channels": 6, "resolution": 8, "micro_channels": 2, "num_bases": 3}


def centres(side: int) -> torch.Tensor:
    """Texel centres of a side-texel plane in [0, 1] (as the lookup places them)."""
    return (torch.arange(side) + 0.5) / side


def test_a_scene_stores_its_micro_planes_at_the_smaller_side():
    full = SceneBank(5, TriPlaneConfig(**SMALL))
    half = SceneBank(5, TriPlaneConfig(**SMALL, micro_resolution=4))
    assert half.micro.shape == (5, 3, 2, 4, 4) and half.bases.shape == full.bases.shape
    assert half(torch.tensor([4, 1])).shape == full(torch.tensor([4, 1])).shape == (2, 3, 6, 8, 8)
    assert scene_footprint(half).parameter_bytes_per_scene == 4 * (3 * 2 * 16 + 3 + 1)  # micro + weights + bias
    micro_bytes = 3 * 2 * (64 - 16) * 4  # float32 values saved per scene
    assert scene_footprint(full).parameter_bytes_per_scene - scene_footprint(half).parameter_bytes_per_scene == micro_bytes
    assert TriPlaneConfig(**SMALL, micro_resolution=8).micro_side == TriPlaneConfig(**SMALL).micro_side == 8


def test_micro_resolution_above_the_plane_side_names_the_key():
    with pytest.raises(ConfigError, match="micro_resolution"):
        TriPlaneConfig(**SMALL, micro_resolution=9)


def test_upsampled_micro_planes_carry_a_linear_ramp_exactly():
    """Bilinear upsampling with texel centres aligned keeps a linear function of position
    exact away from the border: texel i of side r sits at (i + 0.5) / r."""
    bank = SceneBank(1, TriPlaneConfig(**SMALL, micro_resolution=4))
    with torch.no_grad():
        small = centres(4)
        bank.micro.copy_((2.0 * small[None, :] - 3.0 * small[:, None]).expand(1, 3, 2, 4, 4))
    planes = bank(torch.tensor([0]))[0, :, :2]  # (3, 2, 8, 8): the micro channels at full side
    big = centres(8)
    expected = 2.0 * big[None, :] - 3.0 * big[:, None]
    interior = slice(1, 7)  # outside the outermost small texel centres the lookup clamps
    assert torch.allclose(planes[..., interior, interior], expected[interior, interior].expand(3, 2, 6, 6), atol=1e-6)


@pytest.mark.parametrize("sparse", [True, False])
def test_gradients_reach_the_small_rows_of_the_selected_scenes_only(sparse):
    bank = SceneBank(4, TriPlaneConfig(**SMALL, micro_resolution=4, sparse_grad=sparse))
    index = torch.tensor([2, 0])
    upstream = torch.randn(2, 3, 6, 8, 8)
    (bank(index) * upstream).sum().backward()
    grad = bank.micro.grad.to_dense()
    # Independent: the adjoint of the upsampling, through autograd of F.interpolate.
    micro = bank.micro.detach()[index].clone().requires_grad_(True)
    up = F.interpolate(micro.reshape(6, 2, 4, 4), size=(8, 8), mode="bilinear", align_corners=False)
    (up.view(2, 3, 2, 8, 8) * upstream[:, :, :2]).sum().backward()
    assert torch.allclose(grad[index], micro.grad, atol=1e-5)
    assert grad[[1, 3]].abs().sum() == 0


def test_the_mean_scene_start_averages_each_texel_footprint():
    earlier = SceneBank(2, TriPlaneConfig(**SMALL))
    mlp = torch.nn.Linear(1, 1)
    blocks = torch.randn(2, 3, 2, 4, 4)
    with torch.no_grad():  # each 2 x 2 block of the full-side micro planes holds one value
        earlier.micro.copy_(blocks.repeat_interleave(2, -1).repeat_interleave(2, -2))
    tensors = {f"model.bank.{name}": value.detach() for name, value in earlier.named_parameters()}
    smaller = SceneBank(3, TriPlaneConfig(**SMALL, micro_resolution=4))
    warm_start(smaller, mlp, tensors, mean_scene=True, reuse_mlp=False)
    assert torch.allclose(smaller.micro, blocks.mean(0, keepdim=True).expand(3, -1, -1, -1, -1), atol=1e-6)
    assert torch.equal(smaller.bases, earlier.bases) and torch.allclose(smaller.weights[1], earlier.weights.mean(0))
    # The other way, a larger side renders exactly the earlier (smaller) mean scene.
    larger = SceneBank(1, TriPlaneConfig(**SMALL))
    tensors["model.bank.micro"] = smaller.micro.detach()
    warm_start(larger, mlp, tensors, mean_scene=True, reuse_mlp=False)
    assert torch.allclose(larger(torch.tensor([0]))[:, :, :2], smaller(torch.tensor([0]))[:, :, :2], atol=1e-6)


def test_stage2_with_smaller_micro_planes_trains_and_exports_as_it_renders(tiny_runs, objects_32px, tmp_path):
    run = tmp_path / "half"
    assert main(["fit", "--space", "latent", "--from", str(tiny_runs / "stage1"), "--data", str(objects_32px),
                 "--run", str(run), "data.start=3", "data.count=1", "micro_resolution=8", "encode.steps=3",
                 "decode.steps=2", *TINY_RUN]) == 0
    model, collection = load_trained(open_run(run))
    assert model.bank.micro.shape == (1, 3, 4, 8, 8)  # stage 1's planes: 4 micro channels of 16 x 16
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0
    exports = ExportedScenes(tmp_path / "export")
    scene = collection.scenes[0]
    exported = exports.scene(scene.scene_id)
    views = scene.split("test")[:2]
    rendered = exports.render(exported, exported.cam2world[views], exported.intrinsics[views], exported.height,
                              exported.width)
    assert torch.equal(rendered.images, model.render_images(0, scene, views))


def test_an_earlier_run_of_other_plane_sizes_is_a_checkpoint_error():
    earlier = SceneBank(2, TriPlaneConfig(**{**SMALL, "micro_channels": 3}))
    tensors = {f"model.bank.{name}": value.detach() for name, value in earlier.named_parameters()}
    with pytest.raises(CheckpointError, match="cannot start from the earlier run"):  # not a RuntimeError from expand
        warm_start(SceneBank(2, TriPlaneConfig(**SMALL)), torch.nn.Linear(1, 1), tensors, mean_scene=True, reuse_mlp=False)
