"""Training on several processes launched by `torchrun` (`torch.distributed`).

Under `torchrun` (the launcher sets WORLD_SIZE, RANK and the rendezvous address) every
process holds the shared modules (autoencoder, MLP, base planes) and keeps them identical:
rank 0's values are broadcast at the start and every step averages their gradients with one
all-reduce. The scenes are split into contiguous shards (`World.shard`):
a process holds only its scenes' images, per-scene parameters (micro planes, weights,
bias, or whole planes) and their optimiser state, samples only their views and encodes
only their latents. Checkpoints stay single-process checkpoints: rank 0 gathers every
shard's rows in scene order and alone writes files, so a run saved with W processes
resumes with any other number, or loads in one process for `eval`, `render` and `export`.

Process-group helpers (joining, reducing, gathering) are in `latentscenes.parallel`.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.distributed as dist

from latentscenes.data import DataConfig, SceneCollection, load_scenes_from_config
from latentscenes.data.load import read_scene_files
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.errors import LatentScenesError
from latentscenes.parallel import World

RANK_PREFIX = "rank"


def load_shard(config: DataConfig, world: World) -> tuple[SceneCollection, int]:
    """This process's scenes of the dataset `config` describes (only their images are read)
    and the position of its first scene among all of them."""
    if not world.distributed:
        return load_scenes_from_config(config), 0
    if config.root:
        _, files = read_scene_files(config.root, format=config.format, start=config.start, count=config.count)
        rows = world.shard(len(files))
        if not rows:
            raise LatentScenesError(
                f"{len(files)} scenes cannot be shared by {world.size} processes: launch at most {len(files)}"
            )
        config = replace(config, start=config.start + rows.start, count=len(rows))
        return load_scenes_from_config(config), rows.start
    return load_scenes_from_config(config), 0  # no dataset: its ConfigError


def _scene_tensors(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """State-dict key -> per-scene parameter (row i = the process's scene i) of the model's
    scene bank (`model.bank`; a model without one shares everything)."""
    bank = getattr(model, "bank", None)
    return {f"bank.{name}": getattr(bank, name) for name in bank.per_scene_names()} if bank is not None else {}


def per_scene_names(model: torch.nn.Module) -> set[str]:
    return set(_scene_tensors(model))


def split_parameters(model: torch.nn.Module) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(shared parameters, per-scene parameters) of the model."""
    per_scene = list(_scene_tensors(model).values())
    ids = {id(p) for p in per_scene}
    return [p for p in model.parameters() if id(p) not in ids], per_scene


@torch.no_grad()
def broadcast_shared(world: World, model: torch.nn.Module) -> None:
    """Give every process rank 0's shared parameters and buffers (their random
    initialisation depends on how many scenes a process holds)."""
    if not world.distributed:
        return
    per_scene = per_scene_names(model)
    for key, value in model.state_dict().items():
        if key not in per_scene:
            dist.broadcast(value, 0)


def sync_gradients(
    world: World, params: list[torch.nn.Parameter], scene_params: list[torch.nn.Parameter], fault: str | None
) -> str | None:
    """Average the gradients of the shared `params` over the processes in one all-reduce,
    and agree on skipping the step: returns the local `fault`, a note when only other
    processes had one, or None when every process's step was finite.

    A process's loss is the mean over its own batch; `scene_params`' gradients are divided
    by the number of processes, so that every gradient is the one of the mean over the
    global batch, as in one process with a W times larger batch."""
    if not world.distributed:
        return fault
    for param in scene_params:
        if param.grad is not None:
            param.grad = param.grad / world.size
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params if p.requires_grad]
    flat = torch.cat([g.reshape(-1) for g in grads] + [torch.tensor([float(fault is not None)])])
    dist.all_reduce(flat)
    if flat[-1] > 0:
        return fault or f"non-finite values on {int(flat[-1])} other process(es)"
    flat /= world.size
    offset = 0
    for param in (p for p in params if p.requires_grad):
        count = param.numel()
        param.grad = flat[offset : offset + count].view_as(param).clone()
        offset += count
    return None


# ---- checkpoints ------------------------------------------------------------------------


