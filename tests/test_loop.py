"""The training loop on a small real problem: per-scene images as parameters, fitted to
the training views of their scenes. Checks phases, learning-rate groups, exact resume and
sparse (SparseAdam) per-scene parameters."""

import os
import signal
import time

import pytest
import torch
import torch.nn.functional as F
from tiny_runs import loop_settings

from latentscenes.data import Scene
from latentscenes.data.batches import ViewSampler
from latentscenes.engine.checkpoint import load_checkpoint
from latentscenes.engine.logger import MetricLogger, read_metrics
from latentscenes.engine.loop import TrainingInterrupted, train
from latentscenes.engine.optim import PhaseOptimizer
from latentscenes.errors import CheckpointError, TrainingDiverged
from latentscenes.models.phases import LearningRates, LossWeights, PhaseConfig, recipe


class MeanImages(torch.nn.Module):
    """Scene s is an image `planes[s]` plus a shared `mlp` offset, fitted to its views."""

    def __init__(self, num_scenes: int, size: int, sparse: bool = False):
        super().__init__()
        self.planes = torch.nn.Parameter(torch.zeros(num_scenes, 3 * size * size))
        self.offset = torch.nn.Parameter(torch.zeros(3, 1, 1))
        self.size, self.sparse = size, sparse
        self.phases_started = []

    def parameter_groups(self):
        return {"planes": [self.planes], "mlp": [self.offset]}

    def sparse_parameters(self):
        return [self.planes] if self.sparse else []

    def start_phase(self, phase):
        self.phases_started.append(phase.name)

    def loss_terms(self, batch, names, prepared=None):
        rows = F.embedding(batch.scene_index, self.planes, sparse=self.sparse)
        prediction = (rows.view(-1, 3, self.size, self.size) + self.offset).unsqueeze(1)
        return {"rgb": (prediction - batch.images).pow(2).mean()}


def _scenes(count=3, views=5, size=8):
    generator = torch.Generator().manual_seed(1)
    return [
        Scene(
            scene_id=f"s{i}",
            images=torch.randint(0, 256, (views, size, size, 3), generator=generator, dtype=torch.uint8),
            cam2world=torch.eye(4).expand(views, 4, 4).clone(),
            intrinsics=torch.eye(3).expand(views, 3, 3).clone(),
            view_names=[str(v) for v in range(views)],
            num_test_views=1,
        )
        for i in range(count)
    ]


def _phases():
    return recipe(
        warmup=PhaseConfig(steps=6, scenes_per_batch=2, views_per_scene=2, loss=LossWeights(rgb=1.0), lr=LearningRates(planes=0.1)),
        joint=PhaseConfig(
            steps=8, scenes_per_batch=2, views_per_scene=3, loss=LossWeights(rgb=1.0),
            lr=LearningRates(planes=0.05, mlp=0.05), lr_decay=0.5, decay_every=3,
        ),
        skipped=PhaseConfig(steps=0),
    )


def _run(tmp_path, name, stop_after=None, resume=False, sparse=False):
    torch.manual_seed(123)
    model = MeanImages(3, 8, sparse)
    sampler = ViewSampler(_scenes())
    logger = MetricLogger(tmp_path / name / "logs", "none", name)
    state = train(
        model, _phases(), sampler, tmp_path / name / "ckpt", logger,
        loop_settings(log_every=1, checkpoint_every=5), resume=resume, stop_after=stop_after,
    )
    logger.close()
    return model, state


def test_phases_run_in_order_and_loss_falls(tmp_path):
    model, state = _run(tmp_path, "full")
    assert state.global_step == 14
    losses = [row["loss/rgb"] for row in read_metrics(tmp_path / "full" / "logs")]
    assert len(losses) == 14
    assert losses[-1] < 0.7 * losses[0]
    assert model.offset.abs().sum() > 0  # trained in the joint phase only
    assert model.phases_started == ["warmup", "joint"]


def test_frozen_group_does_not_move_in_warmup(tmp_path):
    torch.manual_seed(0)
    model = MeanImages(3, 8)
    logger = MetricLogger(tmp_path / "logs", "none", "x")
    train(model, _phases()[:1], ViewSampler(_scenes()), tmp_path / "ckpt", logger, loop_settings())
    assert torch.equal(model.offset, torch.zeros(3, 1, 1))


