"""Dataset builders: camera conventions of the TinyRenderer, TORCS trees, splits, end to end.

Nothing here needs the real torcs-data package: TORCS trees are written by the tests (tiny
AC3D boxes, SGI textures, car XMLs) and the end-to-end builds use pybullet's own objects.
"""

import json
from pathlib import Path

import numpy as np
import pybullet
import pytest
import torch
from PIL import Image

from latentscenes.builders import BuildSettings, build_dataset, plan_scenes
from latentscenes.builders.mesh import Mesh, MeshPart, face_normals
from latentscenes import cameras
from latentscenes.builders.sampling import sample_hemisphere_cameras, square_intrinsics
from latentscenes.builders.source import Entry, Source, interleave
from latentscenes.builders.tinyrender import (
    TinyRenderer,
    metric_depth,
    view_matrix,
)
from latentscenes.builders.torcs import TorcsSource, assemble_car, fetch_torcs_data, read_car
from latentscenes.builders.variants import Variant, sample_variant
from latentscenes.errors import DataError

FOV = 52.0


# -- helpers ------------------------------------------------------------------------------
def box_mesh(lower, upper, color=(0.8, 0.5, 0.2), texture=None) -> Mesh:
    """An axis-aligned box, outward-facing, flat normals, UVs (0..1) on every face."""
    (x0, y0, z0), (x1, y1, z1) = lower, upper
    corners = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads])
    positions = corners[tris]
    centre = (np.array(lower) + np.array(upper)) / 2
    normals = face_normals(positions)
    outward = np.einsum("td,td->t", normals, positions.mean(axis=1) - centre) > 0
    positions = np.where(outward[:, None, None], positions, positions[:, [0, 2, 1]])
    normals = np.repeat(face_normals(positions)[:, None], 3, axis=1)
    uvs = np.tile(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), (len(tris), 1, 1))
    return Mesh([MeshPart(positions.astype(np.float32), normals.astype(np.float32), uvs.astype(np.float32),
                          texture, color, "box")])


def quad_mesh(half: float, z: float, texture=None, color=(1.0, 1.0, 1.0)) -> Mesh:
    """A square in the plane z = `z`, facing up, UV (0, 0) at (-half, -half) and (1, 1) at (half, half)."""
    a, b = -half, half
    positions = np.array([[[a, a, z], [b, a, z], [b, b, z]], [[a, a, z], [b, b, z], [a, b, z]]])
    uvs = np.array([[[0, 0], [1, 0], [1, 1]], [[0, 0], [1, 1], [0, 1]]], dtype=np.float64)
    normals = np.tile([0.0, 0.0, 1.0], (2, 3, 1))
    return Mesh([MeshPart(positions.astype(np.float32), normals.astype(np.float32), uvs.astype(np.float32),
                          texture, color, "quad")])


def pixel_rays(K: np.ndarray, size: int) -> np.ndarray:
    """Camera-space directions with z = 1 through every pixel centre, (size, size, 3)."""
    j, i = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    return np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], axis=-1)


