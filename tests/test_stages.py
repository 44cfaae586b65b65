"""The method end to end on small pybullet-object data with a tiny autoencoder: stage 1
(AE warm-up, scene warm-up, joint) on three scenes, stage 2 on a fourth, unseen one."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentscenes.cli.main import main
from latentscenes.config import load_config
from latentscenes.data import load_scenes
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.logger import read_metrics
from latentscenes.engine.runs import create_run, open_run
from latentscenes.evaluation.metrics import psnr
from latentscenes.evaluation.renders import save_comparisons
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2
from latentscenes.rendering.renderer import render_views

SMALL = [
    "data.num_test_views=4",
    "render.samples=16",
    "render.importance_samples=16",
    "logging.backend=none",
    "logging.progress=false",
    "logging.checkpoint_every=20",
    "eval.every=0",
    "eval.views=4",
]
# The phase settings these tiny runs' thresholds were set with (the package defaults before they
# became the demo's, which are tuned for 128 px cars and the shipped autoencoder).
CALIBRATED_STAGE1 = ["scenes.rays_per_view=0", "joint.loss.ae=0.1", "joint.lr.encoder=1e-4", "joint.lr.decoder=1e-4"]
CALIBRATED_STAGE2 = ["encode.rays_per_view=0", "encode.lr.planes=1e-2", "encode.lr.weights=1e-2", "encode.lr.bases=1e-2",
                     "encode.decay_every=20"]
STAGE1 = [
    "data.count=3",
    "autoencoder.vae=",
    "autoencoder.preset=tiny",
    "autoencoder.downsample=4",
    "planes.resolution=32",
    "planes.channels=16",
    "planes.micro_channels=6",
    "planes.num_bases=8",
    "warmup.steps=150",
    "warmup.scenes_per_batch=3",
    "warmup.views_per_scene=4",
    "warmup.decay_every=50",
    "scenes.steps=100",
    "scenes.scenes_per_batch=3",
    "scenes.views_per_scene=4",
    "scenes.freeze_mlp_last=20",
    "joint.steps=60",
    "joint.scenes_per_batch=3",
    "joint.views_per_scene=2",
    *CALIBRATED_STAGE1,
    *SMALL,
]
STAGE2 = [
    "data.start=3",
    "data.count=1",
    "encode.steps=120",
    "encode.scenes_per_batch=1",
    "encode.views_per_scene=8",
    "decode.steps=40",
    "decode.scenes_per_batch=1",
    "decode.views_per_scene=4",
    *CALIBRATED_STAGE2,
    *SMALL,
]
WARMUP, SCENES, JOINT = 150, 100, 60


@pytest.fixture(scope="module")
def runs(objects_32px, tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    data = str(objects_32px)
    assert main(["train", "--data", data, "--run", str(root / "stage1"), *STAGE1]) == 0
    assert main(["fit", "--space", "latent", "--from", str(root / "stage1"), "--data", data, "--run", str(root / "stage2"), *STAGE2]) == 0
    return root


def _losses(run, name, first_step, last_step):
    rows = read_metrics(run / "logs")
    return [row[f"loss/{name}"] for row in rows if first_step < row["step"] <= last_step and f"loss/{name}" in row]


def test_each_stage1_phase_lowers_its_losses(runs):
    stage1 = runs / "stage1"
    ae = _losses(stage1, "ae", 0, WARMUP)
    assert ae[-1] < 0.6 * ae[0], ae
    es = _losses(stage1, "es", WARMUP, WARMUP + SCENES)
    assert es[-1] < 0.5 * es[0], es
    ds = _losses(stage1, "ds", WARMUP + SCENES, WARMUP + SCENES + JOINT)
    assert min(ds[-3:]) < ds[0], ds
    assert (stage1 / "autoencoder" / "config.json").is_file()


def test_stage2_phases_lower_es_then_ds(runs):
    stage2 = runs / "stage2"
    es = _losses(stage2, "es", 0, 120)
    assert es[-1] < 0.5 * es[0], es
    ds = _losses(stage2, "ds", 120, 160)
    assert min(ds[-3:]) < ds[0], ds


def test_stage2_learns_an_unseen_scene_well_above_a_blank_guess(runs, objects_32px):
    assert main(["eval", str(runs / "stage2"), "--max-views", "4"]) == 0
    result = json.loads((runs / "stage2" / "eval.json").read_text())
    test = result["mean"]["test"]
    scene = load_scenes(objects_32px, num_test_views=4, start=3, count=1).scenes[0]
    target = scene.model_images(scene.split("test"))
    blank = float(psnr(torch.ones_like(target), target).mean())
    assert test["psnr"] > blank + 3.0, (test, blank)
    assert test["latent_psnr"] > 20.0, test
    assert test["psnr"] <= test["ae_psnr"] + 1.0  # the autoencoder's own reconstruction bounds it
    assert list(result["scenes"]) == [scene.scene_id]


def test_saved_runs_reload_to_identical_renders(runs, tmp_path):
    """Renders of the reloaded checkpoint match those the training process wrote. oneDNN may
    pick other convolution kernels in another process, so a rare pixel may round differently."""
    for name in ("stage1", "stage2"):
        model, collection = load_trained(open_run(runs / name))
        written = save_comparisons(tmp_path / name, model.render_images, collection, max_scenes=8)
        assert len(written) == len(collection)
        for path in written:
            now = np.asarray(Image.open(path), dtype=np.int16)
            before = np.asarray(Image.open(runs / name / "renders" / path.name), dtype=np.int16)
            difference = np.abs(now - before)
            assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, path.name


def test_latent_space_is_more_3d_consistent_after_stage1(runs, objects_32px):
    """Fit the unseen scene (ES only) in the latent space of the warm-up-only autoencoder and
    of the stage-1 autoencoder: the stage-1 space is fitted better."""
    data = str(objects_32px)
    warm = runs / "warmup-only"
    assert main(["train", "--data", data, "--run", str(warm), *STAGE1, "scenes.steps=0", "joint.steps=0"]) == 0
    final = {}
    for name, stage1 in (("before", warm), ("after", runs / "stage1")):
        run = runs / f"es-{name}"
        fresh_scenes = ["decode.steps=0", "mlp_init=reinit", "scene_init=random"]  # only the latent space differs
        assert main(["fit", "--space", "latent", "--from", str(stage1), "--data", data, "--run", str(run), *STAGE2, *fresh_scenes]) == 0
        final[name] = sum(_losses(run, "es", 100, 120)) / len(_losses(run, "es", 100, 120))
    assert final["after"] < final["before"], final


def test_resume_after_interruption_matches_uninterrupted_run(runs, objects_32px):
    overrides = [f"data.root={objects_32px}", f"stage1={runs / 'stage1'}", *STAGE2]
    config = load_config(FitLatentConfig, overrides=overrides)
    interrupted = create_run(runs / "interrupted", config, kind="fit-latent")
    fit_stage2(config, interrupted, stop_after=150)  # last checkpoint at step 140, in the decode phase
    assert load_checkpoint(interrupted.checkpoints)[1]["global_step"] == 140
    fit_stage2(config, interrupted, resume=True)
    resumed, _ = load_checkpoint(interrupted.checkpoints)
    uninterrupted, _ = load_checkpoint((runs / "stage2" / "checkpoints"))
    for key, value in uninterrupted.items():
        if key.startswith("model."):
            assert torch.equal(value, resumed[key]), key


def test_encode_scene_on_random_rays_is_the_whole_render_at_those_latent_pixels(runs):
    """ES on `rays_per_view` random pixels: the latent pixels under them, rendered alone, give
    the same residuals as the whole latent render (deterministic sampling)."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.render_config = replace(model.render_config, deterministic=True)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 3, rays_per_view=50)
    images = batch.images.flatten(0, 1)
    with torch.no_grad():
        on_rays = model.loss_terms(batch, ["es"])["es"]
        planes = model.bank(batch.scene_index)
        whole = model.render_latents(planes, batch.cam2world, batch.intrinsics, batch.height, batch.width).flatten(0, 1)
        residual = (whole - model.autoencoder.encode_normalized(images, sample=False)).square()  # (V, c, h, w)
    c, h, w = residual.shape[1:]
    f = batch.height // h
    pixels = batch.pixels[0]  # (V, R)
    rows, cols = pixels // batch.width // f, pixels % batch.width // f
    expected = torch.stack([residual[v, :, rows[v], cols[v]] for v in range(len(pixels))]).mean()
    assert torch.allclose(on_rays, expected, rtol=1e-4, atol=1e-6), (on_rays, expected)


