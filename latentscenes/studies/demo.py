"""`latentscenes demo`: the whole method on the built-in data, next to the RGB baseline.

1. Build real TORCS cars (`data build torcs --split-by mesh`): stage-1 cars and held-out
   cars from other meshes.
2. Stage 1: the one its stage-1 recipe shipped (`builtin:torcs-cars-1x-stage1` for the
   default `latent-1x-short`), trained once on exactly these stage-1 cars, or trained here on
   the stage-1 scenes with that recipe when the data is not those cars (another source or
   split, stage-1 overrides, `train_stage1`).
3. Stage 2 (`fit --space latent`, a latent recipe of `recipes.catalog`) on a few held-out cars,
   by default one, the held-out car 8 (scene 66): the first four held-out cars chose the
   project's settings, so the demo leaves them alone, and every method's cost grows with the
   cars (a step of two renders twice the rays: the three runs on two cars do not fit in 15
   minutes on 2 cores; docs/log/benchmarks.md, "The demo").
4. The cold-start RGB Tri-Plane baseline (`fit --space rgb`, recipe `rgb`) on the same cars,
   run to its plateau, then the warm RGB control: the same recipe from the mean scene and MLP
   of an RGB run on the stage-1 cars (`init_from=builtin:torcs-cars-rgb`, shipped for exactly
   these cars like stage 1, or trained here on the stage-1 scenes), the head start stage 2
   gets from stage 1.
5. `latentscenes compare` of the runs: held-out (test) and training-view PSNR and their gap,
   how close each curve ended to its plateau, the seconds per scene each took to reach the
   cold RGB curve's end - 1 dB (a PSNR near RGB's plateau) and the speed-ups against cold and
   warm RGB, with the one-time costs (the autoencoder, stage 1, the warm control's RGB run)
   amortised over N = 17, 100 and 1000 new scenes.
6. Write `report.html` (`latentscenes report` of the runs): the verdict, tables, curves,
   held-out views and turntables in one self-contained page.

Each run's settings are its named recipe with the demo's views and curve points
(`demo_settings`). Everything lands in `--out`; a second `demo` with the same `--out` resumes
the runs instead of redoing them.

Each training run gets a fresh process (`engine.fresh_process`) and evaluates itself on its
test and training views before it ends. With two or more torch threads the RGB runs train, one
after the other, beside stage 1 and stage 2 (they depend on each other, the RGB runs on neither),
each side with half the threads, and the demo's wall time is about the longer side's. The latent
and cold RGB runs' seconds compare runs that had the same share of the machine; the warm RGB run
trains last, partly alone once stage 2 has finished, where its steps cost ~20% less.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from latentscenes.autoencoder import load_autoencoder
from latentscenes.builders import BuildSettings, build_dataset
from latentscenes.config import load_config, merged
from latentscenes.data import SceneCollection, load_scenes_from_config
from latentscenes.engine.fresh_process import TrainingsInTurn, side_by_side_threads, train_in_fresh_process
from latentscenes.engine.runs import RunDir, open_run
from latentscenes.errors import LatentScenesError
from latentscenes.evaluation.evaluate import evaluate_autoencoder
from latentscenes.evaluation.timing import render_milliseconds
from latentscenes.io import atomic_write_json
from latentscenes.recipes.catalog import RECIPES as CATALOG
from latentscenes.recipes.restore import current_evaluation, evaluate_run, load_trained
from latentscenes.recipes.rgb import FitRGBConfig, fit_rgb, warm_start_mismatch
from latentscenes.recipes.stage1 import TrainConfig, autoencoder_folder, one_time_seconds, train_stage1
from latentscenes.recipes.stage2 import FitLatentConfig, fit_stage2, stage1_folder, stage1_reference
from latentscenes.reports.page import ReportSettings, write_report
from latentscenes.reports.turntables import TurntableSettings
from latentscenes.studies.compare import CompareSettings, compare_runs, format_comparison
from latentscenes.weights import RGB_START, builtin_folder, is_builtin, provenance


# The latent recipes the demo can run: those whose stage-1 recipe ships a stage 1 for its cars.
RECIPES = {name: recipe for name, recipe in CATALOG.items() if recipe.stage == "latent" and CATALOG[recipe.stage1].shipped}
DEFAULT_RECIPE = "latent-1x-short"
RGB_RECIPE = "rgb"
# What the warm RGB control starts from where the build's stage-1 cars are the ones it was trained on.
SHIPPED_RGB_START = "builtin:torcs-cars-rgb"
# The warm control passes cold RGB's plateau - 1 dB after ~130 steps on validation cars
# (docs/log/learned-start.md) and ~280 on cars 66-67: 600 steps with a curve point every 50 find
# where. They are the first 600 of the 1000 that take it to its plateau (the same schedule).
WARM_RGB = {"fit": {"steps": 600}, "eval": {"every": 50}}
# What only the demo decides over its recipes: no validation views (it chooses no settings), and
# curves on all 10 test views of every car, so they end at the PSNR it reports. A curve point of
# a full-resolution latent run renders and decodes 128 px views, which every 50 steps would cost
# more than the training.
DEMO_VIEWS = {"data": {"num_test_views": 10, "num_val_views": 0}, "eval": {"scenes": 4, "views": 10}}
CURVE_EVERY = {"latent-1x": 200, "latent-1x-short": 200, "latent-2x": 50, RGB_RECIPE: 250}
COMPARED_SPLITS = ("test", "train")  # what `compare` reads of each run


@dataclass
class DemoSettings:
    out: Path
    source: str = "torcs"
    scenes: int = 76
    views: int = 30  # 10 test views (the curves and the results), 20 training views
    size: int = 128
    holdout_meshes: float = 3  # >= 1: that many meshes; < 1: that fraction of the scenes
    new_scenes: int = 1  # held-out scenes fitted by stage 2 and the RGB runs (each step renders up to 4)
    first_new: int = 7  # the first of them, counted among the held-out scenes
    train_stage1: bool = False  # train stage 1 here even where the shipped one fits the data
    torcs_root: str | None = None
    flightgear_root: str | None = None
    overrides: tuple[str, ...] = ()  # key=value for stage 1; latent.key=value / rgb.key=value for the others
    progress: bool = True
    side_by_side: bool = True  # the RGB baseline beside stage 1 and 2, half of torch's threads each
    recipe: str = DEFAULT_RECIPE  # stage 2's recipe, a key of RECIPES


# One 16-frame turntable per run: an RGB frame of 128 px renders in 1-2 s on 2 cores, so the
# report's default (2 scenes x 24 frames per run) would add minutes to the demo.
DEMO_REPORT = ReportSettings(turntable_scenes=1, turntable=TurntableSettings(frames=16))


def demo_settings(recipe: str) -> dict:
    """The settings of one of the demo's runs: the named `recipe` with the demo's views and curves."""
    return merged(CATALOG[recipe].settings, merged(DEMO_VIEWS, {"eval": {"every": CURVE_EVERY[recipe]}}))


def stages(recipe: str) -> tuple[tuple[str, type, dict], ...]:
    """(override prefix, config class, settings) of stage 1, stage 2 and the RGB baseline of
    the demo of the latent `recipe`. Stage 1, where the demo trains it, is its recipe as it is."""
    stage1 = CATALOG[CATALOG[recipe].stage1]
    return (("", TrainConfig, stage1.settings), ("latent", FitLatentConfig, demo_settings(recipe)),
            ("rgb", FitRGBConfig, demo_settings(RGB_RECIPE)))


@dataclass(frozen=True)
class FitThenEvaluate:
    """A run's training function, then the run's evaluation on the views `compare` reads, in the
    run's own process: the first side to finish evaluates while the other still trains."""

    fit: Callable

    def __call__(self, config, run: RunDir, resume: bool = False):
        state = self.fit(config, run, resume=resume)
        current_evaluation(run, COMPARED_SPLITS) or evaluate_run(run, COMPARED_SPLITS)
        return state


