"""`latentscenes bench scale`: what a scene costs as the number of scenes N grows.

For each N, stage 2 (latent) and the RGB baseline learn the same N new scenes (scenes
`start` .. `start + N - 1` of `data`), each run in a fresh process, the two side by side with
half of torch's threads each (or one after the other with all of them: `side_by_side=False`;
`threads_per_run` in bench.json says which), and each is measured:

- `seconds_per_scene`: training seconds / N, plus for the latent method the one-time costs
  amortised over N: stage 1's training, that of the shipped autoencoder it started from and
  that of a decoder given with `latent.autoencoder=` (`train_seconds_per_scene` and
  `one_time_seconds` apart);
- `psnr_test`: mean PSNR on the first `psnr_views` test views of `psnr_scenes` scenes evenly
  spaced among the N (all of them when N <= psnr_scenes; a 128 px RGB render takes seconds on
  a CPU, so 1000 scenes x 10 views would take hours);
- `bytes_per_scene_effective`: per-scene parameters + their optimiser state + the shared
  parameters needed to render (bases, MLP, and the latent method's decoder) / N
  (`latentscenes.engine.footprint`); and `peak_rss_bytes_per_scene`, the training
  process's peak resident memory / N (which includes the data and the Python runtime);
- the run's own `wall_seconds` (training, evaluation and checkpoints) and `peak_rss_bytes`,
  over every process that trained it (a resumed run adds up its processes; runs saved before
  these were recorded count only their last process);
- `render_ms_128`: one 128 x 128 image of a learned scene (latent render + decode vs RGB
  render), the median of `render_repeats` after a warm-up;
- `matched`: training seconds per scene for each to reach `target_psnr` on its training
  curve (by default the lower of the two final held-out PSNRs), when both runs evaluate
  during training (`eval.every`), and the speed-up without and with the one-time costs
  amortised over N.

Writes `bench.json`, `bench.md` (a table) and `bench.png` (cost against N) to `out`. A second
call with the same `out` resumes or reuses the runs there (with the scenes they were made
with: each entry records its `first_scene`), and a finished run's measurements (kept in its
folder as `scale-measure.json`, with the settings they were made with).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from latentscenes.config import load_config
from latentscenes.engine.footprint import scene_footprint
from latentscenes.engine.fresh_process import FreshTraining, side_by_side_threads, train_in_fresh_process
from latentscenes.engine.runs import open_run
from latentscenes.evaluation.costs import amortised_seconds, amortised_speedup
from latentscenes.evaluation.curves import matched_speedup
from latentscenes.evaluation.evaluate import evaluate_model
from latentscenes.evaluation.timing import render_milliseconds
from latentscenes.io import atomic_write_json, atomic_write_text
from latentscenes.recipes.restore import load_trained
from latentscenes.recipes.rgb import FitRGBConfig, fit_rgb
from latentscenes.recipes.stage2 import (
    FitLatentConfig, absolute_stage1, fit_stage2, stage1_folder, stage2_one_time_seconds,
)
from latentscenes.studies.demo import RGB_RECIPE, demo_settings

METHODS = ("latent", "rgb")
QUICK_OVERRIDES = (
    "latent.encode.steps=20", "latent.decode.steps=4", "latent.eval.every=10",
    "rgb.fit.steps=20", "rgb.eval.every=10",
)


@dataclass
class ScaleSettings:
    out: Path
    stage1: Path
    data: Path
    start: int = 0
    counts: tuple[int, ...] = (10, 100, 1000)
    latent_config: Path | None = None  # default: the demo's settings of recipe latent-2x
    rgb_config: Path | None = None  # default: the demo's settings of recipe rgb
    overrides: tuple[str, ...] = ()  # latent.key=value and rgb.key=value
    render_size: int = 128
    render_repeats: int = 3
    psnr_scenes: int = 100
    psnr_views: int = 4
    target_psnr: float | None = None  # `matched` at this test PSNR; None: the lower of the two final ones
    progress: bool = False
    side_by_side: bool = True  # both methods' runs at once, half of torch's threads each


def run_scale(settings: ScaleSettings) -> dict:
    """Measure every N of `settings.counts`; writes bench.json, bench.md and bench.png."""
    configs = {}
    for method in METHODS:  # a bad config or override fails before any training
        config_cls, config, own, base = _method_config(settings, method)
        configs[method] = load_config(config_cls, config, own, base)
    one_time_parts = stage2_one_time_seconds(configs["latent"], open_run(stage1_folder(str(settings.stage1), Path())))
    one_time = sum(one_time_parts.values())
    rows = []
    for count in settings.counts:
        row = {"num_scenes": count}
        states = {}
        for method, (run, states[method]) in _train_both(settings, count).items():
            row[method] = _measure(settings, run, states[method], one_time if method == "latent" else 0.0)
        row["matched"] = _matched(states, count, one_time, settings.target_psnr)
        rows.append(row)
    settings_dict = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(settings).items()}
    result = {"settings": settings_dict, "threads": torch.get_num_threads(),
              "threads_per_run": _threads_per_run(settings), "one_time_seconds": one_time,
              "one_time": one_time_parts, "scales": rows}
    settings.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(settings.out / "bench.json", result)
    atomic_write_text(settings.out / "bench.md", format_table(result) + "\n")
    plot_costs(result, settings.out / "bench.png")
    return result


def _threads_per_run(settings: ScaleSettings) -> dict[str, int]:
    latent, rgb = side_by_side_threads(settings.side_by_side) or (torch.get_num_threads(),) * 2
    return {"latent": latent, "rgb": rgb}


def _train_both(settings: ScaleSettings, count: int) -> dict[str, tuple]:
    """Both methods' runs on the first `count` scenes: side by side (each with its share of
    torch's threads), or one after the other. `{method: (run, state)}`."""
    threads = _threads_per_run(settings)
    if side_by_side_threads(settings.side_by_side) is None:
        trainings = {method: _training(settings, method, count) for method in METHODS}
        return {method: train_in_fresh_process(*args, base=base) for method, (args, base) in trainings.items()}
    # beside the latent run the RGB run shows no progress bar: two would garble one terminal
    rgb_args, rgb_base = _training(settings, "rgb", count, silent=True)
    rgb = FreshTraining(*rgb_args, threads=threads["rgb"], base=rgb_base)
    try:
        latent_args, latent_base = _training(settings, "latent", count)
        latent = train_in_fresh_process(*latent_args, threads=threads["latent"], base=latent_base)
        return {"latent": latent, "rgb": rgb.result()}
    finally:
        rgb.stop()