def test_subpixel_rays_render_the_image_pixels_against_the_latent_pixel_under_them(runs):
    """With render.subpixel_rays, ES renders a latent at the sampled *image* pixels (a full-
    resolution render) and compares it with the latent pixel each one falls in."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=True)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 3, rays_per_view=50)
    with torch.no_grad():
        on_rays = model.loss_terms(batch, ["es"])["es"]
        planes = model.bank(batch.scene_index)
        c, h, w = model.autoencoder.latent_shape(batch.height, batch.width)
        full = model.render_config
        out = render_views(
            planes, model.mlp, batch.cam2world, batch.intrinsics, batch.height, batch.width, full,
            ((model.autoencoder.latent_background((batch.height, batch.width)) + 1) / 2).view(c, 1, 1),
        )
        fine = (out.image * 2 - 1).flatten(0, 1)  # (V, c, H, W): a latent rendered at every image pixel
        targets = model.autoencoder.encode_normalized(batch.images.flatten(0, 1), sample=False)  # (V, c, h, w)
    f = batch.height // h
    pixels = batch.pixels[0]
    y, x = pixels // batch.width, pixels % batch.width
    expected = torch.stack(
        [(fine[v, :, y[v], x[v]] - targets[v, :, y[v] // f, x[v] // f]).square() for v in range(len(pixels))]
    ).mean()
    assert torch.allclose(on_rays, expected, rtol=1e-4, atol=1e-6), (on_rays, expected)
    model.render_config = replace(model.render_config, subpixel_rays=False)
    with torch.no_grad():
        assert not torch.allclose(model.loss_terms(batch, ["es"])["es"], on_rays, rtol=1e-3)


def test_crops_render_and_decode_only_a_window_of_each_view(runs):
    """With a phase's `crop`, ES and DS see one window per view: its latent pixels rendered
    alone equal that window of the whole latent render, DS decodes them against the image
    window above them, and windows move with the sampler's draws."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.render_config = replace(model.render_config, deterministic=True)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 3, crop=16)
    c, h, w = model.autoencoder.latent_shape(batch.height, batch.width)
    f, k = batch.height // h, 16 // (batch.height // h)
    with torch.no_grad():
        terms = model.loss_terms(batch, ["es", "ds"])
        whole = model.render_latents(
            model.bank(batch.scene_index), batch.cam2world, batch.intrinsics, batch.height, batch.width
        )[0]  # (V, c, h, w)
        targets = model.autoencoder.encode_normalized(batch.images[0], sample=False)
        tops = (batch.crop_at[0, :, 0] * (h - k + 1)).long().tolist()
        lefts = (batch.crop_at[0, :, 1] * (w - k + 1)).long().tolist()
        windows = torch.stack([whole[v, :, t : t + k, l : l + k] for v, (t, l) in enumerate(zip(tops, lefts))])
        latent_targets = torch.stack([targets[v, :, t : t + k, l : l + k] for v, (t, l) in enumerate(zip(tops, lefts))])
        images = torch.stack(
            [batch.images[0, v, :, t * f : (t + k) * f, l * f : (l + k) * f] for v, (t, l) in enumerate(zip(tops, lefts))]
        )
        decoded = model.autoencoder.decode_normalized(windows)
    assert decoded.shape[-2:] == (16, 16)
    assert len({(t, l) for t, l in zip(tops, lefts)}) > 1
    assert torch.allclose(terms["es"], (windows - latent_targets).square().mean(), rtol=1e-4, atol=1e-6)
    assert torch.allclose(terms["ds"], (decoded - images).square().mean(), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        uncropped = model.loss_terms(replace(batch, crop=0, crop_at=None), ["ds"])["ds"]
    assert not torch.allclose(uncropped, terms["ds"], rtol=1e-3)


def test_a_crop_off_the_latent_grid_is_refused_before_training_naming_its_key(runs, objects_32px, tmp_path, capsys):
    """The decode phase's crop is checked before the encode phase trains: one line, exit 2."""
    args = ["fit", "--space", "latent", "--from", str(runs / "stage1"), "--data", str(objects_32px)]
    capsys.readouterr()
    assert main([*args, "--run", str(tmp_path / "bad"), *STAGE2, "decode.crop=6"]) == 2
    error = capsys.readouterr().err
    assert "'decode.crop'" in error and "multiple of the downsampling factor (4), got 6" in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "bad" / "curve.json").exists() and not read_metrics(tmp_path / "bad" / "logs")


