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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from latentscenes.config import load_config
from latentscenes.engine.runs import RunDir, create_run, hold_run, open_run, resume_run
from latentscenes.process import peak_rss_bytes, tune_process


def train_in_fresh_process(
    folder: Path, config_cls: type, kind: str, fit: Callable, config_file: Path | None, overrides: list[str]
) -> tuple[RunDir, dict]:
    """Train (or resume) the run in `folder` in a fresh process with torch's current thread
    count: `fit(config, run, resume=...)` with the config built from `config_file` and
    `overrides`. Returns the run and its `{"train_seconds", "wall_seconds", "history"}` (the
    evaluation points of its training curve) and `peak_rss_bytes`, the peak resident memory of
    the processes that trained it (earlier ones too, for a resumed run). Errors raised
    in the child reach the caller unchanged."""
    args = (folder, config_cls, kind, fit, config_file, overrides, torch.get_num_threads(), os.getpid())
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_train, *args).result()
    return open_run(folder), result


def _train(
    folder: Path, config_cls: type, kind: str, fit: Callable, config_file: Path | None, overrides: list[str], threads: int,
    parent: int,
) -> dict:
    exit_with_parent(parent)
    tune_process(threads)
    resume = (folder / "config.yaml").is_file()
    config = None if resume else load_config(config_cls, config_file, overrides)  # a bad one creates no folder
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
