"""Training runs in a process of their own.

After a training run, the heap that `latentscenes.process` keeps at the run's peak size
serves every later allocation, and a second run in the same process trained markedly slower
(docs/design.md). Commands that chain several training runs (`demo`, `aware`, `bench scale`)
give each one a fresh process. A second call with the same folder resumes the run there
instead of redoing it. The child exits when the process that started it is gone: a `demo`
or `bench` killed from outside (a SIGTERM reaches only that process) must not leave its run
training on unseen, racing a later resume of the same folder.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from latentscenes.config import load_config
from latentscenes.errors import LatentScenesError
from latentscenes.engine.runs import RunDir, create_run, hold_run, open_run, resume_run
from latentscenes.process import peak_rss_bytes, tune_process


def train_in_fresh_process(
    folder: Path, config_cls: type, kind: str, fit: Callable, config_file: Path | None, overrides: list[str],
    threads: int | None = None, base: dict | None = None,
) -> tuple[RunDir, dict]:
    """Train (or resume) the run in `folder` in a fresh process with `threads` torch threads
    (None: torch's current count): `fit(config, run, resume=...)` with the config built from
    the values `base` (a named recipe's), `config_file` and `overrides`. Returns the run and its `{"train_seconds", "wall_seconds",
    "history"}` (the evaluation points of its training curve) and `peak_rss_bytes`, the peak
    resident memory of the processes that trained it (earlier ones too, for a resumed run).
    Errors raised in the child reach the caller unchanged."""
    training = FreshTraining(folder, config_cls, kind, fit, config_file, overrides, threads, base)
    try:
        return training.result()
    finally:
        training.stop()


def side_by_side_threads(wanted: bool) -> tuple[int, int] | None:
    """Torch threads for two trainings side by side (the first takes the odd one), or None
    where they run one after the other: not `wanted`, or fewer than two threads."""
    threads = torch.get_num_threads()
    if not wanted or threads < 2:
        return None
    return threads - threads // 2, threads // 2


class FreshTraining:
    """`train_in_fresh_process` started, not yet waited for: two of them train side by side
    (`demo` runs the RGB baseline beside stage 1 and stage 2). `result()` waits; `stop()`
    ends a child still training (its checkpoints are atomic, so the run resumes later)."""

    def __init__(
        self, folder: Path, config_cls: type, kind: str, fit: Callable, config_file: Path | None,
        overrides: list[str], threads: int | None = None, base: dict | None = None,
    ) -> None:
        self.folder = Path(folder)
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        threads = threads or torch.get_num_threads()
        args = (send, self.folder, config_cls, kind, fit, config_file, overrides, base, threads, os.getpid())
        self._process = context.Process(target=_train_and_send, args=args, name=f"train {self.folder.name}")
        self._process.start()
        send.close()  # the child holds the other end: the pipe reports EOF once the child is gone

    def result(self) -> tuple[RunDir, dict]:
        try:
            outcome, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise LatentScenesError(
                f"the process training {self.folder} ended (exit code {self._process.exitcode}) without a result"
            ) from None
        self._process.join()
        if outcome == "error":
            raise value
        return open_run(self.folder), value

    def stop(self) -> None:
        self.terminate()
        self._process.join()
        self._receive.close()

    def terminate(self) -> None:
        """End the child if it still trains; `result()` then raises. Safe from another thread."""
        if self._process.is_alive():
            self._process.terminate()


class TrainingsInTurn:
    """Several `FreshTraining`s, one after the other, beside the caller (`demo` trains the cold
    and the warm RGB baselines in turn beside stage 1 and stage 2). `trainings` holds each
    one's `FreshTraining` arguments; `results()` waits for all of them, in order, and raises
    the first error; `stop()` ends the one training and starts no other."""

    def __init__(self, trainings: list[tuple[tuple, dict]]) -> None:
        self._trainings = trainings
        self._results: list[tuple[RunDir, dict]] = []
        self._error: BaseException | None = None
        self._current: FreshTraining | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._train_all, name="trainings in turn", daemon=True)
        self._thread.start()

    def _train_all(self) -> None:
        try:
            for args, kwargs in self._trainings:
                with self._lock:
                    if self._stopped:
                        return
                    self._current = FreshTraining(*args, **kwargs)
                try:
                    self._results.append(self._current.result())
                finally:
                    self._current.stop()
        except BaseException as error:  # noqa: BLE001 - raised again by results()
            self._error = error

    def results(self) -> list[tuple[RunDir, dict]]:
        self._thread.join()
        if self._error is not None and not self._stopped:
            raise self._error
        if len(self._results) < len(self._trainings):
            raise LatentScenesError(f"stopped after {len(self._results)} of {len(self._trainings)} trainings")
        return self._results

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._current is not None:
                self._current.terminate()
        self._thread.join()


def _train_and_send(send, *args) -> None:
    try:
        outcome = ("ok", _train(*args))
    except BaseException as error:  # noqa: BLE001 - every error goes back to the caller, which raises it
        outcome = ("error", error)
    send.send(outcome)
    send.close()


def _train(
    folder: Path, config_cls: type, kind: str, fit: Callable, config_file: Path | None, overrides: list[str],
    base: dict | None, threads: int, parent: int,
) -> dict:
    exit_with_parent(parent)
    tune_process(threads)
    resume = (folder / "config.yaml").is_file()
    config = None if resume else load_config(config_cls, config_file, overrides, base)  # a bad one creates no folder
    with hold_run(folder):
        if resume:
            run, config = resume_run(folder, config_cls, changed=False)
        else:
            run = create_run(folder, config, kind=kind)
        state = fit(config, run, resume=resume)
    return {
        "train_seconds": state.train_seconds,
        "wall_seconds": state.wall_seconds,
        "history": state.history,
        "peak_rss_bytes": max(state.peak_rss_bytes, peak_rss_bytes()),
    }


def exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Exit this process (status 1) once process `parent` is no longer its parent: a daemon
    thread checks every `every` seconds. Checkpoints are written atomically, so a run left at
    any point resumes from its last complete one."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