def _training(settings: ScaleSettings, method: str, count: int, silent: bool = False) -> tuple:
    """The positional arguments of `train_in_fresh_process` for one method's run on `count`
    scenes (`silent`: without a progress bar whatever `settings.progress` says), and its `base`."""
    select = [f"data.root={settings.data}", f"data.start={settings.start}", f"data.count={count}"]
    quiet = [] if settings.progress and not silent else ["logging.progress=false"]
    config_cls, config, own, base = _method_config(settings, method)
    folder = settings.out / "runs" / f"{method}-{count}"
    if method == "latent":
        select.append(f"stage1={absolute_stage1(str(settings.stage1), Path())}")
        return (folder, config_cls, "fit-latent", fit_stage2, config, [*select, *quiet, *own]), base
    return (folder, config_cls, "fit-rgb", fit_rgb, config, [*select, *quiet, *own]), base


def _method_config(settings: ScaleSettings, method: str) -> tuple[type, Path | None, list[str], dict | None]:
    """A method's config class, config file, own overrides (`latent.` / `rgb.` dropped) and
    the settings under them: none under a config file, else the demo's of its recipe."""
    own = [item[len(method) + 1 :] for item in settings.overrides if item.startswith(f"{method}.")]
    config_cls, config, recipe = {
        "latent": (FitLatentConfig, settings.latent_config, "latent-2x"),
        "rgb": (FitRGBConfig, settings.rgb_config, RGB_RECIPE),
    }[method]
    return config_cls, config, own, None if config else demo_settings(recipe)


def _measure(settings: ScaleSettings, run, state: dict, one_time_seconds: float) -> dict:
    model, collection = load_trained(run)
    count = len(collection)
    timing = {
        "run": str(run.root),
        "first_scene": collection.scenes[0].scene_id,  # a run made earlier keeps its own scenes
        "seconds_per_scene": amortised_seconds(state["train_seconds"] / count, one_time_seconds, count),
        "train_seconds_per_scene": state["train_seconds"] / count,
        "one_time_seconds": one_time_seconds,
        "wall_seconds": state["wall_seconds"],
        "peak_rss_bytes": state["peak_rss_bytes"],
        "peak_rss_bytes_per_scene": state["peak_rss_bytes"] / count,
        "curve": state["history"],
    }
    made_with = {"train_seconds": state["train_seconds"], "psnr_scenes": settings.psnr_scenes,
                 "psnr_views": settings.psnr_views, "render_size": settings.render_size,
                 "render_repeats": settings.render_repeats}
    stored = run.root / "scale-measure.json"
    if stored.is_file() and (earlier := json.loads(stored.read_text()))["made_with"] == made_with:
        return {**timing, **earlier["measured"]}
    rows = sample_rows(count, settings.psnr_scenes)
    evaluation = evaluate_model(model, [(row, collection.scenes[row]) for row in rows], ("test",), settings.psnr_views)
    footprint = scene_footprint(model.bank, [model.mlp, *_decoder(model)])
    measured = {
        "psnr_test": evaluation["mean"]["test"]["psnr"],
        "psnr_scene_ids": [collection.scenes[row].scene_id for row in rows],
        "bytes_per_scene_effective": footprint.effective_bytes_per_scene,
        "footprint": footprint.to_dict(),
        "render_ms_128": render_milliseconds(model, collection.scenes[0], settings.render_size, settings.render_repeats),
    }
    atomic_write_json(stored, {"made_with": made_with, "measured": measured})
    return {**timing, **measured}


