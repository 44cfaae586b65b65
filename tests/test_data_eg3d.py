import json

import numpy as np
import pytest
import torch
from data_fixtures import write_srn_dataset

from latentscenes.cameras import project
from latentscenes.data import load_scenes, write_eg3d_dataset, write_png
from latentscenes.errors import DataError


def write_labels(root, labels):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))


def label(c2w, K_normalized):
    return [float(v) for v in np.asarray(c2w).reshape(16)] + [float(v) for v in np.asarray(K_normalized).reshape(9)]


def test_round_trip_through_eg3d_is_exact(tmp_path):
    srn = load_scenes(write_srn_dataset(tmp_path / "srn", num_scenes=2, num_views=3, size=12), num_test_views=1)
    write_eg3d_dataset(tmp_path / "eg3d", srn.scenes)
    eg3d = load_scenes(tmp_path / "eg3d", num_test_views=1)
    assert eg3d.format == "eg3d" and [s.scene_id for s in eg3d] == ["scene_000", "scene_001"]
    for a, b in zip(srn, eg3d):
        assert a.view_names == b.view_names
        assert torch.equal(a.images, b.images)
        assert torch.equal(a.cam2world, b.cam2world)
        assert torch.equal(a.intrinsics, b.intrinsics)
        assert torch.allclose(a.labels(), b.labels())


def test_labels_are_25_numbers_with_normalised_intrinsics(tmp_path):
    write_eg3d_dataset(tmp_path, load_scenes(write_srn_dataset(tmp_path / "srn", 1, 2, 8), num_test_views=0))
    labels = json.loads((tmp_path / "dataset.json").read_text())["labels"]
    path, numbers = labels[0]
    assert path == "scene_000/000000.png" and len(numbers) == 25
    assert numbers[16 + 2] == 0.5 and numbers[16 + 5] == 0.5 and numbers[16 + 8] == 1.0  # cx/W, cy/H


def test_eg3d_convention_point_lands_on_its_pixel(tmp_path):
    # Camera at (0, 0, -2) looking +z; normalised K: fx/W = 1, cx/W = 0.5 on an 8x8 image,
    # so K = [[8, 0, 4], [0, 8, 4]] and the world point (0.375, -0.125, 0) lands at (5.5, 3.5).
    image = np.full((8, 8, 3), 255, np.uint8)
    image[3, 5] = (0, 0, 255)
    write_png(tmp_path / "obj" / "v0.png", image)
    c2w = np.eye(4)
    c2w[2, 3] = -2.0
    write_labels(tmp_path, [["obj/v0.png", label(c2w, [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])]])
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    assert torch.equal(scene.intrinsics[0], torch.tensor([[8.0, 0, 4], [0, 8, 4], [0, 0, 1]]))
    pixels, depth = project(torch.tensor([[0.375, -0.125, 0.0]]), scene.intrinsics[0], scene.cam2world[0])
    assert pixels[0].tolist() == pytest.approx([5.5, 3.5]) and depth.item() == pytest.approx(2.0)
    assert scene.images[0, 3, 5].tolist() == [0, 0, 255]
    # Loaded at 16 px the same normalised intrinsics give K = [[16, 0, 8], ...].
    big = load_scenes(tmp_path, num_test_views=0, size=16)[0]
    assert torch.equal(big.intrinsics[0], torch.tensor([[16.0, 0, 8], [0, 16, 8], [0, 0, 1]]))


def test_grouping_by_first_folder_keeps_label_order(tmp_path):
    K = [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]]
    for name in ("b/z.png", "b/a.png", "a/x.png", "a/sub/y.png"):
        write_png(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    labels = [[name, label(np.eye(4), K)] for name in ("b/z.png", "b/a.png", "a/x.png", "a/sub/y.png")]
    write_labels(tmp_path, labels)
    scenes = load_scenes(tmp_path, num_test_views=1)
    assert [s.scene_id for s in scenes] == ["a", "b"]
    assert scenes[0].view_names == ["x", "sub/y"] and scenes[1].view_names == ["z", "a"]
    assert [s.scene_id for s in load_scenes(tmp_path, num_test_views=1, start=1, count=1)] == ["b"]


def test_images_in_root_form_one_scene_named_after_root(tmp_path):
    root = tmp_path / "faces"
    write_png(root / "img0.png", np.zeros((4, 4, 3), np.uint8))
    write_labels(root, [["img0.png", label(np.eye(4), [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])]])
    assert load_scenes(root, num_test_views=0)[0].scene_id == "faces"


GOOD_K = [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]]


@pytest.mark.parametrize(
    "entry, fragment",
    [
        (["s/v.png", [0.0] * 24], "25 numbers"),
        (["s/v.png", "nope"], "25 numbers"),
        ("s/v.png", "relative_path"),
        (["s/v.png", label(np.diag([1.0, 1, 1, 1]) * 2, GOOD_K)], "last row"),
        (["s/v.png", label(np.diag([1.0, 1, -1, 1]), GOOD_K)], "orthonormal"),
        (["s/v.png", label(np.eye(4), [[0, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])], "focal"),
        (["s/v.png", label(np.eye(4), [[1, 0, float("nan")], [0, 1, 0.5], [0, 0, 1]])], "non-finite"),
        (["../v.png", label(np.eye(4), GOOD_K)], "relative"),
    ],
)
def test_bad_labels(tmp_path, entry, fragment):
    write_png(tmp_path / "s" / "v.png", np.zeros((4, 4, 3), np.uint8))
    write_labels(tmp_path, [entry])
    with pytest.raises(DataError) as info:
        load_scenes(tmp_path, num_test_views=0)
    assert str(tmp_path / "dataset.json") in str(info.value) and fragment in str(info.value)


def test_image_without_label(tmp_path):
    write_png(tmp_path / "s" / "v.png", np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / "s" / "w.png", np.zeros((4, 4, 3), np.uint8))
    write_labels(tmp_path, [["s/v.png", label(np.eye(4), GOOD_K)]])
    with pytest.raises(DataError, match="w.png: image has no camera label"):
        load_scenes(tmp_path, num_test_views=0)


def test_missing_image_and_bad_json(tmp_path):
    write_labels(tmp_path, [["s/v.png", label(np.eye(4), GOOD_K)]])
    with pytest.raises(DataError, match="v.png: image file is missing"):
        load_scenes(tmp_path, num_test_views=0)
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="dataset.json: not valid JSON"):
        load_scenes(tmp_path, num_test_views=0)
    (tmp_path / "dataset.json").write_text('{"labels": null}')
    with pytest.raises(DataError, match="dataset.json: expected"):
        load_scenes(tmp_path, num_test_views=0)
    (tmp_path / "dataset.json").write_text('{"labels": []}')
    with pytest.raises(DataError, match="empty dataset"):
        load_scenes(tmp_path, num_test_views=0)
