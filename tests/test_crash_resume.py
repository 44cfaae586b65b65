"""Crash and resume with real processes: a tiny stage-1 run (AE warm-up, latent-cache fill,
scene warm-up, joint) is killed with SIGKILL in the middle of a latent-cache write, in the
middle of a checkpoint write and after a random step, stopped with SIGTERM after another
random step, and resumed with --resume each time; it ends in exactly the state of an
uninterrupted run with the same seed."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_runs import TINY_STAGE1, TINY_STAGE1_STEPS

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import latest_checkpoint, load_checkpoint
from latentscenes.engine.logger import read_metrics

CRASH_AT = Path(__file__).parent / "crash_at.py"


def _command(data, run, resume):
    return ["--threads", "1", "train", "--run", str(run), *(["--resume"] if resume else ["--data", str(data), *TINY_STAGE1])]


def _start(data, run, resume, crash=None):
    """A training process: the CLI, or the CLI that crashes mid-write (`crash`: (where, n))."""
    prefix = [str(CRASH_AT), crash[0], str(crash[1]), "--"] if crash else ["-m", "latentscenes.cli.main"]
    return subprocess.Popen(
        [sys.executable, *prefix, *_command(data, run, resume)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _logged_steps(run):
    return [row["step"] for row in read_metrics(run / "logs") if "loss/total" in row]


def _stop_after_new_steps(process, run, steps, signum):
    """Send `signum` to `process` as soon as it has logged `steps` more training steps."""
    before = len(_logged_steps(run))
    while len(_logged_steps(run)) < before + steps:
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    process.send_signal(signum)
    return process.communicate(timeout=300)


def _published(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _without_times(points):
    return [{k: v for k, v in point.items() if k != "train_seconds"} for point in points]


@pytest.mark.slow
def test_runs_killed_anywhere_resume_to_the_uninterrupted_result(objects_32px, tmp_path):
    threads = torch.get_num_threads()
    try:
        assert main(_command(objects_32px, tmp_path / "reference", resume=False)) == 0
    finally:
        torch.set_num_threads(threads)
    run = tmp_path / "killed"
    choose = random.Random(15)

    # 1. SIGKILL while writing the second scene's latents (start of the scene phase, step 6)
    process = _start(objects_32px, run, resume=False, crash=("cache", 2))
    assert process.wait(timeout=300) == -signal.SIGKILL, process.communicate()
    entries = [p for p in (run / "latent-cache").rglob("*") if p.is_file()]
    assert sum(not p.name.startswith(".") for p in entries) == 1  # the half-written one never got its name
    assert load_checkpoint(run / "checkpoints")[1]["global_step"] == 6

    # 2. SIGKILL while writing the second checkpoint after resuming (step 12's)
    process = _start(objects_32px, run, resume=True, crash=("checkpoint", 2))
    assert process.wait(timeout=300) == -signal.SIGKILL, process.communicate()
    assert latest_checkpoint(run / "checkpoints").name == "step-00000009"
    assert _published(run / "checkpoints") == ["latest.json", "step-00000006", "step-00000009"]
    assert load_checkpoint(run / "checkpoints")[1]["global_step"] == 9

    # 3. SIGKILL after a random number of steps
    process = _start(objects_32px, run, resume=True)
    _, err = _stop_after_new_steps(process, run, choose.randint(1, 8), signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL, err

    # 4. SIGTERM after a random number of steps: a checkpoint of the last finished step first
    process = _start(objects_32px, run, resume=True)
    _, err = _stop_after_new_steps(process, run, choose.randint(1, 4), signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM; saved" in err, err
    assert load_checkpoint(run / "checkpoints")[1]["global_step"] == _logged_steps(run)[-1] < TINY_STAGE1_STEPS

    # 5. to the end
    process = _start(objects_32px, run, resume=True)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err

    reference, resumed = (load_checkpoint(path / "checkpoints") for path in (tmp_path / "reference", run))
    assert resumed[1]["global_step"] == TINY_STAGE1_STEPS and reference[0].keys() == resumed[0].keys()
    for key, value in reference[0].items():
        assert torch.equal(value, resumed[0][key]), key
    curves = [json.loads((path / "curve.json").read_text())["points"] for path in (tmp_path / "reference", run)]
    assert _without_times(curves[0]) == _without_times(curves[1])
    assert [point["step"] for point in curves[1]] == [6, 12, 18, 24, 30]
