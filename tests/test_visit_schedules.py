"""Phases counted in visits per scene (`PhaseConfig.count = "visits"`): one recipe gives every
scene the same training whatever the number of scenes in the run."""

import math

import pytest
import torch
import torch.nn.functional as F
from tiny_runs import loop_settings

from latentscenes.data import Scene
from latentscenes.data.batches import ViewSampler
from latentscenes.engine.logger import MetricLogger
from latentscenes.engine.loop import train
from latentscenes.models.phases import (
    LearningRates,
    LossWeights,
    PhaseConfig,
    in_optimisation_steps,
    rays_per_visit,
    recipe,
    validation_plateaued,
)


def test_visits_convert_to_optimisation_steps_in_closed_form():
    visits = PhaseConfig(steps=5, scenes_per_batch=16, decay_every=40, freeze_mlp_last=2, count="visits")
    steps = in_optimisation_steps(visits, num_scenes=1000)
    assert (steps.count, steps.steps, steps.decay_every, steps.freeze_mlp_last) == ("steps", 313, 2500, 125)
    # 4 processes with 16 scenes each cover 64 scenes per step
    assert in_optimisation_steps(visits, num_scenes=1000, processes=4).steps == math.ceil(5 * 1000 / 64)
    # every scene in every batch: a visit is a step
    small = in_optimisation_steps(visits, num_scenes=10)
    assert (small.steps, small.decay_every, small.freeze_mlp_last) == (5, 40, 2)
    plain = PhaseConfig(steps=5, scenes_per_batch=16, decay_every=40)
    assert in_optimisation_steps(plain, num_scenes=1000) is plain


class _VisitCounter(torch.nn.Module):
    """Scene s is a learned colour fitted to its views; records which scenes each step saw."""

    def __init__(self, num_scenes: int):
        super().__init__()
        self.colours = torch.nn.Parameter(torch.zeros(num_scenes, 3))
        self.batches: list[list[int]] = []

    def parameter_groups(self):
        return {"planes": [self.colours]}

    def sparse_parameters(self):
        return []

    def start_phase(self, phase):
        return None

    def loss_terms(self, batch, names, prepared=None):
        self.batches.append(batch.scene_index.tolist())
        prediction = F.embedding(batch.scene_index, self.colours)[:, None, :, None, None]
        return {"rgb": (prediction - batch.images).square().mean()}


def _scenes(count: int) -> list[Scene]:
    generator = torch.Generator().manual_seed(0)
    return [
        Scene(
            scene_id=f"s{i}",
            images=torch.randint(0, 256, (3, 4, 4, 3), generator=generator, dtype=torch.uint8),
            cam2world=torch.eye(4).expand(3, 4, 4).clone(),
            intrinsics=torch.eye(3).expand(3, 3, 3).clone(),
            view_names=["0", "1", "2"],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("num_scenes", [2, 7, 12])
def test_a_phase_in_visits_gives_every_scene_the_same_number_of_batches(tmp_path, num_scenes):
    phase = PhaseConfig(
        steps=4, scenes_per_batch=3, views_per_scene=1, loss=LossWeights(rgb=1.0), lr=LearningRates(planes=0.1),
        count="visits",
    )
    model = _VisitCounter(num_scenes)
    logger = MetricLogger(tmp_path / "logs", "none", "visits")
    state = train(
        model, recipe(fit=phase), ViewSampler(_scenes(num_scenes)), tmp_path / "checkpoints", logger,
        loop_settings(checkpoint_every=1000),
    )
    visits = torch.bincount(torch.tensor([row for batch in model.batches for row in batch]), minlength=num_scenes)
    per_step = min(3, num_scenes)
    assert state.global_step == math.ceil(4 * num_scenes / per_step)
    # whole epochs: exactly 4 visits each; otherwise the last epoch is partly done
    assert visits.min() >= 4 and visits.max() <= 4 + (state.global_step * per_step - 4 * num_scenes > 0)


def test_validation_plateaued_compares_the_last_evaluations_with_the_best_before():
    assert not validation_plateaued([20.0, 21.0], patience=2, min_gain=0.1)  # too few evaluations
    assert validation_plateaued([20.0, 21.0, 21.05, 20.9], patience=2, min_gain=0.1)
    assert not validation_plateaued([20.0, 21.0, 21.05, 21.2], patience=2, min_gain=0.1)
    assert validation_plateaued([22.0, 21.0, 21.5], patience=2, min_gain=0.0)  # below an earlier best
    assert not validation_plateaued([20.0, 20.0, 20.0], patience=0, min_gain=0.1)  # off


@pytest.mark.parametrize("loss, rays, crop, expected", [
    (LossWeights(rgb=1.0), 256, 0, 3 * 256),  # random RGB rays
    (LossWeights(rgb=1.0), 0, 0, 3 * 64 * 48),  # whole RGB images
    (LossWeights(es=1.0), 64, 0, 3 * 64),  # Encode-Scene on the latent pixels under random rays
    (LossWeights(es=1.0), 0, 0, 3 * 16 * 12),  # Encode-Scene on whole latent images
    (LossWeights(ds=1.0), 64, 32, 3 * 8 * 8),  # Decode-Scene on crops: rays_per_view does not apply
    (LossWeights(es=1.0, ds=1.0), 64, 0, 3 * 16 * 12),  # with Decode-Scene both losses share whole latents
    (LossWeights(ae=1.0, tv=1.0), 64, 0, 0),  # nothing rendered
])
def test_rays_per_visit_counts_the_rays_a_scene_renders_in_one_batch(loss, rays, crop, expected):
    config = PhaseConfig(views_per_scene=3, rays_per_view=rays, crop=crop, loss=loss)
    factor = 1 if loss.rgb else 4
    assert rays_per_visit(config, height=64, width=48, factor=factor) == expected
