"""The phases of a fit recipe (stage 2 or the RGB baseline) and the steps each one spans."""

from __future__ import annotations

from latentscenes.errors import LatentScenesError
from latentscenes.models.phases import Phase, in_optimisation_steps
from latentscenes.recipes.rgb import FitRGBConfig
from latentscenes.recipes.stage2 import FitLatentConfig, stage2_phases

__all__ = ["fit_phases", "phase_spans"]


def fit_phases(config: FitLatentConfig | FitRGBConfig) -> list[Phase]:
    """The phases a fit config trains, in order (those with steps)."""
    if isinstance(config, FitLatentConfig):
        return stage2_phases(config)
    return [Phase("fit", config.fit)] if config.fit.steps > 0 else []


def phase_spans(config: FitLatentConfig | FitRGBConfig, num_scenes: int) -> list[tuple[str, int, int]]:
    """(phase, first step, end step) of each phase of a run of `num_scenes` scenes, in
    optimisation steps, in order. A phase that may stop early (`patience`) has no span known
    from the config: refused."""
    spans, start = [], 0
    for phase in fit_phases(config):
        if phase.config.patience:
            raise LatentScenesError(
                f"phase {phase.name} stops early (patience={phase.config.patience}): its steps are not known "
                "from the config, so it cannot be priced by step costs"
            )
        steps = in_optimisation_steps(phase.config, num_scenes).steps
        spans.append((phase.name, start, start + steps))
        start += steps
    return spans
