"""`latentscenes compare`: the headline comparison of finished runs on the same new scenes.

Latent Tri-Planes (stage 2) against the cold-start RGB baseline (random planes and MLP, trained
on random rays) and, optionally, a warm-started RGB control (`fit --space rgb init_from=RUN`: new
scenes start from the mean scene and MLP of an RGB run on other scenes, as stage 2 starts
from stage 1) and cold RGB trained on whole images (`fit.rays_per_view=0`: every pixel of a
view per step, the paper's protocol). For each run:

- held-out and training-view PSNR (all their views, `RUN/eval.json`, evaluated here when it
  is missing or older than the run's last checkpoint) and the train / held-out gap;
- its training curve's end and `late_rise` (near 0: at its plateau);
- the rays it rendered per scene until its curve reached the target, and how many passes over
  a scene's training pixels (latent pixels for latent scenes) those are: a latent ray costs
  about what an RGB ray costs, so the speed-up follows their ratio;
- the training seconds per scene its curve took to reach the cold RGB curve's end - `margin`
  dB (a PSNR near RGB's plateau, not an early point), and the speed-ups of the latent scenes
  against both RGB runs, also with each method's one-time costs (the autoencoder, stage 1 and
  a learned start's training; the warm control's earlier RGB run) amortised over N = 17, 100
  and 1000 new scenes. A learned start's prediction (`RUN/learned-start.json`) is added to the
  latent scenes' seconds per scene. A run whose curve never reached the target gives a lower
  bound: it needed more than all its training seconds.

The runs must have learned the same scenes with the same splits, and their curves must be
evaluated on the same views, or the comparison is refused. Seconds are the runs' own training
seconds: compare runs trained with the same threads on the same machine at the same time. With
`step_costs` (a `latentscenes bench steps` result for these runs) each method's steps to the
target are also priced at its phases' measured seconds per step, which other jobs running
beside the runs do not distort (a phase's one-off start, such as encoding the latent targets,
is left out of both methods' priced seconds).
Held-out is `test` by default (report it once); `val` is for choosing settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from latentscenes.config import load_config
from latentscenes.data import dataset_info
from latentscenes.data.checks import read_json
from latentscenes.engine.checkpoint import latest_meta
from latentscenes.engine.runs import RunDir, open_finished_run, run_key, run_kind
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.costs import SCENE_COUNTS, amortised_speedup
from latentscenes.evaluation.curves import late_rise, time_to_reach
from latentscenes.models.phases import rays_per_visit
from latentscenes.recipes.fit_phases import fit_phases, phase_spans
from latentscenes.recipes.restore import current_evaluation, evaluate_run
from latentscenes.recipes.rgb import FitRGBConfig, earlier_rgb_run
from latentscenes.recipes.stage1 import autoencoder_folder, one_time_seconds
from latentscenes.recipes.stage2 import FitLatentConfig, learned_start_costs, stage1_run, stage2_autoencoder

SAME_SCENES = ("start", "count", "num_test_views", "num_val_views", "size", "above")
SAME_CURVE_VIEWS = ("scenes", "first", "views")


@dataclass
class CompareSettings:
    latent: Path
    rgb: Path  # the cold-start RGB baseline
    warm_rgb: Path | None = None  # the warm-started RGB control
    whole_image_rgb: Path | None = None  # cold RGB on whole images, the paper's protocol
    held_out: str = "test"  # or "val"
    margin: float = 1.0  # dB below the cold RGB curve's end: the matched PSNR
    step_costs: Path | None = None  # `bench steps` JSON for these runs


def compare_runs(settings: CompareSettings) -> dict:
    """The comparison as a JSON-able dict (see the module docstring); evaluates runs whose
    `eval.json` is not current."""
    if settings.held_out not in ("test", "val"):
        raise LatentScenesError(f"held-out views are 'test' or 'val', got {settings.held_out!r}")
    runs = {"latent": _open(settings.latent, "fit-latent"), "rgb": _open(settings.rgb, "fit-rgb")}
    if settings.warm_rgb is not None:
        runs["warm_rgb"] = _open(settings.warm_rgb, "fit-rgb")
    if settings.whole_image_rgb is not None:
        runs["whole_image_rgb"] = _open(settings.whole_image_rgb, "fit-rgb")
    configs = {
        name: load_config(FitLatentConfig if name == "latent" else FitRGBConfig, run.config_path)
        for name, run in runs.items()
    }
    _check_starts(runs, configs)
    _check_same(runs, configs, settings.held_out)
    curves = {name: _curve(run, settings.held_out) for name, run in runs.items()}
    target = float(curves["rgb"]["points"][-1][f"{settings.held_out}_psnr"]) - settings.margin
    splits = (settings.held_out, "train")
    costs = _read_step_costs(Path(settings.step_costs)) if settings.step_costs else None
    methods = {
        name: _method(run, configs[name], curves[name], splits, target, costs) for name, run in runs.items()
    }
    result = {
        "held_out": settings.held_out,
        "data": _data_record(configs["latent"], int(curves["latent"]["num_scenes"])),
        "target_psnr": target,
        "margin": settings.margin,
        "methods": methods,
        "latent_vs": {
            name: _speedups(methods["latent"], methods[name]) for name in methods if name != "latent"
        },
    }
    return result


def _open(path: Path, kind: str) -> RunDir:
    run = open_finished_run(path)
    if run_kind(run) != kind:
        raise LatentScenesError(f"{run.root} is a '{run_kind(run)}' run, not a '{kind}' run")
    return run


def _check_starts(runs: dict[str, RunDir], configs: dict) -> None:
    """The cold baseline starts from nothing, the warm control from an earlier RGB run, and the
    whole-image baseline from nothing, on whole images."""
    if configs["rgb"].init_from:
        raise LatentScenesError(
            f"--rgb {runs['rgb'].root} is warm-started (init_from={configs['rgb'].init_from}); the cold-start "
            "baseline starts from random planes and MLP (pass this run as --warm-rgb)"
        )
    if "warm_rgb" in runs and not configs["warm_rgb"].init_from:
        raise LatentScenesError(
            f"--warm-rgb {runs['warm_rgb'].root} starts cold (no init_from): the warm control is "
            "`fit --space rgb init_from=RUN`"
        )
    if "whole_image_rgb" in runs:
        root, config = runs["whole_image_rgb"].root, configs["whole_image_rgb"]
        if config.init_from:
            raise LatentScenesError(
                f"--whole-image-rgb {root} is warm-started (init_from={config.init_from}); the paper's baseline "
                "starts from random planes and MLP"
            )
        if config.fit.rays_per_view:
            raise LatentScenesError(
                f"--whole-image-rgb {root} trained on {config.fit.rays_per_view} random rays per view, not whole "
                "images (fit.rays_per_view=0)"
            )


def _check_same(runs: dict[str, RunDir], configs: dict, held_out: str) -> None:
    """Same dataset, scenes and splits, and curves on the same views; held-out `val` needs
    validation views."""
    first = configs["latent"]
    for name, config in configs.items():
        pair = f"{runs['latent'].root} and {runs[name].root}"
        if Path(config.data.root).resolve() != Path(first.data.root).resolve():
            raise LatentScenesError(f"{pair} learned different datasets ({first.data.root} vs {config.data.root})")
        for key in SAME_SCENES:
            mine, theirs = getattr(first.data, key), getattr(config.data, key)
            if mine != theirs:
                raise LatentScenesError(f"{pair} learned different scenes or splits: data.{key} {mine} vs {theirs}")
        for key in SAME_CURVE_VIEWS:
            mine, theirs = getattr(first.eval, key), getattr(config.eval, key)
            if mine != theirs:
                raise LatentScenesError(
                    f"{pair} evaluated their training curves on different views (eval.{key} {mine} vs {theirs}): "
                    "their times to a PSNR would not compare"
                )
    if held_out == "val" and not first.data.num_val_views:
        raise LatentScenesError(f"{runs['latent'].root} has no validation views (data.num_val_views=0)")


def _curve(run: RunDir, held_out: str) -> dict:
    curve = json.loads(run.curve_path.read_text())
    key = f"{held_out}_psnr"
    if not curve.get("points") or key not in curve["points"][-1]:
        raise LatentScenesError(f"{run.curve_path} has no '{key}' points (a run evaluated during training)")
    return curve


def _method(run: RunDir, config, curve: dict, splits: tuple[str, ...], target: float, costs: dict | None) -> dict:
    evaluation = current_evaluation(run, splits) or evaluate_run(run, splits)
    held_out, train = evaluation["mean"][splits[0]], evaluation["mean"]["train"]
    points, key, scenes = curve["points"], f"{splits[0]}_psnr", int(curve["num_scenes"])
    seconds = time_to_reach(points, target, key)
    steps = time_to_reach([{**point, "train_seconds": point["step"]} for point in points], target, key)
    learned_start = learned_start_costs(config, run.root) if isinstance(config, FitLatentConfig) else {}
    # a learned start's prediction is per-scene work outside the training loop's clock
    start = learned_start.get("prediction_per_scene", 0.0)
    priced = None if costs is None else _step_seconds(run, config, steps, scenes, costs)
    priced_all = None if costs is None else _step_seconds(run, config, float(points[-1]["step"]), scenes, costs)
    return {
        "run": str(run.root),
        "starts_from": _starts_from(run, config),
        "held_out": {"psnr": held_out["psnr"], "ssim": held_out["ssim"]},
        "train_psnr": train["psnr"],
        "gap": train["psnr"] - held_out["psnr"],
        "curve_end": float(points[-1][key]),
        "late_rise": late_rise(points, key),
        "steps": int(points[-1]["step"]),
        "seconds_per_scene": float(points[-1]["train_seconds"]) / scenes + start,
        "seconds_per_scene_to_target": None if seconds is None else seconds / scenes + start,
        "steps_to_target": steps,  # independent of the machine's load, unlike seconds
        "step_seconds_per_scene_to_target": None if priced is None else priced + start,  # steps x `bench steps` costs
        "step_seconds_per_scene": None if priced_all is None else priced_all + start,  # all its steps priced so
        "start_seconds_per_scene": start,  # included in the seconds above
        "rays_to_target": _rays_to_target(run, config, steps, scenes),
        # past the target at its first evaluation: the time is an upper bound
        "target_at_first_point": float(points[0][key]) >= target,
        "one_time_seconds": _one_time_seconds(run, config, learned_start),
    }


def _read_step_costs(path: Path) -> dict:
    """A `latentscenes bench steps` JSON file, checked to hold a seconds-per-step number for
    every phase it lists."""
    costs = read_json(path)
    try:
        for entry in costs["runs"].values():
            for phase in entry["phases"].values():
                float(phase["seconds_per_step"])
    except (TypeError, KeyError, AttributeError, ValueError):
        raise LatentScenesError(
            f"{path} is not a `latentscenes bench steps` result "
            "({'runs': {RUN: {'phases': {PHASE: {'seconds_per_step': s}}}}})"
        ) from None
    return costs


def _step_seconds(run: RunDir, config, steps: float | None, scenes: int, costs: dict) -> float | None:
    """Seconds per scene of the run's first `steps` steps at its phases' measured costs."""
    entry = costs["runs"].get(run_key(run.root))
    if entry is None:
        raise LatentScenesError(f"the step costs have no entry for {run.root}: run `latentscenes bench steps` on it")
    if steps is None:
        return None
    seconds = 0.0
    for name, first, end in phase_spans(config, scenes):
        if name not in entry["phases"]:
            raise LatentScenesError(f"the step costs of {run.root} have no phase '{name}'")
        seconds += max(0.0, min(steps, end) - first) * entry["phases"][name]["seconds_per_step"]
    return seconds / scenes


def _rays_to_target(run: RunDir, config, steps: float | None, scenes: int) -> dict | None:
    """Rays rendered per scene in the run's first `steps` steps and the passes they make over a
    scene's training pixels (on the latent grid for latent scenes); None when the curve never
    reached the target or a phase stops early (its steps are not known from the config)."""
    phases = {phase.name: phase.config for phase in fit_phases(config)}
    if steps is None or any(phase.patience for phase in phases.values()):
        return None
    info = dataset_info(config.data.root, **config.data.load_options())  # sizes and views, no image decoded
    height, width = info.resolution[0]
    factor = _grid_factor(run, config)
    rays = 0.0
    for name, first, end in phase_spans(config, scenes):
        phase = phases[name]
        visits = max(0.0, min(steps, end) - first) * min(phase.scenes_per_batch, scenes) / scenes
        rays += visits * rays_per_visit(phase, height, width, factor)
    training_views = info.views_per_scene[1] - config.data.num_test_views - config.data.num_val_views  # the mean
    pixels = training_views * (height // factor) * (width // factor)
    return {"rays_per_scene": rays, "training_pixels_per_scene": pixels, "passes": rays / pixels}


def _grid_factor(run: RunDir, config) -> int:
    """How much coarser than the images the run renders: its autoencoder's downsampling, 1 for RGB."""
    if isinstance(config, FitLatentConfig):
        return stage2_autoencoder(config, autoencoder_folder(stage1_run(config, run.root)[0])).downsample_factor
    return 1