def look_at(eye: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """`latentscenes.cameras.look_at` on float64 numpy arrays, as the builders use it."""
    up = None if up is None else torch.from_numpy(up)
    return cameras.look_at(torch.from_numpy(np.asarray(eye, dtype=np.float64)), up=up).numpy()


def unproject(depth: np.ndarray, K: np.ndarray, cam2world: np.ndarray) -> np.ndarray:
    points = pixel_rays(K, depth.shape[0]) * depth[..., None]
    return points @ cam2world[:3, :3].T + cam2world[:3, 3]


@pytest.fixture(scope="module")
def renderer():
    with TinyRenderer() as r:
        yield r


# -- cameras and the renderer -------------------------------------------------------------
def test_view_matrix_agrees_with_pybullet():
    eye = np.array([0.7, -1.0, 0.5])
    pose = look_at(eye)
    reference = pybullet.computeViewMatrix(eye.tolist(), [0, 0, 0], [0, 0, 1])
    assert np.allclose(view_matrix(pose), reference, atol=1e-6)
    # OpenCV: z looks at the origin, x is horizontal, y points down in the world
    assert np.allclose(pose[:3, 2], -eye / np.linalg.norm(eye))
    assert abs(pose[2, 0]) < 1e-12 and pose[2, 1] < 0
    assert np.isclose(np.linalg.det(pose[:3, :3]), 1.0)


def test_square_intrinsics_are_srn_cars_camera():
    K = square_intrinsics(128, FOV)
    assert K.dtype == np.float64
    assert abs(K[0, 0] - 131.25) < 0.1 and K[1, 1] == K[0, 0] and K[0, 2] == K[1, 2] == 64  # SRN cars' focal length


def test_depth_of_a_ground_plane_unprojects_onto_the_plane(renderer):
    renderer.set_mesh(quad_mesh(half=8.0, z=-0.2))
    for size in (64, 65):
        # a rolled camera, so that depth changes along rows and columns
        pose = look_at(np.array([0.9, -0.6, 0.8]), up=np.array([0.3, 0.2, 1.0]))
        _, mask, depth = renderer.render(pose, FOV, size)
        assert mask.mean() > 0.5
        points = unproject(depth.astype(np.float64), square_intrinsics(size, FOV), pose)[mask]
        # TinyRenderer's own sampling point, (j, i + 1), would put points ~0.03 off the plane
        assert np.abs(points[:, 2] + 0.2).max() < 2e-4


def test_depth_reprojects_between_two_views(renderer):
    body, cabin = box_mesh((-0.3, -0.2, -0.25), (0.35, 0.25, 0.1)), box_mesh((-0.1, -0.1, 0.1), (0.15, 0.1, 0.35))
    mesh = Mesh(body.parts + cabin.parts)
    renderer.set_mesh(mesh)
    size = 96
    K = square_intrinsics(size, FOV)
    pose_a, pose_b = look_at(np.array([1.0, -0.7, 0.5])), look_at(np.array([0.4, -1.1, 0.7]))
    _, mask_a, depth_a = renderer.render(pose_a, FOV, size)
    _, mask_b, depth_b = renderer.render(pose_b, FOV, size)
    world = unproject(depth_a.astype(np.float64), K, pose_a)[mask_a]
    in_b = (world - pose_b[:3, 3]) @ pose_b[:3, :3]  # world -> camera b
    pixels = in_b[:, :2] / in_b[:, 2:] * K[0, 0] + K[0, 2] - 0.5  # in pixel-centre units
    x0, y0 = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
    inside = (x0 >= 0) & (x0 < size - 1) & (y0 >= 0) & (y0 < size - 1)
    x0, y0, z = x0[inside], y0[inside], in_b[inside, 2]
    fx, fy = pixels[inside, 0] - x0, pixels[inside, 1] - y0
    corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]
    seen = np.all([mask_b[r, c] for r, c in corners], axis=0)
    d = depth_b.astype(np.float64)
    bilinear = (d[y0, x0] * (1 - fx) * (1 - fy) + d[y0, x0 + 1] * fx * (1 - fy)
                + d[y0 + 1, x0] * (1 - fx) * fy + d[y0 + 1, x0 + 1] * fx * fy)
    error = np.abs(bilinear - z)[seen]
    assert seen.sum() > 500
    # points seen by both cameras land on the same surface (bilinear depth is exact on flat
    # faces); occluded points and pixels across an edge are a minority
    assert np.median(error) < 2e-4
    assert np.mean(error < 2e-3) > 0.6


def test_metric_depth_inverts_the_opengl_depth_buffer():
    near, far, z = 0.05, 20.0, np.array([0.05, 0.5, 1.3, 20.0])
    ndc = (far + near) / (far - near) - 2 * far * near / ((far - near) * z)  # OpenGL perspective
    window = (ndc + 1) / 2
    assert np.allclose(metric_depth(window, near, far), z)


