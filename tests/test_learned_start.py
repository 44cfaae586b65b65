"""The learned start for new latent scenes: back-projection conventions, the network's
files, stage 2 starting from it, and a trained start beating the mean start."""

import json
import shutil
from dataclasses import replace

import pytest
import torch
from conftest import TINY_PLANES, TINY_RUN

from latentscenes.cameras import look_at, make_intrinsics
from latentscenes.cli.main import main
from latentscenes.config import load_config
from latentscenes.data import load_scenes
from latentscenes.data.batches import ViewSampler
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.runs import create_run
from latentscenes.errors import ConfigError
from latentscenes.models.learned_start import (
    LearnedStart, LearnedStartConfig, back_project, load_learned_start, plane_points, sample_views,
    save_learned_start, scene_features,
)
from latentscenes.models.phases import Phase
from latentscenes.recipes.stage2 import FitLatentConfig, build_stage2_model
from latentscenes.rendering.rays import camera_rays
from latentscenes.rendering.triplane import sample_triplane_reference

SIDE = 8  # the tiny runs' micro planes at stage 2: planes.resolution=16 stored at 8 x 8


def _camera():
    """A camera at (0, -1.3, 0.5) looking at the origin, 20 x 16 pixels."""
    cam2world = look_at(torch.tensor([0.0, -1.3, 0.5]))
    return cam2world, make_intrinsics(18.0, 17.0, 10.0, 8.0)


