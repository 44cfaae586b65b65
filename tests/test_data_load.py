import numpy as np
import pytest
import torch
from data_fixtures import orbit_cameras, pinhole, render_sphere, write_srn_dataset

from latentscenes.config import load_config
from latentscenes.data import (
    DataConfig,
    Scene,
    detect_format,
    load_scenes,
    load_scenes_from_config,
    read_image,
    write_png,
    write_srn_scene,
)
from latentscenes.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def srn_root(tmp_path_factory):
    # 3 scenes x 8 views of 16 px; views 0 and 4 are at elevation -30 deg (height -0.65).
    return write_srn_dataset(tmp_path_factory.mktemp("srn"), num_scenes=3, num_views=8, size=16)


def test_detect_format(tmp_path, srn_root):
    assert detect_format(srn_root) == "srn"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "dataset.json").write_text('{"labels": []}')
    assert detect_format(tmp_path / "x") == "eg3d"
    with pytest.raises(DataError, match="cannot tell the dataset format"):
        detect_format(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_scenes(tmp_path / "nowhere")


def test_collection_properties(srn_root):
    data = load_scenes(srn_root, num_test_views=2)
    assert data.format == "srn" and len(data) == 3 and data.root == srn_root
    assert data.scene_ids == ["scene_000", "scene_001", "scene_002"]
    assert (data.height, data.width) == (16, 16) and data.num_views == [8, 8, 8]
    scene = data[1]
    assert scene.images.dtype == torch.uint8 and scene.images.shape == (8, 16, 16, 3)
    assert scene.cam2world.dtype == torch.float32 and scene.intrinsics.dtype == torch.float32


def test_split_holds_out_the_first_views(srn_root):
    scene = load_scenes(srn_root, num_test_views=3)[0]
    assert scene.split("test").tolist() == [0, 1, 2]
    assert scene.split("train").tolist() == [3, 4, 5, 6, 7]
    assert scene.split("all").tolist() == list(range(8))
    assert scene.split("test").dtype == torch.int64
    assert scene.split("val").tolist() == []
    with pytest.raises(ValueError):
        scene.split("validation")


def test_validation_views_sit_between_test_and_training_views(srn_root):
    scene = load_scenes(srn_root, num_test_views=2, num_val_views=3)[0]
    assert scene.split("test").tolist() == [0, 1]
    assert scene.split("val").tolist() == [2, 3, 4]
    assert scene.split("train").tolist() == [5, 6, 7]
    assert scene.first_train_view == 5
    with pytest.raises(DataError, match=r"needs at least 9 \(2 test \+ 6 validation \+ 1 training\)"):
        load_scenes(srn_root, num_test_views=2, num_val_views=6)
    with pytest.raises(DataError, match="num_val_views must be >= 0"):
        load_scenes(srn_root, num_val_views=-1)
    config = load_config(DataConfig, overrides=[f"root={srn_root}", "num_test_views=1", "num_val_views=2"])
    assert load_scenes_from_config(config)[0].split("val").tolist() == [1, 2]


def test_above_filter_runs_before_the_split(srn_root):
    everything = load_scenes(srn_root, num_test_views=0)[0]
    heights = everything.cam2world[:, 2, 3]
    assert (heights < -0.5).sum() == 2  # views 000000 and 000004
    scene = load_scenes(srn_root, above=-0.5, num_test_views=2)[0]
    assert scene.view_names == ["000001", "000002", "000003", "000005", "000006", "000007"]
    assert (scene.cam2world[:, 2, 3] > -0.5).all()
    assert [scene.view_names[i] for i in scene.split("test")] == ["000001", "000002"]
    kept = torch.tensor([1, 2, 3, 5, 6, 7])
    assert torch.equal(scene.images, everything.images[kept])
    assert torch.equal(scene.cam2world, everything.cam2world[kept])


def test_too_few_views_for_the_split(srn_root):
    with pytest.raises(DataError) as info:
        load_scenes(srn_root, above=-0.5, num_test_views=6)
    message = str(info.value)
    assert str(srn_root / "scene_000") in message and "has 6 views above height -0.5" in message
    assert "6 test + 1 training" in message


def test_resize_rescales_intrinsics(srn_root):
    full = load_scenes(srn_root, num_test_views=0, count=1)[0]
    half = load_scenes(srn_root, num_test_views=0, count=1, size=8)[0]
    assert half.images.shape == (8, 8, 8, 3)
    assert torch.allclose(half.intrinsics[:, :2], full.intrinsics[:, :2] / 2)
    assert torch.allclose(half.normalized_intrinsics(), full.normalized_intrinsics())
    # Antialiased: a 2x BOX shrink is the mean of each 2x2 block.
    blocks = full.images.double().reshape(8, 8, 2, 8, 2, 3).mean(dim=(2, 4))
    assert (half.images.double() - blocks).abs().max() <= 1.0


def test_start_and_count_select_a_scene_range(srn_root):
    data = load_scenes(srn_root, num_test_views=0, start=1, count=5)
    assert data.scene_ids == ["scene_001", "scene_002"]
    with pytest.raises(DataError, match="empty dataset"):
        load_scenes(srn_root, start=3)


def test_empty_dataset(tmp_path):
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "transforms.json").write_text('{"fl_x": 1, "frames": []}')
    with pytest.raises(DataError, match="has 0 views"):
        load_scenes(tmp_path / "scenes", num_test_views=0)
    with pytest.raises(DataError, match="empty dataset"):
        load_scenes(tmp_path / "scenes", format="srn")