def test_texture_v_runs_upwards_as_in_opengl(renderer):
    texture = np.zeros((32, 32, 3), np.uint8)
    texture[:16, :16] = (255, 0, 0)  # image top-left: uv (0, 1) corner
    texture[:16, 16:] = (0, 0, 255)  # image top-right: uv (1, 1)
    texture[16:, :16] = (0, 255, 0)  # image bottom-left: uv (0, 0)
    texture[16:, 16:] = (255, 255, 0)
    renderer.set_mesh(quad_mesh(half=0.5, z=0.0, texture=texture))
    # looking straight down with the image's up along world +y: world x right, y up
    pose = look_at(np.array([0.0, 0.0, 1.5]), up=np.array([0.0, 1.0, 0.0]))
    rgb, mask, _ = renderer.render(pose, FOV, 64)
    top_left, bottom_left = rgb[20, 20].astype(int), rgb[44, 20].astype(int)
    top_right = rgb[20, 44].astype(int)
    assert top_left[0] > 100 and top_left[1] < 60 and top_left[2] < 60  # red: (-x, +y) has v = 1
    assert bottom_left[1] > 100 and bottom_left[0] < 60  # green: (-x, -y) has v = 0
    assert top_right[2] > 100 and top_right[0] < 60  # blue


def test_hemisphere_cameras_look_at_the_origin_from_above():
    poses = sample_hemisphere_cameras(np.random.default_rng(0), 200, radius=1.3)
    centres = poses[:, :3, 3]
    assert np.allclose(np.linalg.norm(centres, axis=1), 1.3)
    elevation = np.degrees(np.arcsin(centres[:, 2] / 1.3))
    assert elevation.min() >= 5.0 - 1e-9 and elevation.max() <= 80.0 + 1e-9
    assert np.allclose(poses[:, :3, 2], -centres / 1.3)  # z forward, to the origin
    assert np.allclose(poses[:, 2, 0], 0.0)  # image rows are horizontal: cars stand upright
    assert np.allclose(np.linalg.det(poses[:, :3, :3]), 1.0)
    again = sample_hemisphere_cameras(np.random.default_rng(0), 200, radius=1.3)
    assert np.array_equal(poses, again)


# -- planning and splits ------------------------------------------------------------------
class FakeSource(Source):
    name = "fake"

    def __init__(self, liveries_per_mesh):
        super().__init__()
        self.groups = {
            f"m{k}": [Entry(f"m{k}/l{j}", f"m{k}", f"l{j}") for j in range(count)]
            for k, count in enumerate(liveries_per_mesh)
        }

    def entries(self):
        return interleave(self.groups)

    def rims(self):
        return ["r0", "r1"]


def test_entries_interleave_meshes_and_variants_extend_them():
    source = FakeSource([3, 1, 2])
    plans, groups = plan_scenes(source, BuildSettings(source="torcs", scenes=8))
    ids = [p.entry.id for p in plans]
    assert ids[:6] == ["m0/l0", "m1/l0", "m2/l0", "m0/l1", "m2/l1", "m0/l2"]
    assert ids[6:] == ["m0/l0", "m1/l0"]
    assert [p.variant.index for p in plans] == [0] * 6 + [1, 1]
    assert plans[0].variant == Variant()
    assert plans[6].variant.hue_shift > 0 and plans[6].variant.rim in ("r0", "r1")
    assert groups == {"all": {"start": 0, "stop": 8, "meshes": ["m0", "m1", "m2"], "scenes": 8}}
    assert plans[3].scene_id == "00003_m0.l1_v0"


@pytest.mark.parametrize("holdout", [0.3, 2.0])
def test_split_by_mesh_keeps_every_mesh_on_one_side(holdout):
    source = FakeSource([4, 3, 2, 2, 1, 1])
    settings = BuildSettings(source="torcs", scenes=40, split_by="mesh", holdout_meshes=holdout, seed=3)
    plans, groups = plan_scenes(source, settings)
    assert set(groups) == {"train", "holdout"}
    train, held = groups["train"], groups["holdout"]
    assert train["start"] == 0 and train["stop"] == held["start"] and held["stop"] == 40
    assert not set(train["meshes"]) & set(held["meshes"])
    for plan in plans:
        expected = "train" if plan.index < train["stop"] else "holdout"
        assert plan.group == expected and plan.entry.mesh in groups[expected]["meshes"]
    if holdout >= 1:
        assert len(held["meshes"]) == 2
    else:
        assert held["scenes"] >= 0.3 * 40
    again, _ = plan_scenes(source, settings)
    assert again == plans


