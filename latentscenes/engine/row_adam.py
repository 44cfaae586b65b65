"""RowAdam: lazy Adam for per-scene rows, with one step count per row.

`torch.optim.SparseAdam` updates only the rows present in a sparse gradient, but keeps a
single step count per tensor. A row first touched at the tensor's step t therefore gets
Adam's bias correction for t steps of history it never had: its first update is

    lr * sqrt(1 - b2^t) / (1 - b1^t) * (1 - b1) g / (sqrt(1 - b2) |g|)
      = lr * 0.1 / sqrt(0.001) ~ 3.2 lr   at t = 1000 (b1 = 0.9, b2 = 0.999),

instead of lr. With N scenes and S per batch each scene is touched about every N / S
steps, so at N = 1000 this is every scene's first update. RowAdam counts steps per row
(the leading dimension): for each row, its update sequence is exactly dense Adam's on
that row alone, fed only the gradients of the steps that touched it. The per-row counts
are optimiser state (`step`, int64 of shape (N,)), so they travel in checkpoints as
tensors like the moments.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class RowAdam(torch.optim.Optimizer):
    """Adam on sparse row gradients (sparse dim 0) with per-row bias correction.

    Parameters are tensors (N, ...) whose `.grad` is a sparse COO tensor with one sparse
    dimension (the rows); duplicate rows in a gradient are summed. State per parameter:
    `exp_avg`, `exp_avg_sq` (N, ...) and `step` (N,) int64, the number of steps that
    touched each row.
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid RowAdam settings: lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: ARG002 (torch's signature)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse or param.grad.sparse_dim() != 1:
                    raise RuntimeError("RowAdam needs sparse row gradients (sparse_grad); use Adam for dense ones")
                grad = param.grad.coalesce()
                rows, values = grad.indices()[0], grad.values()
                if rows.numel() == 0:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros(param.shape[0], dtype=torch.int64, device=param.device)
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] = state["step"].to(param.device)  # torch loads `step` state where it was saved
                steps = state["step"].index_add_(0, rows, torch.ones_like(rows))[rows]  # (K,)
                exp_avg = state["exp_avg"].index_select(0, rows).lerp_(values, 1 - beta1)
                exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
                state["exp_avg"].index_copy_(0, rows, exp_avg)
                state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
                update = row_adam_update(exp_avg, exp_avg_sq, steps, group["lr"], beta1, beta2, group["eps"])
                param.index_add_(0, rows, update, alpha=-1.0)


def row_adam_update(
    exp_avg: Tensor, exp_avg_sq: Tensor, steps: Tensor, lr: float, beta1: float, beta2: float, eps: float
) -> Tensor:
    """Adam's step for K rows: exp_avg, exp_avg_sq (K, ...), steps (K,) -> (K, ...).

    lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t per row: torch.optim.Adam's
    formula and order of operations, its bias corrections in float64 as Adam's Python floats."""
    shape = (-1,) + (1,) * (exp_avg.dim() - 1)
    t = steps.to(torch.float64).view(shape)
    step_size = (lr / (1 - beta1**t)).to(exp_avg.dtype)
    correction2_sqrt = (1 - beta2**t).sqrt().to(exp_avg.dtype)
    denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(eps)
    return exp_avg / denom * step_size
