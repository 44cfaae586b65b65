"""Training batches: which scenes and views are drawn, the sampled pixels' colours, and
whole images converted only when a loss reads them."""

import pytest
import torch

from latentscenes.data import Scene
from latentscenes.data.batches import ViewSampler


def _scene(name: str, seed: int, views: int = 6, size: int = 8, val: int = 0) -> Scene:
    generator = torch.Generator().manual_seed(seed)
    return Scene(
        scene_id=name,
        images=torch.randint(0, 256, (views, size, size + 2, 3), dtype=torch.uint8, generator=generator),
        cam2world=torch.eye(4).repeat(views, 1, 1),
        intrinsics=torch.eye(3).repeat(views, 1, 1),
        view_names=[f"{name}_{i}" for i in range(views)],
        num_test_views=2,
        num_val_views=val,
    )


def test_an_epoch_visits_every_scene_once_and_only_training_views():
    scenes = [_scene(f"s{i}", i) for i in range(5)]
    sampler = ViewSampler(scenes, bank_offset=10)
    generator = torch.Generator().manual_seed(0)
    first, second = sampler.sample(generator, 3, 4), sampler.sample(generator, 2, 4)
    rows = torch.cat([first.scene_index, second.scene_index]).tolist()
    assert sorted(rows) == [10, 11, 12, 13, 14]
    assert first.views.shape == (3, 4) and bool((first.views >= 2).all())


def test_validation_views_are_never_drawn():
    sampler = ViewSampler([_scene("a", 0, views=7, val=3)])
    generator = torch.Generator().manual_seed(0)
    drawn = torch.cat([sampler.sample(generator, 1, 8).views.flatten() for _ in range(20)])
    assert set(drawn.tolist()) == {5, 6}


def test_a_phase_on_the_validation_split_draws_only_validation_views():
    sampler = ViewSampler([_scene("a", 0, views=7, val=3), _scene("b", 1, views=7, val=3)])
    generator = torch.Generator().manual_seed(0)
    drawn = torch.cat([sampler.sample(generator, 2, 8, split="val").views.flatten() for _ in range(10)])
    assert set(drawn.tolist()) == {2, 3, 4}
    assert set(sampler.sample(generator, 2, 8).views.flatten().tolist()) <= {5, 6}


def test_a_split_some_scene_lacks_is_named():
    sampler = ViewSampler([_scene("a", 0, views=7, val=3), _scene("b", 1, views=7)])
    with pytest.raises(ValueError, match="scene b has no val views"):
        sampler.sample(torch.Generator().manual_seed(0), 2, 1, split="val")


def test_sampled_colours_are_the_images_at_the_pixels():
    scenes = [_scene("a", 0), _scene("b", 1)]
    batch = ViewSampler(scenes).sample(torch.Generator().manual_seed(3), 2, 3, rays_per_view=5)
    s, v, r = batch.pixels.shape
    assert (s, v, r) == (2, 3, 5) and batch.colours.shape == (2, 3, 5, 3)
    assert (batch.height, batch.width) == (8, 10)
    for i, row in enumerate(batch.scene_index.tolist()):
        images = scenes[row].model_images(batch.views[i])  # (V, 3, H, W)
        y, x = batch.pixels[i] // 10, batch.pixels[i] % 10
        expected = images[torch.arange(v)[:, None], :, y, x]  # (V, R, 3)
        torch.testing.assert_close(batch.colours[i], expected, rtol=0, atol=0)


def test_whole_images_are_converted_on_first_use_only():
    scenes = [_scene("a", 0), _scene("b", 1)]
    batch = ViewSampler(scenes).sample(torch.Generator().manual_seed(0), 2, 2, rays_per_view=4)
    assert "images" not in batch.__dict__  # sampling rays reads the uint8 images only
    images = batch.images
    assert images.shape == (2, 2, 3, 8, 10) and images.dtype == torch.float32
    assert batch.images is images
    for i, row in enumerate(batch.scene_index.tolist()):
        torch.testing.assert_close(images[i], scenes[row].model_images(batch.views[i]))


def test_batches_of_some_scenes_cover_every_scene_evenly():
    """7 scenes, 3 per batch: after every step the visit counts differ by at most one, no batch
    holds a scene twice (batches straddle epochs: 7 is not a multiple of 3), and after 7 steps
    (3 epochs) every scene has been visited exactly 3 times."""
    sampler = ViewSampler([_scene(f"s{i}", i) for i in range(7)])
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(7, dtype=torch.int64)
    for step in range(1, 50):
        rows = sampler.sample(generator, 3, 1).scene_index
        assert len(set(rows.tolist())) == 3, f"step {step} holds a scene twice: {rows.tolist()}"
        counts += torch.bincount(rows, minlength=7)
        assert int(counts.max() - counts.min()) <= 1, f"step {step}: counts {counts.tolist()}"
        if step % 7 == 0:
            assert counts.tolist() == [3 * step // 7] * 7


def test_sampler_order_resumes_from_its_state():
    scenes = [_scene(f"s{i}", i) for i in range(5)]
    sampler, generator = ViewSampler(scenes), torch.Generator().manual_seed(0)
    for _ in range(3):
        sampler.sample(generator, 2, 1)
    resumed, resumed_generator = ViewSampler(scenes), torch.Generator()
    resumed.load_state(sampler.state())
    resumed_generator.set_state(generator.get_state())
    for _ in range(6):
        a, b = sampler.sample(generator, 2, 1), resumed.sample(resumed_generator, 2, 1)
        assert torch.equal(a.scene_index, b.scene_index) and torch.equal(a.views, b.views)
