"""`latentscenes report`: one self-contained HTML page about one or more finished runs.

Everything is embedded (PNG and MP4/GIF as data URIs, CSS inline, no script, nothing
fetched): the verdict of latent against RGB Tri-Planes on the same scenes (quality, cost,
speed-up to 1 dB below the RGB curve's end), evaluation and cost tables, training curves, held-out views
(ground truth | each run | the autoencoder's reconstruction), turntables and the configs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml
from PIL import Image

from latentscenes.engine.runs import RunDir, open_finished_run, run_kind
from latentscenes.evaluation.curves import KEY, matched_speedup
from latentscenes.evaluation.renders import to_uint8
from latentscenes.io import atomic_write_text
from latentscenes.reports.plots import curves_png
from latentscenes.reports.turntables import TurntableSettings, render_scene_path, turntable_cameras, view_size
from latentscenes.reports.videos import save_video

KIND_LABELS = {
    "fit-rgb": "RGB Tri-Planes",
    "fit-latent": "latent Tri-Planes (stage 2)",
    "train": "stage 1 (3D-aware autoencoder)",
}
METRICS = ("psnr", "ssim", "latent_psnr", "ae_psnr")


@dataclass
class ReportSettings:
    grid_scenes: int = 4  # rows of the held-out view grid
    turntable_scenes: int = 2  # turntables per run
    turntable: TurntableSettings = field(default_factory=lambda: TurntableSettings(frames=24))


@dataclass
class RunSummary:
    """What the report shows of one run, read from its folder."""

    run: RunDir
    name: str
    kind: str
    config_text: str
    curve: list[dict]
    num_scenes: int
    losses: list[dict]
    evaluation: dict | None

    @property
    def label(self) -> str:
        return f"{KIND_LABELS.get(self.kind, self.kind)}: {self.name}"

    @property
    def train_seconds(self) -> float:
        return float(self.curve[-1]["train_seconds"]) if self.curve else 0.0

    @property
    def seconds_per_scene(self) -> float:
        return self.train_seconds / max(1, self.num_scenes)

    def test_metrics(self) -> tuple[dict[str, float], str]:
        """Mean test metrics and where they come from: eval.json (all scenes and held-out
        views), else the last point of the training curve (the evaluated subset)."""
        if self.evaluation and "test" in self.evaluation.get("mean", {}):
            return self.evaluation["mean"]["test"], "eval.json"
        last = self.curve[-1] if self.curve else {}
        return {k[len("test_"):]: v for k, v in last.items() if k.startswith("test_")}, "training curve"


def summarise_run(path: str | Path) -> RunSummary:
    from latentscenes.engine.logger import read_metrics

    run = open_finished_run(path)
    curve = json.loads(run.curve_path.read_text())
    eval_path = run.root / "eval.json"
    return RunSummary(
        run=run, name=run.root.name, kind=run_kind(run), config_text=run.config_path.read_text(),
        curve=curve["points"], num_scenes=int(curve["num_scenes"]), losses=read_metrics(run.logs),
        evaluation=json.loads(eval_path.read_text()) if eval_path.is_file() else None,
    )


def write_report(paths: list[str | Path], out: Path, settings: ReportSettings | None = None) -> Path:
    """Write the HTML report of the finished runs in `paths` to `out` (atomically)."""
    settings = settings or ReportSettings()
    runs = [summarise_run(path) for path in paths]
    _unique_names(runs)
    pictures = _pictures(runs, settings)
    sections = [
        _verdict(runs),
        _tables(runs),
        "<h2>Training curves</h2>" + _img(curves_png({r.label: r.curve for r in runs}, {r.label: r.losses for r in runs}),
                                          "training curves", "plot"),
        pictures,
        _configs(runs),
    ]
    atomic_write_text(out, _page(runs, "\n".join(sections)))
    return out


def _unique_names(runs: list[RunSummary]) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name} ({count + 1})"


# ---- verdict and tables ---------------------------------------------------------------------


def _verdict(runs: list[RunSummary]) -> str:
    """Each latent run against each RGB run on the same scenes: quality, cost, speed-up to the
    cold-start random-ray RGB run's curve end - 1 dB (an RGB run's own end where none is)."""
    items = []
    stage1 = [r for r in runs if r.kind == "train"]
    for latent in (r for r in runs if r.kind == "fit-latent"):
        rgbs = [r for r in runs if r.kind == "fit-rgb" and _same_scenes(r, latent)]
        cold = next((r for r in rgbs if _is_cold_random_ray_rgb(r)), None)
        for rgb in rgbs:
            items.append(_comparison(latent, rgb, stage1, cold or rgb))
    if not items:
        return "<h2>Verdict</h2><p>No latent and RGB runs on the same scenes to compare; the tables below describe each run.</p>"
    return "<h2>Verdict</h2>" + "".join(items)


def _is_cold_random_ray_rgb(run: RunSummary) -> bool:
    """The baseline `compare` measures against: no warm start, random rays (not whole images)."""
    config = yaml.safe_load(run.config_text)
    return not config.get("init_from") and config.get("fit", {}).get("rays_per_view") != 0


def _same_scenes(a: RunSummary, b: RunSummary) -> bool:
    """Whether two runs learned the same scenes: the scene ids of their eval.json files, else
    the same dataset selection in their configs (folder, first scene, count, size, held-out views)."""
    if a.evaluation and b.evaluation:
        return set(a.evaluation["scenes"]) == set(b.evaluation["scenes"])

    def selection(run: RunSummary) -> dict:
        data = yaml.safe_load(run.config_text).get("data", {})
        keys = ("root", "start", "count", "size", "num_test_views", "num_val_views")
        return {key: data.get(key) for key in keys} | {"root": str(Path(data.get("root", "")).resolve())}

    return a.num_scenes == b.num_scenes and selection(a) == selection(b)


def _comparison(latent: RunSummary, rgb: RunSummary, stage1: list[RunSummary], reference: RunSummary) -> str:
    """`latent` against `rgb`; the speed-up is to the PSNR 1 dB below `reference`'s curve end."""
    (lm, _), (rm, _) = latent.test_metrics(), rgb.test_metrics()
    quality = lm.get("psnr", float("nan")) - rm.get("psnr", float("nan"))
    better = "latent" if quality > 0 else "RGB"
    cost = rgb.seconds_per_scene / latent.seconds_per_scene if latent.seconds_per_scene else float("inf")
    cheaper = f"{cost:.1f}x less" if cost >= 1 else f"{1 / cost:.1f}x more"
    lines = [
        f"<p class='headline'><b>{'Latent' if better == 'latent' else 'RGB'} Tri-Planes win on quality</b> by "
        f"{abs(quality):.2f} dB held-out PSNR: latent {lm.get('psnr', float('nan')):.2f} dB vs RGB "
        f"{rm.get('psnr', float('nan')):.2f} dB ({latent.num_scenes} scenes).</p>",
        f"<p><b>Cost:</b> latent {latent.seconds_per_scene:.1f} s of training per scene vs RGB "
        f"{rgb.seconds_per_scene:.1f} s: <b>{cheaper}</b> time per scene for the latent scenes.</p>",
    ]
    if latent.curve and rgb.curve and reference.curve:
        matched = matched_speedup(latent.curve, rgb.curve, target=float(reference.curve[-1][KEY]) - 1.0)
        target = f"{matched['psnr']:.2f} dB on the evaluation views (1 dB below the curve end of {html.escape(reference.name)})"
        if matched["speedup"] is None:
            lines.append(f"<p><b>Near RGB's plateau:</b> the latent scenes never reached {target}.</p>")
        else:
            speedup = matched["speedup"]
            faster = f"latent {speedup:.1f}x faster" if speedup >= 1 else f"RGB {1 / speedup:.1f}x faster"
            lines.append(
                f"<p><b>Near RGB's plateau:</b> to {target}, latent took "
                f"{matched['fast_seconds'] / latent.num_scenes:.1f} s per scene, RGB "
                f"{matched['slow_seconds'] / rgb.num_scenes:.1f} s: <b>{faster}</b>.</p>"
            )
    for first in stage1:
        lines.append(
            f"<p>Stage 1 ({first.name}) trained the latent space once in {first.train_seconds:.0f} s "
            f"({first.train_seconds / latent.num_scenes:.1f} s per scene if amortised over these scenes alone; "
            "less as more scenes share it).</p>"
        )
    return f"<div class='verdict'><h3>{html.escape(latent.name)} vs {html.escape(rgb.name)}</h3>{''.join(lines)}</div>"