def run_demo(settings: DemoSettings) -> dict:
    if settings.recipe not in RECIPES:
        raise LatentScenesError(f"--recipe must be one of {', '.join(RECIPES)}, got {settings.recipe!r}")
    runs_settings = stages(settings.recipe)
    for run, config_cls, base in runs_settings:  # a bad override fails before anything is built
        load_config(config_cls, overrides=_overrides_of(settings.overrides, run), base=base)
    if any(item.startswith("rgb.init_from=") for item in settings.overrides):
        raise LatentScenesError(
            "rgb.init_from: the demo's cold RGB run starts from nothing and its warm run from the RGB start the "
            "demo chooses; to compare other starts, run `latentscenes compare` on runs of your own"
        )
    (_, _, stage1_settings), (_, _, latent_settings), (_, _, rgb_settings) = runs_settings
    if settings.new_scenes < 1 or settings.first_new < 0:
        raise LatentScenesError(
            f"--new-scenes must be >= 1 and --first-new >= 0, got {settings.new_scenes} and {settings.first_new}"
        )
    data = settings.out / "data"
    build = BuildSettings(
        source=settings.source, scenes=settings.scenes, views=settings.views, size=settings.size,
        split_by="mesh", holdout_meshes=settings.holdout_meshes,
    )
    build_dataset(data, build, torcs_root=settings.torcs_root, flightgear_root=settings.flightgear_root,
                  progress=settings.progress)
    groups = json.loads((data / "meta.json").read_text())["groups"]
    train_group, holdout = groups["train"], groups["holdout"]
    new_start = _new_scenes_start(holdout, settings)
    select = {
        "stage1": [f"data.root={data}", f"data.start={train_group['start']}", f"data.count={train_group['scenes']}"],
        "new": [f"data.root={data}", f"data.start={new_start}", f"data.count={settings.new_scenes}"],
    }
    shipped, why = shipped_stage1_for(settings, train_group["meshes"])
    shipped_rgb, rgb_why = shipped_rgb_start_for(settings, train_group["meshes"])
    quiet = [] if settings.progress else ["logging.progress=false"]
    runs = settings.out / "runs"
    split = side_by_side_threads(settings.side_by_side)
    side_by_side = split is not None
    own_threads, rgb_threads = split or (torch.get_num_threads(),) * 2
    rgb_start = shipped_rgb or str((runs / "rgb-stage1").resolve())
    # Beside stage 1 and stage 2 the RGB runs show no progress bar: two would garble one terminal.
    rgb_quiet = ["logging.progress=false"] if side_by_side else quiet
    rgb_overrides = _overrides_of(settings.overrides, "rgb")

    def rgb_training(name: str, fit: Callable, selection: str, base: dict, *extra: str) -> tuple[tuple, dict]:
        args = (runs / name, FitRGBConfig, "fit-rgb", fit, None, [*select[selection], *extra, *rgb_quiet, *rgb_overrides])
        return args, {"threads": rgb_threads, "base": base}

    rgb_runs = [
        rgb_training("rgb", FitThenEvaluate(fit_rgb), "new", rgb_settings),
        *([] if shipped_rgb else [rgb_training("rgb-stage1", fit_rgb, "stage1", CATALOG[RGB_RECIPE].settings)]),
        rgb_training("rgb-warm", FitThenEvaluate(fit_rgb), "new", merged(rgb_settings, WARM_RGB), f"init_from={rgb_start}"),
    ]
    stage1_run = (runs / "stage1", TrainConfig, "train", train_stage1, None,
                  [*select["stage1"], *quiet, *_overrides_of(settings.overrides, "")])
    latent_run = (runs / "latent", FitLatentConfig, "fit-latent", FitThenEvaluate(fit_stage2), None,
                  [*select["new"], f"stage1={shipped or stage1_reference(runs / 'stage1', runs / 'latent')}", *quiet,
                   *_overrides_of(settings.overrides, "latent")])
    _check_earlier_runs([(latent_run, latent_settings), *([] if shipped else [(stage1_run, stage1_settings)]),
                         *((args, kwargs["base"]) for args, kwargs in rgb_runs)])
    rgb_turn = None
    try:
        # Beside stage 1 and 2 the RGB runs start now, one after the other; else after stage 2.
        rgb_turn = TrainingsInTurn(rgb_runs) if side_by_side else None
        if shipped:
            stage1 = open_run(stage1_folder(shipped, runs))
        else:
            stage1, _ = train_in_fresh_process(*stage1_run, own_threads, stage1_settings)
        latent, _ = train_in_fresh_process(*latent_run, own_threads, latent_settings)
        rgb_turn = rgb_turn or TrainingsInTurn(rgb_runs)
        rgb_results = rgb_turn.results()
    finally:
        if rgb_turn:
            rgb_turn.stop()
    (rgb, _), (warm, _) = rgb_results[0], rgb_results[-1]
    stage1_config = load_config(TrainConfig, stage1.config_path)
    new_cars = load_scenes_from_config(load_config(FitLatentConfig, latent.config_path).data)
    comparison = compare_runs(CompareSettings(latent=latent.root, rgb=rgb.root, warm_rgb=warm.root))
    for name, run in (("latent", latent), ("rgb", rgb)):
        comparison["methods"][name]["render_ms_128"] = _render_ms_128(run)
    summary = {
        "data": {"root": str(data), "stage1_scenes": train_group["scenes"], "holdout_scenes": holdout["scenes"],
                 "new_start": new_start, "new_scenes": settings.new_scenes,
                 "stage1_meshes": train_group["meshes"], "new_meshes": holdout["meshes"]},
        "recipe": settings.recipe,
        "autoencoder": _autoencoder_source(stage1_config),
        "stage1": {"source": shipped or str(stage1.root), "why": why,
                   "train_seconds": one_time_seconds(stage1)["stage1"],
                   "autoencoder_on_new_cars": _stage1_reconstruction(stage1, new_cars)},
        "rgb_start": {"source": load_config(FitRGBConfig, warm.config_path).init_from, "why": rgb_why,
                      "train_seconds": comparison["methods"]["warm_rgb"]["one_time_seconds"]["earlier_rgb"]},
        "comparison": comparison,
        "threads": {"side_by_side": side_by_side, "stage1_and_latent": own_threads, "rgb": rgb_threads},
    }
    report_runs = [latent.root, rgb.root, warm.root] + ([] if shipped else [stage1.root])
    summary["report"] = str(write_report(report_runs, settings.out / "report.html", DEMO_REPORT))
    atomic_write_json(settings.out / "demo.json", summary)
    return summary


