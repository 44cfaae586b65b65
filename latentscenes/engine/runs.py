"""Run folders: `runs/<name>/{config.yaml, checkpoints/, logs/, renders/, eval.json}`.

A new run never writes into a folder that already holds another run; `--resume` reopens
a run with the config it was started with. A command that writes into a run holds its
lock (`hold_run`): a second live process is refused, and a process that dies, however it
dies, leaves no stale lock (the operating system releases `flock` locks with the process).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from latentscenes import __version__
from latentscenes.config import config_text, load_config, save_config
from latentscenes.errors import LatentScenesError
from latentscenes.io import atomic_write_json

T = TypeVar("T")

CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
LOCK_FILE = ".lock"
CURVE_FILE = "curve.json"
RESUME_COMMANDS = {
    "train": "latentscenes train --resume --run",
    "fit-latent": "latentscenes fit --space latent --resume --run",
    "fit-rgb": "latentscenes fit --space rgb --resume --run",
}


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def curve_path(self) -> Path:
        """Held-out metrics against training seconds, written once training has finished."""
        return self.root / CURVE_FILE

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    def make_folders(self) -> None:
        for folder in (self.checkpoints, self.logs, self.renders):
            folder.mkdir(parents=True, exist_ok=True)


def create_run(path: str | Path, config: object, kind: str) -> RunDir:
    """Start a new run of `kind` in `path`, which must not exist or be empty; save the resolved
    config. Call it inside `hold_run(path)`."""
    run = RunDir(Path(path))
    if run.root.exists() and not _unstarted(run, config):
        raise LatentScenesError(
            f"run folder {run.root} is not empty; pass --resume to continue the run in it, "
            "or choose another --run folder"
        )
    run.make_folders()
    save_config(config, run.config_path)
    atomic_write_json(run.root / RUN_FILE, {"kind": kind, "version": __version__})
    return run


def discard_unstarted_run(run: RunDir, keep_folder: bool) -> None:
    """Remove what a new run wrote before failing ahead of its first checkpoint; the folder
    itself too unless it existed (empty) before. Call it while holding the run's lock."""
    for entry in run.root.iterdir():  # the lock too: its open descriptor keeps the lock until released
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if not keep_folder:
        run.root.rmdir()


def _unstarted(run: RunDir, config: object) -> bool:
    """Whether `run.root` holds at most what `create_run` with this `config`, interrupted,
    leaves (the lock, empty folders, the same config.yaml but no run.json): it may start again."""
    for entry in run.root.iterdir():
        if entry.name == LOCK_FILE or (entry == run.config_path and entry.read_text() == config_text(config)):
            continue
        if entry not in (run.checkpoints, run.logs, run.renders) or any(entry.iterdir()):
            return False
    return True


def resume_run(path: str | Path, config_cls: type[T], changed: bool) -> tuple[RunDir, T]:
    """Reopen the run in `path` with its saved config. `changed`: the user also passed a config."""
    run = open_run(path)
    if changed:
        raise LatentScenesError(
            f"--resume continues {run.root} with its saved {CONFIG_FILE}; "
            "drop --config and key=value overrides (edit the saved file to change it)"
        )
    run.make_folders()
    return run, load_config(config_cls, run.config_path)


def open_run(path: str | Path) -> RunDir:
    run = RunDir(Path(path))
    if not run.config_path.is_file() or not (run.root / RUN_FILE).is_file():
        raise LatentScenesError(f"{run.root} is not a run folder (no {CONFIG_FILE} and {RUN_FILE} in it)")
    return run


def run_key(path: str | Path) -> str:
    """A run folder's name where results of several runs are keyed by run (`bench steps`): resolved."""
    return str(Path(path).resolve())


def run_kind(run: RunDir) -> str:
    try:
        return json.loads((run.root / RUN_FILE).read_text())["kind"]
    except (OSError, ValueError, KeyError) as error:
        raise LatentScenesError(f"{run.root / RUN_FILE} is unreadable: {error}") from None


_held: dict[Path, tuple[int, int]] = {}  # run folder -> (lock file descriptor, nesting depth)


@contextmanager
def hold_run(path: str | Path) -> Iterator[None]:
    """Hold the run folder `path`'s lock (created with the folder if needed) while writing
    into it. Re-entrant within a process; another process holding it is refused with a
    `LatentScenesError` naming its process id."""
    root = Path(path).absolute()
    if root in _held:
        fd, depth = _held[root]
        _held[root] = (fd, depth + 1)
    else:
        _held[root] = (_acquire(root), 1)
    try:
        yield
    finally:
        fd, depth = _held.pop(root)
        if depth > 1:
            _held[root] = (fd, depth - 1)
        else:
            os.close(fd)  # releases the lock


def _acquire(root: Path) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LatentScenesError(f"cannot lock run folder {root}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise LatentScenesError(
            f"run folder {root} is in use by process {holder} (lock {root / LOCK_FILE}); "
            "wait for it to finish or stop it, or choose another --run folder"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def open_finished_run(path: str | Path) -> RunDir:
    """`open_run`, refusing a run whose training has not finished (no curve.json yet)."""
    run = open_run(path)
    if not run.curve_path.is_file():
        resume = RESUME_COMMANDS.get(run_kind(run), "the command that started it with --resume --run")
        raise LatentScenesError(
            f"{run.root} has not finished training (no {CURVE_FILE}, which a run writes after its last step); "
            f"finish it first: {resume} {run.root}"
        )
    return run
