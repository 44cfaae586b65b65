"""The flightgear-aircraft source on trees written by the tests, in the package's layout.

Nothing here downloads: `write_flightgear_tree` writes ``AI/Aircraft/<type>/`` folders with
tiny AC3D models (boxes, nose towards -x as in FlightGear), livery XMLs that include a main
XML, and one-colour textures, plus the kinds of broken entries the real package has.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentscenes import cameras
from latentscenes.builders import BuildSettings, build_dataset
from latentscenes.builders.flightgear import (
    FlightGearAircraftSource,
    fetch_flightgear_data,
    find_texture,
    read_model_xml,
)
from latentscenes.builders.source import HALF_DIAGONAL
from latentscenes.builders.tinyrender import TinyRenderer
from latentscenes.builders.variants import Variant
from latentscenes.errors import DataError

RED, BLUE, GREEN, WING = (200, 30, 30), (30, 40, 200), (30, 170, 40), (240, 240, 240)
# The jet in the file's frame (AC3D, y up), FlightGear's way round: nose at x = -5, tail at +5.
JET_BOXES = [
    ((-5.0, 0.0, -0.6), (5.0, 1.2, 0.6)),  # fuselage
    ((-1.0, 0.4, -5.0), (1.0, 0.6, 5.0)),  # wings, along the file's z (the span)
    ((3.5, 1.2, -0.1), (5.0, 3.5, 0.1)),  # fin at the tail, 3.5 m high
]


def box_object(lower, upper, texture: str) -> str:
    """An AC3D poly object: an axis-aligned box, two-sided quads with UVs 0..1."""
    (x0, y0, z0), (x1, y1, z1) = lower, upper
    corners = [(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["OBJECT poly", 'name "box"', f'texture "{texture}"', f"numvert {len(corners)}"]
    lines += [f"{x} {y} {z}" for x, y, z in corners]
    lines.append(f"numsurf {len(quads)}")
    for quad in quads:
        lines += ["SURF 0x20", "mat 0", "refs 4"]
        lines += [f"{v} {u} {w}" for v, (u, w) in zip(quad, [(0, 0), (1, 0), (1, 1), (0, 1)])]
    lines.append("kids 0")
    return "\n".join(lines) + "\n"


def ac_file(boxes, texture: str) -> str:
    """Boxes (lower, upper[, texture]) in one AC3D file; `texture` where a box names none."""
    header = 'AC3Db\nMATERIAL "m" rgb 1 1 1 amb 1 1 1 emis 0 0 0 spec 0 0 0 shi 0 trans 0\n'
    objects = "".join(box_object(box[0], box[1], box[2] if len(box) > 2 else texture) for box in boxes)
    return header + f"OBJECT world\nkids {len(boxes)}\n" + objects


def main_xml(model: str) -> str:
    return f"<?xml version=\"1.0\"?>\n<PropertyList>\n  <path>Models/{model}</path>\n</PropertyList>\n"


def livery_xml(main: str, folder: str) -> str:
    return (f"<?xml version=\"1.0\"?>\n<PropertyList include=\"{main}\">\n"
            f"  <texture-path>Textures/{folder}</texture-path>\n</PropertyList>\n")


def write_flightgear_tree(root: Path) -> Path:
    """FG_ROOT with AI/Aircraft/: Testjet (liveries Red, Blue; a duplicate of Red; one whose
    folder lacks the texture), Prop (one SGI-textured livery), Broken (an .ac that is not
    AC3D), Bad (an unreadable XML), balloon (left out by type)."""
    aircraft = root / "AI" / "Aircraft"
    jet = aircraft / "Testjet"
    (jet / "Models").mkdir(parents=True)
    (jet / "Models" / "Testjet.ac").write_text(ac_file(JET_BOXES, "Testjet-tex.png"))
    (jet / "Testjet-main.xml").write_text(main_xml("Testjet.ac"))
    for folder, colour in (("Red", RED), ("Blue", BLUE), ("RedAgain", RED)):
        (jet / "Textures" / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8), colour).save(jet / "Textures" / folder / "Testjet-tex.png")
        (jet / f"Testjet-{folder}.xml").write_text(livery_xml("Testjet-main.xml", folder))
    (jet / "Textures" / "Empty").mkdir()
    (jet / "Textures" / "Empty" / "readme.txt").write_text("no texture here")
    (jet / "Testjet-Empty.xml").write_text(livery_xml("Testjet-main.xml", "Empty"))

    prop = aircraft / "Prop"
    (prop / "Models").mkdir(parents=True)
    # the body's texture is named by a Windows path (found by its file name); the wings' is
    # shared by all liveries, beside the model; a grey prop.rgb there loses to the livery's
    boxes = [((-2, 0, -0.5), (2, 1, 0.5), "C:\\Paint\\prop.rgb"), ((-0.5, 0.4, -4), (0.5, 0.5, 4), "wing.png")]
    (prop / "Models" / "prop.ac").write_text(ac_file(boxes, ""))
    Image.new("RGB", (8, 8), (128, 128, 128)).save(prop / "Models" / "prop.rgb", format="SGI")
    Image.new("RGB", (8, 8), WING).save(prop / "Models" / "wing.png")
    (prop / "prop-main.xml").write_text(main_xml("prop.ac"))
    (prop / "Textures" / "Green").mkdir(parents=True)
    Image.new("RGB", (8, 8), GREEN).save(prop / "Textures" / "Green" / "prop.rgb", format="SGI")
    (prop / "prop-Green.xml").write_text(livery_xml("prop-main.xml", "Green"))

    broken = aircraft / "Broken"
    (broken / "Models").mkdir(parents=True)
    (broken / "Models" / "broken.ac").write_text("this is not an AC3D file\n")
    (broken / "broken-main.xml").write_text(main_xml("broken.ac"))
    (broken / "Textures" / "Any").mkdir(parents=True)
    (broken / "broken-Any.xml").write_text(livery_xml("broken-main.xml", "Any"))
    (aircraft / "Bad").mkdir()
    (aircraft / "Bad" / "Bad-x.xml").write_text("<PropertyList><path>oops</PropertyList>")
    (aircraft / "balloon" / "Models").mkdir(parents=True)
    (aircraft / "balloon" / "Models" / "b.ac").write_text(ac_file([((0, 0, 0), (1, 1, 1))], "b.png"))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_flightgear_tree(tmp_path_factory.mktemp("fg") / "flightgear")


@pytest.fixture(scope="module")
def source(tree):
    return FlightGearAircraftSource(tree)


def entry(source, entry_id):
    (found,) = [e for e in source.entries() if e.id == entry_id]
    return found


# -- discovery ------------------------------------------------------------------------------
def test_entries_are_model_livery_pairs_grouped_by_model(source):
    entries = source.entries()
    assert [e.id for e in entries] == ["Prop/prop/Green", "Testjet/Testjet/Blue", "Testjet/Testjet/Red"]
    assert [e.mesh for e in entries] == ["Prop/prop", "Testjet/Testjet", "Testjet/Testjet"]
    assert dict(entries[2].files) == {
        "mesh": "AI/Aircraft/Testjet/Models/Testjet.ac",
        "xml": "AI/Aircraft/Testjet/Testjet-Red.xml",
        "livery": "AI/Aircraft/Testjet/Textures/Red/Testjet-tex.png",
    }
    assert set(source.file_digests(entries[2])) == {"mesh", "xml", "livery"}
    assert source.describe() == {
        "name": "flightgear-aircraft",
        "package": "flightgear-data-ai",
        "models": 2,
        "liveries": 3,
        "skipped": {
            "duplicate liveries": 1,  # RedAgain: the same bytes as Red
            "liveries missing a texture": 1,  # Empty
            "models that do not parse": 1,  # Broken
            "types not aeroplanes": 1,  # balloon
            "unreadable xml": 1,  # Bad
        },
    }


def test_model_xml_follows_includes_and_textures_resolve_like_flightgear(tree, tmp_path):
    jet = tree / "AI/Aircraft/Testjet"
    assert read_model_xml(jet / "Testjet-Blue.xml") == (jet / "Models/Testjet.ac", jet / "Textures/Blue")
    assert read_model_xml(jet / "Testjet-main.xml") == (jet / "Models/Testjet.ac", None)
    folders = [jet / "Textures/Blue", jet / "Models"]
    assert find_texture("Testjet-tex.png", folders) == jet / "Textures/Blue/Testjet-tex.png"
    assert find_texture("F:/My Aircraft/Textures/Testjet-tex.png", folders) == jet / "Textures/Blue/Testjet-tex.png"
    assert find_texture("Testjet.ac", folders) == jet / "Models/Testjet.ac"  # the model's folder comes second
    assert find_texture("missing.png", folders) is None
    loop = tmp_path / "loop.xml"
    loop.write_text('<PropertyList include="loop.xml"/>')
    with pytest.raises(DataError, match="loop.xml.*circular"):
        read_model_xml(loop)


# -- meshes ---------------------------------------------------------------------------------
def test_liveries_put_their_own_texture_on_the_model(source):
    red = source.load(entry(source, "Testjet/Testjet/Red"), Variant())
    blue = source.load(entry(source, "Testjet/Testjet/Blue"), Variant())
    (red_part,), (blue_part,) = red.parts, blue.parts
    assert tuple(red_part.texture[0, 0]) == RED and tuple(blue_part.texture[0, 0]) == BLUE
    shifted = source.load(entry(source, "Testjet/Testjet/Red"), Variant(index=1, hue_shift=0.5))
    assert tuple(shifted.parts[0].texture[0, 0]) != RED  # variants shift the livery's hue
    prop = source.load(entry(source, "Prop/prop/Green"), Variant())
    colours = sorted(tuple(part.texture[0, 0]) for part in prop.parts)
    assert colours == sorted([GREEN, WING])  # the livery's SGI texture and the model's shared one
    assert dict(entry(source, "Prop/prop/Green").files)["texture:wing.png"] == "AI/Aircraft/Prop/Models/wing.png"

    # rendered, the two liveries differ the way their textures do
    pose = cameras.look_at(torch.tensor([0.9, -0.7, 0.6], dtype=torch.float64)).numpy()
    means = {}
    with TinyRenderer() as renderer:
        for name, mesh in (("red", red), ("blue", blue)):
            renderer.set_mesh(mesh)
            rgb, mask, _ = renderer.render(pose, 52.0, 48)
            assert mask.mean() > 0.05
            means[name] = rgb[mask].astype(float).mean(axis=0)
    assert means["red"][0] > 2 * means["red"][2] and means["blue"][2] > 2 * means["blue"][0]


def test_aircraft_stand_z_up_with_the_nose_along_plus_x(source):
    jet = entry(source, "Testjet/Testjet/Red")
    mesh = source.load(jet, Variant())
    points = np.concatenate([part.positions.reshape(-1, 3) for part in mesh.parts]).astype(np.float64)
    lower, upper = points.min(axis=0), points.max(axis=0)
    assert np.allclose((lower + upper) / 2, 0, atol=1e-6)
    assert np.isclose(np.linalg.norm(upper - lower) / 2, HALF_DIAGONAL, atol=1e-5)
    extent = upper - lower
    assert np.allclose(extent / extent[0], [1.0, 1.0, 0.35], atol=1e-5)  # 10 m long, 10 m span, 3.5 m high
    fin_top = points[points[:, 2] > upper[2] - 0.01]
    assert fin_top[:, 0].max() < lower[0] + 0.16 * extent[0]  # the fin (tail) is at -x: the nose points +x
    # the variant's first scale factor stretches the fuselage (x), whichever way the nose points
    stretched = source.load(jet, Variant(index=1, scale=(1.1, 1.0, 1.0)))
    lo2, hi2 = stretched.bounds()
    assert np.isclose((hi2 - lo2)[0] / (hi2 - lo2)[1], 1.1, atol=1e-5)


# -- errors ---------------------------------------------------------------------------------
def test_missing_or_empty_trees_are_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist.*flightgear-data-ai"):
        FlightGearAircraftSource(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no AI/Aircraft"):
        FlightGearAircraftSource(tmp_path / "empty")
    only_broken = tmp_path / "broken"
    write_flightgear_tree(only_broken)
    for name in ("Testjet", "Prop"):
        shutil.rmtree(only_broken / "AI/Aircraft" / name)
    with pytest.raises(DataError, match="no usable aircraft.*models that do not parse.*broken.ac"):
        FlightGearAircraftSource(only_broken)


def test_corrupt_texture_fails_the_build_naming_the_file(tmp_path):
    root = write_flightgear_tree(tmp_path / "fg")
    bad = root / "AI/Aircraft/Testjet/Textures/Blue/Testjet-tex.png"
    bad.write_bytes(b"not a png")
    settings = BuildSettings(source="flightgear-aircraft", scenes=3, views=2, size=32, num_test_views=1)
    with pytest.raises(DataError, match="Blue/Testjet-tex.png: cannot read texture image"):
        build_dataset(tmp_path / "out", settings, flightgear_root=root, workers=1, progress=False)


# -- the command line -------------------------------------------------------------------------
def test_data_build_and_info_through_the_cli(tree, tmp_path, capsys):
    from latentscenes.cli.main import main

    out = tmp_path / "aircraft"
    code = main(["data", "build", "flightgear-aircraft", "--flightgear-root", str(tree), "--out", str(out),
                 "--scenes", "4", "--views", "3", "--size", "32", "--workers", "1", "--no-progress",
                 "--split-by", "mesh", "--holdout-meshes", "1"])
    assert code == 0
    assert "wrote 4 scenes" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["complete"] and meta["source"]["models"] == 2
    assert {s["entry"] for s in meta["scenes"]} == {"Prop/prop/Green", "Testjet/Testjet/Blue", "Testjet/Testjet/Red"}
    groups = {name: set(group["meshes"]) for name, group in meta["groups"].items()}
    assert groups["train"] | groups["holdout"] == {"Prop/prop", "Testjet/Testjet"}
    assert not groups["train"] & groups["holdout"]
    # the rendered scenes carry their livery's colour
    for scene in [s for s in meta["scenes"] if s["variant"]["index"] == 0]:  # variants shift the hue
        image = np.asarray(Image.open(out / scene["id"] / "rgb" / "000000.png").convert("RGB")).astype(float)
        r, g, b = image[(image < 240).any(axis=-1)].mean(axis=0)
        dominant = {"Green": g > max(r, b), "Red": r > max(g, b), "Blue": b > max(r, g)}
        assert dominant[scene["livery"]], (scene["id"], r, g, b)

    assert main(["data", "info", str(out)]) == 0
    assert "scenes:           4" in capsys.readouterr().out
    assert main(["data", "build", "torcs", "--flightgear-root", str(tree), "--out", str(tmp_path / "x")]) == 2
    assert "--flightgear-root only applies to the flightgear-aircraft source" in capsys.readouterr().err


def test_fetch_extracts_only_the_aircraft_from_a_cached_deb(tmp_path):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not available")
    package = tmp_path / "pkg"
    write_flightgear_tree(package / "usr/share/games/flightgear")
    (package / "usr/share/games/flightgear/AI/Traffic").mkdir()  # not extracted
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN/control").write_text(
        "Package: flightgear-data-ai\nVersion: 0.1\nArchitecture: all\nMaintainer: test <t@example.org>\n"
        "Description: test\n"
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(package),
                    str(cache / "flightgear-data-ai_0.1_all.deb")], check=True, capture_output=True)
    tree = fetch_flightgear_data(cache)  # the .deb is there already: no download
    assert tree == cache / "usr/share/games/flightgear"
    assert [p.name for p in (tree / "AI").iterdir()] == ["Aircraft"]
    assert not list(cache.glob("*.deb"))
    source = FlightGearAircraftSource(tree)
    assert source.describe()["package"] == "flightgear-data-ai_0.1_all.deb"
    assert FlightGearAircraftSource(cache).root == tree  # the extraction root works as --flightgear-root too