def test_autoencoder_term_trains_on_crops_when_train_crop_is_set(runs):
    """With autoencoder.train_crop the AE term is the reconstruction loss of random crops
    (then colour-jittered), drawn from torch's global generator."""
    from dataclasses import replace

    from latentscenes.autoencoder import augment_colours, autoencoder_losses, random_crops
    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.ae_config = replace(model.ae_config, train_crop=16)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 2)
    torch.manual_seed(5)
    with torch.no_grad():
        term = model.loss_terms(batch, ["ae"])["ae"]
    torch.manual_seed(5)
    crops = random_crops(batch.images.flatten(0, 1), 16)
    assert crops.shape[-2:] == (16, 16)
    jittered = augment_colours(crops, hue=model.ae_config.augment_hue, saturation=model.ae_config.augment_saturation)
    with torch.no_grad():
        expected = autoencoder_losses(model.autoencoder, jittered, kl_weight=model.ae_config.kl_weight)["total"]
    assert torch.allclose(term, expected), (term, expected)


def test_new_scenes_start_as_the_mean_stage1_scene_with_its_mlp(runs, objects_32px, tmp_path):
    from latentscenes.recipes.stage2 import build_stage2_model

    stage1, _ = load_checkpoint(runs / "stage1" / "checkpoints")
    models = {}
    for init in ("mean", "random"):
        overrides = [f"data.root={objects_32px}", f"stage1={runs / 'stage1'}", *STAGE2, f"scene_init={init}"]
        config = load_config(FitLatentConfig, overrides=overrides)
        collection = load_scenes(objects_32px, num_test_views=4, start=3, count=1)
        models[init] = build_stage2_model(config, collection, create_run(tmp_path / init, config, kind="fit-latent"))
    bank = models["mean"].bank
    for name in ("micro", "weights", "bias"):
        assert torch.allclose(getattr(bank, name)[0], stage1[f"model.bank.{name}"].mean(0)), name
    assert not torch.allclose(models["random"].bank.micro[0], stage1["model.bank.micro"].mean(0))
    for key, value in models["mean"].mlp.state_dict().items():
        assert torch.equal(value, stage1[f"model.mlp.{key}"]), key  # mlp_init=reuse by default
    assert torch.equal(bank.bases, stage1["model.bank.bases"])


