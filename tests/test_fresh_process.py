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


def _raise_a_data_error(config, run, resume=False):
    from latentscenes.errors import DataError

    raise DataError(f"{run.root}: no scenes here")


def _exit_without_a_word(config, run, resume=False):
    os._exit(3)


def _stamp_start_and_end(config, run, resume=False):
    """A stand-in training run: records when it ran and with how many threads."""
    import torch

    from latentscenes.engine.loop import LoopState

    start = time.time()
    time.sleep(2.0)
    state = LoopState()
    state.history = [{"start": start, "end": time.time(), "threads": torch.get_num_threads()}]
    return state


@pytest.mark.slow  # spawns fresh processes (a few seconds each)
def test_an_error_in_the_child_reaches_the_caller_as_itself(tmp_path):
    from latentscenes.engine.fresh_process import train_in_fresh_process
    from latentscenes.errors import DataError
    from latentscenes.recipes.rgb import FitRGBConfig

    with pytest.raises(DataError, match="no scenes here"):
        train_in_fresh_process(tmp_path / "run", FitRGBConfig, "fit-rgb", _raise_a_data_error, None, [])


@pytest.mark.slow
def test_a_child_that_dies_without_a_result_is_reported_with_its_exit_code(tmp_path):
    from latentscenes.engine.fresh_process import train_in_fresh_process
    from latentscenes.errors import LatentScenesError
    from latentscenes.recipes.rgb import FitRGBConfig

    with pytest.raises(LatentScenesError, match=r"ended \(exit code 3\) without a result"):
        train_in_fresh_process(tmp_path / "run", FitRGBConfig, "fit-rgb", _exit_without_a_word, None, [])


@pytest.mark.slow
def test_two_fresh_trainings_run_side_by_side_with_their_own_threads(tmp_path):
    from latentscenes.engine.fresh_process import FreshTraining
    from latentscenes.recipes.rgb import FitRGBConfig

    first = FreshTraining(tmp_path / "a", FitRGBConfig, "fit-rgb", _stamp_start_and_end, None, [], threads=1)
    second = FreshTraining(tmp_path / "b", FitRGBConfig, "fit-rgb", _stamp_start_and_end, None, [], threads=2)
    try:
        (run_a, a), (run_b, b) = first.result(), second.result()
    finally:
        first.stop()
        second.stop()
    a, b = a["history"][0], b["history"][0]
    assert (a["threads"], b["threads"]) == (1, 2)
    assert a["start"] < b["end"] and b["start"] < a["end"], (a, b)  # the two ran at the same time
    assert run_a.root == tmp_path / "a" and run_b.root == tmp_path / "b"


@pytest.mark.slow
def test_stopping_a_training_ends_its_child(tmp_path):
    from latentscenes.engine.fresh_process import FreshTraining
    from latentscenes.recipes.rgb import FitRGBConfig

    training = FreshTraining(tmp_path / "run", FitRGBConfig, "fit-rgb", _wait_a_long_time(), None, [])
    child = _child_of(tmp_path / "run")
    training.stop()
    assert not _alive(child)


@pytest.mark.slow
def test_trainings_in_turn_run_one_after_the_other_and_stop_at_the_first_error(tmp_path):
    from latentscenes.engine.fresh_process import TrainingsInTurn
    from latentscenes.errors import DataError
    from latentscenes.recipes.rgb import FitRGBConfig

    def training(name, fit):
        return (tmp_path / name, FitRGBConfig, "fit-rgb", fit, None, []), {"threads": 1}

    (run_a, a), (run_b, b) = TrainingsInTurn([training("a", _stamp_start_and_end), training("b", _stamp_start_and_end)]).results()
    a, b = a["history"][0], b["history"][0]
    assert a["end"] <= b["start"], (a, b)  # the second started after the first ended
    assert run_a.root == tmp_path / "a" and run_b.root == tmp_path / "b"
    failing = TrainingsInTurn([training("c", _raise_a_data_error), training("d", _stamp_start_and_end)])
    with pytest.raises(DataError, match="no scenes here"):
        failing.results()
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_stopping_trainings_in_turn_ends_the_one_training_and_starts_no_other(tmp_path):
    from latentscenes.engine.fresh_process import TrainingsInTurn
    from latentscenes.errors import LatentScenesError
    from latentscenes.recipes.rgb import FitRGBConfig

    trainings = TrainingsInTurn([((tmp_path / name, FitRGBConfig, "fit-rgb", _wait_a_long_time(), None, []), {})
                                 for name in ("a", "b")])
    child = _child_of(tmp_path / "a")
    trainings.stop()
    assert not _alive(child) and not (tmp_path / "b").exists()
    with pytest.raises(LatentScenesError, match="stopped after 0 of 2 trainings"):
        trainings.results()


def _wait_a_long_time():
    """orphan_parent's stand-in training, which writes its pid and waits: a spawned child must
    import it by module name."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from orphan_parent import wait_a_long_time
    finally:
        sys.path.pop(0)
    return wait_a_long_time


def _child_of(run: Path) -> int:
    """The pid that the stand-in training in `run` wrote once it started."""
    deadline = time.monotonic() + 120
    while not (run / "child.pid").is_file():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.2)
    return int((run / "child.pid").read_text())