def _autoencoders(runs: list[RunSummary]) -> str:
    """Which autoencoder each latent run's reconstruction PSNR is of, as '; NAME: WHICH' parts."""
    return "".join(f"; {html.escape(run.name)}: {_autoencoder_of(run)}" for run in runs if run.kind in ("train", "fit-latent"))


def _autoencoder_of(run: RunSummary) -> str:
    """A stage-1 run's autoencoder, or a stage-2 run's: stage 1's encoder with the decoder the run
    started from (stage 1's, or the one `autoencoder=` gave), fine-tuned when a phase trained it."""
    if run.kind == "train":
        return "the stage-1 autoencoder, on the stage-1 scenes"
    from latentscenes.config import load_config
    from latentscenes.recipes.stage2 import FitLatentConfig, trains_decoder

    config = load_config(FitLatentConfig, run.run.config_path)
    decoder = f"the decoder of {html.escape(config.autoencoder)}" if config.autoencoder else "stage 1's decoder"
    tuned = " fine-tuned by this run (Decode-Scene)" if trains_decoder(config) else ", unchanged"
    return f"stage 1's encoder and {decoder}{tuned}, on this run's new scenes"


def _tables(runs: list[RunSummary]) -> str:
    rows = []
    for run in runs:
        metrics, source = run.test_metrics()
        cells = "".join(f"<td>{metrics[m]:.{3 if m == 'ssim' else 2}f}</td>" if m in metrics else "<td>-</td>" for m in METRICS)
        rows.append(f"<tr><td>{html.escape(run.label)}</td><td>{run.num_scenes}</td>{cells}<td>{source}</td></tr>")
    evaluation = (
        "<h2>Evaluation (held-out test views)</h2><table><tr><th>run</th><th>scenes</th><th>PSNR (dB)</th><th>SSIM</th>"
        "<th>latent PSNR</th><th>autoencoder reconstruction PSNR</th><th>from</th></tr>" + "".join(rows) + "</table>"
        "<p class='note'>PSNR of images in [-1, 1]; latent PSNR compares rendered with encoded latents; autoencoder "
        "reconstruction PSNR: the run's own autoencoder encoding and decoding the run's own test views, no scene in "
        "between (the ceiling of its decoded views)" + _autoencoders(runs) + ".</p>"
    )
    cost_rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td>{r.curve[-1]['step'] if r.curve else 0}</td>"
        f"<td>{r.train_seconds:.1f}</td><td>{r.seconds_per_scene:.2f}</td></tr>"
        for r in runs
    )
    cost = (
        "<h2>Cost</h2><table><tr><th>run</th><th>steps</th><th>training seconds</th><th>seconds per scene</th></tr>"
        + cost_rows + "</table><p class='note'>Training time excludes evaluation.</p>"
    )
    return evaluation + cost


