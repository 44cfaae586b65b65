"""The one training loop: runs the phases of a stage recipe on a model.

The model says which parameters belong to which module group and computes the loss
terms a phase asks for; the loop builds one Adam optimiser per phase with a parameter
group per trained module, schedules learning rates, logs, evaluates and checkpoints.
Everything needed to continue exactly (parameters, optimiser state, RNG states, sampler
order, step counters, training time) is in each checkpoint, so `--resume` after a crash
ends in the same state as an uninterrupted run. A step whose loss or gradients are not
finite is skipped, never applied; repeated ones roll the run back to its last checkpoint
with lower learning rates.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from latentscenes.data import Scene
from latentscenes.data.batches import ViewBatch, ViewSampler
from latentscenes.engine.checkpoint import (
    has_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    mismatch,
    save_checkpoint,
)
from latentscenes.engine.distributed import (
    broadcast_shared,
    gather_checkpoint,
    local_checkpoint,
    scene_row_keys,
    split_parameters,
    sync_gradients,
)
from latentscenes.engine.logger import MetricLogger
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.errors import CheckpointError, TrainingDiverged
from latentscenes.models.phases import Phase, in_optimisation_steps, validation_plateaued
from latentscenes.parallel import World, any_signal, current_world, gather_objects, mean_values
from latentscenes.process import peak_rss_bytes


class TrainableModel(Protocol):
    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Module group name (`latentscenes.models.phases.MODULE_GROUPS`) -> parameters."""

    def sparse_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters whose gradients are sparse (per-scene rows): optimised by RowAdam."""

    def start_phase(self, phase: Phase) -> object:
        """Called before a phase's first step (also when a run resumes inside it), after the
        loop has frozen the module groups the phase does not train. Returns what the phase's
        steps read besides the batch (e.g. cached latent targets), passed to `loss_terms`."""

    def loss_terms(self, batch: ViewBatch, names: list[str], prepared: object) -> dict[str, torch.Tensor]:
        """Unweighted scalar loss terms for `names` on `batch`."""

    def render_images(self, row: int, scene: Scene, views: torch.Tensor) -> torch.Tensor:
        """Rendered views (V, 3, H, W) in [-1, 1]."""

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> object: ...


@dataclass
class LoopSettings:
    """How a run is driven; the recipes fill the schedule from their config (`logging`, `eval`,
    `seed`), which holds its defaults."""

    log_every: int
    eval_every: int  # 0: no evaluation during training
    checkpoint_every: int
    seed: int
    progress: bool
    # Numerical faults: a step whose loss or gradients are not finite is skipped; this many in
    # a row roll the run back to its last checkpoint with its learning rates multiplied by
    # `rollback_lr_factor`, at most `max_rollbacks` times before the run stops.
    max_bad_steps: int = 3
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3


@dataclass
class LoopState:
    phase_index: int = 0
    phase_step: int = 0
    global_step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    lr_scale: float = 1.0  # lowered by each rollback after repeated numerical faults
    skipped_steps: int = 0  # steps skipped for non-finite loss or gradients
    wall_seconds: float = 0.0  # the whole loop (training, evaluation, checkpoints), summed over resumes
    peak_rss_bytes: int = 0  # the largest peak resident memory of the processes that ran it


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after a checkpoint of the last finished step was saved."""

    def __init__(self, signum: int, checkpoint: Path):
        super().__init__(signum, checkpoint)  # these args: picklable, to cross from a training process
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        signum, checkpoint = self.args
        return f"stopped by {signal.Signals(signum).name}; saved {checkpoint}: continue with --resume"


class _RollBack(Exception):
    """Raised inside the step loop after `max_bad_steps` non-finite steps in a row."""


EvalHook = Callable[[LoopState], dict[str, float]]