def sample_rows(count: int, most: int) -> list[int]:
    """At most `most` of the rows 0 .. count - 1, evenly spaced, first and last included."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)}) if most > 1 else [0]


def _decoder(model) -> list[torch.nn.Module]:
    """What a latent model needs besides its planes and MLP to show a scene: the decoder."""
    if not hasattr(model, "autoencoder"):
        return []
    vae = model.autoencoder.vae
    return [vae.decoder] + ([vae.post_quant_conv] if getattr(vae, "post_quant_conv", None) is not None else [])


def _matched(states: dict[str, dict], count: int, one_time: float, target: float | None) -> dict | None:
    """Training seconds per scene for each method to reach `target` (by default the lower of
    the two final test PSNRs) on their curves, and the speed-up without and with the one-time
    costs spread over the N scenes (None where a curve never reaches it)."""
    latent, rgb = states["latent"]["history"], states["rgb"]["history"]
    if not latent or not rgb:
        return None
    matched = matched_speedup(latent, rgb, key="test_psnr", target=target)
    fast, slow = (None if matched[key] is None else matched[key] / count for key in ("fast_seconds", "slow_seconds"))
    amortised = None if fast is None or slow is None else amortised_speedup(fast, slow, count, fast_one_time_seconds=one_time)
    return {"psnr": matched["psnr"], "latent_seconds_per_scene": fast, "rgb_seconds_per_scene": slow,
            "speedup": matched["speedup"], "speedup_amortised": amortised}


def format_table(result: dict) -> str:
    lines = [
        "| N | method | s / scene | PSNR test | bytes / scene (effective) | peak RSS / scene (MB) | render 128 px (ms) "
        "| run wall (min) | run peak RSS (GB) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["scales"]:
        for method in METHODS:
            values = row[method]
            lines.append(
                f"| {row['num_scenes']} | {method} | {values['seconds_per_scene']:.1f} | {values['psnr_test']:.2f} | "
                f"{values['bytes_per_scene_effective']:,.0f} | {values['peak_rss_bytes_per_scene'] / 2**20:,.1f} | "
                f"{values['render_ms_128']:.1f} | {values['wall_seconds'] / 60:,.1f} | {values['peak_rss_bytes'] / 2**30:.2f} |"
            )
    lines += [
        "",
        "| N | matched test PSNR | latent s / scene | RGB s / scene | speed-up | with one-time costs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["scales"]:
        matched = row["matched"] or {}
        cells = [matched.get(key) for key in ("psnr", "latent_seconds_per_scene", "rgb_seconds_per_scene",
                                              "speedup", "speedup_amortised")]
        lines.append(f"| {row['num_scenes']} | " + " | ".join("-" if value is None else f"{value:.2f}" for value in cells) + " |")
    return "\n".join(lines)


def plot_costs(result: dict, path: Path) -> None:
    """Seconds, bytes and render time per scene against N, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    counts = [row["num_scenes"] for row in result["scales"]]
    panels = (("seconds_per_scene", "training s / scene"), ("bytes_per_scene_effective", "bytes / scene"),
              ("render_ms_128", "render ms (128 px)"))
    figure, axes = pyplot.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for axis, (key, label) in zip(axes, panels):
        for method in METHODS:
            axis.plot(counts, [row[method][key] for row in result["scales"]], marker="o", label=method)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(counts, [str(count) for count in counts])
        axis.set_xlabel("scenes N")
        axis.set_ylabel(label)
    axes[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=100)
    pyplot.close(figure)
    tmp.replace(path)


def quick(settings: ScaleSettings) -> ScaleSettings:
    """The minutes-long setting: short runs that evaluate during training (the CLI's N = 2, 4)."""
    return replace(settings, overrides=(*QUICK_OVERRIDES, *settings.overrides))
