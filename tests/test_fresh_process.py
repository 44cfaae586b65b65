"""A training run in a fresh process stops when the process that started it is killed, instead
of training on unseen (and racing a later resume of its folder)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = Path(__file__).parent / "orphan_parent.py"


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc")
def test_the_child_exits_soon_after_its_parent_is_killed(tmp_path):
    run = tmp_path / "run"
    parent = subprocess.Popen([sys.executable, str(PARENT), str(run)])
    child = None
    try:
        deadline = time.monotonic() + 120
        while not (run / "child.pid").is_file():
            assert parent.poll() is None, "the parent ended before its child started"
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.2)
        time.sleep(0.2)  # the pid file is written in one go, but let the write finish
        child = int((run / "child.pid").read_text())
        time.sleep(2)
        assert _alive(child), "the child should still be waiting while its parent lives"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(child), "the child trained on after its parent was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