def scene_row_keys(model: torch.nn.Module, optimizer: PhaseOptimizer | None, tensors: dict[str, torch.Tensor]) -> set[str]:
    """Keys of `tensors` (a checkpoint) whose first dimension runs over scenes: the per-scene
    model tensors (`model.bank.*`) and their optimiser state (`<part>.<index>.<name>`,
    indices numbered as `torch.optim.Optimizer.state_dict` numbers parameters) of as many rows."""
    scene_tensors = _scene_tensors(model)
    if not scene_tensors:
        return set()
    keys = {f"model.{name}" for name in scene_tensors}
    rows = tensors[min(keys)].shape[0]
    per_scene = {id(p) for p in scene_tensors.values()}
    prefixes = []
    for prefix, part in (optimizer.parts.items() if optimizer is not None else ()):
        params = [p for group in part.param_groups for p in group["params"]]
        prefixes += [f"{prefix}.{index}." for index, param in enumerate(params) if id(param) in per_scene]
    for key, value in tensors.items():
        if key.startswith(tuple(prefixes)) and value.dim() > 0 and value.shape[0] == rows:
            keys.add(key)
    return keys


PER_PROCESS = ("rng.generator", "rng.torch", "sampler.order")


def gather_checkpoint(
    world: World, tensors: dict[str, torch.Tensor], scene_rows: set[str]
) -> tuple[dict[str, torch.Tensor] | None, float]:
    """Rank 0: the checkpoint of the whole run (`scene_rows` keys concatenated over the
    processes in rank order = scene order; each process's RNG and sampler states under
    `rank<r>.`, rank 0's also under the plain keys), and the largest difference between the
    processes' copies of a shared tensor (parameters and their optimiser state: 0 unless the
    replicas drifted apart). Other ranks: None and 0."""
    if not world.distributed:
        return tensors, 0.0
    gathered, difference = {}, 0.0
    for key in sorted(tensors):
        parts = _gather_rows(world, tensors[key])
        if not world.is_main:
            continue
        if key in scene_rows:
            gathered[key] = torch.cat(parts)
        elif key in PER_PROCESS:
            gathered[key] = parts[0].clone()  # safetensors refuses tensors sharing memory
            gathered.update({f"{RANK_PREFIX}{rank}.{key}": part for rank, part in enumerate(parts)})
        else:
            gathered[key] = parts[0]
            if parts[0].is_floating_point() and parts[0].numel():
                difference = max([difference] + [float((part - parts[0]).abs().max()) for part in parts[1:]])
    return (gathered, difference) if world.is_main else (None, 0.0)


def local_checkpoint(
    world: World, tensors: dict[str, torch.Tensor], meta: dict, scene_rows: set[str]
) -> tuple[dict[str, torch.Tensor], bool]:
    """This process's part of a whole-run checkpoint: its shard's rows of `scene_rows` keys,
    and its RNG and sampler states when the run was saved with as many processes (then the
    second value is True; otherwise the caller starts them afresh)."""
    model_rows = sorted(key for key in scene_rows if key.startswith("model."))
    rows = world.shard(tensors[model_rows[0]].shape[0]) if model_rows else range(0)
    local = {key: value[rows.start : rows.stop] if key in scene_rows else value for key, value in tensors.items()}
    same_world = meta.get("world_size", 1) == world.size
    if same_world and world.distributed:
        local.update({key: tensors[f"{RANK_PREFIX}{world.rank}.{key}"] for key in PER_PROCESS})
    return local, same_world


def _gather_rows(world: World, tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's `tensor` on rank 0 (their first dimensions may differ), [] elsewhere."""
    tensor = tensor.detach().contiguous()
    if tensor.dim() == 0:
        tensor = tensor[None]
        scalar = True
    else:
        scalar = False
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world.size)]
    dist.all_gather(sizes, torch.tensor([tensor.shape[0]]))
    longest = max(int(s) for s in sizes)
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype)
    padded[: tensor.shape[0]] = tensor
    buffers = [torch.empty_like(padded) for _ in range(world.size)] if world.is_main else None
    dist.gather(padded, buffers, dst=0)
    if not world.is_main:
        return []
    parts = [buffer[: int(size)] for buffer, size in zip(buffers, sizes)]
    return [part[0] for part in parts] if scalar else parts
