"""The `novel` phase: Decode-Scene on views the scenes never fitted (their validation views),
training the decoder alone; in stage 1, and in stage 2 on refitted stage-1 scenes, whose
decoder later stage-2 runs take with `autoencoder=`."""

import copy

import pytest
import torch

from latentscenes.autoencoder import load_autoencoder, save_autoencoder
from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.runs import open_run
from latentscenes.evaluation.evaluate import evaluate_model
from latentscenes.recipes.restore import load_trained

STAGE1 = [
    "data.count=3", "data.num_test_views=4", "data.num_val_views=4",
    "autoencoder.vae=", "autoencoder.preset=tiny", "autoencoder.downsample=4",
    "planes.resolution=32", "planes.channels=16", "planes.micro_channels=6", "planes.num_bases=8",
    "render.samples=16", "render.importance_samples=16",
    "warmup.steps=100", "warmup.scenes_per_batch=3", "warmup.views_per_scene=4", "warmup.decay_every=35",
    "scenes.steps=60", "scenes.scenes_per_batch=3", "scenes.views_per_scene=4", "scenes.rays_per_view=0",
    "joint.steps=0", "novel.scenes_per_batch=3", "novel.views_per_scene=2", "novel.lr.decoder=1e-3",
    "logging.backend=none", "logging.progress=false", "eval.every=0",
]


BEFORE_NOVEL = 160  # warm-up + scene steps: the run's checkpoint there is the model before the novel phase


@pytest.fixture(scope="module")
def stage1_folder(objects_32px, tmp_path_factory):
    """A finished stage 1 with 40 `novel` steps."""
    run = tmp_path_factory.mktemp("novel") / "run"
    assert main(["train", "--data", str(objects_32px), "--run", str(run), *STAGE1, "novel.steps=40",
                 f"logging.checkpoint_every={BEFORE_NOVEL}"]) == 0
    return run


@pytest.fixture(scope="module")
def stage1_run(stage1_folder):
    """(stage-1 model before its `novel` steps, after them, its scenes)."""
    run = stage1_folder
    after, collection = load_trained(open_run(run))
    before = copy.deepcopy(after)
    tensors, meta = load_checkpoint(open_run(run).checkpoints / f"step-{BEFORE_NOVEL:08d}")
    assert meta["phase_index"] == 1 and meta["phase_step"] == 60  # the scene phase's last step: novel not begun
    before.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    return before, after, collection


@pytest.mark.slow
def test_novel_phase_trains_the_decoder_alone(stage1_run):
    before, after, _ = stage1_run
    changed = {
        name for name, value in after.state_dict().items()
        if value.is_floating_point() and not torch.equal(value, before.state_dict()[name])
    }
    assert changed and all(name.startswith(("autoencoder.vae.decoder.", "autoencoder.vae.post_quant_conv."))
                           for name in changed), changed


@pytest.mark.slow
def test_novel_phase_decodes_the_scenes_renders_at_unfitted_views_better(stage1_run):
    """The decoded renders of the validation views (which the scenes never fitted) get closer
    to the images (measured: 16.2 -> 17.5 dB)."""
    before, after, collection = stage1_run
    scenes = list(enumerate(collection.scenes))
    psnr = [evaluate_model(model, scenes, ("val",))["mean"]["val"]["psnr"] for model in (before, after)]
    assert psnr[1] > psnr[0] + 0.5, psnr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.num_val_views=0"], "'novel.split' is 'val': set data.num_val_views"),
        (["novel.lr.planes=0.01"], "trains planes (set novel.lr.planes=0)"),
        (["novel.loss.es=1"], "Encode-Scene on cached latents"),
    ],
)
def test_a_phase_on_validation_views_that_could_fit_them_is_refused(objects_32px, tmp_path, capsys, overrides, message):
    """Refused before a run exists, in one line naming the key."""
    run = tmp_path / "run"
    code = main(["train", "--data", str(objects_32px), "--run", str(run), *STAGE1, "novel.steps=5", *overrides])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.count("\n") == 1, error
    assert not run.exists()


REFIT = [  # stage 2 on the stage-1 scenes themselves: refitted from the mean scene, then the novel phase
    "data.count=3", "data.num_test_views=4", "data.num_val_views=4",
    "encode.steps=30", "encode.scenes_per_batch=3", "decode.steps=0",
    "novel.steps=40", "novel.scenes_per_batch=3", "novel.views_per_scene=2", "novel.lr.decoder=1e-3",
    "logging.backend=none", "logging.progress=false", "eval.every=0",
]


