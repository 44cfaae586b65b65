"""Build a dataset: plan scenes (entries x variants, split by mesh), render them, write meta.json.

Output (``--out DIR``)::

    DIR/<scene_id>/rgb/000000.png ...     SRN layout (`latentscenes.data.srn.write_srn_scene`)
    DIR/<scene_id>/pose/000000.txt ...    OpenCV cam2world, row-major
    DIR/<scene_id>/intrinsics.txt
    DIR/meta.json                         settings and, per scene, its provenance
    DIR/contact_sheet.png                 one training view per scene, labelled by index

Scene ids are ``<index:05d>_<entry>_v<variant>`` so that folder order is scene order; with
``--split-by mesh`` the ``train`` scenes come first and the ``holdout`` scenes (whose meshes
no train scene uses) after them; meta.json records each group's ``[start, stop)`` range.
The first ``num_test_views`` views of each scene are its test views (cameras are random,
so the first ones are as good as any). Everything is a function of the settings: the same
settings give the same bytes, whatever the number of workers.

Scene assignment: entries are ordered round-robin over meshes; scene i (before the split
reordering) is entry ``i % E`` in variant ``i // E``, so up to E scenes are all originals.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from latentscenes.builders.contact_sheet import write_contact_sheet
from latentscenes.builders.sampling import (
    FOV_DEG,
    MAX_ELEVATION_DEG,
    MIN_ELEVATION_DEG,
    RADIUS,
    sample_hemisphere_cameras,
    square_intrinsics,
)
from latentscenes.builders.source import HALF_DIAGONAL, Entry, Source
from latentscenes.builders.tinyrender import Lighting
from latentscenes.builders.variants import Variant, sample_variant, stable_hash
from latentscenes.errors import DataError
from latentscenes.io import atomic_write_json

BUILDER_VERSION = 1
SOURCES = ("torcs", "flightgear-aircraft", "pybullet-objects")
SPLITS = ("none", "mesh")
META = "meta.json"
CONTACT_SHEET = "contact_sheet.png"
# A render process renders at most this many scenes before a fresh one takes over: pybullet
# never frees the textures and visual shapes it loads (about 13 MB per TORCS car), so one
# process rendering 1000 cars grew to 13 GB.
SCENES_PER_WORKER = 50
STAGING = ".staging"


@dataclass(frozen=True)
class BuildSettings:
    """Everything that determines a build's bytes (workers and paths do not)."""

    source: str = "torcs"
    scenes: int = 76
    views: int = 50
    size: int = 128
    seed: int = 0
    num_test_views: int = 10
    split_by: str = "none"
    holdout_meshes: float = 0.2  # < 1: fraction of scenes to hold out; >= 1: number of meshes
    fov_deg: float = FOV_DEG
    radius: float = RADIUS
    supersample: int = 2

    def validate(self) -> None:
        checks = [
            (self.source in SOURCES, f"source must be one of {', '.join(SOURCES)}, got {self.source!r}"),
            (self.scenes >= 1, f"--scenes must be >= 1, got {self.scenes}"),
            (self.views >= 1, f"--views must be >= 1, got {self.views}"),
            (self.size >= 8 and self.size % 8 == 0, f"--size must be a multiple of 8 and >= 8, got {self.size}"),
            (0 <= self.num_test_views <= self.views,
             f"--num-test-views must be in [0, --views], got {self.num_test_views}"),
            (self.split_by in SPLITS, f"--split-by must be one of {', '.join(SPLITS)}, got {self.split_by!r}"),
            (self.holdout_meshes > 0 and (self.holdout_meshes < 1 or float(self.holdout_meshes).is_integer()),
             f"--holdout-meshes must be a fraction in (0, 1) or a whole number of meshes, got {self.holdout_meshes}"),
            (0 < self.fov_deg < 180, f"fov must be in (0, 180) degrees, got {self.fov_deg}"),
            (self.radius > HALF_DIAGONAL, f"camera radius must exceed {HALF_DIAGONAL}, got {self.radius}"),
            (self.supersample >= 1, f"supersample must be >= 1, got {self.supersample}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(message)


@dataclass(frozen=True)
class ScenePlan:
    index: int
    scene_id: str
    entry: Entry
    variant: Variant
    group: str

    def camera_seed(self, seed: int) -> list[int]:
        return [seed, stable_hash(self.entry.id), self.variant.index, 1]


@dataclass
class BuildResult:
    out: Path
    scenes: list[ScenePlan]
    groups: dict[str, dict]
    rendered: int
    skipped: int
    seconds: float
    views_touching_border: int
    meta: dict = field(repr=False, default_factory=dict)


def make_source(name: str, torcs_root: str | Path | None = None, flightgear_root: str | Path | None = None) -> Source:
    if name == "torcs":
        from latentscenes.builders.torcs import TorcsSource

        return TorcsSource(torcs_root)
    if name == "flightgear-aircraft":
        from latentscenes.builders.flightgear import FlightGearAircraftSource

        return FlightGearAircraftSource(flightgear_root)
    if name == "pybullet-objects":
        from latentscenes.builders.pybullet_objects import PybulletObjectsSource

        return PybulletObjectsSource()
    raise DataError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")


# -- planning -----------------------------------------------------------------------------
def plan_scenes(source: Source, settings: BuildSettings) -> tuple[list[ScenePlan], dict[str, dict]]:
    """The scenes in folder order and the groups ``{name: {start, stop, meshes}}``."""
    entries = source.entries()
    if not entries:
        raise DataError(f"source {source.name} has no objects")
    rims = source.rims()
    picks = []
    for i in range(settings.scenes):
        entry = entries[i % len(entries)]
        picks.append((entry, sample_variant(settings.seed, entry.id, i // len(entries), rims)))

    if settings.split_by == "none":
        ordered = [(entry, variant, "all") for entry, variant in picks]
    else:
        holdout = _holdout_meshes(picks, settings)
        ordered = [(e, v, "train") for e, v in picks if e.mesh not in holdout]
        ordered += [(e, v, "holdout") for e, v in picks if e.mesh in holdout]

    plans = [
        ScenePlan(index, f"{index:05d}_{_slug(entry.id)}_v{variant.index}", entry, variant, group)
        for index, (entry, variant, group) in enumerate(ordered)
    ]
    groups: dict[str, dict] = {}
    for plan in plans:
        group = groups.setdefault(plan.group, {"start": plan.index, "stop": plan.index, "meshes": []})
        group["stop"] = plan.index + 1
        if plan.entry.mesh not in group["meshes"]:
            group["meshes"].append(plan.entry.mesh)
    for group in groups.values():
        group["meshes"].sort()
        group["scenes"] = group["stop"] - group["start"]
    return plans, groups


def _holdout_meshes(picks: list[tuple[Entry, Variant]], settings: BuildSettings) -> set[str]:
    counts: dict[str, int] = {}
    for entry, _ in picks:
        counts[entry.mesh] = counts.get(entry.mesh, 0) + 1
    meshes = sorted(counts)
    if len(meshes) < 2:
        raise DataError(
            f"--split-by mesh needs scenes from at least 2 meshes, but {settings.scenes} scene(s) use "
            f"only {meshes}; build more scenes or use --split-by none"
        )
    order = [meshes[i] for i in np.random.default_rng([settings.seed, 2]).permutation(len(meshes))]
    if settings.holdout_meshes >= 1:
        count = int(settings.holdout_meshes)
        if count >= len(meshes):
            raise DataError(f"--holdout-meshes {count} leaves no mesh for training ({len(meshes)} meshes in use)")
        return set(order[:count])
    target = settings.holdout_meshes * len(picks)
    chosen: set[str] = set()
    held = 0
    for mesh in order[:-1]:  # keep at least one mesh for training
        if held >= target and chosen:
            break
        chosen.add(mesh)
        held += counts[mesh]
    return chosen


def _slug(text: str) -> str:
    """A folder-name-safe form of an entry id: "/" -> ".", other odd characters -> "-"."""
    return "".join(c if c.isalnum() or c in "-_." else "." if c == "/" else "-" for c in text)


# -- rendering (in workers) ---------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(source: Source, settings: BuildSettings) -> None:
    from latentscenes.builders.tinyrender import TinyRenderer

    _WORKER.clear()
    _WORKER.update(source=source, settings=settings, renderer=TinyRenderer(Lighting()))


def _close_worker() -> None:
    renderer = _WORKER.pop("renderer", None)
    if renderer is not None:
        renderer.close()
    _WORKER.clear()


def _render_scene(job: tuple[ScenePlan, str]) -> tuple[str, np.ndarray, int, dict]:
    """Render one scene into ``<out>/.staging/<id>`` and rename it to ``<out>/<id>``."""
    from latentscenes.builders.tinyrender import render_views
    from latentscenes.data.srn import write_srn_scene

    plan, out = job
    source: Source = _WORKER["source"]
    settings: BuildSettings = _WORKER["settings"]
    mesh = source.load(plan.entry, plan.variant)
    _WORKER["renderer"].set_mesh(mesh)
    rng = np.random.default_rng(plan.camera_seed(settings.seed))
    cam2world = sample_hemisphere_cameras(rng, settings.views, radius=settings.radius)
    images, touches = render_views(
        _WORKER["renderer"], cam2world, settings.fov_deg, settings.size, settings.supersample
    )
    staging = Path(out) / STAGING
    target = Path(out) / plan.scene_id
    if (staging / plan.scene_id).exists():
        shutil.rmtree(staging / plan.scene_id)
    write_srn_scene(staging, plan.scene_id, images, cam2world, square_intrinsics(settings.size, settings.fov_deg))
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging / plan.scene_id, target)
    return plan.scene_id, images[_sheet_view(settings)], int(touches.sum()), source.normalisation(plan.entry)


def _collect(results, tiles: dict, normalisations: dict, bar) -> int:
    """Record rendered scenes' contact-sheet tiles and normalisations; returns how many views
    touch the image border."""
    touching = 0
    for scene_id, tile, touches, norm in results:
        tiles[scene_id], normalisations[scene_id] = tile, norm
        touching += touches
        bar.update(1)
    return touching


def _sheet_view(settings: BuildSettings) -> int:
    return settings.num_test_views if settings.views > settings.num_test_views else 0


# -- the build ----------------------------------------------------------------------------
def build_dataset(
    out: str | Path,
    settings: BuildSettings,
    *,
    torcs_root: str | Path | None = None,
    flightgear_root: str | Path | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    source: Source | None = None,
) -> BuildResult:
    """Render ``settings.scenes`` scenes into `out` (see the module docstring).

    `out` must be empty or new, or hold a build with the same settings (finished scenes are
    kept, the rest rendered: an interrupted build resumes). A build with other settings is
    replaced only with ``overwrite=True`` (its scene folders, meta.json and contact sheet are
    deleted; nothing else). `workers` processes render in parallel (default min(2, CPUs)),
    each with its own pybullet connection and replaced after `SCENES_PER_WORKER` scenes.
    """
    start_time = time.perf_counter()
    settings.validate()
    out = Path(out)
    source = source or make_source(settings.source, torcs_root, flightgear_root)
    plans, groups = plan_scenes(source, settings)
    settings_json = asdict(settings)
    _prepare_out(out, settings_json, overwrite)

    meta = _meta(settings_json, source, plans, groups, normalisations={})
    meta["complete"] = False
    atomic_write_json(out / META, meta)

    todo = [plan for plan in plans if not _scene_complete(out / plan.scene_id, settings.views)]
    done = {plan.scene_id for plan in plans} - {plan.scene_id for plan in todo}
    tiles: dict[str, np.ndarray] = {}
    normalisations: dict[str, dict] = {}
    touching = 0
    workers = workers or min(2, os.cpu_count() or 1)
    jobs = [(plan, str(out)) for plan in todo]
    bar = _progress(len(todo), progress, f"rendering {len(todo)} scenes x {settings.views} views")
    try:
        if len(todo) <= 1 or (workers <= 1 and len(todo) <= SCENES_PER_WORKER):
            _init_worker(source, settings)
            try:
                touching += _collect(map(_render_scene, jobs), tiles, normalisations, bar)
            finally:
                _close_worker()
        else:
            # A fresh pool per round of SCENES_PER_WORKER scenes per process (the pool's own
            # max_tasks_per_child can hang on Python 3.11 when it replaces a worker).
            context = get_context("spawn")
            processes = min(workers, len(todo))
            for first in range(0, len(jobs), processes * SCENES_PER_WORKER):
                round_jobs = jobs[first : first + processes * SCENES_PER_WORKER]
                with ProcessPoolExecutor(min(processes, len(round_jobs)), mp_context=context,
                                         initializer=_init_worker, initargs=(source, settings)) as pool:
                    touching += _collect(pool.map(_render_scene, round_jobs, chunksize=1), tiles, normalisations, bar)
    finally:
        bar.close()
    shutil.rmtree(out / STAGING, ignore_errors=True)

    for plan in plans:
        if plan.scene_id in done:
            tiles[plan.scene_id] = _read_tile(out / plan.scene_id, _sheet_view(settings))
            normalisations[plan.scene_id] = source.normalisation(plan.entry)
    write_contact_sheet(
        out / CONTACT_SHEET,
        [tiles[plan.scene_id] for plan in plans],
        labels=[str(plan.index) for plan in plans],
        groups=[plan.group for plan in plans],
    )
    meta = _meta(settings_json, source, plans, groups, normalisations)
    meta["complete"] = True
    atomic_write_json(out / META, meta)
    if touching:
        print(f"warning: in {touching} view(s) the object touches the image border and may be cut off",
              file=sys.stderr)
    return BuildResult(out, plans, groups, len(todo), len(done), time.perf_counter() - start_time, touching, meta)


def _meta(settings_json: dict, source: Source, plans: list[ScenePlan], groups: dict, normalisations: dict) -> dict:
    focal = float(square_intrinsics(settings_json["size"], settings_json["fov_deg"])[0, 0])
    lighting = asdict(Lighting())
    return {
        "format": "latentscenes-build",
        "builder_version": BUILDER_VERSION,
        "settings": settings_json,
        "source": source.describe(),
        "camera": {
            "convention": "OpenCV cam2world (x right, y down, z forward), world z up",
            "radius": settings_json["radius"],
            "fov_deg": settings_json["fov_deg"],
            "focal_px": round(focal, 6),
            "elevation_deg": [MIN_ELEVATION_DEG, MAX_ELEVATION_DEG],
            "looks_at": [0.0, 0.0, 0.0],
        },
        "rendering": {
            "renderer": "pybullet TinyRenderer",
            "supersample": settings_json["supersample"],
            "background": [255, 255, 255],
            "lighting": {**lighting, "direction": list(lighting["direction"])},
            "object_half_diagonal": HALF_DIAGONAL,
        },
        "test_views": f"the first {settings_json['num_test_views']} views of every scene",
        "groups": groups,
        "scenes": [
            {
                "index": plan.index,
                "id": plan.scene_id,
                "group": plan.group,
                "entry": plan.entry.id,
                "mesh": plan.entry.mesh,
                "livery": plan.entry.livery,
                "files": dict(plan.entry.files),
                "digests": source.file_digests(plan.entry),
                "variant": plan.variant.to_json(),
                "camera_seed": plan.camera_seed(settings_json["seed"]),
                **({"normalisation": normalisations[plan.scene_id]} if plan.scene_id in normalisations else {}),
            }
            for plan in plans
        ],
    }


def _prepare_out(out: Path, settings_json: dict, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    meta_path = out / META
    old = None
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            old = None
    if not isinstance(old, dict) or old.get("format") != "latentscenes-build":
        raise DataError(
            f"--out {out} is not empty and is not a previous `latentscenes data build` (no readable {META}); "
            "choose an empty or new folder"
        )
    if old.get("settings") == settings_json and old.get("builder_version") == BUILDER_VERSION:
        return  # same build: keep finished scenes, render the rest
    if not overwrite:
        old_settings = old.get("settings") or {}
        changed = [
            f"{k} {old_settings.get(k)!r} -> {v!r}" for k, v in settings_json.items() if old_settings.get(k) != v
        ]
        if old.get("builder_version") != BUILDER_VERSION:
            changed.append(f"builder_version {old.get('builder_version')!r} -> {BUILDER_VERSION}")
        raise DataError(
            f"--out {out} holds a build with other settings ({'; '.join(changed)}); "
            "pass --overwrite to replace it, or choose another folder"
        )
    for scene in old.get("scenes", []):
        scene_id = str(scene.get("id", ""))
        folder = out / scene_id
        if scene_id and "/" not in scene_id and scene_id not in (".", "..") and folder.is_dir():
            shutil.rmtree(folder)
    for name in (META, CONTACT_SHEET):
        if (out / name).is_file():
            (out / name).unlink()
    shutil.rmtree(out / STAGING, ignore_errors=True)


def _scene_complete(folder: Path, views: int) -> bool:
    rgb, pose = folder / "rgb", folder / "pose"
    if not (rgb.is_dir() and pose.is_dir() and (folder / "intrinsics.txt").is_file()):
        return False
    return len(list(rgb.glob("*.png"))) == views and len(list(pose.glob("*.txt"))) == views


def _read_tile(folder: Path, view: int) -> np.ndarray:
    from PIL import Image

    paths = sorted((folder / "rgb").glob("*.png"))
    with Image.open(paths[view]) as image:
        return np.asarray(image.convert("RGB"))


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, description: str):
    if not enabled or total == 0:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="scene", file=sys.stderr, dynamic_ncols=True)


def describe_result(result: BuildResult) -> str:
    """A few lines for the terminal."""
    lines = [
        f"wrote {len(result.scenes)} scenes to {result.out} "
        f"({result.rendered} rendered, {result.skipped} kept) in {result.seconds:.1f} s",
    ]
    for name, group in result.groups.items():
        lines.append(
            f"  group {name}: scenes [{group['start']}, {group['stop']}) from {len(group['meshes'])} mesh(es)"
        )
    lines.append(f"  meta: {result.out / META}")
    lines.append(f"  contact sheet: {result.out / CONTACT_SHEET}")
    return "\n".join(lines)

