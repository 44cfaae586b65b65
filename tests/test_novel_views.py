"""Stage 1's `novel` phase: Decode-Scene on views the scenes never fitted (their validation
views), training the decoder alone."""

import copy

import pytest
import torch

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
def stage1_run(objects_32px, tmp_path_factory):
    """Stage 1 with 40 `novel` steps: (model before them, model after, its scenes)."""
    run = tmp_path_factory.mktemp("novel") / "run"
    assert main(["train", "--data", str(objects_32px), "--run", str(run), *STAGE1, "novel.steps=40",
                 f"logging.checkpoint_every={BEFORE_NOVEL}"]) == 0
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