def _check_earlier_runs(planned: list[tuple[tuple, dict]]) -> None:
    """A run folder that an earlier demo left in this --out resumes with the config it was made
    with: one of other scenes or another start would fail `compare` after all the training (e.g.
    another --new-scenes), so it fails now. `planned`: each run's `FreshTraining` arguments
    (folder, config class, kind, fit, config file, overrides) and its recipe's settings."""
    for (folder, config_cls, _, _, _, overrides), base in planned:
        if not (folder / "config.yaml").is_file():
            continue
        earlier = _what_a_run_learns(load_config(config_cls, folder / "config.yaml"))
        wanted = _what_a_run_learns(load_config(config_cls, overrides=overrides, base=base))
        for key, value in earlier.items():
            if value != wanted[key]:
                raise LatentScenesError(
                    f"{folder} holds a run of an earlier demo with another {key} ({value} there, {wanted[key]} now), "
                    "which would resume as it was: use another --out, or remove that folder"
                )


def _what_a_run_learns(config) -> dict:
    """A run config's scenes and start, by config key (its data folder resolved)."""
    data = asdict(config.data) | {"root": str(Path(config.data.root).resolve())}
    return {f"data.{key}": value for key, value in data.items()} | {
        key: getattr(config, key, None) for key in ("init_from", "stage1")}


