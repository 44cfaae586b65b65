"""Run folders: `runs/<name>/{config.yaml, checkpoints/, logs/, renders/, eval.json}`.

A new run never writes into a folder that already holds another run; `--resume` reopens
a run with the config it was started with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from latentscenes.config import load_config, save_config
from latentscenes import __version__
from latentscenes.errors import LatentScenesError
from latentscenes.io import atomic_write_json

T = TypeVar("T")

CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
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
    """Start a new run of `kind` in `path`, which must not exist or be empty; save the resolved config."""
    run = RunDir(Path(path))
    if run.root.exists() and any(run.root.iterdir()):
        raise LatentScenesError(
            f"run folder {run.root} is not empty; pass --resume to continue the run in it, "
            "or choose another --run folder"
        )
    run.make_folders()
    save_config(config, run.config_path)
    atomic_write_json(run.root / RUN_FILE, {"kind": kind, "version": __version__})
    return run


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


def run_kind(run: RunDir) -> str:
    try:
        return json.loads((run.root / RUN_FILE).read_text())["kind"]
    except (OSError, ValueError, KeyError) as error:
        raise LatentScenesError(f"{run.root / RUN_FILE} is unreadable: {error}") from None


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