def train(
    model: TrainableModel,
    phases: list[Phase],
    sampler: ViewSampler,
    checkpoints: Path,
    logger: MetricLogger,
    settings: LoopSettings,
    evaluate: EvalHook | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> LoopState:
    """Run `phases` in order. `stop_after` ends the run after that many global steps (tests
    use it to simulate a crash). Returns the final state; `state.history` holds the eval
    points `{step, train_seconds, ...metrics}` (training time excludes evaluation;
    `wall_seconds` counts everything the loop did, and with `peak_rss_bytes` it adds up
    every process that ran the run, across resumes).

    A new run first saves a step-0 checkpoint (where a resume or a rollback before the
    first periodic checkpoint starts); resuming a run killed before it was written starts
    afresh. SIGINT and SIGTERM end the run after the current step with a checkpoint
    (`TrainingInterrupted`); a second signal stops at once.

    Under `torchrun` (`latentscenes.engine.distributed`) `model` and `sampler` hold this
    process's scenes; every process calls `train` and `evaluate` (which may use collectives)."""
    world = current_world()
    num_scenes = sum(gather_objects(world, len(sampler.scenes)))
    phases = [Phase(p.name, in_optimisation_steps(p.config, num_scenes, world.size)) for p in phases]
    generator = torch.Generator().manual_seed(settings.seed + world.rank)
    torch.manual_seed(settings.seed + world.rank)
    with _StopRequests() as stop:
        restart = resume and has_checkpoint(checkpoints)
        broadcast_shared(world, model)
        if not restart:
            _save(world, checkpoints, model, None, sampler, generator, LoopState())
        job = _Job(
            model, phases, sampler, checkpoints, logger, settings, evaluate, stop_after, stop, generator, world,
            started=time.perf_counter(),
        )
        lr_scale, rollbacks = None, 0
        while True:
            try:
                return _run_phases(job, restart, lr_scale)
            except _RollBack as fault:
                rollbacks += 1
                lr_scale = fault.args[0] * settings.rollback_lr_factor
                if rollbacks > settings.max_rollbacks:
                    raise TrainingDiverged(
                        f"training diverged: loss or gradients stayed non-finite after {settings.max_rollbacks} "
                        f"rollbacks (learning rates down to x{fault.args[0]:g}); {fault.args[1]}"
                    ) from None
                if world.is_main:
                    tqdm.write(
                        f"{settings.max_bad_steps} steps in a row had non-finite values ({fault.args[1]}): "
                        f"rolling back to {latest_checkpoint(checkpoints)} with learning rates x{lr_scale:g}",
                        file=sys.stderr,
                    )
                restart = True


@dataclass
class _Job:
    """The arguments of one `train` call, shared by its restarts after rollbacks."""

    model: TrainableModel
    phases: list[Phase]
    sampler: ViewSampler
    checkpoints: Path
    logger: MetricLogger
    settings: LoopSettings
    evaluate: EvalHook | None
    stop_after: int | None
    stop: _StopRequests
    generator: torch.Generator
    world: World
    started: float  # perf_counter when this process entered `train`
    earlier_wall: float | None = None  # wall seconds of the processes before this one (set on first restore)

    def clock(self, state: LoopState) -> None:
        """Bring `state.wall_seconds` up to now."""
        state.wall_seconds = (self.earlier_wall or 0.0) + time.perf_counter() - self.started


def _run_phases(job: _Job, restart: bool, lr_scale: float | None) -> LoopState:
    """Run the phases from a fresh state, or from the last checkpoint when `restart`;
    `lr_scale` (after a rollback) replaces the checkpoint's learning-rate scale."""
    model, phases, sampler, checkpoints, logger = job.model, job.phases, job.sampler, job.checkpoints, job.logger
    settings, evaluate, stop_after, stop, generator = job.settings, job.evaluate, job.stop_after, job.stop, job.generator
    world = job.world
    state = LoopState()
    resumed: tuple[dict, dict] | None = None
    if restart:
        resumed = load_checkpoint(checkpoints, fall_back=True)
        state = _restore(world, model, sampler, generator, *resumed, seed=settings.seed)
    if job.earlier_wall is None:  # after a rollback the time since this process started still counts
        job.earlier_wall = state.wall_seconds
    if lr_scale is not None:
        state.lr_scale = lr_scale
        logger.scalars(state.global_step, {"fault/lr_scale": lr_scale})
    bad_in_a_row = 0

    for phase_index in range(state.phase_index, len(phases)):
        phase = phases[phase_index]
        config = phase.config
        state.phase_index = phase_index
        optimizer, base_lrs = _make_optimizer(model, phase)
        start = time.perf_counter()
        prepared = model.start_phase(phase)  # e.g. encoding every view into the latent cache: a training cost
        state.train_seconds += time.perf_counter() - start
        if resumed is not None and resumed[1]["phase_step"] > 0:
            tensors, _ = local_checkpoint(world, resumed[0], resumed[1], scene_row_keys(model, optimizer, resumed[0]))
            optimizer.load_flat(tensors, resumed[1]["optimizer"])
        resumed = None
        names = list(config.loss.active())
        weights = config.loss.active()
        bar = tqdm(
            total=config.steps, initial=state.phase_step, desc=phase.name, leave=False,
            disable=not (settings.progress and world.is_main),
        )
        shared, per_scene = split_parameters(model)
        while state.phase_step < config.steps:
            if stop_after is not None and state.global_step >= stop_after:
                bar.close()
                return state
            _set_learning_rates(optimizer, base_lrs, phase, state.phase_step, state.lr_scale)
            start = time.perf_counter()
            batch = sampler.sample(
                generator, config.scenes_per_batch, config.views_per_scene, config.rays_per_view, config.crop,
                config.split,
            )
            terms = model.loss_terms(batch, names, prepared)
            total = sum(weights[name] * terms[name] for name in names)
            optimizer.zero_grad()
            fault = sync_gradients(world, shared, per_scene, _backward(total, terms, optimizer))
            if fault is None:
                optimizer.step()
                bad_in_a_row = 0
            else:  # never train on non-finite values: the step is skipped
                optimizer.zero_grad()
                state.skipped_steps += 1
                bad_in_a_row += 1
                fault = f"{phase.name} step {state.phase_step}: {fault}"
                logger.scalars(state.global_step + 1, {"fault/skipped_steps": state.skipped_steps})
                if bad_in_a_row >= settings.max_bad_steps:
                    bar.close()
                    raise _RollBack(state.lr_scale, fault)
            state.train_seconds += time.perf_counter() - start
            job.clock(state)
            state.phase_step += 1
            state.global_step += 1
            bar.update(1)
            if fault is None and (state.global_step % settings.log_every == 0 or state.phase_step == config.steps):
                values = {f"loss/{k}": float(v.detach()) for k, v in terms.items()}
                values["loss/total"] = float(total.detach())
                values["time/train_seconds"] = state.train_seconds
                values = mean_values(world, values)
                logger.scalars(state.global_step, values)
                bar.set_postfix({k: f"{float(v.detach()):.4g}" for k, v in terms.items()})
            plateaued = False
            if evaluate is not None and settings.eval_every and state.global_step % settings.eval_every == 0:
                _evaluate(evaluate, state, logger, phase.name)
                plateaued = _plateaued(state.history, phase)
            if state.global_step % settings.checkpoint_every == 0 and bad_in_a_row == 0:
                job.clock(state)
                _save(world, checkpoints, model, optimizer, sampler, generator, state)
            signum = any_signal(world, stop.signum)
            if signum is not None:
                bar.close()
                job.clock(state)
                saved = _save(world, checkpoints, model, optimizer, sampler, generator, state)
                raise TrainingInterrupted(signum, saved)
            if plateaued:
                if world.is_main:
                    tqdm.write(f"{phase.name}: validation PSNR plateaued; phase ended at step {state.phase_step}")
                break
        bar.close()
        state.phase_step = 0
    state.phase_index = len(phases)
    if evaluate is not None and (not state.history or state.history[-1]["step"] != state.global_step):
        _evaluate(evaluate, state, logger, "final")
    job.clock(state)
    _save(world, checkpoints, model, None, sampler, generator, state)
    return state


def _backward(total: torch.Tensor, terms: dict[str, torch.Tensor], optimizer: PhaseOptimizer) -> str | None:
    """Backpropagate `total` unless it is non-finite; None if the loss and every gradient are
    finite, otherwise what was not."""
    if not torch.isfinite(total.detach()):
        return "loss " + ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
    total.backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    grads = [g.coalesce().values() if g.is_sparse else g for g in grads]
    if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
        return "gradients"
    return None


class _StopRequests:
    """While active (in the main thread), SIGINT and SIGTERM set `signum` instead of stopping
    the process; the loop checks it after each step. A second signal stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _request(self, signum: int, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._request) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _make_optimizer(model: TrainableModel, phase: Phase) -> tuple[PhaseOptimizer, list[float]]:
    groups = model.parameter_groups()
    active = phase.config.lr.active()
    unknown = set(active) - set(groups)
    if unknown:
        raise ValueError(f"phase {phase.name} trains {sorted(unknown)}, which this model does not have")
    for name, params in groups.items():
        for param in params:
            param.requires_grad_(name in active)
    param_groups = [{"params": groups[name], "lr": lr, "name": name} for name, lr in active.items() if groups[name]]
    if not param_groups:
        raise ValueError(f"phase {phase.name} trains nothing: give some module a learning rate")
    optimizer = PhaseOptimizer(param_groups, model.sparse_parameters())
    return optimizer, [group["lr"] for group in optimizer.param_groups]


def _plateaued(history: list[dict], phase: Phase) -> bool:
    """Early stopping (`patience`): the phase's validation PSNRs so far have plateaued."""
    if not phase.config.patience:
        return False
    points = [point for point in history if point["phase"] == phase.name]
    if "val_psnr" not in points[-1]:
        raise ValueError(f"phase {phase.name} stops early on val_psnr, which its evaluation does not report")
    return validation_plateaued([point["val_psnr"] for point in points], phase.config.patience, phase.config.min_gain)


def _set_learning_rates(
    optimizer: PhaseOptimizer, base_lrs: list[float], phase: Phase, step: int, scale: float
) -> None:
    config = phase.config
    factor = scale * config.lr_decay ** (step // config.decay_every)
    mlp_frozen = config.freeze_mlp_last > 0 and step >= config.steps - config.freeze_mlp_last
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = 0.0 if (mlp_frozen and group["name"] == "mlp") else base * factor


def _evaluate(evaluate: EvalHook, state: LoopState, logger: MetricLogger, label: str) -> None:
    metrics = evaluate(state)
    point = {"step": state.global_step, "train_seconds": state.train_seconds, "phase": label, **metrics}
    state.history.append(point)
    logger.scalars(state.global_step, {f"eval/{k}": v for k, v in metrics.items()})


def _save(
    world: World,
    folder: Path,
    model: TrainableModel,
    optimizer: PhaseOptimizer | None,
    sampler: ViewSampler,
    generator: torch.Generator,
    state: LoopState,
) -> Path:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["sampler.order"] = sampler.state()
    meta = {
        "phase_index": state.phase_index,
        "phase_step": state.phase_step,
        "global_step": state.global_step,
        "train_seconds": state.train_seconds,
        "history": state.history,
        "lr_scale": state.lr_scale,
        "skipped_steps": state.skipped_steps,
        "wall_seconds": state.wall_seconds,
        "world_size": world.size,
    }
    state.peak_rss_bytes = meta["peak_rss_bytes"] = max(state.peak_rss_bytes, peak_rss_bytes())
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = optimizer.to_flat()
        tensors.update(optim_tensors)
    name = f"step-{state.global_step:08d}"
    if world.distributed:
        meta["scenes_per_process"] = gather_objects(world, len(sampler.scenes))
        tensors, meta["replica_difference"] = gather_checkpoint(world, tensors, scene_row_keys(model, optimizer, tensors))
    if tensors is None:  # another process: rank 0 writes the whole run's checkpoint
        return folder / name
    return save_checkpoint(folder, name, tensors, meta)


def _restore(
    world: World, model: TrainableModel, sampler: ViewSampler, generator: torch.Generator, tensors: dict, meta: dict,
    seed: int,
) -> LoopState:
    """Load a checkpoint's state into this process (its scenes' rows of a whole-run checkpoint).
    A run saved with another number of processes continues with fresh random streams (seeded
    by `seed`, the step and the rank): its processes' streams cannot be split or merged."""
    tensors, same_world = local_checkpoint(world, tensors, meta, scene_row_keys(model, None, tensors))
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"checkpoint does not match this model: {mismatch(error)}") from None
    if same_world:
        generator.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch"])
        sampler.load_state(tensors["sampler.order"])
    else:
        reseed = seed + 1_000_003 * (meta["global_step"] + 1) + world.rank
        generator.manual_seed(reseed)
        torch.manual_seed(reseed)
        sampler.load_state(torch.empty(0, dtype=torch.int64))
    return LoopState(
        phase_index=meta["phase_index"],
        phase_step=meta["phase_step"],
        global_step=meta["global_step"],
        train_seconds=meta["train_seconds"],
        history=meta["history"],
        lr_scale=meta.get("lr_scale", 1.0),
        skipped_steps=meta.get("skipped_steps", 0),
        wall_seconds=meta.get("wall_seconds", 0.0),  # absent from runs saved before it was recorded
        peak_rss_bytes=meta.get("peak_rss_bytes", 0),
    )