def shipped_stage1_for(settings: DemoSettings, stage1_meshes: list[str]) -> tuple[str | None, str]:
    """The shipped stage 1 when it was trained on exactly this build's stage-1 meshes and
    nothing asks for another one, else None; and why, in words."""
    shipped = CATALOG[RECIPES[settings.recipe].stage1].shipped
    if settings.train_stage1:
        return None, "trained here (--train-stage1)"
    if _overrides_of(settings.overrides, ""):
        return None, "trained here: the demo was given stage-1 overrides"
    return _shipped_for_these_cars(shipped, settings, stage1_meshes)


def shipped_rgb_start_for(settings: DemoSettings, stage1_meshes: list[str]) -> tuple[str | None, str]:
    """The shipped RGB start of the warm control when it was trained on exactly this build's
    stage-1 meshes with the planes and MLP of the demo's RGB runs, else None; and why, in words."""
    rgb = load_config(FitRGBConfig, overrides=_overrides_of(settings.overrides, "rgb"), base=demo_settings(RGB_RECIPE))
    shipped = load_config(FitRGBConfig, builtin_folder(SHIPPED_RGB_START, kind=RGB_START) / "config.yaml")
    mismatch = warm_start_mismatch(shipped, rgb)
    if mismatch:
        return None, f"trained here: {SHIPPED_RGB_START} cannot start these RGB scenes ({mismatch})"
    return _shipped_for_these_cars(SHIPPED_RGB_START, settings, stage1_meshes)