def test_split_by_mesh_needs_two_meshes():
    with pytest.raises(DataError, match="at least 2 meshes"):
        plan_scenes(FakeSource([5]), BuildSettings(source="torcs", scenes=3, split_by="mesh"))
    with pytest.raises(DataError, match="leaves no mesh"):
        plan_scenes(FakeSource([1, 1]), BuildSettings(source="torcs", scenes=2, split_by="mesh", holdout_meshes=2))


def test_variants_are_deterministic_and_mild():
    a = sample_variant(7, "car/default", 3, ["x", "y"])
    assert a == sample_variant(7, "car/default", 3, ["x", "y"])
    assert a != sample_variant(8, "car/default", 3, ["x", "y"])
    assert 0.1 <= a.hue_shift <= 0.9 and all(0.92 <= s <= 1.08 for s in a.scale)
    assert sample_variant(7, "car/default", 0, ["x"]) == Variant()


# -- TORCS trees written by the tests -----------------------------------------------------
BOX_AC = """AC3Db
MATERIAL "m" rgb 1 1 1 amb 1 1 1 emis 0 0 0 spec 0 0 0 shi 0 trans 0
OBJECT world
kids 1
OBJECT poly
name "body"
texture "{name}.rgb"
numvert 8
-2 0 -0.9
2 0 -0.9
2 0 0.9
-2 0 0.9
-2 1.2 -0.9
2 1.2 -0.9
2 1.2 0.9
-2 1.2 0.9
numsurf 6
SURF 0x20
mat 0
refs 4
0 0 0
1 1 0
2 1 1
3 0 1
SURF 0x20
mat 0
refs 4
4 0 0
5 1 0
6 1 1
7 0 1
SURF 0x20
mat 0
refs 4
0 0 0
1 1 0
5 1 1
4 0 1
SURF 0x20
mat 0
refs 4
3 0 0
2 1 0
6 1 1
7 0 1
SURF 0x20
mat 0
refs 4
0 0 0
3 1 0
7 1 1
4 0 1
SURF 0x20
mat 0
refs 4
1 0 0
2 1 0
6 1 1
5 0 1
kids 0
"""

