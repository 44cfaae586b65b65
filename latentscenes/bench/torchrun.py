"""Scenes per second of `fit --space rgb` under `torchrun` with 1, 2, ... processes
(`latentscenes bench torchrun`): the CLI in child processes, rank 0's training seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.errors import LatentScenesError


def bench_dataset(root: Path) -> Path:
    """A small pybullet-objects dataset (8 scenes x 12 views at 32 px) in `root`."""
    from latentscenes.builders import BuildSettings, build_dataset

    build_dataset(root, BuildSettings(source="pybullet-objects", scenes=8, views=12, size=32, num_test_views=2), workers=1, progress=False)
    return root


def bench_torchrun(data: Path, folder: Path, processes: list[int], steps: int, batch: int, threads: int) -> dict:
    """Scenes per second of `fit --space rgb` (this CLI in child processes) on `data` with each number of `processes`
    (`batch` scenes per process and step), runs in `folder`; rank 0's training seconds
    exclude start-up and evaluation."""
    runs = []
    for count in processes:
        run = folder / f"run-{count}"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={count}",
            "-m", "latentscenes", "--threads", str(threads), "fit", "--space", "rgb", "--data", str(data),
            "--run-dir", str(run), f"fit.steps={steps}", f"fit.scenes_per_batch={batch}", "eval.every=0",
            "eval.scenes=1", "eval.views=1", "logging.backend=none", "logging.progress=false",
            f"logging.checkpoint_every={steps}",
        ]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        wall = time.perf_counter() - start
        if finished.returncode != 0:
            raise LatentScenesError(f"torchrun with {count} processes failed: {finished.stderr[-2000:]}")
        _, meta = load_checkpoint(run / "checkpoints")
        seconds = meta["train_seconds"]
        runs.append(
            {"processes": count, "train_seconds": seconds, "wall_seconds": wall, "scenes_per_s": steps * batch * count / seconds}
        )
    return {"steps": steps, "batch_per_process": batch, "threads_per_process": threads, "runs": runs}
