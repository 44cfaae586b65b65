"""The AC3D reader: polygons, TORCS triangle strips, y-up -> z-up, .acc extensions, errors."""

import numpy as np
import pytest

from latentscenes.builders.ac3d import parse_ac3d, read_ac3d
from latentscenes.errors import DataError

# Object "quad": a unit square in the AC3D x-z plane at height y = 2, facing up (+y), as one
# polygon (SURF 0x10) with UVs. Object "strip": four vertices in the x-y plane at z = 0, as
# one two-sided strip (SURF 0x34) whose leading repeated vertex flips the strip's parity.
AC = """AC3Db
MATERIAL "white" rgb 1 1 1  amb 0.2 0.2 0.2  emis 0 0 0  spec 0 0 0  shi 0  trans 0
MATERIAL "red" rgb 1 0 0  amb 0.2 0.2 0.2  emis 0 0 0  spec 0 0 0  shi 0  trans 0
OBJECT world
kids 2
OBJECT poly
name "quad"
texture "body.rgb"
numvert 4
0 2 0
1 2 0
1 2 -1
0 2 -1
numsurf 1
SURF 0x10
mat 0
refs 4
0 0 0
1 1 0
2 1 1
3 0 1
kids 0
OBJECT poly
name "strip"
loc 10 0 0
numvert 4
0 0 0
1 0 0
0 1 0
1 1 0
numsurf 1
SURF 0x34
mat 1
refs 5
0 0 0
0 0 0
1 0 0
2 0 0
3 0 0
kids 0
"""


def part(mesh, name):
    (found,) = [p for p in mesh.parts if p.name == name]
    return found


def test_polygon_is_fanned_and_y_up_becomes_z_up():
    mesh = parse_ac3d(AC)
    quad = part(mesh, "body.rgb")
    assert quad.num_triangles == 2  # a 4-gon fans into (0,1,2), (0,2,3)
    # (x, y, z) -> (x, -z, y): AC3D vertex (1, 2, -1) is z-up (1, 1, 2)
    assert np.allclose(quad.positions[0], [[0, 0, 2], [1, 0, 2], [1, 1, 2]])
    assert np.allclose(quad.positions[1], [[0, 0, 2], [1, 1, 2], [0, 1, 2]])
    assert np.allclose(quad.uvs[1], [[0, 0], [1, 1], [0, 1]])
    # the face pointed up (+y) in AC3D and points up (+z) now, with counter-clockwise corners
    cross = np.cross(quad.positions[:, 1] - quad.positions[:, 0], quad.positions[:, 2] - quad.positions[:, 0])
    assert np.all(cross[:, 2] > 0)
    assert np.allclose(quad.normals, [0, 0, 1])  # no normals in the file: computed, smooth
    assert quad.color == (1.0, 1.0, 1.0)


def test_strip_alternates_winding_drops_degenerates_and_doubles_two_sided():
    mesh = parse_ac3d(AC)
    strip = part(mesh, "")
    assert strip.color == (1.0, 0.0, 0.0)
    # refs 0 0 1 2 3 -> i=0 (0,0,1) degenerate, dropped; i=1 odd, corners swapped: (1,0,2);
    # i=2 even: (1,2,3). Two-sided: each again reversed.
    assert strip.num_triangles == 4
    front = strip.positions[:2]
    # loc 10 0 0 moves the object; AC3D (x, y, 0) -> (x + 10, 0, y)
    assert np.allclose(front[0], [[11, 0, 0], [10, 0, 0], [10, 0, 1]])
    assert np.allclose(front[1], [[11, 0, 0], [10, 0, 1], [11, 0, 1]])
    cross = np.cross(front[:, 1] - front[:, 0], front[:, 2] - front[:, 0])
    # both triangles face the same way (as OpenGL draws the strip): AC3D -z, i.e. z-up +y
    assert np.all(cross[:, 1] > 0) and np.allclose(cross[:, [0, 2]], 0)
    back = strip.positions[2:]
    back_cross = np.cross(back[:, 1] - back[:, 0], back[:, 2] - back[:, 0])
    assert np.all(back_cross[:, 1] < 0)
    assert np.allclose(strip.normals[:2], [0, 1, 0]) and np.allclose(strip.normals[2:], [0, -1, 0])


ACC = """AC3Db
MATERIAL "m" rgb 1 1 1 amb 1 1 1 emis 0 0 0 spec 0 0 0 shi 0 trans 0
OBJECT world
kids 1
OBJECT poly
name "tri"
texture "car.rgb" base
texture "car.rgb" tiled
texture empty_texture_no_mapping skids
texture "car.rgb" shad
numvert 3
0 0 0 0 1 0
1 0 0 0 1 0
0 0 -1 0 1 0
numsurf 1
SURF 0x14
mat 0
refs 3
0 0.1 0.2 0.9 0.9 0.5 0.5 0.7 0.7
1 0.3 0.4 0.9 0.9 0.5 0.5 0.7 0.7
2 0.5 0.6 0.9 0.9 0.5 0.5 0.7 0.7
kids 0
"""


def test_acc_normals_first_texture_layer_and_first_uv_pair(tmp_path):
    path = tmp_path / "car.acc"
    path.write_text(ACC)
    mesh = read_ac3d(path)
    (tri,) = mesh.parts
    assert tri.name == "car.rgb"
    assert np.allclose(tri.uvs[0], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert np.allclose(tri.normals[0], [0, 0, 1])  # the file's +y normal, now +z
    assert np.allclose(tri.positions[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("not an ac3d file\n", "first line must start with 'AC3D'"),
        (AC.replace("1 2 -1\n", "1 two -1\n"), "must be numbers"),
        (AC.replace("refs 4\n0 0 0\n1 1 0\n2 1 1\n3 0 1", "refs 4\n0 0 0\n1 1 0\n2 1 1\n9 0 1"), "out of range"),
        (AC[: AC.index("numsurf 1")], "file ends"),
        (AC.replace("SURF 0x10", "SURF 0x17"), "unknown surface type"),
        (AC.replace("numvert 4\n0 2 0", "vertices 4\n0 2 0"), "unknown OBJECT keyword"),
    ],
)
def test_corrupt_files_raise_data_error_naming_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "broken.acc"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_ac3d(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read AC3D mesh"):
        read_ac3d(tmp_path / "nope.acc")


def test_a_missing_last_child_at_the_end_of_the_file_is_tolerated(tmp_path):
    """`kids 3` with two children that end the file (as in some FlightGear models): the two are kept;
    a file cut inside an object still fails (the parametrised case above)."""
    path = tmp_path / "overstated.ac"
    path.write_text(AC.replace("kids 2", "kids 3", 1) + "\n\n")
    mesh = read_ac3d(path)
    assert sorted(p.name for p in mesh.parts) == ["", "body.rgb"]
    assert mesh.num_triangles == parse_ac3d(AC).num_triangles
    with pytest.raises(DataError, match="file ends"):
        parse_ac3d(AC.replace("kids 2", "kids 3", 1) + "OBJECT poly\n")