def _starts_from(run: RunDir, config) -> str:
    if isinstance(config, FitLatentConfig):
        stage1, _ = stage1_run(config, run.root)
        return f"stage 1 {stage1.root}: its {config.scene_init} scene, {config.mlp_init}d MLP, bases and autoencoder"
    if config.init_from:
        return f"the mean scene and MLP of {config.init_from}"
    return "random planes and MLP"


def _one_time_seconds(run: RunDir, config, learned_start: dict[str, float]) -> dict[str, float]:
    """What the run's start cost once: the autoencoder, stage 1 and the training of its learned
    start (`learned_start_costs`) for latent runs, the earlier RGB run (warm control), nothing
    (cold baseline)."""
    if isinstance(config, FitLatentConfig):
        start = {"start": learned_start["training"]} if learned_start else {}
        return one_time_seconds(stage1_run(config, run.root)[0]) | start
    earlier = earlier_rgb_run(config)
    return {"earlier_rgb": float(latest_meta(earlier.checkpoints)["train_seconds"])} if earlier else {}


def _speedups(latent: dict, other: dict) -> dict:
    """How many times sooner the latent scenes reach the target than `other`, per scene, and
    with both methods' one-time costs spread over N new scenes: by the runs' own seconds and,
    with step costs, by their steps priced at the measured costs (`by_step_costs`)."""
    result = _speedup(latent, other, "seconds_per_scene_to_target", "seconds_per_scene")
    if latent["step_seconds_per_scene_to_target"] is not None and other["step_seconds_per_scene"] is not None:
        result["by_step_costs"] = _speedup(latent, other, "step_seconds_per_scene_to_target", "step_seconds_per_scene")
    return result


