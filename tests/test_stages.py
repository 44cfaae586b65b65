"""The method end to end on small pybullet-object data with a tiny autoencoder: stage 1
(AE warm-up, scene warm-up, joint) on three scenes, stage 2 on a fourth, unseen one."""

import json

import numpy as np
import pytest
import torch
from baselines import best_constant_psnr
from PIL import Image

from latentscenes.cli.main import main
from latentscenes.config import load_config
from latentscenes.data import load_scenes
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.logger import read_metrics
from latentscenes.engine.runs import create_run, open_run
from latentscenes.evaluation.renders import comparison_grids, write_comparisons
from latentscenes.recipes.catalog import RECOMMENDED, named_recipe
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2
from latentscenes.rendering.renderer import render_views
from latentscenes.scenes.warm_start import resample_micro

SMALL = [
    "data.num_test_views=4",
    "render.samples=16",
    "render.importance_samples=16",
    "logging.backend=none",
    "logging.progress=false",
    "logging.log_every=1",
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

pytestmark = pytest.mark.slow  # every test here reads `runs`: stage 1 and stage 2 trained on 3 + 1 objects


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


def _start_and_end(losses, steps=10):
    """Mean of a phase's first and of its last `steps` per-step losses (single steps are noisy)."""
    return float(np.mean(losses[:steps])), float(np.mean(losses[-steps:]))


def test_each_stage1_phase_lowers_its_losses(runs):
    """Each phase ends well below where it started (measured: AE and ES to ~0.09 and ~0.08 of
    their start). The joint phase's DS falls least (to ~0.86 in 60 steps at this size), so the
    weighted sum that phase minimises is checked too (~0.83)."""
    stage1 = runs / "stage1"
    joint = (WARMUP + SCENES, WARMUP + SCENES + JOINT)
    for name, (first, last), ratio in (
        ("ae", (0, WARMUP), 0.3),
        ("es", (WARMUP, WARMUP + SCENES), 0.3),
        ("ds", joint, 0.95),
        ("total", joint, 0.9),
    ):
        start, end = _start_and_end(_losses(stage1, name, first, last))
        assert end < ratio * start, (name, start, end)
    assert (stage1 / "autoencoder" / "config.json").is_file()


def test_stage2_phases_lower_es_then_ds(runs):
    """Measured: ES to ~0.08 of its start, DS to ~0.6."""
    stage2 = runs / "stage2"
    for name, first, last, ratio in (("es", 0, 120, 0.3), ("ds", 120, 160, 0.8)):
        start, end = _start_and_end(_losses(stage2, name, first, last))
        assert end < ratio * start, (name, start, end)


def test_stage2_learns_an_unseen_scene_well_above_the_best_constant_guess(runs):
    """On the unseen scene's held-out views, the decoded renders beat the best constant image
    and the rendered latents the best constant latent (scored like `latent_psnr`, against
    the views' normalised latents), each by 3 dB (measured: 4.8 and 4.0 dB)."""
    assert main(["eval", str(runs / "stage2"), "--max-views", "4"]) == 0
    result = json.loads((runs / "stage2" / "eval.json").read_text())
    test = result["mean"]["test"]
    model, collection = load_trained(open_run(runs / "stage2"))
    scene = collection.scenes[0]
    target = scene.model_images(scene.split("test"))
    with torch.no_grad():
        latents = model.autoencoder.encode_normalized(target, sample=False)
    constant_image, constant_latent = best_constant_psnr(target), best_constant_psnr(latents)
    assert test["psnr"] > constant_image + 3.0, (test, constant_image)
    assert test["latent_psnr"] > constant_latent + 3.0, (test, constant_latent)
    assert test["psnr"] <= test["ae_psnr"] + 1.0  # the autoencoder's own reconstruction bounds it
    assert list(result["scenes"]) == [scene.scene_id]


def test_saved_runs_reload_to_identical_renders(runs, tmp_path):
    """Renders of the reloaded checkpoint match those the training process wrote. oneDNN may
    pick other convolution kernels in another process, so a rare pixel may round differently."""
    for name in ("stage1", "stage2"):
        model, collection = load_trained(open_run(runs / name))
        written = write_comparisons(tmp_path / name, comparison_grids(model.render_images, list(enumerate(collection.scenes))))
        assert len(written) == len(collection)
        for path in written:
            now = np.asarray(Image.open(path), dtype=np.int16)
            before = np.asarray(Image.open(runs / name / "renders" / path.name), dtype=np.int16)
            difference = np.abs(now - before)
            assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, path.name


def test_latent_space_is_more_3d_consistent_after_stage1(runs, objects_32px):
    """Fit the unseen scene (ES only) in the latent space of the warm-up-only autoencoder and
    of the stage-1 autoencoder: the stage-1 space is fitted better. The two spaces are
    normalised differently, so each ES is measured against the best constant guess in its own
    space (the variance of the targets about their channel means): the fraction left
    unexplained (measured 0.041 after vs 0.057 before; raw ES said 0.0019 vs 0.0052)."""
    data = str(objects_32px)
    warm = runs / "warmup-only"
    assert main(["train", "--data", data, "--run", str(warm), *STAGE1, "scenes.steps=0", "joint.steps=0"]) == 0
    unexplained = {}
    for name, stage1 in (("before", warm), ("after", runs / "stage1")):
        run = runs / f"es-{name}"
        fresh_scenes = ["decode.steps=0", "mlp_init=reinit", "scene_init=random"]  # only the latent space differs
        assert main(["fit", "--space", "latent", "--from", str(stage1), "--data", data, "--run", str(run), *STAGE2, *fresh_scenes]) == 0
        model, _ = load_trained(open_run(run))
        targets = model.cached_latents()[0]  # (V_train, c, h, w): what ES fits
        constant = float(targets.var(dim=(0, 2, 3), correction=0).mean())
        unexplained[name] = float(np.mean(_losses(run, "es", 100, 120))) / constant
    assert unexplained["after"] < 0.85 * unexplained["before"], unexplained


def test_resume_after_interruption_matches_uninterrupted_run(runs, objects_32px):
    overrides = [f"data.root={objects_32px}", f"stage1={runs / 'stage1'}", *STAGE2]
    config = named_recipe(RECOMMENDED["latent"]).config(overrides)  # as the CLI built the uninterrupted run
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
    the same residuals as the whole latent render (deterministic sampling, rays through the
    latent pixels' centres)."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=False)
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


def test_encode_scene_weighted_by_the_decoder_is_the_metric_norm_of_the_latent_error(runs, tmp_path):
    """`es_weights=decoder`: the phase estimates the decoder's metric on cached training latents,
    and ES is d^T M' d / c with M' = (1 - floor) M / mean(diag M) + floor I (plain ES at floor 1)."""
    from dataclasses import replace

    from latentscenes.autoencoder.sensitivity import decoder_metric
    from latentscenes.data.batches import ViewSampler
    from latentscenes.models.phases import LearningRates, LossWeights, Phase, PhaseConfig

    model, collection = load_trained(open_run(runs / "stage2"))
    model.cache = type(model.cache)(tmp_path / "cache")
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=False)
    weighted = PhaseConfig(steps=1, loss=LossWeights(es=1.0), lr=LearningRates(planes=1.0), es_weights="decoder", es_floor=0.2)
    prepared = model.start_phase(Phase("encode", weighted))
    plain = model.start_phase(Phase("encode", replace(weighted, es_floor=1.0)))
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 3)
    with torch.no_grad():
        es = model.loss_terms(batch, ["es"], prepared)["es"]
        es_plain = model.loss_terms(batch, ["es"], plain)["es"]
        planes = model.bank(batch.scene_index)
        whole = model.render_latents(planes, batch.cam2world, batch.intrinsics, batch.height, batch.width).flatten(0, 1)
        error = whole - model.autoencoder.encode_normalized(batch.images.flatten(0, 1), sample=False)  # (V, c, h, w)
    metric = decoder_metric(model.autoencoder.decode_normalized, prepared.latents[0][:8], generator=torch.Generator().manual_seed(0))
    c = metric.shape[0]
    blended = 0.8 * metric / metric.diagonal().mean() + 0.2 * torch.eye(c)
    expected = torch.einsum("vchw,cd,vdhw->", error, blended, error) / error.numel()
    assert torch.allclose(es, expected, rtol=1e-4), (es, expected)
    assert torch.allclose(es_plain, error.square().mean(), rtol=1e-4)
    assert not torch.allclose(es, es_plain, rtol=1e-2)
    # While the encoder trains there is no cache: the metric comes from encoding the same views.
    encoding = model.start_phase(Phase("joint", replace(weighted, lr=LearningRates(planes=1.0, encoder=1e-4))))
    assert encoding.latents is None
    assert torch.allclose(encoding.es_factor, prepared.es_factor, rtol=1e-3, atol=1e-4)


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
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=False)
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
    """With autoencoder.train_crop the AE term reconstructs random 16-px windows of the
    batch's images: the encoder sees windows of them (no colour jitter here), the decoder
    gives back windows, the windows move between steps, and the term is the windows' error."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage2"))
    model.ae_config = replace(model.ae_config, train_crop=16, augment_hue=0.0, augment_saturation=0.0, kl_weight=0.0)
    batch = ViewSampler(collection.scenes).sample(torch.Generator().manual_seed(0), 1, 2)
    images = batch.images.flatten(0, 1)  # (V, 3, 32, 32)
    seen = []
    model.autoencoder.vae.encoder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model.autoencoder.vae.decoder.register_forward_hook(lambda module, inputs, output: seen.append(output))
    offsets = []
    with torch.no_grad():
        for _ in range(4):
            seen.clear()
            term = model.loss_terms(batch, ["ae"])["ae"]
            crops, decoded = seen
            assert crops.shape == decoded.shape == (len(images), 3, 16, 16)
            windows = [_window_offset(image, crop) for image, crop in zip(images, crops)]
            assert None not in windows, windows
            offsets.append(tuple(windows))
            assert torch.allclose(term, (decoded - crops).square().mean(), rtol=1e-5)
    assert len(set(offsets)) > 1, offsets


def _window_offset(image, crop):
    """(top, left) of the window of `image (3, H, W)` that equals `crop (3, k, k)`, or None."""
    k = crop.shape[-1]
    for top in range(image.shape[1] - k + 1):
        for left in range(image.shape[2] - k + 1):
            if torch.equal(image[:, top : top + k, left : left + k], crop):
                return top, left
    return None


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


def test_coefficient_first_phase_fits_only_the_base_weights_and_lowers_encode_scene(runs, objects_32px, tmp_path):
    run = tmp_path / "coefficients"
    only_coefficients = [
        "coefficients.steps=15", "coefficients.scenes_per_batch=1", "coefficients.rays_per_view=0",
        "coefficients.lr.weights=0.1", "encode.steps=0", "decode.steps=0",
    ]
    assert main(["fit", "--space", "latent", "--from", str(runs / "stage1"), "--data", str(objects_32px),
                 "--run", str(run), *STAGE2, *only_coefficients]) == 0
    stage1, _ = load_checkpoint(runs / "stage1" / "checkpoints")
    fitted, _ = load_checkpoint(run / "checkpoints")
    micro = fitted["model.bank.micro"]
    assert torch.equal(micro, resample_micro(stage1["model.bank.micro"].mean(0, keepdim=True), micro.shape[-1]))
    assert torch.equal(fitted["model.bank.bases"], stage1["model.bank.bases"])
    assert all(torch.equal(fitted[key], value) for key, value in stage1.items() if key.startswith("model.mlp."))
    assert not torch.allclose(fitted["model.bank.weights"][0], stage1["model.bank.weights"].mean(0))
    first, last = _start_and_end(_losses(run, "es", 0, 15), steps=3)
    assert last < first


def test_encode_scene_and_the_autoencoder_term_share_one_encoder_pass(runs):
    """With the encoder training and the AE term seeing the images unchanged, the encoder runs
    once per batch and Encode-Scene is unchanged; with colour jitter it runs twice."""
    from dataclasses import replace

    from latentscenes.data.batches import ViewSampler

    model, collection = load_trained(open_run(runs / "stage1"))
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=False)
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
    model.render_config = replace(model.render_config, deterministic=True, subpixel_rays=False)
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
    # what it reports was learned: better than the best constant image (and latent) of those views
    scene = load_scenes(objects_32px, num_test_views=2, num_val_views=2, start=3, count=1).scenes[0]
    images = scene.model_images(scene.split("val"))
    model, _ = load_trained(open_run(tmp_path / "aware" / "0-stage1"))
    with torch.no_grad():
        latents = model.autoencoder.encode_normalized(images, sample=False)
    assert first["val"]["psnr"] > best_constant_psnr(images) + 1.0
    assert first["val"]["ae_psnr"] > best_constant_psnr(images) + 3.0
    assert first["val"]["latent_psnr"] > best_constant_psnr(latents) + 1.0
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
