"""RowAdam: lazy Adam with one step count per row, against Adam's closed form and against
dense Adam run on each row alone; its per-row state through a safetensors checkpoint."""

import pytest
import torch

from latentscenes.engine.checkpoint import load_checkpoint, save_checkpoint
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.engine.row_adam import RowAdam
from latentscenes.errors import CheckpointError

LR, EPS = 0.01, 1e-8


def _touch(optimizer, table, rows, grads):
    """One step in which rows[i] of `table` gets the gradient grads[i] (duplicates add up)."""
    optimizer.zero_grad()
    table.grad = torch.sparse_coo_tensor(torch.tensor(rows)[None], grads, table.shape, check_invariants=True)
    optimizer.step()


def _late_first_touch(optimizer_class, g):
    """Row 0 trained for 999 steps, then row 1 touched for the first time with gradient g."""
    table = torch.nn.Parameter(torch.zeros(2, 3))
    optimizer = optimizer_class([table], lr=LR, eps=EPS)
    for _ in range(999):
        _touch(optimizer, table, [0], torch.ones(1, 3))
    _touch(optimizer, table, [1], g)
    return table, optimizer


def test_a_row_first_touched_at_step_1000_gets_the_same_first_update_as_at_step_1():
    """Adam's first update of a row with gradient g is -lr * g / (|g| + eps) at any step:
    m = (1 - b1) g and v = (1 - b2) g^2, which the bias corrections 1 - b1, 1 - b2 undo."""
    g = torch.tensor([[0.5, -2.0, 1e-3]])
    expected = -LR * g[0] / (g[0].abs() + EPS)

    early = torch.nn.Parameter(torch.zeros(2, 3))
    _touch(RowAdam([early], lr=LR, eps=EPS), early, [1], g)
    late, optimizer = _late_first_touch(RowAdam, g)

    torch.testing.assert_close(early[1].detach(), expected)
    torch.testing.assert_close(late[1].detach(), expected)
    assert optimizer.state[late]["step"].tolist() == [999, 1]


def test_torch_sparse_adam_moves_a_late_row_too_far():
    """Why RowAdam exists: SparseAdam corrects row 1's first update for 1000 steps of history,
    lr * sqrt(1 - b2^1000) / (1 - b1^1000) * (1 - b1) / sqrt(1 - b2) = 2.5 lr instead of lr."""
    g = torch.tensor([[0.5, -2.0, 1.0]])
    table, _ = _late_first_touch(torch.optim.SparseAdam, g)
    factor = (1 - 0.999**1000) ** 0.5 / (1 - 0.9**1000) * 0.1 / 0.001**0.5
    torch.testing.assert_close(table[1].detach(), -factor * LR * g[0].sign())
    assert factor > 2.5


def test_each_row_follows_dense_adam_on_that_row_alone():
    """Reference twin: a row's trajectory is torch.optim.Adam's on a tensor holding only that
    row, stepped only when the row is in the batch, with its summed gradient."""
    generator = torch.Generator().manual_seed(0)
    table = torch.nn.Parameter(torch.randn(4, 2, 3, generator=generator))
    alone = [torch.nn.Parameter(table[r].detach().clone()) for r in range(4)]
    adams = [torch.optim.Adam([p], lr=LR, eps=EPS) for p in alone]
    optimizer = RowAdam([table], lr=LR, eps=EPS)
    for _ in range(40):
        rows = torch.randint(4, (3,), generator=generator)  # duplicates included
        grads = torch.randn(3, 2, 3, generator=generator)
        _touch(optimizer, table, rows.tolist(), grads)
        for row in rows.unique().tolist():
            alone[row].grad = grads[rows == row].sum(0)
            adams[row].step()
    for row in range(4):
        torch.testing.assert_close(table[row].detach(), alone[row].detach(), rtol=1e-6, atol=1e-7)


def test_dense_gradients_are_refused():
    table = torch.nn.Parameter(torch.zeros(2, 3))
    table.grad = torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="sparse row gradients"):
        RowAdam([table]).step()


def _phase_optimizer(table, shared):
    return PhaseOptimizer([{"params": [table, shared], "lr": LR, "name": "planes"}], sparse=[table])


def _steps(optimizer, table, shared, generator, count):
    for _ in range(count):
        rows = torch.randperm(5, generator=generator)[:2]
        optimizer.zero_grad()
        table.grad = torch.sparse_coo_tensor(rows[None], torch.randn(2, 3, generator=generator), table.shape, check_invariants=True)
        shared.grad = torch.randn(3, generator=generator)
        optimizer.step()


def test_per_row_state_resumes_exactly_from_a_safetensors_checkpoint(tmp_path):
    def fresh():
        return torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(3))

    table, shared = fresh()
    optimizer = _phase_optimizer(table, shared)
    _steps(optimizer, table, shared, torch.Generator().manual_seed(0), 12)

    table2, shared2 = fresh()
    generator = torch.Generator().manual_seed(0)
    first = _phase_optimizer(table2, shared2)
    _steps(first, table2, shared2, generator, 7)
    tensors, meta = first.to_flat()
    save_checkpoint(tmp_path, "step-7", {**tensors, "table": table2, "shared": shared2}, {"optimizer": meta})
    loaded, loaded_meta = load_checkpoint(tmp_path)
    steps = loaded["optim_sparse.0.step"]
    assert steps.dtype == torch.int64 and steps.shape == (5,) and int(steps.sum()) == 7 * 2

    table3, shared3 = torch.nn.Parameter(loaded["table"]), torch.nn.Parameter(loaded["shared"])
    resumed = _phase_optimizer(table3, shared3)
    resumed.load_flat(loaded, loaded_meta["optimizer"])
    _steps(resumed, table3, shared3, generator, 5)
    assert torch.equal(table3, table) and torch.equal(shared3, shared)


def test_a_checkpoint_with_one_step_count_per_tensor_is_refused():
    table, shared = torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(3))
    optimizer = _phase_optimizer(table, shared)
    _steps(optimizer, table, shared, torch.Generator().manual_seed(0), 2)
    tensors, meta = optimizer.to_flat()
    tensors["optim_sparse.0.step"] = torch.tensor(2.0)  # what torch.optim.SparseAdam saves
    with pytest.raises(CheckpointError, match="per row"):
        _phase_optimizer(table, shared).load_flat(tensors, meta)
