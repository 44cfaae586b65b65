"""The pip-only fallback source: objects shipped inside the pybullet wheel (``pybullet_data``).

Entries are the ``random_urdfs/<n>/<n>.urdf`` objects (1000 in pybullet 3.2): one OBJ mesh
each, coloured by the URDF's ``<color rgba>``; every object is its own "mesh" for
``--split-by mesh``. The OBJ's frame is pybullet's (z up), used as is. Faces are drawn two
sided, since the files' windings are not guaranteed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import numpy as np

from latentscenes.builders.mesh import Mesh, MeshPart, face_normals, two_sided
from latentscenes.builders.source import Entry, Source, file_digest
from latentscenes.builders.variants import Variant, shift_hue_color
from latentscenes.errors import DataError


def pybullet_data_root() -> Path:
    try:
        import pybullet_data
    except ImportError:
        raise DataError("pybullet is not installed: `pip install pybullet` provides pybullet_data") from None
    return Path(pybullet_data.getDataPath())


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 3, 3) float64 and face normals (T, 3) of a Wavefront OBJ (polygons fanned)."""
    vertices: list[list[float]] = []
    faces: list[list[int]] = []
    try:
        lines = Path(path).read_text(encoding="latin-1").splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read OBJ mesh: {error.strerror or error}") from None
    for number, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            if tokens[0] == "v":
                vertices.append([float(t) for t in tokens[1:4]])
            elif tokens[0] == "f":
                refs = [int(t.split("/")[0]) for t in tokens[1:]]
                refs = [r - 1 if r > 0 else len(vertices) + r for r in refs]
                faces.extend([refs[0], refs[i], refs[i + 1]] for i in range(1, len(refs) - 1))
        except ValueError:
            raise DataError(f"{path}:{number}: corrupt OBJ line {line.strip()[:60]!r}") from None
    if not faces:
        raise DataError(f"{path}: OBJ file holds no faces")
    points = np.asarray(vertices, dtype=np.float64)
    index = np.asarray(faces)
    if points.ndim != 2 or points.shape[1] != 3 or index.min() < 0 or index.max() >= len(points):
        raise DataError(f"{path}: OBJ face refers to a missing vertex")
    positions = points[index]
    return positions, face_normals(positions)


def read_urdf_visual(path: Path) -> tuple[Path, tuple[float, float, float]]:
    """(mesh file, RGB colour) of a single-link URDF's first visual."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise DataError(f"{path}: cannot read URDF: {error}") from None
    mesh = root.find(".//visual/geometry/mesh")
    if mesh is None or not mesh.get("filename"):
        raise DataError(f"{path}: URDF has no visual mesh")
    color = root.find(".//visual/material/color")
    rgb = (0.8, 0.8, 0.8)
    if color is not None and color.get("rgba"):
        try:
            rgb = tuple(float(v) for v in color.get("rgba", "").split()[:3])  # type: ignore[assignment]
        except ValueError:
            raise DataError(f"{path}: bad colour {color.get('rgba')!r}") from None
    return path.parent / mesh.get("filename", ""), rgb


class PybulletObjectsSource(Source):
    name = "pybullet-objects"

    def __init__(self, root: str | Path | None = None):
        super().__init__()
        self.root = Path(root) if root is not None else pybullet_data_root()
        self._urdfs = sorted(self.root.glob("random_urdfs/*/*.urdf"))
        if not self._urdfs:
            raise DataError(f"{self.root}: no random_urdfs/*/*.urdf objects (is pybullet_data complete?)")

    def entries(self) -> list[Entry]:
        entries = []
        for urdf in self._urdfs:
            mesh_file, rgb = read_urdf_visual(urdf)
            name = urdf.parent.relative_to(self.root).as_posix()
            hex_color = "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb)
            entries.append(
                Entry(
                    id=name,
                    mesh=name,
                    livery=hex_color,
                    files=(("urdf", urdf.relative_to(self.root).as_posix()),
                           ("mesh", mesh_file.relative_to(self.root).as_posix())),
                )
            )
        return entries

    def assemble(self, entry: Entry, variant: Variant) -> Mesh:
        files = dict(entry.files)
        positions, normals = _read_obj_cached(self.root / files["mesh"])
        _, rgb = read_urdf_visual(self.root / files["urdf"])
        if variant.hue_shift:
            rgb = shift_hue_color(rgb, variant.hue_shift)
        positions = positions * np.asarray(variant.scale)
        normals = face_normals(positions)
        corner_normals = np.repeat(normals[:, None], 3, axis=1)
        p, n, u = two_sided(positions, corner_normals, np.zeros(positions.shape[:2] + (2,)))
        part = MeshPart(p.astype(np.float32), n.astype(np.float32), u.astype(np.float32), None,
                        tuple(float(c) for c in rgb), entry.id)  # type: ignore[arg-type]
        return Mesh([part])

    def file_digests(self, entry: Entry) -> dict[str, str]:
        return {role: file_digest(self.root / path) for role, path in entry.files}

    def describe(self) -> dict:
        return {"name": self.name, "package": "pybullet_data", "objects": len(self._urdfs)}


@lru_cache(maxsize=64)
def _read_obj_cached(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_obj(path)
