"""Two processes, one run folder: a live process's lock refuses a second writer with a clear
message, and a process killed with SIGKILL leaves no lock behind."""

import signal
import subprocess
import sys

from tiny_runs import TINY_RGB

from latentscenes.cli.main import main

HOLD = """
import sys, time
from latentscenes.engine.runs import hold_run
with hold_run(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(run):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_live_writer_refuses_a_second_and_a_killed_one_leaves_no_lock(objects_32px, tmp_path, capsys):
    run = tmp_path / "run"
    fit = ["--threads", "1", "fit", "--space", "rgb", "--data", str(objects_32px), "--run", str(run), *TINY_RGB]
    holder = _holder(run)
    try:
        assert main(fit) == 2
        err = capsys.readouterr().err
        assert f"run folder {run} is in use by process {holder.pid}" in err and err.count("\n") == 1
        assert [p.name for p in run.iterdir()] == [".lock"]  # nothing written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(fit) == 0  # the killed holder's lock went with it
    assert main(["eval", str(run), "--max-views", "1", "--splits", "test"]) == 0
    holder = _holder(run)  # and the commands released theirs when they finished
    try:
        assert main(["eval", str(run), "--max-views", "1"]) == 2
        assert "is in use by process" in capsys.readouterr().err
        assert main(["fit", "--space", "rgb", "--run", str(run), "--resume"]) == 2
        assert "is in use by process" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