def test_encode_scene_and_the_autoencoder_term_share_one_encoder_pass(runs):
    """With the encoder training and the AE term seeing the images unchanged, the encoder runs
    once per batch and Encode-Scene is unchanged; with colour jitter it runs twice."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage1"))
    model.render_config = replace(model.render_config, deterministic=True)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 2, 2)
    calls = []  # encoder passes over the batch's images (not the blank image of the background latent)
    model.autoencoder.vae.encoder.register_forward_hook(
        lambda module, inputs, output: calls.extend([1] if inputs[0].shape[0] == 4 else [])
    )
    with torch.no_grad():
        model.ae_config = replace(model.ae_config, augment_hue=0.0, augment_saturation=0.0, train_crop=0)
        shared = model.loss_terms(batch, ["es", "ae"])
        assert len(calls) == 1
        alone = model.loss_terms(batch, ["es"])
        assert torch.allclose(shared["es"], alone["es"], rtol=1e-5), (shared["es"], alone["es"])
        calls.clear()
        model.ae_config = replace(model.ae_config, augment_hue=0.1)
        model.loss_terms(batch, ["es", "ae"])
        assert len(calls) == 2


def test_equivariance_term_shares_the_encoding_and_trains_both_halves(runs):
    """`eq` decodes a warped posterior sample of the same encoding as `ae` (one encoder pass
    for es + ae + eq) and its gradient reaches the encoder and the decoder."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage1"))
    model.ae_config = replace(model.ae_config, augment_hue=0.0, augment_saturation=0.0, train_crop=0)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 2, 2)
    calls = []
    model.autoencoder.vae.encoder.register_forward_hook(
        lambda module, inputs, output: calls.extend([1] if inputs[0].shape[0] == 4 else [])
    )
    terms = model.loss_terms(batch, ["es", "ae", "eq"])
    assert len(calls) == 1 and set(terms) == {"es", "ae", "eq"}
    model.zero_grad()
    terms["eq"].backward()
    for group in ("encoder", "decoder"):
        grads = [p.grad for p in model.parameter_groups()[group] if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, group
    assert model.bank.micro.grad is None  # eq never touches the scenes


def test_cached_latents_of_training_views_give_the_same_encode_scene_loss(runs, tmp_path):
    """Only training views are cached (row i = view first_train_view + i); ES from the cache
    equals ES from encoding the batch's images, and never converts the images."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler
    from latentscenes.models.phases import LearningRates, LossWeights, Phase, PhaseConfig

    model, collection = load_trained(open_run(runs / "stage2"))
    model.cache = type(model.cache)(tmp_path / "cache")
    model.render_config = replace(model.render_config, deterministic=True)
    prepared = model.start_phase(Phase("encode", PhaseConfig(steps=1, loss=LossWeights(es=1.0), lr=LearningRates(planes=1.0))))
    scene = collection.scenes[0]
    assert prepared.latents is not None and len(prepared.latents[0]) == len(scene.split("train"))
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 3)
    with torch.no_grad():
        cached = model.loss_terms(batch, ["es"], prepared)["es"]
        assert "images" not in batch.__dict__
        encoded = model.loss_terms(batch, ["es"])["es"]
    assert torch.allclose(cached, encoded, rtol=1e-5), (cached, encoded)


def test_aware_compares_latent_spaces_on_the_same_new_scenes(runs, objects_32px, tmp_path, capsys):
    """`latentscenes aware`: stage 2 per stage-1 run, the same settings, evaluated on training and
    held-out (validation) views; the same stage-1 run twice gives the same row twice."""
    quick = [o for o in STAGE2 if not o.startswith(("encode.steps", "decode.steps", "data.num_test_views"))]
    args = ["aware", "--from", str(runs / "stage1"), "--from", str(runs / "stage1"), "--out", str(tmp_path / "aware"),
            "--data", str(objects_32px), "--train-views", "3", *quick,
            "data.num_test_views=2", "data.num_val_views=2", "encode.steps=30", "decode.steps=5"]
    assert main(args) == 0
    result = json.loads((tmp_path / "aware" / "aware.json").read_text())
    first, second = result["runs"]
    assert result["held_out"] == "val" and first["label"] == "0-stage1" and second["label"] == "1-stage1"
    for name in ("psnr", "latent_psnr", "ae_psnr"):
        assert first["val"][name] == pytest.approx(second["val"][name], abs=1e-4), name
        assert first["train"][name] > 10 and first["val"][name] > 10
    assert first["gap"]["psnr"] == pytest.approx(first["train"]["psnr"] - first["val"]["psnr"])
    assert first["autoencoder"] == f"preset tiny warmed up in stage 1, then encoder and decoder trained for {JOINT} joint steps (ES+DS+AE+TV)"
    table = capsys.readouterr().out
    assert "latent train" in table and "0-stage1" in table and "validation views" in table
    assert (tmp_path / "aware" / "0-stage1" / "curve.json").is_file()


def test_aware_refuses_a_run_that_is_not_stage1(runs, tmp_path, capsys):
    args = ["aware", "--from", str(runs / "stage1"), "--from", str(runs / "stage2"), "--out", str(tmp_path / "aware")]
    assert main(args) == 2  # the second run is checked before the first one trains
    assert "not a stage-1 (train) run" in capsys.readouterr().err
    assert not (tmp_path / "aware").exists()
