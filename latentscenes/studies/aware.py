"""`latentscenes aware`: how 3D-consistent is a latent space? Stage 2 on the same new scenes in
the latent space of each given stage-1 run, side by side.

A latent space is 3D-consistent when one Tri-Plane per scene renders the encoder's latents of
*every* view: then Tri-Planes fitted to the training views also match the held-out views.
For each stage-1 run (its autoencoder, bases and MLP), the same stage-2 settings fit the same
new scenes; the table reports, on training views and held-out views:

- latent PSNR: rendered vs encoded normalised latents (how well one scene explains the views),
- decoded PSNR: decoded renders vs images (what a user sees),
- the autoencoder's own reconstruction of the held-out views (the ceiling without 3D),
- each train - held-out gap: large gaps mean the planes memorise per-view latent content.

Held-out views are the validation split when the data has one (`data.num_val_views`), since
this is a tool for choosing settings; otherwise the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentscenes.config import load_config
from latentscenes.engine.fresh_process import train_in_fresh_process
from latentscenes.evaluation.evaluate import evaluate_model
from latentscenes.io import atomic_write_json
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.stage1 import TrainConfig
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2, stage1_reference, stage1_run


@dataclass
class AwareSettings:
    stage1_runs: list[Path]
    out: Path
    config_file: Path | None = None
    overrides: list[str] = field(default_factory=list)  # stage-2 key=value, the same for every run
    train_views: int = 5  # training views per scene evaluated (the held-out ones are all evaluated)


def compare_latent_spaces(settings: AwareSettings) -> dict:
    """Stage 2 in `out/<label>/` for each stage-1 run (resumed if already there), evaluated on
    training and held-out views. Writes and returns `out/aware.json`."""
    runs = [
        (label, [*settings.overrides, f"stage1={stage1_reference(stage1, settings.out / label)}"])
        for label, stage1 in _labelled(settings.stage1_runs)
    ]
    for label, overrides in runs:  # every config and stage-1 run checked before anything trains
        stage1_run(load_config(FitLatentConfig, settings.config_file, overrides), settings.out / label)
    rows = []
    for (label, overrides), stage1 in zip(runs, settings.stage1_runs):
        run, state = train_in_fresh_process(
            settings.out / label, FitLatentConfig, "fit-latent", fit_stage2, settings.config_file, overrides
        )
        rows.append({"label": label, "stage1": str(stage1), **_measure(run, settings.train_views), **state})
    result = {"held_out": rows[0]["held_out"] if rows else "test", "runs": rows}
    atomic_write_json(settings.out / "aware.json", result)
    return result


def _labelled(runs: list[Path]) -> list[tuple[str, Path]]:
    names = [Path(run).resolve().name for run in runs]
    return [(name if names.count(name) == 1 else f"{i}-{name}", Path(run)) for i, (name, run) in enumerate(zip(names, runs))]


def _measure(run, train_views: int) -> dict:
    model, collection = load_trained(run)
    held_out = "val" if any(scene.num_val_views for scene in collection.scenes) else "test"
    scenes = list(enumerate(collection.scenes))
    train = evaluate_model(model, scenes, ("train",), max_views=train_views)["mean"]["train"]
    other = evaluate_model(model, scenes, (held_out,))["mean"][held_out]
    _, config = stage1_run(load_config(FitLatentConfig, run.config_path), run.root)
    return {
        "autoencoder": describe_stage1_autoencoder(config),
        "held_out": held_out,
        "scenes": len(collection),
        "train": train,
        held_out: other,
        "gap": {name: train[name] - other[name] for name in ("psnr", "latent_psnr") if name in train and name in other},
    }


def describe_stage1_autoencoder(config: TrainConfig) -> str:
    """Where a stage-1 run's autoencoder comes from and which halves its joint phase trained."""
    source = config.autoencoder.vae or f"preset {config.autoencoder.preset} warmed up in stage 1"
    joint = config.joint
    trained = [half for half in ("encoder", "decoder") if getattr(joint.lr, half) > 0] if joint.steps else []
    if not trained:
        return source
    losses = "+".join(name.upper() for name in joint.loss.active())
    return f"{source}, then {' and '.join(trained)} trained for {joint.steps} joint steps ({losses})"


def format_comparison(result: dict) -> str:
    held = result["held_out"]
    header = (
        f"{'run':<18}{'AE ' + held:>9}{'latent train':>14}{'latent ' + held:>12}{'gap':>6}"
        f"{'decoded train':>15}{'decoded ' + held:>13}{'gap':>6}{'s / scene':>11}"
    )
    lines = [header]
    for row in result["runs"]:
        train, other, gap = row["train"], row[held], row["gap"]
        lines.append(
            f"{row['label'][:17]:<18}{other['ae_psnr']:>9.2f}{train['latent_psnr']:>14.2f}{other['latent_psnr']:>12.2f}"
            f"{gap['latent_psnr']:>6.2f}{train['psnr']:>15.2f}{other['psnr']:>13.2f}{gap['psnr']:>6.2f}"
            f"{row['train_seconds'] / row['scenes']:>11.1f}"
        )
    lines.append(f"PSNR in dB; held-out = the {'validation' if held == 'val' else 'test'} views; autoencoders:")
    lines += [f"  {row['label']}: {row['autoencoder']}" for row in result["runs"]]
    return "\n".join(lines)
