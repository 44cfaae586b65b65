"""`latentscenes report`: one self-contained HTML page about runs of every kind, checked in
headless Chromium (Debian's `chromium`; `.ci/run` installs it)."""

import re

import pytest
from chromium import find_chromium, open_and_check
from PIL import Image

from latentscenes.cli.main import main


@pytest.fixture(scope="module")
def report(tiny_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    runs = [str(tiny_runs / name) for name in ("latent", "rgb", "stage1")]
    assert main(["report", *runs, "--out", str(out), "--frames", "4", "--grid-scenes", "2"]) == 0
    return out


def test_report_is_one_page_with_everything_embedded(report):
    page = report.read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(source.startswith(("data:image/png;base64,", "data:video/mp4;base64,")) for source in sources)
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # nothing fetched
    assert page.count("<video") == 4  # turntables: latent 1 scene, RGB 1 scene, stage 1 its first 2
    for heading in ("Verdict", "Evaluation (held-out test views)", "Cost", "Training curves", "Held-out views",
                    "Turntables", "Configs"):
        assert f"<h2>{heading}</h2>" in page
    assert "latent vs rgb" in page and "win on quality" in page and "s of training per scene" in page
    # the reconstruction PSNR of each latent run names its autoencoder: stage 2's decoder is fine-tuned
    assert "autoencoder reconstruction PSNR" in page
    assert "latent: stage 1's encoder and stage 1's decoder fine-tuned by this run (Decode-Scene)" in page
    assert "stage1: the stage-1 autoencoder, on the stage-1 scenes" in page
    grid = page[page.index("<h2>Held-out views</h2>"):page.index("<h2>Turntables</h2>")]
    columns = ("ground truth", "RGB Tri-Planes: rgb", "latent Tri-Planes (stage 2): latent", "autoencoder reconstruction: latent")
    positions = [grid.index(f"<th>{column}</th>") for column in columns]
    assert positions == sorted(positions)  # ground truth | RGB | latent | the autoencoder's reconstruction
    assert "stage 1 (3D-aware autoencoder): stage1" not in grid  # its scenes are not the compared ones
    assert "encode:" in page and "fit:" in page  # the configs


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_loads_in_headless_chromium_with_every_image_and_video(report, tmp_path):
    state, errors = open_and_check(find_chromium(), report, tmp_path / "report.png")
    assert errors == []
    assert len(state["images"]) == report.read_text().count("<img") == 5  # the plot and 4 held-out views
    assert all(i["complete"] and i["width"] > 0 for i in state["images"]), state
    assert len(state["videos"]) == 4 and all(v["ready"] >= 2 and v["width"] == 32 for v in state["videos"]), state
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width >= 1000 and shot.height > 1600  # the whole page, beyond the first screen
        assert len(shot.convert("L").getcolors(1 << 16)) > 50  # pictures, not a blank page