@pytest.mark.parametrize("sparse", [False, True])
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, sparse):
    full, _ = _run(tmp_path, "full", sparse=sparse)
    _run(tmp_path, "broken", stop_after=12, sparse=sparse)  # last checkpoint at step 10, in the joint phase
    assert load_checkpoint(tmp_path / "broken" / "ckpt")[1]["global_step"] == 10
    resumed, state = _run(tmp_path, "broken", resume=True, sparse=sparse)
    assert state.global_step == 14
    assert torch.equal(full.planes, resumed.planes)
    assert torch.equal(full.offset, resumed.offset)


def test_wall_time_and_peak_memory_add_up_over_the_processes_of_a_resumed_run(tmp_path):
    """Evaluation and checkpoints count in `wall_seconds` (not in `train_seconds`); a resumed
    run continues from what its checkpoint recorded."""
    pause = 0.02

    def evaluate(state):
        time.sleep(pause)
        return {}

    def run(stop_after=None, resume=False):
        torch.manual_seed(123)
        logger = MetricLogger(tmp_path / "logs", "none", "x")
        settings = loop_settings(checkpoint_every=5, eval_every=1)
        state = train(
            MeanImages(3, 8), _phases(), ViewSampler(_scenes()), tmp_path / "ckpt", logger, settings,
            evaluate=evaluate, resume=resume, stop_after=stop_after,
        )
        logger.close()
        return state

    run(stop_after=12)
    saved = load_checkpoint(tmp_path / "ckpt")[1]
    assert saved["global_step"] == 10
    assert saved["wall_seconds"] >= saved["train_seconds"] + 10 * pause
    assert saved["peak_rss_bytes"] > 0
    state = run(resume=True)
    assert state.global_step == 14
    assert state.wall_seconds >= saved["wall_seconds"] + 4 * pause
    assert state.peak_rss_bytes >= saved["peak_rss_bytes"]
    assert load_checkpoint(tmp_path / "ckpt")[1]["wall_seconds"] == state.wall_seconds


def test_sparse_rows_stop_moving_when_their_scene_leaves_the_batch():
    """Lazy Adam for per-scene rows: dense Adam's momentum would keep moving row 1 at the
    second step although its scene is not in that batch; the shared parameter uses Adam."""
    table = torch.nn.Parameter(torch.zeros(3, 4))
    shared = torch.nn.Parameter(torch.zeros(4))
    optimizer = PhaseOptimizer([{"params": [table, shared], "lr": 0.1, "name": "planes"}], sparse=[table])
    assert set(optimizer.parts) == {"optim", "optim_sparse"} and len(optimizer.param_groups) == 2
    for rows in ([0, 1], [0]):
        optimizer.zero_grad()
        (F.embedding(torch.tensor(rows), table, sparse=True) + shared - 1).square().sum().backward()
        before = table.detach().clone()
        optimizer.step()
        if rows == [0, 1]:
            assert (table[:2] != before[:2]).all()
    assert torch.equal(table[1], before[1]) and not torch.equal(table[0], before[0])
    assert torch.equal(table[2], torch.zeros(4)) and (shared != 0).all()


def test_changing_the_dense_sparse_split_refuses_to_resume(tmp_path):
    _run(tmp_path, "run", stop_after=12)
    with pytest.raises(CheckpointError, match="sparse_grad"):
        _run(tmp_path, "run", resume=True, sparse=True)


class FaultyImages(MeanImages):
    """MeanImages whose loss (`nan_loss` calls) or gradients (`nan_grad` calls) are NaN;
    records the planes as they were at every call."""

    def __init__(self, nan_loss=(), nan_grad=()):
        super().__init__(3, 8)
        self.nan_loss, self.nan_grad = set(nan_loss), set(nan_grad)
        self.seen = []

    def loss_terms(self, batch, names, prepared=None):
        call = len(self.seen)
        self.seen.append(self.planes.detach().clone())
        loss = super().loss_terms(batch, names, prepared)["rgb"]
        if call in self.nan_loss:
            loss = loss * float("nan")
        if call in self.nan_grad:  # finite value, NaN gradient: d/dx 0 * sqrt(0 * x) = 0 * inf
            loss = loss + 0 * torch.sqrt(0 * self.planes.sum())
        return {"rgb": loss}


