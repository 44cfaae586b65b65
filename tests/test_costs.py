"""One-time costs amortised over N new scenes."""

import json

import pytest
import torch

from latentscenes.config import load_config
from latentscenes.engine.checkpoint import save_checkpoint
from latentscenes.engine.runs import create_run
from latentscenes.evaluation.costs import amortised_seconds, amortised_speedup
from latentscenes.recipes.stage1 import TrainConfig, one_time_seconds
from latentscenes.recipes.stage2 import FitLatentConfig, stage2_one_time_seconds
from latentscenes.weights import builtin_folder, provenance


def test_one_time_costs_are_spread_over_the_scenes():
    # 10 s per scene + 1000 s once: 110 s per scene over 10 scenes, 20 over 100, 11 over 1000
    assert [amortised_seconds(10.0, 1000.0, count) for count in (10, 100, 1000)] == pytest.approx([110.0, 20.0, 11.0])
    # against 100 s per scene with no one-time cost: 100 / 110, 100 / 20 = 5, 100 / 11
    speedups = [amortised_speedup(10.0, 100.0, count, fast_one_time_seconds=1000.0) for count in (10, 100, 1000)]
    assert speedups == pytest.approx([100 / 110, 5.0, 100 / 11])


def test_both_methods_one_time_costs_are_spread_over_the_scenes():
    # over 100 scenes: (100 + 500 / 100) / (10 + 1000 / 100) = 105 / 20 = 5.25
    assert amortised_speedup(10.0, 100.0, 100, fast_one_time_seconds=1000.0, slow_one_time_seconds=500.0) == pytest.approx(5.25)


def test_without_one_time_costs_the_speedup_is_the_per_scene_ratio():
    assert all(amortised_speedup(4.0, 20.0, count) == pytest.approx(5.0) for count in (17, 100, 1000))


@pytest.mark.parametrize("vae", ["builtin:torcs-cars-1x", ""])
def test_a_stage1_runs_one_time_costs_count_the_shipped_autoencoder_it_started_from(tmp_path, vae):
    """A shipped autoencoder's training counts, read from its provenance.json; an autoencoder
    trained from scratch inside stage 1 is in stage 1's own seconds."""
    run = create_run(tmp_path / "stage1", load_config(TrainConfig, None, [f"autoencoder.vae={vae}"]), kind="train")
    save_checkpoint(run.checkpoints, "step-00000100", {"x": torch.zeros(1)}, {"train_seconds": 123.5})
    expected = 0.0
    if vae:
        shipped = [json.loads((builtin_folder(name) / "provenance.json").read_text())["train_seconds"]
                   for name in ("builtin:torcs-cars-1x",)]
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
    shipped = provenance("builtin:torcs-cars-2x-3d")["train_seconds"]
    cases = {"": None, str(refit.root / "autoencoder"): 40.0, str(tmp_path / "elsewhere"): 0.0,
             "builtin:torcs-cars-2x-3d": shipped}
    for source, decoder in cases.items():
        parts = stage2_one_time_seconds(load_config(FitLatentConfig, None, [f"autoencoder={source}"]), stage1)
        expected = {"autoencoder": 0.0, "stage1": 100.0} | ({} if decoder is None else {"decoder": decoder})
        assert parts == pytest.approx(expected), source