def _halves(autoencoder) -> tuple[dict, dict]:
    """({encoder and normaliser tensors}, {decoder tensors}) of a LatentAutoencoder."""
    state = autoencoder.state_dict()
    decoder = ("vae.decoder.", "vae.post_quant_conv.")
    return ({k: v for k, v in state.items() if not k.startswith(decoder)},
            {k: v for k, v in state.items() if k.startswith(decoder)})


@pytest.fixture(scope="module")
def refit_folder(objects_32px, stage1_folder):
    run = stage1_folder.parent / "refit"
    assert main(["fit", "--space", "latent", "--from", str(stage1_folder), "--data", str(objects_32px),
                 "--run", str(run), *REFIT]) == 0
    return run


@pytest.mark.slow
def test_stage2_novel_phase_writes_stage_1s_encoder_with_a_decoder_for_novel_views(stage1_folder, refit_folder):
    """The refit run's autoencoder keeps stage 1's latent space (encoder, normaliser) and its
    decoder decodes the refitted scenes' renders of their unfitted views better than stage 1's
    (measured: 17.4 -> 18.8 dB)."""
    stage1 = load_autoencoder(stage1_folder / "autoencoder")
    written = load_autoencoder(refit_folder / "autoencoder")
    (space1, decoder1), (space2, decoder2) = _halves(stage1), _halves(written)
    assert all(torch.equal(space1[k], space2[k]) for k in space1)
    assert any(not torch.equal(decoder1[k], decoder2[k]) for k in decoder1)

    refit, collection = load_trained(open_run(refit_folder))
    scenes = list(enumerate(collection.scenes))
    with_novel = evaluate_model(refit, scenes, ("val",))["mean"]["val"]["psnr"]
    refit.autoencoder.load_state_dict(stage1.state_dict())
    with_stage1s = evaluate_model(refit, scenes, ("val",))["mean"]["val"]["psnr"]
    assert with_novel > with_stage1s + 0.5, (with_novel, with_stage1s)


@pytest.mark.slow
def test_a_later_fit_takes_the_decoder_from_autoencoder(objects_32px, stage1_folder, refit_folder, tmp_path):
    run = tmp_path / "new"
    assert main(["fit", "--space", "latent", "--from", str(stage1_folder), "--data", str(objects_32px),
                 "--run", str(run), "data.start=3", "data.count=1", "data.num_test_views=4", "encode.steps=2",
                 "decode.steps=0", f"autoencoder={refit_folder / 'autoencoder'}", "logging.backend=none",
                 "logging.progress=false", "eval.every=0"]) == 0
    model, _ = load_trained(open_run(run))
    _, used = _halves(model.autoencoder)
    _, written = _halves(load_autoencoder(refit_folder / "autoencoder"))
    assert all(torch.equal(used[k], written[k]) for k in written)
    assert not (run / "autoencoder").exists()  # no phase trained the decoder: nothing new to write


def test_autoencoder_from_another_latent_space_is_refused(objects_32px, tiny_runs, tmp_path, capsys):
    """An autoencoder whose encoder is not stage 1's: one line naming the key, no run folder."""
    other = load_autoencoder(tiny_runs / "stage1" / "autoencoder")
    with torch.no_grad():
        next(p for n, p in other.named_parameters() if n.startswith("vae.encoder.")).add_(0.01)
    save_autoencoder(other, tmp_path / "other")
    for value, message in [(tmp_path / "other", "encodes into another latent space"),
                           (tmp_path / "missing", "is not a folder"),
                           ("builtin:no-such", "config key 'autoencoder': no shipped autoencoder named")]:
        run = tmp_path / "run"
        code = main(["fit", "--space", "latent", "--from", str(tiny_runs / "stage1"), "--data", str(objects_32px),
                     "--run", str(run), "data.start=3", "data.count=1", "data.num_test_views=4",
                     f"autoencoder={value}", "logging.backend=none", "logging.progress=false"])
        error = capsys.readouterr().err
        assert code == 2 and message in error and error.count("\n") == 1, error
        assert not run.exists()