def test_rgba_is_composited_on_white(tmp_path):
    cams, K = orbit_cameras(2), pinhole(8)
    rgba = render_sphere(cams, K, 8, 8, alpha=True)
    rgba[0, 0, 0] = (0, 0, 0, 128)  # half-transparent black -> 127 or 128 grey
    write_srn_scene(tmp_path, "s", rgba, cams, K)
    scene = load_scenes(tmp_path, num_test_views=0)[0]
    expected = render_sphere(cams, K, 8, 8)
    assert torch.equal(scene.images[1], torch.from_numpy(expected[1]))
    assert scene.images[0, 0, 0].tolist() == [127, 127, 127]
    assert torch.equal(scene.images[0, 1:], torch.from_numpy(expected[0, 1:]))


def test_read_image_modes(tmp_path):
    from PIL import Image

    Image.new("LA", (2, 1), (0, 0)).save(tmp_path / "la.png")
    Image.new("L", (2, 1), 7).save(tmp_path / "l.png")
    assert read_image(tmp_path / "la.png").tolist() == [[[255, 255, 255]] * 2]
    assert read_image(tmp_path / "l.png").tolist() == [[[7, 7, 7]] * 2]


def test_model_images_and_labels(srn_root):
    scene = load_scenes(srn_root, num_test_views=2, count=1)[0]
    images = scene.model_images()
    assert images.shape == (8, 3, 16, 16) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() == 1.0  # white background -> 1
    train = scene.model_images(scene.split("train"))
    assert torch.equal(train, images[2:])
    assert torch.equal(images[0, :, 0, 0], scene.images[0, 0, 0].float() / 127.5 - 1)
    labels = scene.labels()
    assert labels.shape == (8, 25)
    assert torch.equal(labels[:, :16], scene.cam2world.reshape(8, 16))
    assert torch.allclose(labels[:, 16:].reshape(8, 3, 3)[:, 0, 2], torch.full((8,), 0.5))


def test_mixed_resolutions_need_a_size(tmp_path):
    for name, size in (("a", 8), ("b", 12)):
        cams, K = orbit_cameras(2), pinhole(size)
        write_srn_scene(tmp_path, name, render_sphere(cams, K, size, size), cams, K)
    data = load_scenes(tmp_path, num_test_views=0)
    assert data.resolutions == [(8, 8), (12, 12)]
    with pytest.raises(DataError, match="different resolutions"):
        data.height
    assert load_scenes(tmp_path, num_test_views=0, size=8).height == 8


def test_scene_validates_shapes():
    with pytest.raises(ValueError, match="cam2world"):
        Scene("s", torch.zeros(2, 4, 4, 3, dtype=torch.uint8), torch.zeros(3, 4, 4), torch.zeros(2, 3, 3), ["a", "b"])


def test_data_config(tmp_path, srn_root):
    config = load_config(DataConfig, overrides=[f"root={srn_root}", "size=8", "above=-0.5", "num_test_views=1", "count=2"])
    data = load_scenes_from_config(config)
    assert len(data) == 2 and data.height == 8 and data.num_views == [6, 6]
    with pytest.raises(ConfigError, match="'size' must be >= 1"):
        load_config(DataConfig, overrides=["size=0"])
    with pytest.raises(ConfigError, match="'format' must be one of"):
        load_config(DataConfig, overrides=["format=colmap"])
    with pytest.raises(ConfigError, match="root"):
        load_scenes_from_config(DataConfig())


def test_writer_images_are_lossless(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)
