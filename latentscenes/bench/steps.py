"""`latentscenes bench steps`: seconds per training step of each phase of finished runs.

`compare` times its methods by the runs' own training seconds, which any other job on the
machine inflates, and runs trained at different times share the machine differently. This
bench re-trains each run's own recipe (its resolved `config.yaml`, on its data and scenes,
from the same start) for `skip + steps` steps of one phase at a time, each probe in a fresh
process, the runs interleaved round after round, and keeps the median over rounds of the
seconds between steps `skip` and `skip + steps` (past the phase's one-off start: latent
caching, the decoder's metric). The phases of all runs are then measured under the same
load. `compare --step-costs FILE` turns each method's steps to the matched PSNR into seconds
with these costs.

Writes `steps.json`:
    {"rounds", "steps", "skip", "threads",
     "runs": {RUN: {"kind", "phases": {PHASE: {"seconds_per_step", "rounds": [s, ...]}}}}}
with RUN the run's folder, resolved (`latentscenes.engine.runs.run_key`). A probe of a later
phase starts where the run started, not where that phase did: a step's cost does not depend
on the values of the planes.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from latentscenes.config import load_config
from latentscenes.engine.fresh_process import train_in_fresh_process
from latentscenes.engine.runs import RunDir, open_finished_run, run_key, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.recipes.fit_phases import fit_phases
from latentscenes.recipes.rgb import FitRGBConfig, fit_rgb
from latentscenes.recipes.stage2 import FitLatentConfig, absolute_stage1, fit_stage2
from latentscenes.weights import is_builtin

__all__ = ["StepSettings", "measure_step_costs", "format_step_costs"]

KINDS = {"fit-latent": (FitLatentConfig, fit_stage2), "fit-rgb": (FitRGBConfig, fit_rgb)}


@dataclass
class StepSettings:
    runs: tuple[Path, ...]
    out: Path  # probe runs and steps.json
    steps: int = 50
    skip: int = 10
    rounds: int = 3
    threads: int | None = None  # torch threads of each probe (None: the current count)


def measure_step_costs(settings: StepSettings) -> dict:
    """Median seconds per step of every phase of every run (module docstring)."""
    if settings.steps < 1 or settings.skip < 1 or settings.rounds < 1:
        raise LatentScenesError("--steps, --skip and --rounds must be at least 1")
    runs = [_open(path) for path in settings.runs]
    settings = replace(settings, threads=settings.threads or torch.get_num_threads())
    seconds: dict[str, dict[str, list[float]]] = {run_key(run.root): {} for run, _ in runs}
    for round_index in range(settings.rounds):
        for run, config in runs:
            for phase in fit_phases(config):
                folder = settings.out / f"round{round_index}" / f"{Path(run.root).name}-{phase.name}"
                value = _probe(run, config, phase.name, folder, settings)
                seconds[run_key(run.root)].setdefault(phase.name, []).append(value)
    return {
        "rounds": settings.rounds, "steps": settings.steps, "skip": settings.skip, "threads": settings.threads,
        "runs": {
            run_key(run.root): {
                "kind": run_kind(run),
                "phases": {
                    name: {"seconds_per_step": statistics.median(values), "rounds": values}
                    for name, values in seconds[run_key(run.root)].items()
                },
            }
            for run, _ in runs
        },
    }


def _open(path: Path) -> tuple[RunDir, object]:
    run = open_finished_run(path)
    kind = run_kind(run)
    if kind not in KINDS:
        raise LatentScenesError(f"{run.root} is a '{kind}' run: step costs time fit runs (fit --space latent or rgb)")
    config = load_config(KINDS[kind][0], run.config_path)
    if not fit_phases(config):
        raise LatentScenesError(f"{run.root} trains no phase")
    return run, config


def _probe(run: RunDir, config, phase: str, folder: Path, settings: StepSettings) -> float:
    """Seconds per step of `phase` of `run`'s recipe, between steps `skip` and `skip + steps`
    of a fresh run in `folder` that trains only that phase."""
    config_cls, fit = KINDS[run_kind(run)]
    total = settings.skip + settings.steps
    overrides = [f"{name}.steps=0" for name in (p.name for p in fit_phases(config)) if name != phase]
    overrides += [
        f"{phase}.steps={total}", f"{phase}.count=steps", f"{phase}.patience=0",
        "eval.every=0", "eval.scenes=1", "eval.views=1",
        f"logging.log_every={math.gcd(settings.skip, settings.steps)}", f"logging.checkpoint_every={total}",
        f"data.root={Path(config.data.root).resolve()}",
    ]
    if isinstance(config, FitLatentConfig):
        # stage1 is relative to the run's folder; the probe lives elsewhere
        overrides.append(f"stage1={absolute_stage1(config.stage1, run.root)}")
    elif config.init_from and not is_builtin(config.init_from):
        overrides.append(f"init_from={Path(config.init_from).resolve()}")
    if folder.exists():
        shutil.rmtree(folder)  # a probe interrupted earlier: time it again from the start
    folder.parent.mkdir(parents=True, exist_ok=True)
    train_in_fresh_process(folder, config_cls, run_kind(run), fit, run.config_path, overrides, settings.threads)
    return _seconds_between(folder / "logs" / "metrics.jsonl", settings.skip, total) / settings.steps


def _seconds_between(metrics: Path, first: int, last: int) -> float:
    times = {}
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        if "time/train_seconds" in row:
            times[int(row["step"])] = float(row["time/train_seconds"])
    if first not in times or last not in times:
        raise LatentScenesError(f"{metrics} has no training seconds at steps {first} and {last}")
    return times[last] - times[first]


def format_step_costs(result: dict) -> str:
    lines = [f"seconds per step, median of {result['rounds']} interleaved rounds of {result['steps']} steps "
             f"(after {result['skip']}), {result['threads']} thread(s) per probe"]
    for run, entry in result["runs"].items():
        for name, phase in entry["phases"].items():
            spread = ", ".join(f"{value:.3f}" for value in phase["rounds"])
            lines.append(f"  {run} [{entry['kind']}] {name:<8} {phase['seconds_per_step']:.3f} s  ({spread})")
    return "\n".join(lines)