def _faulty_run(tmp_path, model, **settings):
    logger = MetricLogger(tmp_path / "logs", "none", "x")
    state = train(
        model, _phases(), ViewSampler(_scenes()), tmp_path / "ckpt", logger,
        loop_settings(log_every=1, checkpoint_every=5, **settings),
    )
    logger.close()
    return state


def test_steps_with_non_finite_loss_or_gradients_are_skipped(tmp_path):
    model = FaultyImages(nan_loss=[2], nan_grad=[9])
    state = _faulty_run(tmp_path, model)
    assert state.global_step == 14 and state.skipped_steps == 2 and state.lr_scale == 1.0
    for bad in (2, 9):  # the step after a bad one starts from the same planes: nothing was applied
        assert torch.equal(model.seen[bad + 1], model.seen[bad])
        assert not torch.equal(model.seen[bad], model.seen[bad - 1])
    assert torch.isfinite(model.planes).all() and torch.isfinite(model.offset).all()
    skipped = [row["fault/skipped_steps"] for row in read_metrics(tmp_path / "logs") if "fault/skipped_steps" in row]
    assert skipped == [1, 2]


def test_repeated_faults_roll_back_to_the_last_checkpoint_with_lower_learning_rates(tmp_path, capsys):
    model = FaultyImages(nan_grad=[6, 7, 8])  # steps 7-9; the last checkpoint is step 5's
    state = _faulty_run(tmp_path, model, max_bad_steps=3, rollback_lr_factor=0.5)
    assert "rolling back to" in capsys.readouterr().err
    assert state.global_step == 14 and state.lr_scale == 0.5
    assert torch.equal(model.seen[9], model.seen[5])  # the first call after the rollback sees step 5's planes
    assert load_checkpoint(tmp_path / "ckpt")[1]["lr_scale"] == 0.5
    assert {"step": 5, "fault/lr_scale": 0.5} in read_metrics(tmp_path / "logs")
    assert torch.isfinite(model.planes).all()


def test_a_run_that_stays_non_finite_stops_with_a_clear_error(tmp_path):
    model = FaultyImages(nan_loss=range(1000))
    with pytest.raises(TrainingDiverged, match="after 2 rollbacks"):
        _faulty_run(tmp_path, model, max_bad_steps=2, max_rollbacks=2)
    assert torch.equal(model.planes, torch.zeros_like(model.planes))  # never trained on a NaN


class SelfInterrupting(MeanImages):
    """Sends its own process SIGINT (Ctrl-C) during the `at`-th loss computation."""

    def __init__(self, at):
        super().__init__(3, 8)
        self.at, self.calls = at, 0

    def loss_terms(self, batch, names, prepared=None):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().loss_terms(batch, names, prepared)


@pytest.fixture
def python_ctrl_c():
    """SIGINT handled as in an interactive Python, whatever the test runner inherited (a
    background job starts with SIGINT ignored)."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def test_ctrl_c_saves_a_checkpoint_of_the_finished_step_and_resumes_exactly(tmp_path, python_ctrl_c):
    full, _ = _run(tmp_path, "full")
    torch.manual_seed(123)
    model, logger = SelfInterrupting(at=8), MetricLogger(tmp_path / "logs", "none", "x")
    settings = loop_settings(checkpoint_every=5)
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT; saved .*step-00000008") as stopped:
        train(model, _phases(), ViewSampler(_scenes()), tmp_path / "ckpt", logger, settings)
    assert stopped.value.exit_code == 130 and load_checkpoint(tmp_path / "ckpt")[1]["global_step"] == 8
    torch.manual_seed(123)
    resumed = MeanImages(3, 8)
    state = train(resumed, _phases(), ViewSampler(_scenes()), tmp_path / "ckpt", logger, settings, resume=True)
    assert state.global_step == 14 and torch.equal(resumed.planes, full.planes)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