def _speedup(latent: dict, other: dict, key: str, total_key: str) -> dict:
    """`speedup`: `other`'s seconds to the target over the latent scenes'. When only the latent
    scenes reached it, `at_least`: a lower bound from all of `other`'s seconds (`total_key`)."""
    fast, slow = latent[key], other[key]
    bound = fast is not None and slow is None
    if bound:
        slow = other[total_key]
    if fast is None or slow is None:
        return {"speedup": None, "amortised": []}
    fast_once, slow_once = sum(latent["one_time_seconds"].values()), sum(other["one_time_seconds"].values())
    name = "at_least" if bound else "speedup"
    amortised = [{"scenes": count, name: amortised_speedup(fast, slow, count, fast_once, slow_once)} for count in SCENE_COUNTS]
    ratio = slow / fast if fast else float("inf")
    return {"speedup": None, "at_least": ratio, "amortised": amortised} if bound else {"speedup": ratio, "amortised": amortised}


def _data_record(config: FitLatentConfig, num_scenes: int) -> dict:
    data, curve_views = config.data, config.eval
    return {"root": data.root, "start": data.start, "count": data.count, "num_test_views": data.num_test_views,
            "num_val_views": data.num_val_views, "curve_scenes": min(curve_views.scenes, num_scenes - curve_views.first),
            "curve_views": curve_views.views}