# ---- pictures -------------------------------------------------------------------------------


def _pictures(runs: list[RunSummary], settings: ReportSettings) -> str:
    """The held-out grid and the turntables; each run's model is loaded once, in turn."""
    from latentscenes.recipes.restore import load_trained

    reference = next((r for r in runs if r.kind != "train"), runs[0])
    columns: dict[str, dict[str, str]] = {}  # column title -> scene id -> <img>
    truth: dict[str, str] = {}
    turntables = []
    wanted: list[str] = []
    for run in [reference, *(r for r in runs if r is not reference)]:
        model, collection = load_trained(run.run)
        ids = collection.scene_ids
        if run is reference:
            wanted = ids[: settings.grid_scenes]
        rows = {scene_id: ids.index(scene_id) for scene_id in wanted if scene_id in ids}
        for scene_id, row in rows.items():
            scene = collection.scenes[row]
            view = scene.split("test")[:1] if scene.num_test_views else torch.tensor([0])
            truth.setdefault(scene_id, _png(scene.model_images(view)[0], f"{scene_id} ground truth"))
            columns.setdefault(run.label, {})[scene_id] = _png(model.render_images(row, scene, view)[0], f"{scene_id} {run.label}")
            if getattr(model, "autoencoder", None) is not None:
                with torch.no_grad():
                    recon = model.autoencoder.reconstruct(scene.model_images(view)).clamp(-1, 1)[0]
                columns.setdefault(f"autoencoder reconstruction: {run.name}", {})[scene_id] = _png(recon, f"{scene_id} autoencoder")
        turntables.append(_turntables(run, model, collection, settings))
        del model, collection
    columns = dict(sorted(columns.items(), key=lambda item: _column_order(item[0], runs)))
    header = "<tr><th>scene</th><th>ground truth</th>" + "".join(f"<th>{html.escape(t)}</th>" for t in columns) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(scene_id)}</td><td>{truth[scene_id]}</td>"
        + "".join(f"<td>{cells.get(scene_id, '')}</td>" for cells in columns.values()) + "</tr>"
        for scene_id in wanted
    )
    grid = f"<h2>Held-out views</h2><table class='grid'>{header}{body}</table>"
    return grid + "<h2>Turntables</h2>" + "".join(turntables)