def _shipped_for_these_cars(shipped: str, settings: DemoSettings, stage1_meshes: list[str]) -> tuple[str | None, str]:
    trained_on = provenance(shipped)["trained_on"]
    same_cars = settings.source == "torcs" and settings.size == trained_on["size"]
    if not same_cars or sorted(stage1_meshes) != sorted(trained_on["meshes"]):
        return None, (
            f"trained here: {shipped} was trained on {trained_on['size']} px TORCS cars of "
            f"{len(trained_on['meshes'])} meshes, not on this build's stage-1 scenes"
        )
    return shipped, f"shipped with the package, trained once on these {len(stage1_meshes)} stage-1 meshes"


def _new_scenes_start(holdout: dict, settings: DemoSettings) -> int:
    if settings.first_new + settings.new_scenes > holdout["scenes"]:
        raise LatentScenesError(
            f"the build holds out {holdout['scenes']} scenes: --first-new {settings.first_new} --new-scenes "
            f"{settings.new_scenes} asks for held-out scenes {settings.first_new}-"
            f"{settings.first_new + settings.new_scenes - 1}; lower them or hold out more (--holdout-meshes)"
        )
    return holdout["start"] + settings.first_new


def _render_ms_128(run: RunDir) -> float:
    """Milliseconds to render one 128 px view of the run's first scene (and decode it, for
    latent scenes), the median of 3 after a warm-up, with the demo's torch threads."""
    model, collection = load_trained(run)
    return render_milliseconds(model.eval(), collection.scenes[0], size=128, repeats=3)


def _render_line(methods: dict) -> str:
    latent, rgb = methods["latent"]["render_ms_128"], methods["rgb"]["render_ms_128"]
    return (f"one 128 px view of a learned scene: latent render + decode {latent:.0f} ms, RGB render {rgb:.0f} ms "
            f"(latent {rgb / latent:.2f}x as fast; {torch.get_num_threads()} torch threads, median of 3)")


def _threads_line(threads: dict) -> str:
    if threads["side_by_side"]:
        return (f"the RGB runs trained one after the other beside stages 1 and 2: {threads['rgb']} and "
                f"{threads['stage1_and_latent']} torch threads")
    return f"one run at a time, {threads['rgb']} torch threads each"


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


def format_summary(summary: dict) -> str:
    data, stage1 = summary["data"], summary["stage1"]
    first, last = data["new_start"], data["new_start"] + data["new_scenes"] - 1
    new = f"1 new scene ({first})" if first == last else f"{data['new_scenes']} new scenes ({first}-{last})"
    lines = [
        f"{new} of the held-out meshes {', '.join(data['new_meshes'])}, never seen "
        f"in stage 1 ({data['stage1_scenes']} scenes from {len(data['stage1_meshes'])} other meshes)",
        f"stage 1: {stage1['source']}, {stage1['why']} ({stage1['train_seconds']:.0f} s of training; "
        f"autoencoder {summary['autoencoder']['source']})",
        f"warm RGB: new RGB scenes start as the mean scene, with the MLP, of an RGB run on the stage-1 scenes: "
        f"{summary['rgb_start']['source']}, {summary['rgb_start']['why']} "
        f"({summary['rgb_start']['train_seconds']:.0f} s of training)",
        format_comparison(summary["comparison"]),
        _render_line(summary["comparison"]["methods"]),
        _threads_line(summary["threads"]),
        f"stage 1's autoencoder (before stage 2's Decode-Scene fine-tunes the decoder) encodes and decodes the new "
        f"scenes' test views at {stage1['autoencoder_on_new_cars']['psnr']:.2f} dB, no scene in between (the report's "
        f"autoencoder reconstruction PSNR of the latent run measures its own decoder, after Decode-Scene)",
    ]
    return "\n".join(lines)