def test_a_point_on_a_pixels_ray_projects_back_onto_that_pixel_and_samples_its_latent():
    cam2world, intrinsics = _camera()
    h, w = 16, 20
    pixels = torch.tensor([0, 7, 45, 150, h * w - 1])
    rays = camera_rays(cam2world, intrinsics, h, w, pixels)
    points = rays.origins + 0.9 * rays.directions  # (P, 3), 0.9 along each unit ray
    # latent channel 0 = column, channel 1 = row: bilinear sampling at a pixel centre returns them
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    latents = torch.stack([cols, rows])[None]  # (1, 2, h, w)
    samples, mask = sample_views(latents, cam2world[None], intrinsics[None], points)
    assert torch.allclose(samples[0, :, 0], (pixels % w).float(), atol=1e-4)
    assert torch.allclose(samples[0, :, 1], (pixels // w).float(), atol=1e-4)
    assert mask.tolist() == [[1.0] * len(pixels)]
    behind = rays.origins[:1] - 0.5 * rays.directions[:1]  # behind the camera
    aside = rays.origins[:1] + torch.tensor([[5.0, 0.0, 0.0]])  # projects far outside the image
    _, mask = sample_views(latents, cam2world[None], intrinsics[None], torch.cat([behind, aside]))
    assert mask.tolist() == [[0.0, 0.0]]


def test_grid_points_sit_at_the_texel_centres_of_the_plane_they_fill():
    """Point [p, k, i, j] lies on texel (i, j) of plane p in the Tri-Plane lookup's convention:
    a plane holding only that plane's features returns texel (i, j) there at every depth."""
    r, depths = 4, 3
    points = plane_points(r, depths)  # (3, D, r, r, 3)
    assert points.shape == (3, depths, r, r, 3)
    # plane 0 sees (x, y), its normal is z: x follows the column, y the row, z the depth
    assert torch.allclose(points[0, 2, 1, 3], torch.tensor([-1 + 3.5 * 0.5, -1 + 1.5 * 0.5, -1 + 2.5 * 2 / 3]))
    for p in range(3):
        planes = torch.zeros(1, 3, 2, r, r)
        planes[0, p] = torch.randn(2, r, r)
        features = sample_triplane_reference(planes, points[p].reshape(1, -1, 3))  # (1, D*r*r, 2)
        expected = planes[0, p].permute(1, 2, 0).reshape(1, r * r, 2).repeat(1, depths, 1)
        assert torch.allclose(features, expected, atol=1e-5), p


def test_back_projected_features_of_constant_latents():
    """Constant latents: the mean is the constant, the spread zero, the share of seeing views in [0, 1]."""
    config = LearnedStartConfig(micro_channels=3, micro_side=4, num_bases=2, latent_channels=2, depths=2, pool=0, hidden=8, blocks=1, box=2.0)
    cam2world, intrinsics = _camera()
    latents = torch.tensor([0.3, -0.5]).view(1, 2, 1, 1).expand(2, 2, 16, 20)
    other = look_at(torch.tensor([1.3, 0.0, 0.5]))
    features = back_project(latents, torch.stack([cam2world, other]), intrinsics.expand(2, 3, 3), config)
    assert features.shape == (3, config.in_channels, 4, 4) == (3, 2 * 5, 4, 4)
    per_depth = features.view(3, 2, 5, 4, 4)
    share = per_depth[:, :, 4]
    seen = share > 0
    assert seen.any() and bool(((share >= 0) & (share <= 1)).all())
    assert torch.allclose(per_depth[:, :, 0][seen], torch.tensor(0.3)) and torch.allclose(per_depth[:, :, 1][seen], torch.tensor(-0.5))
    assert per_depth[:, :, 2:4].abs().max() < 1e-6


def _perturbed(config: LearnedStartConfig, seed: int = 0) -> LearnedStart:
    net = LearnedStart(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    return net


def test_a_saved_start_loads_to_the_same_predictions_without_pickle(tmp_path):
    config = LearnedStartConfig(micro_channels=3, micro_side=4, num_bases=5, latent_channels=2, depths=2, pool=32, hidden=8, blocks=1, box=2.0)
    net = _perturbed(config)
    save_learned_start(tmp_path / "start", net, {"bases_fingerprint": "abc"})
    record = json.loads((tmp_path / "start" / "start.json").read_text())
    assert record["config"]["num_bases"] == 5 and record["bases_fingerprint"] == "abc"
    loaded, meta = load_learned_start(tmp_path / "start")
    features = torch.randn(2, 3, config.in_channels, 4, 4)
    assert loaded.config == config and meta == {"bases_fingerprint": "abc"}
    for mine, theirs in zip(net(features), loaded(features)):
        assert torch.equal(mine, theirs)
    shapes = [t.shape for t in net(features)]
    assert shapes == [(2, 3, 3, 4, 4), (2, 5), (2,)]
    with pytest.raises(ConfigError, match="config key 'start'"):
        load_learned_start(tmp_path / "nothing-here")


# ---- with the tiny stage-1 run (conftest: 3 scenes, micro planes 4 x 16 x 16, 4 bases) ----------------


@pytest.fixture(scope="module")
def trained_start(tiny_runs, objects_32px, tmp_path_factory):
    """A start trained through the tiny stage 1 on its three scenes (micro planes at 8 x 8)."""
    run = tmp_path_factory.mktemp("start") / "start"
    assert main([
        "start", "train", "--from", str(tiny_runs / "stage1"), "--data", str(objects_32px), "--run", str(run),
        "data.count=3", f"micro_resolution={SIDE}", "fit.steps=80", "fit.scenes_per_batch=3", "fit.views_per_scene=4",
        "fit.rays_per_view=32", "fit.lr.planes=3e-3", "fit.es_weights=uniform", "network.depths=4", "network.hidden=16",
        "network.blocks=1", "network.pool=0", *TINY_RUN,
    ]) == 0
    return run / "start"


def _stage2_model(tiny_runs, objects_32px, run_root, scene: int = 3, **settings):
    overrides = [f"data.root={objects_32px}", f"stage1={tiny_runs / 'stage1'}", f"micro_resolution={SIDE}",
                 *[f"{key}={value}" for key, value in settings.items()], *TINY_RUN]
    config = load_config(FitLatentConfig, overrides=overrides)
    collection = load_scenes(objects_32px, num_test_views=4, start=scene, count=1)
    return build_stage2_model(config, collection, create_run(run_root, config, kind="fit-latent")), config


def test_an_untrained_start_is_the_mean_start_exactly(tiny_runs, objects_32px, tmp_path):
    stage1, _ = load_checkpoint(tiny_runs / "stage1" / "checkpoints")
    from latentscenes.models.learned_start import bases_fingerprint

    config = LearnedStartConfig(
        micro_channels=4, micro_side=SIDE, num_bases=4, latent_channels=4, depths=2, pool=32, hidden=8, blocks=1, box=2.0
    )
    save_learned_start(tmp_path / "zero", LearnedStart(config), {"bases_fingerprint": bases_fingerprint(stage1["model.bank.bases"])})
    mean, _ = _stage2_model(tiny_runs, objects_32px, tmp_path / "mean", scene_init="mean")
    learned, _ = _stage2_model(tiny_runs, objects_32px, tmp_path / "learned", scene_init="learned", start=tmp_path / "zero")
    for name in ("micro", "weights", "bias"):
        assert torch.equal(getattr(mean.bank, name), getattr(learned.bank, name)), name


def test_a_new_scene_starts_from_the_start_prediction(tiny_runs, objects_32px, trained_start, tmp_path):
    mean, _ = _stage2_model(tiny_runs, objects_32px, tmp_path / "mean", scene_init="mean")
    learned, _ = _stage2_model(tiny_runs, objects_32px, tmp_path / "learned", scene_init="learned", start=trained_start)
    net, _ = load_learned_start(trained_start)
    with torch.no_grad():
        deltas = net(scene_features(learned, learned.cached_latents(), net.config))
    for name, delta in zip(("micro", "weights", "bias"), deltas):
        assert delta.abs().max() > 0, name
        assert torch.allclose(getattr(learned.bank, name), getattr(mean.bank, name) + delta, atol=1e-6), name
    record = json.loads((tmp_path / "learned" / "learned-start.json").read_text())
    assert record["start"] == str(trained_start) and record["seconds"] > 0


def _encode_scene_loss(model, config, steps: int = 0) -> float:
    """Encode-Scene on fixed rays of the scene's training views (deterministic sampling),
    after `steps` Adam steps of the encode phase's rates on the scene's tensors alone."""
    model.render_config = replace(model.render_config, deterministic=True)
    prepared = model.start_phase(Phase("encode", config.encode))
    batch = ViewSampler(model.scenes).sample(torch.Generator().manual_seed(0), 1, 12, rays_per_view=64)
    bank = model.bank
    tensors = [getattr(bank, name).detach().clone().requires_grad_() for name in ("micro", "weights", "bias")]
    optimizer = torch.optim.Adam(tensors, lr=1e-2)

    def loss():
        return model.loss_terms(batch, ["es"], prepared, planes=bank.compose(*tensors)[batch.scene_index])["es"]

    for _ in range(steps):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        return float(loss())


def test_a_trained_start_fits_its_scenes_better_than_the_mean_start(tiny_runs, objects_32px, trained_start, tmp_path):
    """On a stage-1 scene (held-out rays aside: the start never saw per-scene tensors, only
    latents) the trained start's Encode-Scene loss is lower at step 0 and after a few steps."""
    losses = {}
    for init in ("mean", "learned"):
        extra = {"start": trained_start} if init == "learned" else {}
        model, config = _stage2_model(tiny_runs, objects_32px, tmp_path / init, scene=1, scene_init=init, **extra)
        losses[init] = [_encode_scene_loss(model, config, steps) for steps in (0, 5)]
    assert losses["learned"][0] < 0.9 * losses["mean"][0], losses
    assert losses["learned"][1] < losses["mean"][1], losses


def test_missing_or_mismatched_starts_are_one_clear_error(tiny_runs, objects_32px, trained_start, tmp_path, capsys):
    base = ["data.start=3", "data.count=1", "encode.steps=2", "decode.steps=0", "scene_init=learned", *TINY_RUN]
    cases = {
        "missing": ([f"micro_resolution={SIDE}"], "config key 'start': scene_init=learned needs a learned start"),
        "absent": ([f"micro_resolution={SIDE}", f"start={tmp_path / 'absent'}"], "is not a folder"),
        "shapes": ([f"start={trained_start}"], "'micro_side': 8"),
    }
    for name, (extra, message) in cases.items():
        command = ["fit", "--space", "latent", "--from", str(tiny_runs / "stage1"), "--data", str(objects_32px), "--run", str(tmp_path / name)]
        assert main([*command, *base, *extra]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: config key 'start'") and message in err, (name, err)
        assert not (tmp_path / name).exists(), name  # a refused run leaves no folder behind


def test_compare_counts_the_prediction_per_scene_and_the_starts_training_once(tiny_runs, objects_32px, trained_start, tmp_path):
    latent, rgb = tmp_path / "latent", tmp_path / "rgb"
    shutil.copytree(tiny_runs / "rgb", rgb)
    assert main(["fit", "--space", "latent", "--from", str(tiny_runs / "stage1"), "--data", str(objects_32px),
                 "--run", str(latent), "data.start=3", "data.count=1", "encode.steps=2", "decode.steps=0",
                 f"micro_resolution={SIDE}", "scene_init=learned", f"start={trained_start}", *TINY_RUN]) == 0
    # cold RGB's curve ends at 20 dB: both reach the target, 19 dB, at 1.9 s of training
    for run in (latent, rgb):
        points = [{"step": s, "train_seconds": float(s), "test_psnr": psnr} for s, psnr in ((1, 10.0), (2, 20.0))]
        (run / "curve.json").write_text(json.dumps({"num_scenes": 1, "points": points}))
    assert main(["compare", str(latent), "--rgb", str(rgb)]) == 0
    result = json.loads((latent / "compare.json").read_text())["methods"]["latent"]
    prediction = json.loads((latent / "learned-start.json").read_text())["seconds"]  # one scene
    assert result["start_seconds_per_scene"] == pytest.approx(prediction) and prediction > 0
    assert result["seconds_per_scene_to_target"] == pytest.approx(1.9 + prediction)
    _, start = load_learned_start(trained_start)
    assert result["one_time_seconds"]["start"] == pytest.approx(start["train_seconds"]) and start["train_seconds"] > 0