def _column_order(title: str, runs: list[RunSummary]) -> tuple[int, int]:
    """RGB runs, then latent runs (stage 2, stage 1), then autoencoder reconstructions; runs in
    the order given."""
    for index, run in enumerate(runs):
        if title == run.label:
            return (["fit-rgb", "fit-latent", "train"].index(run.kind) if run.kind in KIND_LABELS else 3, index)
    return (4, 0)


def _turntables(run: RunSummary, model, collection, settings: ReportSettings) -> str:
    cells = []
    with tempfile.TemporaryDirectory() as folder:
        for row, scene in list(enumerate(collection.scenes))[: settings.turntable_scenes]:
            size = view_size(scene, settings.turntable.size)
            views = render_scene_path(model, row, scene, turntable_cameras(scene, settings.turntable), size)
            path = save_video(Path(folder) / f"{row}", to_uint8(views.images), settings.turntable.fps, settings.turntable.format)
            data = base64.b64encode(path.read_bytes()).decode()
            width = max(128, scene.width)
            if path.suffix == ".mp4":
                media = (f"<video src='data:video/mp4;base64,{data}' width='{width}' autoplay loop muted playsinline "
                         "preload='auto'></video>")
            else:
                media = f"<img src='data:image/gif;base64,{data}' width='{width}' alt='{html.escape(scene.scene_id)}'>"
            cells.append(f"<figure>{media}<figcaption>{html.escape(scene.scene_id)}</figcaption></figure>")
    return f"<h3>{html.escape(run.label)}</h3><div class='row'>{''.join(cells)}</div>"


def _png(image: torch.Tensor, alt: str) -> str:
    """An <img> of one image (3, H, W) in [-1, 1], shown at least 128 pixels wide."""
    array = to_uint8(image)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return _img(buffer.getvalue(), alt, width=max(128, array.shape[1]))


def _img(png: bytes, alt: str, css: str = "", width: int | None = None) -> str:
    size = f" width='{width}'" if width else ""
    return (f"<img class='{css}' src='data:image/png;base64,{base64.b64encode(png).decode()}'{size} "
            f"alt='{html.escape(alt)}'>")


def _configs(runs: list[RunSummary]) -> str:
    blocks = "".join(
        f"<details><summary>{html.escape(r.label)} ({html.escape(str(r.run.root))})</summary>"
        f"<pre>{html.escape(r.config_text)}</pre></details>"
        for r in runs
    )
    return "<h2>Configs</h2>" + blocks


STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
.grid img { image-rendering: pixelated; }
.verdict { background: #f3f7ee; border-left: 4px solid #5a8f29; padding: 0.5em 1em; margin: 1em 0; }
.headline { font-size: 1.15em; }
.note { color: #666; font-size: 0.9em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; text-align: center; }
img.plot { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
"""


def _page(runs: list[RunSummary], body: str) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(html.escape(r.name) for r in runs)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>latentscenes report: {names}</title><style>{STYLE}</style></head><body>"
        f"<h1>latentscenes report</h1><p class='note'>Runs: {names}. Written {when}.</p>\n{body}\n</body></html>\n"
    )
