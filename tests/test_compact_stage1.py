"""The compact stage-1 run (`export RUN --stage1 --out DIR`, shipped as
`builtin:torcs-cars-1x-stage1` and `builtin:torcs-cars-2x-stage1`): what stage 2 starts from,
and nothing else, gives stage 2 the start the full stage-1 run gives it."""

import json

import pytest
import torch
import yaml
from baselines import best_constant_psnr
from conftest import TINY_RUN
from safetensors.torch import load_file

from latentscenes.autoencoder import AutoencoderConfig, build_autoencoder
from latentscenes.cli.main import main
from latentscenes.config import load_config
from latentscenes.engine.checkpoint import load_checkpoint, save_checkpoint
from latentscenes.engine.runs import RunDir, create_run, open_run
from latentscenes.errors import ConfigError
from latentscenes.recipes.catalog import RECIPES
from latentscenes.recipes.restore import evaluate_run, load_trained
from latentscenes.recipes.stage1 import one_time_seconds
from latentscenes.recipes.stage2 import FitLatentConfig, build_stage2_model
from latentscenes.weights import AUTOENCODER, RGB_START, STAGE1, builtin_names, provenance

NEW_SCENE = ["data.start=3", "data.count=1"]
# each shipped stage-1 run, the shipped autoencoder it was trained in and its named recipe
SHIPPED = [("torcs-cars-1x-stage1", "torcs-cars-1x", "stage1-1x"),
           ("torcs-cars-2x-stage1", "torcs-cars-2x-3d", "stage1-2x")]


