"""One-time costs amortised over N new scenes."""

import json

import pytest
import torch

from latentscenes.config import load_config
from latentscenes.engine.checkpoint import save_checkpoint
from latentscenes.engine.runs import create_run
from latentscenes.evaluation.costs import amortised_speedups
from latentscenes.recipes.stage1 import TrainConfig, one_time_seconds
from latentscenes.recipes.stage2 import FitLatentConfig, stage2_one_time_seconds
from latentscenes.weights import builtin_folder, provenance


def test_one_time_costs_are_spread_over_the_scenes():
    rows = amortised_speedups(fast_seconds_per_scene=10.0, slow_seconds_per_scene=100.0, one_time_seconds=1000.0,
                              scene_counts=(10, 100, 1000))
    assert [row["scenes"] for row in rows] == [10, 100, 1000]
    assert [row["fast_seconds_per_scene"] for row in rows] == pytest.approx([110.0, 20.0, 11.0])
    assert [row["speedup"] for row in rows] == pytest.approx([100 / 110, 5.0, 100 / 11])


def test_without_one_time_costs_the_speedup_is_the_per_scene_ratio():
    rows = amortised_speedups(4.0, 20.0, 0.0)
    assert all(row["speedup"] == pytest.approx(5.0) for row in rows)


@pytest.mark.parametrize("vae", ["builtin:torcs-cars-3d", ""])
def test_a_stage1_runs_one_time_costs_count_the_shipped_autoencoder_it_started_from(tmp_path, vae):
    """builtin:torcs-cars-3d was trained from builtin:torcs-cars: both trainings count, read
    from their provenance.json files; an autoencoder trained from scratch inside stage 1 is
    in stage 1's own seconds."""
    run = create_run(tmp_path / "stage1", load_config(TrainConfig, None, [f"autoencoder.vae={vae}"]), kind="train")
    save_checkpoint(run.checkpoints, "step-00000100", {"x": torch.zeros(1)}, {"train_seconds": 123.5})
    expected = 0.0
    if vae:
        shipped = [json.loads((builtin_folder(name) / "provenance.json").read_text())["train_seconds"]
                   for name in ("builtin:torcs-cars-3d", "builtin:torcs-cars")]
        expected = sum(shipped)
        assert all(seconds > 0 for seconds in shipped)
    assert one_time_seconds(run) == {"autoencoder": pytest.approx(expected), "stage1": 123.5}


def test_a_decoder_given_to_stage_2_adds_its_own_training_once(tmp_path):
    """`autoencoder=` shares stage 1's encoder, so only the decoder's training is added: a
    shipped one's own seconds (not those it started from, already in stage 1's), or those of
    the run whose autoencoder folder it is."""
    stage1 = create_run(tmp_path / "stage1", load_config(TrainConfig, None, ["autoencoder.vae="]), kind="train")
    save_checkpoint(stage1.checkpoints, "step-00000100", {"x": torch.zeros(1)}, {"train_seconds": 100.0})
    refit = create_run(tmp_path / "refit", load_config(FitLatentConfig), kind="fit-latent")
    save_checkpoint(refit.checkpoints, "step-00000300", {"x": torch.zeros(1)}, {"train_seconds": 40.0})
    shipped = provenance("builtin:torcs-cars-3d")["train_seconds"]
    cases = {"": None, str(refit.root / "autoencoder"): 40.0, str(tmp_path / "elsewhere"): 0.0,
             "builtin:torcs-cars-3d": shipped}
    for source, decoder in cases.items():
        parts = stage2_one_time_seconds(load_config(FitLatentConfig, None, [f"autoencoder={source}"]), stage1)
        expected = {"autoencoder": 0.0, "stage1": 100.0} | ({} if decoder is None else {"decoder": decoder})
        assert parts == pytest.approx(expected), source
