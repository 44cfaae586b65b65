"""Render processes are replaced every `SCENES_PER_WORKER` scenes (pybullet never frees what
it loads); the replaced processes give the same bytes as one process."""

from pathlib import Path

from latentscenes.builders import build
from latentscenes.builders.build import BuildSettings, build_dataset

SMALL = BuildSettings(source="pybullet-objects", scenes=3, views=2, size=32, num_test_views=1, seed=2)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_fresh_process_per_scene_gives_the_bytes_of_one_process(tmp_path, monkeypatch):
    build_dataset(tmp_path / "one", SMALL, workers=1, progress=False)  # in this process
    monkeypatch.setattr(build, "SCENES_PER_WORKER", 1)
    result = build_dataset(tmp_path / "recycled", SMALL, workers=1, progress=False)  # three processes in turn
    assert result.rendered == 3
    assert _bytes(tmp_path / "recycled") == _bytes(tmp_path / "one")