@pytest.fixture(scope="module")
def compact(tiny_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("compact") / "stage1"
    assert main(["export", str(tiny_runs / "stage1"), "--stage1", "--out", str(out)]) == 0
    return out


def test_it_keeps_the_bases_the_mlp_and_the_mean_scene_and_drops_the_rest(tiny_runs, compact):
    full, meta = load_checkpoint(RunDir(tiny_runs / "stage1").checkpoints)
    kept, kept_meta = load_checkpoint(RunDir(compact).checkpoints)
    assert kept_meta["train_seconds"] == meta["train_seconds"] and kept_meta["scenes_averaged"] == 3
    assert not any(key.startswith(("optimizer", "rng", "sampler")) for key in kept)
    assert all(torch.equal(kept[key], full[key]) for key in full if key.startswith("model.mlp."))
    assert kept["model.bank.bases"].dtype == torch.float16
    torch.testing.assert_close(kept["model.bank.bases"].float(), full["model.bank.bases"], atol=1e-3, rtol=1e-3)
    for name in ("micro", "weights", "bias"):
        mean = full[f"model.bank.{name}"].mean(0, keepdim=True)
        torch.testing.assert_close(kept[f"model.bank.{name}"].float(), mean, atol=1e-3, rtol=1e-3)
    assert one_time_seconds(open_run(compact)) == one_time_seconds(open_run(tiny_runs / "stage1"))


def test_stage2_starts_from_it_as_from_the_full_run(tiny_runs, compact, objects_32px, tmp_path):
    """The new scene's planes, weights and MLP, and so its first render, are the same."""
    collection_config = load_config(FitLatentConfig, None, [f"data.root={objects_32px}", *NEW_SCENE]).data
    from latentscenes.data import load_scenes_from_config

    scenes = load_scenes_from_config(collection_config)
    models = []
    for name, stage1 in (("full", tiny_runs / "stage1"), ("compact", compact)):
        config = load_config(FitLatentConfig, None, [f"data.root={objects_32px}", *NEW_SCENE, f"stage1={stage1.resolve()}"])
        run = create_run(tmp_path / name, config, kind="fit-latent")
        models.append(build_stage2_model(config, scenes, run).eval())
    full, small = models
    for name, value in full.bank.named_parameters():
        torch.testing.assert_close(dict(small.bank.named_parameters())[name], value, atol=2e-3, rtol=1e-3)
    scene = scenes.scenes[0]
    views = scene.split("test")[:2]
    with torch.no_grad():
        torch.testing.assert_close(small.render_images(0, scene, views), full.render_images(0, scene, views), atol=2e-2, rtol=0)


def test_fit_from_it_learns_the_new_scene_as_from_the_full_run(tiny_runs, compact, objects_32px, tmp_path):
    steps = [*NEW_SCENE, "encode.steps=3", "decode.steps=2", *TINY_RUN]
    psnrs = []
    for name, stage1 in (("full", tiny_runs / "stage1"), ("compact", compact)):
        run = tmp_path / name
        assert main(["fit", "--space", "latent", "--from", str(stage1), "--data", str(objects_32px), "--run", str(run),
                     *steps]) == 0
        psnrs.append(evaluate_run(open_run(run), ("test",))["mean"]["test"]["psnr"])
    assert psnrs[1] == pytest.approx(psnrs[0], abs=0.05)


def test_it_cannot_stand_in_for_the_scenes_it_averaged(compact):
    with pytest.raises(Exception, match="compact copy of a run"):
        load_trained(open_run(compact))


@pytest.mark.parametrize("what", ["not a stage-1 run", "not empty"])
def test_a_bad_export_names_the_problem_and_leaves_the_folder_alone(tiny_runs, tmp_path, capsys, what):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    source, target = (tiny_runs / "latent", tmp_path / "new") if what == "not a stage-1 run" else (tiny_runs / "stage1", out)
    assert main(["export", str(source), "--stage1", "--out", str(target)]) != 0
    error = capsys.readouterr().err
    assert ("'fit-latent' run" if what == "not a stage-1 run" else "is not empty") in error and "Traceback" not in error
    assert (out / "mine.txt").read_text() == "keep" and not (tmp_path / "new").exists()


@pytest.mark.parametrize(("name", "autoencoder", "recipe"), SHIPPED)
def test_the_shipped_stage1_records_how_it_was_made_and_is_not_an_autoencoder(name, autoencoder, recipe):
    assert name in builtin_names(STAGE1) and name not in builtin_names(AUTOENCODER)
    record = provenance(f"builtin:{name}")
    assert "export" in record["command"] and RECIPES[recipe].shipped == f"builtin:{name}"
    assert record["starts_from"] == f"builtin:{autoencoder}"
    assert record["trained_on"]["scenes"] == 59 and len(record["trained_on"]["meshes"]) == 14
    assert not set(record["trained_on"]["meshes"]) & set(record["heldout_meshes"])
    with pytest.raises(ConfigError, match=f"no shipped autoencoder named '{name}'"):
        build_autoencoder(AutoencoderConfig(vae=f"builtin:{name}"))


@pytest.mark.parametrize(("name", "autoencoder", "recipe"), SHIPPED)
def test_the_shipped_stage1_was_made_by_the_recipe_its_provenance_names(name, autoencoder, recipe):
    """Its config is the recipe with the command's overrides, apart from where its data was."""
    from latentscenes.config import to_dict
    from latentscenes.recipes.stage1 import TrainConfig
    from latentscenes.weights import builtin_folder

    shipped = to_dict(load_config(TrainConfig, builtin_folder(f"builtin:{name}", kind=STAGE1) / "config.yaml"))
    made_by = to_dict(RECIPES[recipe].config(["data.count=59", "data.num_test_views=15"]))
    for config in (shipped, made_by):
        config["data"].pop("root")
        config.pop("logging")
    assert shipped == made_by and shipped["autoencoder"]["vae"] == f"builtin:{autoencoder}"


@pytest.mark.parametrize(("name", "autoencoder", "recipe"), SHIPPED)
def test_the_shipped_stage1_is_small_and_in_half_precision(name, autoencoder, recipe):
    from latentscenes.weights import builtin_folder

    folder = builtin_folder(f"builtin:{name}", kind=STAGE1)
    latest = json.loads((folder / "checkpoints" / "latest.json").read_text())["name"]
    tensors = load_file(folder / "checkpoints" / latest / "tensors.safetensors")
    assert tensors["model.bank.micro"].shape[0] == 1 and tensors["model.bank.bases"].dtype == torch.float16
    assert sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) < 8e6


@pytest.mark.parametrize(("name", "autoencoder", "recipe"), SHIPPED)
def test_the_shipped_stage1s_one_time_cost_is_its_training_and_its_autoencoders(name, autoencoder, recipe):
    from latentscenes.weights import builtin_folder, training_seconds

    run = open_run(builtin_folder(f"builtin:{name}", kind=STAGE1))
    parts = one_time_seconds(run)
    assert parts["autoencoder"] == pytest.approx(training_seconds(f"builtin:{autoencoder}")) and parts["autoencoder"] > 0
    assert parts["stage1"] == pytest.approx(provenance(f"builtin:{name}")["train_seconds"], abs=0.01)
    assert training_seconds(f"builtin:{name}") == pytest.approx(sum(parts.values()), abs=0.01)


@pytest.mark.parametrize(("name", "autoencoder", "recipe"), SHIPPED)
def test_the_shipped_stage1_names_its_autoencoder_instead_of_holding_a_copy(name, autoencoder, recipe):
    from latentscenes.recipes.stage1 import autoencoder_folder
    from latentscenes.weights import builtin_folder

    folder = builtin_folder(f"builtin:{name}", kind=STAGE1)
    assert not (folder / "autoencoder").exists()
    assert autoencoder_folder(open_run(folder)) == builtin_folder(f"builtin:{autoencoder}")


