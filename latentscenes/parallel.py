"""The processes of one job: a plain launch is one process; under `torchrun` (which sets
WORLD_SIZE, RANK and the rendezvous address) `join_world` joins the process group and these
helpers reduce and gather across it. Collectives run on gloo (training runs on CPUs);
`backend_for` picks NCCL for CUDA tensors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among `size` training processes (rank 0 writes files)."""

    rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, count: int) -> range:
        """This process's scenes among `count`: a contiguous block, sizes differing by at most 1."""
        return range(count * self.rank // self.size, count * (self.rank + 1) // self.size)


def current_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def join_world() -> Iterator[World]:
    """Join the process group `torchrun` describes in the environment (a plain launch: one
    process, nothing to join), and leave it afterwards."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 or dist.is_initialized():
        yield current_world()
        return
    dist.init_process_group(backend_for(torch.device("cpu")))
    try:
        yield current_world()
        # Leave together: once, under load, a rank aborted while the ranks tore the group down at
        # different times ("terminate called without an active exception"; cause not pinned down).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def sum_over_processes(world: World) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A function summing a tensor over the processes (None in a single process)."""
    if not world.distributed:
        return None

    def total(tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    return total


def any_signal(world: World, signum: int | None) -> int | None:
    """The stop signal any process received (all stop after the same step), or None."""
    if not world.distributed:
        return signum
    flag = torch.tensor([signum or 0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag) or None


def mean_values(world: World, values: dict[str, float]) -> dict[str, float]:
    """Scalars averaged over the processes (each process logs the same keys)."""
    if not world.distributed:
        return values
    keys = sorted(values)
    flat = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(flat)
    return {k: float(v) / world.size for k, v in zip(keys, flat)}


def gather_objects(world: World, value: object) -> list[object]:
    """Every process's `value` (small JSON-like values: metrics, images), in rank order."""
    if not world.distributed:
        return [value]
    values: list[object] = [None] * world.size
    dist.all_gather_object(values, value)
    return values
