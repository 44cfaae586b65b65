"""A full disk: a training process whose file writes fail (a real limit on file size,
RLIMIT_FSIZE, the error a full disk gives a process) stops with one clear line, and the
last good checkpoint stays intact and resumable."""

import resource
import signal
import subprocess
import sys

import torch
from tiny_runs import TINY_RGB

from latentscenes.cli.main import main
from latentscenes.engine.checkpoint import load_checkpoint

FOUR_STEPS = [*TINY_RGB, "fit.steps=4", "logging.checkpoint_every=2"]


def _file_size_limit(limit):
    def apply():  # in the child, before it starts: writes past `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_checkpoint_write_keeps_the_last_good_one(objects_32px, tmp_path):
    fit = ["--threads", "1", "fit", "--space", "rgb", "--data", str(objects_32px)]
    assert main([*fit, "--run", str(tmp_path / "reference"), *FOUR_STEPS]) == 0
    reference = load_checkpoint(tmp_path / "reference" / "checkpoints")
    # the step-0 and final checkpoints hold no optimiser state; step 2's also holds Adam's moments
    model_only = (tmp_path / "reference" / "checkpoints" / "step-00000004" / "tensors.safetensors").stat().st_size
    run = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "latentscenes.cli.main", *fit, "--run", str(run), *FOUR_STEPS],
        capture_output=True, text=True, preexec_fn=_file_size_limit(model_only * 3 // 2), timeout=300,
    )
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, process.stderr
    assert f"cannot write checkpoint {run / 'checkpoints' / 'step-00000002'}" in lines[0] and "File too large" in lines[0]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.json", "step-00000000"]
    assert load_checkpoint(run / "checkpoints")[1]["global_step"] == 0

    assert main([*fit[:5], "--run", str(run), "--resume"]) == 0  # with room again
    resumed = load_checkpoint(run / "checkpoints")
    for key, value in reference[0].items():
        assert torch.equal(value, resumed[0][key]), key
