"""RGB Tri-Planes trained on whole images (`rays_per_view=0`), the paper's protocol: every pixel
of each sampled view once, against the random rays of the package's baseline."""

import torch
from data_fixtures import write_srn_dataset

from latentscenes.data import load_scenes
from latentscenes.data.batches import ViewSampler
from latentscenes.models.phases import LossWeights, PhaseConfig, rays_per_visit
from latentscenes.models.rgb import RGBScenes
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.scenes.config import TriPlaneConfig


def _model_and_scenes(tmp_path):
    torch.manual_seed(0)
    scenes = load_scenes(write_srn_dataset(tmp_path / "data", num_scenes=2, num_views=4, size=16), num_test_views=1).scenes
    render = RenderConfig(samples=8, importance_samples=0, deterministic=True)
    return RGBScenes(2, TriPlaneConfig(micro_macro=False, resolution=8, channels=8), DecoderConfig(), render), scenes


def test_the_whole_image_loss_is_the_mse_of_the_rendered_views(tmp_path):
    model, scenes = _model_and_scenes(tmp_path)
    batch = ViewSampler(scenes).sample(torch.Generator().manual_seed(1), 2, 2, rays_per_view=0)
    assert batch.pixels is None
    loss = model.loss_terms(batch, ["rgb"])["rgb"]
    renders = torch.stack([model.render_images(int(row), scenes[int(row)], views)
                           for row, views in zip(batch.scene_index, batch.views)])  # (S, V, 3, H, W)
    assert torch.allclose(loss, (renders - batch.images).square().mean(), atol=1e-5)


def test_random_rays_over_every_pixel_give_the_whole_image_loss(tmp_path):
    # the same views with every pixel drawn as a "random" ray: both paths regress the same pixels
    model, scenes = _model_and_scenes(tmp_path)
    whole = ViewSampler(scenes).sample(torch.Generator().manual_seed(1), 2, 2, rays_per_view=0)
    rays = ViewSampler(scenes).gather(whole.scene_index, whole.views)
    rays.pixels = torch.arange(16 * 16).expand(2, 2, -1)
    rays.colours = rays.images.permute(0, 1, 3, 4, 2).flatten(2, 3)
    assert torch.allclose(model.loss_terms(whole, ["rgb"])["rgb"], model.loss_terms(rays, ["rgb"])["rgb"], atol=1e-6)


def test_a_whole_image_step_renders_every_pixel_of_its_views():
    phase = PhaseConfig(views_per_scene=3, rays_per_view=0, loss=LossWeights(rgb=1.0))
    assert rays_per_visit(phase, 128, 128) == 3 * 128 * 128