LABELS = {
    "latent": "latent Tri-Planes", "rgb": "RGB, cold start", "warm_rgb": "RGB, warm start",
    "whole_image_rgb": "RGB, whole images",
}


def format_comparison(result: dict) -> str:
    held, data = result["held_out"], result["data"]
    target = result["target_psnr"]
    lines = [
        f"scenes {data['start']}+ of {data['root']}; held out: {held} views; curves on {data['curve_views']} views of "
        f"{data['curve_scenes']} scenes; seconds per scene to {target:.2f} dB (cold RGB's curve end - "
        f"{result['margin']:g} dB)",
        f"{'':<18}{held + ' PSNR':>10}{'SSIM':>7}{'train':>7}{'gap':>6}{'curve end':>11}{'late rise':>10}"
        f"{'steps':>7}{'s/scene':>9}{'to target':>10}{'(steps)':>8}{'one-time s':>11}",
    ]
    for name, method in result["methods"].items():
        to_target = method["seconds_per_scene_to_target"]
        lines.append(
            f"{LABELS[name]:<18}{method['held_out']['psnr']:>10.2f}{method['held_out']['ssim']:>7.3f}"
            f"{method['train_psnr']:>7.2f}{method['gap']:>6.2f}{method['curve_end']:>11.2f}{method['late_rise']:>+10.2f}"
            f"{method['steps']:>7d}{method['seconds_per_scene']:>9.1f}"
            f"{_seconds(to_target, method['target_at_first_point']):>10}{_steps(method['steps_to_target']):>8}"
            f"{sum(method['one_time_seconds'].values()):>11.0f}"
        )
    latent = result["methods"]["latent"]
    for name, versus in result["latent_vs"].items():
        other = result["methods"][name]
        delta = latent["held_out"]["psnr"] - other["held_out"]["psnr"]
        line = f"latent vs {LABELS[name]}: {delta:+.2f} dB held out, gap {latent['gap']:.2f} vs {other['gap']:.2f}; "
        if "at_least" in versus:
            line += (f"to {target:.2f} dB {_ratio(versus)} as fast ({LABELS[name]} had not reached it after "
                     f"{other['seconds_per_scene']:.1f} s per scene); with one-time costs {_amortised(versus)}")
        elif versus["speedup"] is None:
            line += f"to {target:.2f} dB: not both reached it"
        else:
            line += f"to {target:.2f} dB {_ratio(versus)} as fast; with one-time costs {_amortised(versus)}"
        lines.append(line)
        priced = versus.get("by_step_costs")
        if priced and (priced["speedup"] is not None or "at_least" in priced):
            bound = "at_least" in priced  # it never reached the target: all its steps, priced
            theirs = other["step_seconds_per_scene" if bound else "step_seconds_per_scene_to_target"]
            more = "more than " if bound else ""
            lines.append(
                f"  by step costs: {latent['step_seconds_per_scene_to_target']:.1f} vs {more}{theirs:.1f} s per scene, "
                f"{_ratio(priced)} as fast; with one-time costs {_amortised(priced)}"
            )
    reached = {name: method["rays_to_target"] for name, method in result["methods"].items() if method["rays_to_target"]}
    if reached:
        lines.append(f"rays per scene to {target:.2f} dB: " + "; ".join(
            f"{LABELS[name]} {rays['rays_per_scene'] / 1000:.0f}k, {rays['passes']:.2f} passes over its "
            f"{rays['training_pixels_per_scene'] / 1000:.0f}k training pixels" for name, rays in reached.items()
        ))
    lines.append(
        "(late rise: the curve's gain over its last quarter of training time, near 0 at a plateau; <= : past the "
        "target at its first evaluation; seconds are each run's own training time, steps are not slowed by other jobs; "
        "training pixels of latent scenes are latent pixels)"
    )
    return "\n".join(lines)


def _ratio(speedup: dict) -> str:
    return f">= {speedup['at_least']:.2f}x" if "at_least" in speedup else f"{speedup['speedup']:.2f}x"


def _amortised(speedup: dict) -> str:
    key, prefix = ("at_least", ">= ") if "at_least" in speedup else ("speedup", "")
    return ", ".join(f"{prefix}{row[key]:.2f}x at N = {row['scenes']}" for row in speedup["amortised"])


def _steps(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}"


def _seconds(value: float | None, upper_bound: bool) -> str:
    if value is None:
        return "never"
    return f"<={value:.1f}" if upper_bound else f"{value:.1f}"
