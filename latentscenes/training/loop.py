"""The one training loop: runs the phases of a stage recipe on a model.

The model says which parameters belong to which module group and computes the loss
terms a phase asks for; the loop builds one Adam optimiser per phase with a parameter
group per trained module, schedules learning rates, logs, evaluates and checkpoints.
Everything needed to continue exactly (parameters, optimiser state, RNG states, sampler
order, step counters, training time) is in each checkpoint, so `--resume` after a crash
ends in the same state as an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from latentscenes.data import Scene
from latentscenes.errors import CheckpointError
from latentscenes.training.batches import ViewBatch, ViewSampler
from latentscenes.training.checkpoint import load_checkpoint, save_checkpoint
from latentscenes.training.logger import MetricLogger
from latentscenes.training.optim import PhaseOptimizer
from latentscenes.training.recipe import Phase


class TrainableModel(Protocol):
    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Module group name (`latentscenes.training.recipe.MODULE_GROUPS`) -> parameters."""

    def sparse_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters whose gradients are sparse (per-scene rows): optimised by RowAdam."""

    def start_phase(self, phase: Phase) -> None:
        """Called before a phase's first step (also when a run resumes inside it), after the
        loop has frozen the module groups the phase does not train."""

    def loss_terms(self, batch: ViewBatch, names: list[str]) -> dict[str, torch.Tensor]:
        """Unweighted scalar loss terms for `names` on `batch`."""

    def view_metrics(self, row: int, scene: Scene, views: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-view metrics (each (V,)) of bank row `row` on `views` of `scene`."""

    def render_images(self, row: int, scene: Scene, views: torch.Tensor) -> torch.Tensor:
        """Rendered views (V, 3, H, W) in [-1, 1]."""

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> object: ...


@dataclass
class LoopSettings:
    log_every: int = 10
    eval_every: int = 0
    checkpoint_every: int = 200
    seed: int = 0
    progress: bool = True


@dataclass
class LoopState:
    phase_index: int = 0
    phase_step: int = 0
    global_step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


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
    points `{step, train_seconds, ...metrics}` (training time excludes evaluation)."""
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    state = LoopState()
    resumed: tuple[dict, dict] | None = None
    if resume:
        resumed = load_checkpoint(checkpoints)
        state = _restore(model, sampler, generator, *resumed)

    for phase_index in range(state.phase_index, len(phases)):
        phase = phases[phase_index]
        config = phase.config
        state.phase_index = phase_index
        optimizer, base_lrs = _make_optimizer(model, phase)
        start = time.perf_counter()
        model.start_phase(phase)  # e.g. encoding every view into the latent cache: a training cost
        state.train_seconds += time.perf_counter() - start
        if resumed is not None and resumed[1]["phase_step"] > 0:
            optimizer.load_flat(resumed[0], resumed[1]["optimizer"])
        resumed = None
        names = list(config.loss.active())
        weights = config.loss.active()
        bar = tqdm(
            total=config.steps, initial=state.phase_step, desc=phase.name, disable=not settings.progress, leave=False
        )
        while state.phase_step < config.steps:
            if stop_after is not None and state.global_step >= stop_after:
                bar.close()
                return state
            _set_learning_rates(optimizer, base_lrs, phase, state.phase_step)
            start = time.perf_counter()
            batch = sampler.sample(generator, config.scenes_per_batch, config.views_per_scene, config.rays_per_view)
            terms = model.loss_terms(batch, names)
            total = sum(weights[name] * terms[name] for name in names)
            if not torch.isfinite(total.detach()):
                raise FloatingPointError(
                    f"loss became {float(total)} in phase {phase.name} at step {state.phase_step}: "
                    + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
                )
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            state.train_seconds += time.perf_counter() - start
            state.phase_step += 1
            state.global_step += 1
            bar.update(1)
            if state.global_step % settings.log_every == 0 or state.phase_step == config.steps:
                values = {f"loss/{k}": float(v.detach()) for k, v in terms.items()}
                values["loss/total"] = float(total.detach())
                values["time/train_seconds"] = state.train_seconds
                logger.scalars(state.global_step, values)
                bar.set_postfix({k: f"{float(v.detach()):.4g}" for k, v in terms.items()})
            if evaluate is not None and settings.eval_every and state.global_step % settings.eval_every == 0:
                _evaluate(evaluate, state, logger, phase.name)
            if state.global_step % settings.checkpoint_every == 0:
                _save(checkpoints, model, optimizer, sampler, generator, state)
        bar.close()
        state.phase_step = 0
    state.phase_index = len(phases)
    if evaluate is not None and (not state.history or state.history[-1]["step"] != state.global_step):
        _evaluate(evaluate, state, logger, "final")
    _save(checkpoints, model, None, sampler, generator, state)
    return state


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


def _set_learning_rates(optimizer: PhaseOptimizer, base_lrs: list[float], phase: Phase, step: int) -> None:
    config = phase.config
    factor = config.lr_decay ** (step // config.decay_every)
    mlp_frozen = config.freeze_mlp_last > 0 and step >= config.steps - config.freeze_mlp_last
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = 0.0 if (mlp_frozen and group["name"] == "mlp") else base * factor


def _evaluate(evaluate: EvalHook, state: LoopState, logger: MetricLogger, label: str) -> None:
    metrics = evaluate(state)
    point = {"step": state.global_step, "train_seconds": state.train_seconds, "phase": label, **metrics}
    state.history.append(point)
    logger.scalars(state.global_step, {f"eval/{k}": v for k, v in metrics.items()})


def _save(
    folder: Path,
    model: TrainableModel,
    optimizer: PhaseOptimizer | None,
    sampler: ViewSampler,
    generator: torch.Generator,
    state: LoopState,
) -> None:
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
    }
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = optimizer.to_flat()
        tensors.update(optim_tensors)
    save_checkpoint(folder, f"step-{state.global_step:08d}", tensors, meta)


def _restore(
    model: TrainableModel, sampler: ViewSampler, generator: torch.Generator, tensors: dict, meta: dict
) -> LoopState:
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"checkpoint does not match this model: {error}") from None
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    sampler.load_state(tensors["sampler.order"])
    return LoopState(
        phase_index=meta["phase_index"],
        phase_step=meta["phase_step"],
        global_step=meta["global_step"],
        train_seconds=meta["train_seconds"],
        history=meta["history"],
    )
