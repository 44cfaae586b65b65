"""Runs that move: a stage-2 run names its stage-1 run relatively, so both can be moved or
copied together and stage 2 still evaluates, resumes, renders and exports; a missing stage-1
run is a clear error."""

import json
import shutil

import torch
from tiny_runs import TINY_STAGE1, TINY_STAGE2

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.runs import create_run
from latentscenes.recipes.catalog import RECOMMENDED, named_recipe
from latentscenes.recipes.stage2 import fit_stage2, stage1_reference


def _eval(run):
    assert main(["--threads", "1", "eval", str(run), "--splits", "test"]) == 0
    return json.loads((run / "eval.json").read_text())["mean"]


def test_stage2_runs_move_and_copy_with_their_stage1_run(objects_32px, tmp_path, capsys):
    data, first = str(objects_32px), tmp_path / "first"
    assert main(["--threads", "1", "train", "--data", data, "--run", str(first / "stage1"), *TINY_STAGE1]) == 0
    fit = ["--threads", "1", "fit", "--space", "latent", "--data", data, "--from", str(first / "stage1")]
    assert main([*fit, "--run", str(first / "stage2"), *TINY_STAGE2]) == 0
    metrics = _eval(first / "stage2")
    # a second stage-2 run with the same config, interrupted after 3 of its 8 steps
    config = named_recipe(RECOMMENDED["latent"]).config([f"data.root={data}", "stage1=../stage1", *TINY_STAGE2])
    fit_stage2(config, create_run(first / "unfinished", config, "fit-latent"), stop_after=3)
    assert stage1_reference(first / "stage1", first / "stage2") == "../stage1"
    for name in ("stage2", "unfinished"):  # what links the runs does not name where they were
        for path in (first / name / "config.yaml", first / name / "run.json"):
            assert str(tmp_path) not in path.read_text(), path

    moved, copied = tmp_path / "moved" / "here", tmp_path / "copied"
    moved.parent.mkdir()
    shutil.move(first, moved)
    shutil.copytree(moved, copied)
    capsys.readouterr()
    for place in (moved, copied):
        assert _eval(place / "stage2") == metrics
        assert main(["--threads", "1", "fit", "--space", "latent", "--run", str(place / "unfinished"), "--resume"]) == 0
        finished, uninterrupted = (load_checkpoint(place / name / "checkpoints")[0] for name in ("unfinished", "stage2"))
        for key, value in uninterrupted.items():
            assert torch.equal(value, finished[key]), key

    # what users do with a finished run after moving it: render and export
    assert main(["--threads", "1", "render", str(moved / "stage2"), "--frames", "2", "--size", "16",
                 "--format", "gif", "--out", str(tmp_path / "renders")]) == 0
    assert any((tmp_path / "renders").rglob("*.png"))
    assert main(["--threads", "1", "export", str(moved / "stage2"), "--out", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "export.json").is_file()

    shutil.rmtree(copied / "stage1")
    capsys.readouterr()
    assert main(["eval", str(copied / "stage2")]) == 2
    err = capsys.readouterr().err
    assert f"stage-1 run {copied / 'stage1'} is missing" in err and err.count("\n") == 1
    assert main(["fit", "--space", "latent", "--run", str(copied / "unfinished"), "--resume"]) == 2
    assert "is missing" in capsys.readouterr().err
