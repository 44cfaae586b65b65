"""Training under `torchrun`: scene shards, whole-run checkpoints that reshard on resume, and
2-process runs on CPU (gloo) of the RGB baseline and of both stages, checked against
1-process runs and loaded for `eval` in a single process."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from data_fixtures import write_srn_dataset
from tiny_runs import QUIET, TINY_STAGE1, TINY_STAGE2

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.distributed import PER_PROCESS, local_checkpoint
from latentscenes.parallel import World
from latentscenes.recipes.stage import _pooled_means


@pytest.mark.parametrize("count,size", [(4, 2), (5, 2), (7, 3), (3, 3)])
def test_shards_give_every_scene_to_exactly_one_process(count, size):
    shards = [World(rank, size).shard(count) for rank in range(size)]
    assert [scene for shard in shards for scene in shard] == list(range(count))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_a_whole_run_checkpoint_splits_into_any_number_of_shards():
    tensors = {"model.bank.planes": torch.arange(7.0)[:, None], "optim.0.exp_avg": torch.arange(7.0) * 2, "model.mlp.w": torch.ones(3)}
    tensors |= {f"rank{rank}.{key}": torch.tensor([rank]) for rank in (0, 1) for key in PER_PROCESS}  # saved by 2
    rows = {"model.bank.planes", "optim.0.exp_avg"}
    for size in (1, 2, 3):
        parts = [local_checkpoint(World(rank, size), tensors, {"world_size": 2}, rows) for rank in range(size)]
        assert all(same == (size == 2) for _, same in parts)  # RNG streams only carry over to as many processes
        if size == 2:
            assert all(int(part[key]) == rank for rank, (part, _) in enumerate(parts) for key in PER_PROCESS)
        for key in rows:
            assert torch.equal(torch.cat([part[key] for part, _ in parts]), tensors[key])
        assert all(part["model.mlp.w"] is tensors["model.mlp.w"] for part, _ in parts)


def test_pooled_means_weigh_each_scene_by_its_views():
    counted = [(2, "test", {"psnr": 10.0}), (1, "test", {"psnr": 40.0}), (3, "val", {"psnr": 5.0})]
    assert _pooled_means(counted) == {"test": {"psnr": 20.0}, "val": {"psnr": 5.0}}


def _torchrun(processes, *args, fails=False):
    """The CLI under `python -m torch.distributed.run` on CPU with one thread per process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += ["-m", "latentscenes", "--threads", "1", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert (result.returncode != 0) == fails, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _meta(checkpoint):
    return json.loads((checkpoint / "meta.json").read_text())


def _cut_back_to(run, step, copy):
    """A copy of `run` as a crash right after its checkpoint of `step` leaves it."""
    shutil.copytree(run, copy)
    name = f"step-{step:08d}"
    for checkpoint in (copy / "checkpoints").iterdir():
        if checkpoint.is_dir() and checkpoint.name > name:
            shutil.rmtree(checkpoint)
    (copy / "checkpoints" / "latest.json").write_text(json.dumps({"name": name}))
    return copy


RGB = [
    "data.num_test_views=2", "planes.resolution=16", "planes.channels=8", "render.samples=8",
    "render.importance_samples=0", "fit.steps=60", "fit.rays_per_view=32", "eval.views=2", "eval.scenes=4",
    "eval.every=0", "logging.checkpoint_every=30", *QUIET,
]
# Final test PSNR measured on this data (docs/distributed.md), seeds 0-4: 1 process 18.02-18.62
# dB (mean 18.32), 2 processes 17.88-18.46 dB (mean 18.09); the steps themselves match to 1e-6
# (test_two_process_steps_equal_one_process_steps_on_the_same_batch).
PSNR_TOLERANCE_DB = 0.75


@pytest.mark.slow
def test_rgb_baseline_under_torchrun(tmp_path):
    """4 scenes on 2 processes (2 each, 2 per batch) against 1 process with the same global
    batch of 4: every scene trained, replicas identical, exported by one process, resumed
    with 2 processes to the uninterrupted result and with 1 process to a finished run that
    `eval` loads."""
    data = write_srn_dataset(tmp_path / "data", num_scenes=4, num_views=8, size=16)
    two = tmp_path / "two"
    _torchrun(2, "fit", "--space", "rgb", "--data", data, "--run-dir", two, *RGB, "fit.scenes_per_batch=2")
    middle, final = (load_checkpoint(two / "checkpoints" / f"step-{s:08d}") for s in (30, 60))
    assert final[1]["scenes_per_process"] == [2, 2] and final[1]["world_size"] == 2
    assert final[1]["replica_difference"] == 0.0  # MLP and its Adam moments equal on both processes
    moved = (final[0]["model.bank.planes"] - middle[0]["model.bank.planes"]).flatten(1).abs().amax(1)
    assert (moved > 0).all()  # each scene's planes trained by the process holding it
    assert main(["--threads", "1", "export", str(two), "--out", str(tmp_path / "export")]) == 0  # one process
    assert len(list((tmp_path / "export" / "scenes").glob("*.safetensors"))) == 4

    one = tmp_path / "one"
    assert main(["--threads", "1", "fit", "--space", "rgb", "--data", str(data), "--run", str(one), *RGB, "fit.scenes_per_batch=4"]) == 0
    # an error in one process (only rank 0 creates the run folder) stops both, with its message
    failed = _torchrun(2, "fit", "--space", "rgb", "--data", data, "--run-dir", two, *RGB, fails=True)
    assert "error: [rank 0] run folder" in failed.stderr and "not empty" in failed.stderr

    psnr_two = json.loads((two / "curve.json").read_text())["points"][-1]["test_psnr"]
    psnr_one = json.loads((one / "curve.json").read_text())["points"][-1]["test_psnr"]
    assert psnr_one > 16 and abs(psnr_two - psnr_one) < PSNR_TOLERANCE_DB

    again = _cut_back_to(two, 30, tmp_path / "again")
    _torchrun(2, "fit", "--space", "rgb", "--resume", "--run-dir", again)
    resumed, _ = load_checkpoint(again / "checkpoints")
    assert all(torch.equal(resumed[key], value) for key, value in final[0].items() if key.startswith("model."))

    single = _cut_back_to(two, 30, tmp_path / "single")
    assert main(["--threads", "1", "fit", "--space", "rgb", "--resume", "--run", str(single)]) == 0
    tensors, meta = load_checkpoint(single / "checkpoints")
    assert meta["global_step"] == 60 and meta["world_size"] == 1
    assert main(["--threads", "1", "eval", str(single), "--splits", "test"]) == 0
    scenes = json.loads((single / "eval.json").read_text())["scenes"]
    assert len(scenes) == 4 and min(scene["test"]["psnr"] for scene in scenes.values()) > 14


@pytest.mark.slow
def test_both_stages_under_torchrun(objects_32px, tmp_path):
    """Stage 1 on 2 scenes and stage 2 on 2 others with 2 processes; stage 1 resumed with 1
    process from its middle; stage 2 evaluated in a single process on every scene."""
    first = tmp_path / "stage1"
    _torchrun(2, "train", "--data", objects_32px, "--run-dir", first, *TINY_STAGE1)
    tensors, meta = load_checkpoint(first / "checkpoints")
    assert meta["scenes_per_process"] == [1, 1] and meta["replica_difference"] == 0.0
    assert (first / "autoencoder" / "config.json").is_file()
    assert len(list((first / "latent-cache").rglob("*.safetensors"))) == 2  # each process encoded its scene

    alone = _cut_back_to(first, 21, tmp_path / "alone")
    assert main(["--threads", "1", "train", "--resume", "--run", str(alone)]) == 0
    assert load_checkpoint(alone / "checkpoints")[1]["global_step"] == 30

    second = tmp_path / "stage2"
    stage2 = [*TINY_STAGE2, "data.count=2", "encode.scenes_per_batch=1", "decode.scenes_per_batch=1"]
    _torchrun(2, "fit", "--space", "latent", "--from", first, "--data", objects_32px, "--run-dir", second, *stage2)
    tensors, meta = load_checkpoint(second / "checkpoints")
    assert meta["scenes_per_process"] == [1, 1] and meta["replica_difference"] == 0.0
    assert main(["--threads", "1", "eval", str(second), "--splits", "test", "--max-views", "2"]) == 0
    scenes = json.loads((second / "eval.json").read_text())["scenes"]
    assert len(scenes) == 2 and all(scene["test"]["psnr"] > 8 for scene in scenes.values())


def _one_step(model, scenes, rows, world):
    """Three Adam steps of the loop's kind on rows `rows` of `scenes` with fixed views and rays."""
    from latentscenes.data.batches import ViewSampler
    from latentscenes.engine.distributed import split_parameters, sync_gradients
    from latentscenes.engine.loop import _backward
    from latentscenes.engine.optim import PhaseOptimizer

    groups = [{"params": model.bank.plane_parameters(), "lr": 1e-2, "name": "planes"}, {"params": list(model.mlp.parameters()), "lr": 1e-2, "name": "mlp"}]
    optimizer = PhaseOptimizer(groups, model.sparse_parameters())
    generator = torch.Generator().manual_seed(5)
    batch = ViewSampler(scenes).gather(torch.arange(len(scenes)), torch.randint(2, 8, (len(scenes), 2), generator=generator))
    batch.pixels = torch.randint(16 * 16, (len(scenes), 2, 32), generator=generator)
    flat = batch.raw_images.flatten(2, 3)
    batch.colours = torch.gather(flat, 2, batch.pixels.unsqueeze(3).expand(-1, -1, -1, 3)).float() / 127.5 - 1
    batch.scene_index = torch.arange(len(scenes))
    select = torch.tensor(rows)
    for name in ("scene_index", "views", "cam2world", "intrinsics", "raw_images", "pixels", "colours"):
        setattr(batch, name, getattr(batch, name)[select])
    batch.scene_index = torch.arange(len(rows))
    shared, per_scene = split_parameters(model)
    for _ in range(3):  # Adam's first step only sees gradient signs; later ones their sizes
        loss = model.loss_terms(batch, ["rgb"])["rgb"]
        optimizer.zero_grad()
        assert sync_gradients(world, shared, per_scene, _backward(loss, {"rgb": loss}, optimizer)) is None
        optimizer.step()


def _step_on_shard(rank, store, data, expected):
    import torch.distributed as dist

    from latentscenes.data import load_scenes
    from latentscenes.parallel import World

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        world = World(rank, 2)
        model = _rgb_model()
        rows = list(world.shard(4))
        model.bank.planes = torch.nn.Parameter(model.bank.planes.detach()[rows].clone())  # this process's scenes
        scenes = load_scenes(data, num_test_views=2).scenes
        _one_step(model, scenes, rows, world)
        state = model.state_dict()
        for key, value in torch.load(expected).items():  # written by this test, trusted
            mine = state[key]
            expect = value[rows] if key == "bank.planes" else value
            assert torch.allclose(mine, expect, atol=1e-6), key
    finally:
        dist.destroy_process_group()


def _rgb_model():
    from latentscenes.models.rgb import RGBScenes
    from latentscenes.rendering.config import DecoderConfig, RenderConfig
    from latentscenes.scenes.config import TriPlaneConfig

    torch.manual_seed(0)
    model = RGBScenes(4, TriPlaneConfig(micro_macro=False, resolution=16, channels=8), DecoderConfig(), RenderConfig(samples=8, importance_samples=0, deterministic=True))
    return model


def test_two_process_steps_equal_one_process_steps_on_the_same_batch(tmp_path):
    """The same 4 scenes, views and rays: one process with all of them, or two processes with
    2 each (shared gradients averaged, per-scene ones scaled), give the same parameters."""
    import torch.multiprocessing as mp

    from latentscenes.data import load_scenes

    data = write_srn_dataset(tmp_path / "data", num_scenes=4, num_views=8, size=16)
    model = _rgb_model()
    _one_step(model, load_scenes(data, num_test_views=2).scenes, [0, 1, 2, 3], World())
    torch.save(model.state_dict(), tmp_path / "expected.pt")
    mp.spawn(_step_on_shard, args=(tmp_path / "store", data, tmp_path / "expected.pt"), nprocs=2)


@pytest.mark.parametrize("dataset, code, stream, expected", [
    ("objects", 0, "stdout", "scenes"),
    ("missing", 2, "stderr", "error: [rank 1] "),
])
def test_a_torchrun_rank_exits_with_its_code_and_its_output_flushed(objects_32px, tmp_path, dataset, code, stream, expected):
    # one of torchrun's ranks leaves without the interpreter's teardown (os._exit): what it printed
    # into a pipe must still arrive, and its exit code must be the command's
    root = objects_32px if dataset == "objects" else tmp_path / "missing"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # a buffered pipe
    env.update(WORLD_SIZE="2", RANK="1")
    result = subprocess.run([sys.executable, "-m", "latentscenes", "data", "info", str(root)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == code, result.stderr[-2000:]
    assert expected in getattr(result, stream)