def test_an_export_names_a_shipped_autoencoder_it_kept_and_copies_one_it_changed(tmp_path):
    """A stage-1 run that left its shipped autoencoder unchanged exports a reference to it; one
    whose decoder differs from the shipped one exports its own copy, and each stage 2 gets the
    autoencoder its stage 1 had."""
    import shutil

    from latentscenes.autoencoder import load_autoencoder, save_autoencoder
    from latentscenes.recipes.compact_stage1 import write_compact_stage1
    from latentscenes.recipes.stage1 import TrainConfig, autoencoder_folder
    from latentscenes.weights import builtin_folder

    shipped = "builtin:torcs-cars-2x-3d"
    config = load_config(TrainConfig, None, [f"autoencoder.vae={shipped}", "planes.resolution=8", "planes.num_bases=2"])
    exported = {}
    for kind in ("kept", "changed"):
        run = create_run(tmp_path / kind, config, kind="train")
        bank = {"model.bank.bases": torch.zeros(2, 3, 22, 8, 8), "model.bank.micro": torch.ones(3, 3, 10, 8, 8),
                "model.bank.weights": torch.ones(3, 2), "model.bank.bias": torch.zeros(3)}
        save_checkpoint(run.checkpoints, "step-00000010", bank, {"global_step": 10, "train_seconds": 1.0})
        autoencoder = load_autoencoder(builtin_folder(shipped))
        if kind == "changed":
            with torch.no_grad():
                next(autoencoder.vae.decoder.parameters()).add_(1.0)
        save_autoencoder(autoencoder, autoencoder_folder(run))
        exported[kind] = open_run(write_compact_stage1(run.root, tmp_path / f"{kind}-compact"))
    assert autoencoder_folder(exported["kept"]) == builtin_folder(shipped)
    assert not (exported["kept"].root / "autoencoder").exists()
    assert autoencoder_folder(exported["changed"]) == exported["changed"].root / "autoencoder"
    changed = load_autoencoder(autoencoder_folder(exported["changed"])).state_dict()
    original = load_autoencoder(builtin_folder(shipped)).state_dict()
    assert any(not torch.equal(changed[key], original[key]) for key in original)
    shutil.rmtree(tmp_path / "kept")  # the reference does not need the full run


def test_no_two_shipped_folders_hold_the_same_large_file_and_every_one_is_used():
    """Shipped weights are not copies of each other, and each is named by a recipe or by the
    package's code (not only by tests)."""
    import hashlib
    from pathlib import Path

    import latentscenes

    package = Path(latentscenes.__file__).parent
    seen = {}
    for path in sorted((package / "weights").rglob("*")):
        if path.is_file() and path.stat().st_size > 100_000:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest not in seen, f"{path} repeats {seen[digest]}"
            seen[digest] = path
    code = "\n".join(p.read_text() for p in package.rglob("*.py"))
    named = {recipe.shipped for recipe in RECIPES.values()} | {
        recipe.settings.get("autoencoder", {}).get("vae", "") for recipe in RECIPES.values()}
    for kind in (AUTOENCODER, STAGE1, RGB_START):
        for name in builtin_names(kind):
            assert f"builtin:{name}" in named or f"builtin:{name}" in code, name


@pytest.mark.slow  # stage 2 in the full-resolution latent space: encodes 4 x 20 views, 12 steps
def test_stage2_from_the_shipped_stage1_beats_the_best_constant_image(objects_32px, tmp_path):
    run = tmp_path / "new"
    assert main(["fit", "--space", "latent", "--from", "builtin:torcs-cars-1x-stage1", "--data", str(objects_32px),
                 "--run", str(run), *NEW_SCENE, "encode.steps=8", "decode.steps=4", "render.samples=16",
                 "render.importance_samples=16", *TINY_RUN]) == 0
    assert load_config(FitLatentConfig, run / "config.yaml").stage1 == "builtin:torcs-cars-1x-stage1"
    model, collection = load_trained(open_run(run))
    scene = collection.scenes[0]
    views = scene.model_images(scene.split("test"))
    assert evaluate_run(open_run(run), ("test",))["mean"]["test"]["psnr"] > best_constant_psnr(views) + 1.0
    # `bench steps` re-trains the run's phases from the same shipped stage 1, named as shipped
    out = tmp_path / "steps"
    assert main(["bench", "steps", str(run), "--steps", "1", "--skip", "1", "--rounds", "1", "--out", str(out)]) == 0
    phases = json.loads((out / "steps.json").read_text())["runs"][str(run.resolve())]["phases"]
    assert set(phases) == {"encode", "decode"} and all(p["seconds_per_step"] > 0 for p in phases.values())
    probe = yaml.safe_load((out / "round0" / "new-encode" / "config.yaml").read_text())
    assert probe["stage1"] == "builtin:torcs-cars-1x-stage1"
