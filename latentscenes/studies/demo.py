"""`latentscenes demo`: the whole method on the built-in data, next to the RGB baseline.

1. Build real TORCS cars (`data build torcs --split-by mesh`): stage-1 cars and held-out
   cars from other meshes.
2. Stage 1 (`train`) on the stage-1 cars.
3. Stage 2 (`fit --space latent`) on the held-out cars, in the stage-1 latent space.
4. The RGB Tri-Plane baseline (`fit --space rgb`) on the same held-out cars.
5. Evaluate both on the held-out views and print PSNR and per-scene time side by side, how
   close each training curve ended to its plateau, and how much sooner the latent scenes
   reach a PSNR 1 dB below the RGB curve's end, and the PSNR both end up reaching (their
   training curves, evaluated on the same views).
6. Write `report.html` (`latentscenes report` of the three runs): the verdict, tables,
   curves, held-out views and turntables of the cars in one self-contained page.

Stage 1 starts from the autoencoder shipped with the package (`builtin:torcs-cars`,
trained on the stage-1 meshes only; see `latentscenes/configs/autoencoder-torcs.yaml`),
so the demo does not spend its budget on an autoencoder warm-up.

Settings are the package defaults with the packaged `configs/demo-*.yaml` on top (what only
the demo sets: all its new cars in each step, its evaluation cadence). Everything lands in `--out`; a
second `demo` with the same `--out` resumes the runs instead of redoing them.

Each training run gets a fresh process (`engine.fresh_process`). With two or more torch threads the
RGB baseline trains beside stage 1 and stage 2 (they depend on each other, it on neither), each
side with half the threads: the per-scene times compare runs that had the same share of the
machine, and the demo's wall time is about the longer side's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from latentscenes.autoencoder import load_autoencoder
from latentscenes.builders import BuildSettings, build_dataset
from latentscenes.config import load_config
from latentscenes.data import SceneCollection, load_scenes_from_config
from latentscenes.engine.fresh_process import FreshTraining, side_by_side_threads, train_in_fresh_process
from latentscenes.engine.runs import RunDir
from latentscenes.evaluation.costs import amortised_speedups
from latentscenes.evaluation.curves import matched_speedup, near_plateau_speedup
from latentscenes.evaluation.evaluate import evaluate_autoencoder
from latentscenes.io import atomic_write_json
from latentscenes.recipes.restore import evaluate_run
from latentscenes.recipes.rgb import FitRGBConfig, fit_rgb
from latentscenes.recipes.stage1 import TrainConfig, autoencoder_folder, one_time_seconds, train_stage1
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2, stage1_reference
from latentscenes.reports.page import ReportSettings, write_report
from latentscenes.reports.turntables import TurntableSettings
from latentscenes.weights import is_builtin, provenance


@dataclass
class DemoSettings:
    out: Path
    source: str = "torcs"
    scenes: int = 76
    views: int = 30
    size: int = 128
    holdout_meshes: float = 3  # >= 1: that many meshes; < 1: that fraction of the scenes
    torcs_root: str | None = None
    flightgear_root: str | None = None
    overrides: tuple[str, ...] = ()  # key=value for stage 1; latent.key=value / rgb.key=value for the others
    progress: bool = True
    side_by_side: bool = True  # the RGB baseline beside stage 1 and 2, half of torch's threads each


# One 16-frame turntable per run: an RGB frame of 128 px renders in 1-2 s on 2 cores, so the
# report's default (2 scenes x 24 frames per run) would add minutes to the demo.
DEMO_REPORT = ReportSettings(turntable_scenes=1, turntable=TurntableSettings(frames=16))


def packaged_config(name: str) -> Path:
    return Path(str(resources.files("latentscenes") / "configs" / name))


STAGES = (("", TrainConfig, "demo-train.yaml"), ("latent", FitLatentConfig, "demo-fit-latent.yaml"),
          ("rgb", FitRGBConfig, "demo-fit-rgb.yaml"))


def run_demo(settings: DemoSettings) -> dict:
    for run, config_cls, config_name in STAGES:  # a bad override fails before anything is built
        load_config(config_cls, packaged_config(config_name), _overrides_of(settings.overrides, run))
    data = settings.out / "data"
    build = BuildSettings(
        source=settings.source, scenes=settings.scenes, views=settings.views, size=settings.size,
        split_by="mesh", holdout_meshes=settings.holdout_meshes,
    )
    build_dataset(data, build, torcs_root=settings.torcs_root, flightgear_root=settings.flightgear_root,
                  progress=settings.progress)
    groups = json.loads((data / "meta.json").read_text())["groups"]
    train_group, holdout = groups["train"], groups["holdout"]
    select = {
        "stage1": [f"data.root={data}", f"data.start={train_group['start']}", f"data.count={train_group['scenes']}"],
        "new": [f"data.root={data}", f"data.start={holdout['start']}", f"data.count={holdout['scenes']}"],
    }
    quiet = [] if settings.progress else ["logging.progress=false"]
    runs = settings.out / "runs"
    split = side_by_side_threads(settings.side_by_side)
    side_by_side = split is not None
    own_threads, rgb_threads = split or (torch.get_num_threads(),) * 2
    rgb_run = (runs / "rgb", FitRGBConfig, "fit-rgb", fit_rgb, packaged_config("demo-fit-rgb.yaml"),
               [*select["new"], *(["logging.progress=false"] if side_by_side else quiet),
                *_overrides_of(settings.overrides, "rgb")])
    # Beside stage 1 and stage 2 the RGB run shows no progress bar: two would garble one terminal.
    rgb_beside = FreshTraining(*rgb_run, threads=rgb_threads) if side_by_side else None
    try:
        stage1, stage1_state = _stage(
            runs / "stage1", TrainConfig, "train", train_stage1, "demo-train.yaml",
            [*select["stage1"], *quiet, *_overrides_of(settings.overrides, "")], own_threads,
        )
        latent, latent_state = _stage(
            runs / "latent", FitLatentConfig, "fit-latent", fit_stage2, "demo-fit-latent.yaml",
            [*select["new"], f"stage1={stage1_reference(stage1.root, runs / 'latent')}", *quiet,
             *_overrides_of(settings.overrides, "latent")], own_threads,
        )
        rgb, rgb_state = rgb_beside.result() if rgb_beside else train_in_fresh_process(*rgb_run)
    finally:
        if rgb_beside:
            rgb_beside.stop()
    stage1_config = load_config(TrainConfig, stage1.config_path)
    new_cars = load_scenes_from_config(load_config(FitLatentConfig, latent.config_path).data)
    summary = {
        "data": {"root": str(data), "stage1_scenes": train_group["scenes"], "new_scenes": holdout["scenes"],
                 "stage1_meshes": train_group["meshes"], "new_meshes": holdout["meshes"]},
        "autoencoder": _autoencoder_source(stage1_config),
        "stage1": {"train_seconds": stage1_state["train_seconds"], "per_new_scene_seconds":
                   stage1_state["train_seconds"] / holdout["scenes"],
                   "autoencoder_on_new_cars": _stage1_reconstruction(stage1, new_cars)},
        "latent": _summarise(latent, latent_state),
        "rgb": _summarise(rgb, rgb_state),
        "matched": matched_speedup(latent_state["history"], rgb_state["history"]),
        "near_rgb_plateau": near_plateau_speedup(latent_state["history"], rgb_state["history"]),
    }
    summary["threads"] = {"side_by_side": side_by_side, "stage1_and_latent": own_threads, "rgb": rgb_threads}
    summary["one_time_seconds"] = one_time_seconds(stage1)
    summary["amortised"] = _amortised(summary["near_rgb_plateau"]["matched"], holdout["scenes"], summary["one_time_seconds"])
    summary["report"] = str(write_report([latent.root, rgb.root, stage1.root], settings.out / "report.html", DEMO_REPORT))
    atomic_write_json(settings.out / "demo.json", summary)
    return summary


def _threads_line(threads: dict) -> str:
    if threads["side_by_side"]:
        return (f"the RGB baseline trained beside stages 1 and 2: {threads['rgb']} and "
                f"{threads['stage1_and_latent']} torch threads")
    return f"one run at a time, {threads['rgb']} torch threads each"


def _amortised(matched: dict, num_scenes: int, one_time: dict) -> list[dict]:
    """The near-plateau speed-up with the one-time costs spread over N new scenes (none when
    the latent scenes never reached that PSNR)."""
    if matched["speedup"] is None:
        return []
    fast, slow = matched["fast_seconds"] / num_scenes, matched["slow_seconds"] / num_scenes
    return amortised_speedups(fast, slow, sum(one_time.values()))


def _autoencoder_source(config: TrainConfig) -> dict:
    source = config.autoencoder.vae
    if not source:
        return {"source": f"trained from scratch in stage 1 (preset {config.autoencoder.preset})"}
    if is_builtin(source):
        return {"source": source, **provenance(source)}
    return {"source": source}


def _overrides_of(overrides: tuple[str, ...], run: str) -> list[str]:
    """The `key=value` overrides meant for one run: `latent.<key>` and `rgb.<key>` (prefix
    dropped) for stage 2 and the RGB baseline, unprefixed ones for stage 1 (`run` = "")."""
    prefixes = ("latent.", "rgb.")
    if not run:
        return [item for item in overrides if not item.startswith(prefixes)]
    return [item[len(run) + 1 :] for item in overrides if item.startswith(f"{run}.")]


def _stage1_reconstruction(stage1: RunDir, new_cars: SceneCollection) -> dict:
    """PSNR/SSIM of the stage-1 (3D-aware) autoencoder's own reconstruction of the new cars'
    held-out views, before stage 2 fine-tunes its decoder."""
    autoencoder = load_autoencoder(autoencoder_folder(stage1)).eval()
    return evaluate_autoencoder(autoencoder, enumerate(new_cars.scenes), ("test",))["mean"]["test"]


def _stage(
    folder: Path, config_cls, kind: str, fit, config_name: str, overrides: list[str], threads: int | None = None
) -> tuple[RunDir, dict]:
    return train_in_fresh_process(folder, config_cls, kind, fit, packaged_config(config_name), overrides, threads)


def _summarise(run: RunDir, state: dict) -> dict:
    result = evaluate_run(run, ("test",))
    return {
        "run": str(run.root),
        "test": result["mean"]["test"],
        "train_seconds": state["train_seconds"],
        "seconds_per_scene": state["train_seconds"] / len(result["scenes"]),
        "curve": state["history"],
    }


def format_summary(summary: dict) -> str:
    latent, rgb, stage1 = summary["latent"], summary["rgb"], summary["stage1"]
    data = summary["data"]
    lines = [
        f"{data['new_scenes']} new scenes from meshes {', '.join(data['new_meshes'])} "
        f"(stage 1: {data['stage1_scenes']} scenes from {len(data['stage1_meshes'])} other meshes)",
        f"{'':<22}{'test PSNR':>10}{'SSIM':>8}{'s / scene':>11}",
        f"{'latent Tri-Planes':<22}{latent['test']['psnr']:>10.2f}{latent['test']['ssim']:>8.3f}"
        f"{latent['seconds_per_scene']:>11.1f}",
        f"{'RGB Tri-Planes':<22}{rgb['test']['psnr']:>10.2f}{rgb['test']['ssim']:>8.3f}{rgb['seconds_per_scene']:>11.1f}",
        _threads_line(summary["threads"]),
        f"autoencoder: {summary['autoencoder']['source']}; after stage 1 it reconstructs these views at "
        f"{stage1['autoencoder_on_new_cars']['psnr']:.2f} dB, with the decoder fine-tuned in stage 2 at "
        f"{latent['test']['ae_psnr']:.2f} dB",
        _plateau_line(summary["near_rgb_plateau"]),
        _matched_line(summary["near_rgb_plateau"]["matched"], data["new_scenes"]),
        _matched_line(summary["matched"], data["new_scenes"]),
        f"stage 1 took {stage1['train_seconds']:.0f} s: {stage1['per_new_scene_seconds']:.1f} s per new scene "
        "if amortised over these scenes alone (less per scene as more scenes share it)",
    ]
    if summary["amortised"]:
        one_time = summary["one_time_seconds"]
        lines.append(
            f"with the one-time costs (autoencoder {one_time['autoencoder']:.0f} s, stage 1 {one_time['stage1']:.0f} s) "
            "spread over N new scenes, the near-plateau speed-up is "
            + ", ".join(f"{row['speedup']:.2f}x at N = {row['scenes']}" for row in summary["amortised"])
        )
    return "\n".join(lines)


def _plateau_line(near: dict) -> str:
    latent, rgb = near["fast"], near["slow"]
    return (
        f"training curves (evaluation views) end at: latent {latent['final']:.2f} dB, {latent['late_rise']:+.2f} dB "
        f"over its last quarter; RGB {rgb['final']:.2f} dB, {rgb['late_rise']:+.2f} dB (near 0: at its plateau)"
    )


def _matched_line(matched: dict, num_scenes: int) -> str:
    if matched["speedup"] is None:
        return f"to reach {matched['psnr']:.2f} dB (evaluation views): the latent scenes never did"
    return (
        f"to reach {matched['psnr']:.2f} dB (evaluation views): latent {matched['fast_seconds'] / num_scenes:.1f} s "
        f"per scene, RGB {matched['slow_seconds'] / num_scenes:.1f} s per scene: {matched['speedup']:.1f}x faster"
    )