CAR_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE params SYSTEM "../../../../src/libs/tgf/params.dtd">
<params name="{name}" type="template">
  <section name="Graphic Objects">
    <attstr name="wheel texture" val="tex-wheel.rgb"/>
    <attnum name="tachometer min value" val="0" unit="rpm"/>
    <section name="Ranges">
      <section name="1">
        <attnum name="threshold" val="20"/>
        <attstr name="car" val="{name}.ac"/>
        <attstr name="wheels" val="yes"/>
      </section>
    </section>
  </section>
  <section name="Front Axle"><attnum name="xpos" val="1.2"/></section>
  <section name="Rear Axle"><attnum name="xpos" val="-1.3"/></section>
{wheels}
</params>
"""

WHEEL_XML = """  <section name="{section}">
    <attnum name="ypos" unit="m" val="{y}"/>
    <attnum name="rim diameter" unit="in" val="16"/>
    <attnum name="tire width" unit="mm" val="200"/>
    <attnum name="tire height-width ratio" val="0.5"/>
    <attnum name="ride height" unit="mm" val="100"/>
  </section>"""


def write_torcs_tree(root: Path, cars=("alpha", "beta"), driver_liveries=("alpha",)) -> Path:
    colours = {"alpha": (200, 30, 30), "beta": (30, 30, 200)}
    for name in cars:
        folder = root / "cars" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ac").write_text(BOX_AC.format(name=name))
        wheels = "\n".join(
            WHEEL_XML.format(section=section, y=y)
            for section, y in [("Front Right Wheel", -0.8), ("Front Left Wheel", 0.8),
                               ("Rear Right Wheel", -0.8), ("Rear Left Wheel", 0.8)]
        )
        (folder / f"{name}.xml").write_text(CAR_XML.format(name=name, wheels=wheels))
        Image.new("RGB", (16, 16), colours.get(name, (90, 90, 90))).save(folder / f"{name}.rgb", format="SGI")
        Image.new("RGB", (16, 16), (160, 160, 160)).save(folder / "tex-wheel.rgb", format="SGI")
    for i, name in enumerate(driver_liveries):
        folder = root / "drivers" / "bot" / str(i + 1)
        folder.mkdir(parents=True)
        Image.new("RGB", (16, 16), (20, 160, 20)).save(folder / f"{name}.rgb", format="SGI")
    return root


def test_torcs_tree_liveries_and_wheels_from_the_xml(tmp_path):
    root = write_torcs_tree(tmp_path / "torcs")
    source = TorcsSource(root)
    assert [e.id for e in source.entries()] == ["alpha/default", "beta/default", "alpha/bot-1"]
    car = read_car(root, "alpha")
    assert car.mesh_file.name == "alpha.ac"
    mesh = assemble_car(car, root / "drivers/bot/1/alpha.rgb", Variant())
    body = [p for p in mesh.parts if p.name == "alpha.rgb"]
    assert len(body) == 1 and tuple(body[0].texture[0, 0]) == (20, 160, 20)  # the driver's livery
    treads = [p for p in mesh.parts if p.name == "tread"]
    assert len(treads) == 4
    radius = 16 * 0.0254 / 2 + 0.2 * 0.5
    centres = []
    for tread in treads:
        points = tread.positions.reshape(-1, 3)
        centre = (points.min(0) + points.max(0)) / 2
        centres.append(centre)
        assert np.isclose(points[:, 2].min(), -0.1, atol=1e-3)  # the tyre touches the ground
        assert np.isclose(points[:, 2].max() - points[:, 2].min(), 2 * radius, atol=1e-3)
        assert np.isclose(points[:, 1].max() - points[:, 1].min(), 0.2, atol=1e-4)
    centres = np.array(sorted(map(tuple, np.round(centres, 4))))
    expected = sorted((x, y, round(radius - 0.1, 4)) for x in (1.2, -1.3) for y in (-0.8, 0.8))
    assert np.allclose(centres, expected, atol=1e-3)
    # world normalisation: centred, half-diagonal 0.55
    lower, upper = source.load(source.entries()[0], Variant()).bounds()
    assert np.allclose((lower + upper) / 2, 0, atol=1e-6)
    assert np.isclose(np.linalg.norm(upper - lower) / 2, 0.55, atol=1e-5)


def test_torcs_errors_name_the_problem(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no cars/ folder.*torcs-data"):
        TorcsSource(empty)
    with pytest.raises(DataError, match="does not exist"):
        TorcsSource(tmp_path / "missing")
    monkeypatch.setattr("latentscenes.builders.debian.shutil.which", lambda name: None)
    with pytest.raises(DataError, match="apt-get.*not available.*--torcs-root"):
        fetch_torcs_data(tmp_path / "cache")


def test_corrupt_torcs_mesh_fails_the_build_naming_the_file(tmp_path):
    root = write_torcs_tree(tmp_path / "torcs")
    bad = root / "cars" / "beta" / "beta.ac"
    bad.write_text(BOX_AC.format(name="beta").replace("refs 4\n4 0 0", "refs 4\n44 0 0"))
    settings = BuildSettings(source="torcs", scenes=2, views=2, size=32, num_test_views=1)
    with pytest.raises(DataError, match="beta.ac.*out of range"):
        build_dataset(tmp_path / "out", settings, torcs_root=root, workers=1, progress=False)


def test_torcs_build_end_to_end_with_a_written_tree(tmp_path):
    root = write_torcs_tree(tmp_path / "torcs")
    settings = BuildSettings(source="torcs", scenes=4, views=3, size=32, num_test_views=1,
                             split_by="mesh", holdout_meshes=1)
    result = build_dataset(tmp_path / "cars", settings, torcs_root=root, workers=1, progress=False)
    meta = json.loads((tmp_path / "cars" / "meta.json").read_text())
    assert meta["complete"] and len(meta["scenes"]) == 4
    assert {s["group"] for s in meta["scenes"]} == {"train", "holdout"}
    scene = meta["scenes"][0]
    assert scene["files"]["mesh"].startswith("cars/") and set(scene["digests"]) == {"mesh", "livery"}
    assert "normalisation" in scene and "variant" in scene
    assert result.views_touching_border == 0
    assert (tmp_path / "cars" / "contact_sheet.png").is_file()


# -- pybullet objects end to end ----------------------------------------------------------
SMALL = BuildSettings(source="pybullet-objects", scenes=3, views=4, size=32, num_test_views=1, seed=5)


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pybullet_objects_build_loads_and_is_deterministic(tmp_path):
    from latentscenes.data import load_scenes

    first = build_dataset(tmp_path / "a", SMALL, workers=1, progress=False)
    build_dataset(tmp_path / "b", SMALL, workers=2, progress=False)  # a process pool
    # same settings, same bytes, whatever the number of workers
    assert all_bytes(tmp_path / "a") == all_bytes(tmp_path / "b")
    assert first.rendered == 3

    collection = load_scenes(tmp_path / "a", num_test_views=1)
    assert len(collection.scenes) == 3
    scene = collection.scenes[0]
    images = np.asarray(scene.images)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    assert tuple(images[0, 0, 0]) == (255, 255, 255)  # white background
    assert (images[0] < 250).any()  # and an object
    plan = first.scenes[0]
    expected = sample_hemisphere_cameras(np.random.default_rng(plan.camera_seed(SMALL.seed)), 4)
    assert np.allclose(np.asarray(scene.cam2world), expected, atol=1e-6)
    assert np.allclose(np.asarray(scene.intrinsics)[0], square_intrinsics(32, FOV), atol=1e-4)

    other = build_dataset(tmp_path / "c", BuildSettings(**{**SMALL.__dict__, "seed": 6}), workers=1, progress=False)
    assert all_bytes(tmp_path / "c") != all_bytes(tmp_path / "a")
    assert other.rendered == 3


def test_out_folder_is_never_silently_overwritten(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        build_dataset(foreign, SMALL, workers=1, progress=False)

    out = tmp_path / "out"
    build_dataset(out, SMALL, workers=1, progress=False)
    again = build_dataset(out, SMALL, workers=1, progress=False)  # same settings: resume
    assert again.rendered == 0 and again.skipped == 3

    changed = BuildSettings(**{**SMALL.__dict__, "scenes": 2})
    with pytest.raises(DataError, match="other settings.*scenes 3 -> 2.*--overwrite"):
        build_dataset(out, changed, workers=1, progress=False)
    replaced = build_dataset(out, changed, workers=1, progress=False, overwrite=True)
    assert replaced.rendered == 2
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [p.scene_id for p in replaced.scenes]


def test_data_build_builds_and_reports(tmp_path, capsys):
    from latentscenes.cli.main import main

    build = ["data", "build", "pybullet-objects", "--scenes", "2", "--views", "2", "--size", "32", "--no-progress"]
    assert main([*build, "--out", str(tmp_path / "d"), "--workers", "1"]) == 0
    assert "wrote 2 scenes" in capsys.readouterr().out
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["settings"]["num_test_views"] == 1  # default 10, at most half the views
    assert main(["data", "build", "torcs", "--torcs-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e")]) == 2
    assert main([*build, "--out", str(tmp_path / "f"), "--torcs-root", str(tmp_path)]) == 2
    assert "--torcs-root only applies to the torcs source" in capsys.readouterr().err
    assert main([*build, "--out", str(tmp_path / "f"), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_fetch_extracts_cars_and_drivers_from_a_cached_deb(tmp_path):
    import shutil
    import subprocess

    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not available")
    package = tmp_path / "pkg"
    write_torcs_tree(package / "usr/share/games/torcs")
    (package / "usr/share/games/torcs/tracks").mkdir()  # not extracted
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN/control").write_text(
        "Package: torcs-data\nVersion: 0.1\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n"
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(package), str(cache / "torcs-data_0.1_all.deb")],
                   check=True, capture_output=True)
    tree = fetch_torcs_data(cache)  # the .deb is there already: no download
    assert tree == cache / "usr/share/games/torcs"
    assert sorted(p.name for p in tree.iterdir()) == ["cars", "drivers"]
    assert not list(cache.glob("*.deb")) and (cache / ".complete").read_text().strip() == "torcs-data_0.1_all.deb"
    assert fetch_torcs_data(cache) == tree  # second call: nothing to do
    assert TorcsSource(tree).describe()["package"] == "torcs-data_0.1_all.deb"
