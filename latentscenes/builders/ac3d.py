"""A reader for AC3D meshes (``.ac``) and TORCS's multi-texture variant (``.acc``).

The format is line based::

    AC3Db
    MATERIAL "name" rgb r g b amb ... emis ... spec ... shi n trans t
    OBJECT world                      # objects nest: "kids N" ends an object's header,
    kids 1                            # then its N children follow
    OBJECT poly
    name "body"
    texture "car.rgb" base            # .acc: up to four texture lines (base, tiled, skids,
    texture "car.rgb" tiled           # shad); only the first (base) layer is used here
    texrep 1 1                        # optional UV scale, texoff: optional UV offset
    loc x y z                         # optional; rot: 9 numbers, optional
    numvert 3
    x y z [nx ny nz]                  # .acc vertices may carry a normal
    numsurf 1
    SURF 0x14                         # flags: low nibble = type, 0x10 smooth, 0x20 two-sided
    mat 0
    refs 3
    index u v [u v ...]               # .acc: one UV pair per texture layer
    kids 0

A file that ends cleanly where another child OBJECT was announced (some exporters of
FlightGear's models overstate the last ``kids`` count; FlightGear loads those files) keeps
the objects read so far; a file that ends inside an object is an error.

Surface types: 0 polygon (triangulated as a fan), 1 closed line and 2 line (skipped),
4 triangle strip (TORCS's extension; odd triangles have their first two corners swapped,
as OpenGL does, and degenerate triangles are dropped).

AC3D is y-up. `read_ac3d` returns a z-up `Mesh` (``(x, y, z) -> (x, -z, y)``, a rotation,
so windings are kept) with one part per (texture, material colour); a part's ``name`` is
the texture file name as written in the file ("" when untextured) and its ``texture``
is left None for the caller to load. Two-sided surfaces are stored twice (see
`latentscenes.builders.mesh.two_sided`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentscenes.builders.mesh import Mesh, MeshPart, face_normals, normalize, two_sided
from latentscenes.errors import DataError

# AC3D y-up -> z-up: (x, y, z) -> (x, -z, y)
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

SURF_POLYGON, SURF_CLOSED_LINE, SURF_LINE, SURF_STRIP = 0, 1, 2, 4
FLAG_SMOOTH, FLAG_TWO_SIDED = 0x10, 0x20

NO_TEXTURE_NAMES = {"", "empty_texture_no_mapping"}


def read_ac3d(path: str | Path) -> Mesh:
    """Parse an ``.ac`` / ``.acc`` file into a z-up `Mesh`; raises DataError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as error:
        raise DataError(f"{path}: cannot read AC3D mesh: {error.strerror or error}") from None
    return parse_ac3d(text, source=str(path))


def parse_ac3d(text: str, source: str = "<ac3d>") -> Mesh:
    """Parse AC3D text (see the module docstring) into a z-up `Mesh`."""
    parser = _Parser(text.splitlines(), source)
    return parser.parse()


@dataclass
class _Group:
    positions: list[np.ndarray] = field(default_factory=list)
    normals: list[np.ndarray] = field(default_factory=list)
    uvs: list[np.ndarray] = field(default_factory=list)


class _Parser:
    def __init__(self, lines: list[str], source: str):
        self.lines = lines
        self.source = source
        self.pos = 0
        self.materials: list[tuple[float, float, float]] = []
        self.groups: dict[tuple[str, tuple[float, float, float]], _Group] = {}

    # -- line access -------------------------------------------------------------------
    def error(self, message: str, line: int | None = None) -> DataError:
        line = self.pos if line is None else line
        return DataError(f"{self.source}:{line}: corrupt AC3D file: {message}")

    def next_line(self, what: str) -> list[str]:
        while self.pos < len(self.lines):
            raw = self.lines[self.pos].strip()
            self.pos += 1
            if raw:
                return raw.split()
        raise self.error(f"file ends where {what} was expected", line=len(self.lines))

    def at_end(self) -> bool:
        """True when only blank lines are left."""
        return all(not self.lines[i].strip() for i in range(self.pos, len(self.lines)))

    def numbers(self, tokens: list[str], count: int, what: str, kind=float) -> list:
        if len(tokens) < count:
            raise self.error(f"{what} needs {count} numbers, got {' '.join(tokens)!r}")
        try:
            if kind is float:
                return [float(token) for token in tokens[:count]]
            return [int(token, 16) if token.lower().startswith("0x") else int(token) for token in tokens[:count]]
        except ValueError:
            raise self.error(f"{what} must be numbers, got {' '.join(tokens)!r}") from None

    # -- grammar -----------------------------------------------------------------------
    def parse(self) -> Mesh:
        header = self.next_line("the AC3D header")
        if not header[0].startswith("AC3D"):
            raise self.error(f"first line must start with 'AC3D', got {header[0][:20]!r}")
        while True:
            tokens = self.next_line("an OBJECT")
            if tokens[0] == "MATERIAL":
                self.materials.append(self.material(tokens))
            elif tokens[0] == "OBJECT":
                self.object(np.eye(3), np.zeros(3))
                break
            else:
                raise self.error(f"expected MATERIAL or OBJECT, got {tokens[0]!r}")
        # Some exporters write several top-level objects.
        while self.pos < len(self.lines):
            if not self.lines[self.pos].strip():
                self.pos += 1
                continue
            tokens = self.next_line("an OBJECT")
            if tokens[0] != "OBJECT":
                raise self.error(f"expected OBJECT, got {tokens[0]!r}")
            self.object(np.eye(3), np.zeros(3))
        return self.mesh()

    def material(self, tokens: list[str]) -> tuple[float, float, float]:
        line = " ".join(tokens)
        try:
            parts = shlex.split(line)
            index = parts.index("rgb")
            return tuple(float(v) for v in parts[index + 1 : index + 4])  # type: ignore[return-value]
        except (ValueError, IndexError):
            raise self.error(f"MATERIAL line needs 'rgb r g b', got {line[:80]!r}") from None

    def object(self, parent_linear: np.ndarray, parent_offset: np.ndarray) -> None:
        """Parse one OBJECT (its header line already read) and its kids."""
        texture = ""
        texrep = np.ones(2)
        texoff = np.zeros(2)
        rot = np.eye(3)
        loc = np.zeros(3)
        vertices = np.zeros((0, 3))
        vertex_normals: np.ndarray | None = None
        surfaces: list[tuple[int, int, np.ndarray, np.ndarray, int]] = []
        texture_lines = 0
        while True:
            tokens = self.next_line("'kids' ending an OBJECT")
            key = tokens[0]
            if key == "name" or key == "url" or key == "crease" or key in ("hidden", "locked", "folded"):
                continue
            if key == "data":
                length = self.numbers(tokens[1:], 1, "data", kind=int)[0]
                consumed = 0
                while consumed < length and self.pos < len(self.lines):
                    consumed += len(self.lines[self.pos]) + 1
                    self.pos += 1
            elif key == "texture":
                texture_lines += 1
                if texture_lines == 1:  # .acc lists up to four layers; the first is the base
                    try:
                        texture = shlex.split(" ".join(tokens[1:]))[0] if len(tokens) > 1 else ""
                    except ValueError:
                        raise self.error(f"bad texture line {' '.join(tokens)!r}") from None
            elif key == "texrep":
                texrep = np.array(self.numbers(tokens[1:], 2, "texrep"))
            elif key == "texoff":
                texoff = np.array(self.numbers(tokens[1:], 2, "texoff"))
            elif key == "rot":
                rot = np.array(self.numbers(tokens[1:], 9, "rot")).reshape(3, 3)
            elif key == "loc":
                loc = np.array(self.numbers(tokens[1:], 3, "loc"))
            elif key == "numvert":
                count = self.numbers(tokens[1:], 1, "numvert", kind=int)[0]
                vertices, vertex_normals = self.vertices(count)
            elif key == "numsurf":
                count = self.numbers(tokens[1:], 1, "numsurf", kind=int)[0]
                surfaces = [self.surface(len(vertices)) for _ in range(count)]
            elif key == "kids":
                kids = self.numbers(tokens[1:], 1, "kids", kind=int)[0]
                break
            else:
                raise self.error(f"unknown OBJECT keyword {key!r}")

        # plib's convention (the loader TORCS uses): v_parent = v @ rot + loc
        linear = parent_linear @ rot.T
        offset = parent_linear @ loc + parent_offset
        if len(surfaces):
            self.add_surfaces(vertices, vertex_normals, surfaces, texture, texrep, texoff, linear, offset)
        for _ in range(kids):
            if self.at_end():  # the announced child is missing at the end of the file
                break
            tokens = self.next_line("a child OBJECT")
            if tokens[0] != "OBJECT":
                raise self.error(f"expected a child OBJECT, got {tokens[0]!r}")
            self.object(linear, offset)

    def vertices(self, count: int) -> tuple[np.ndarray, np.ndarray | None]:
        if count < 0:
            raise self.error(f"numvert must be >= 0, got {count}")
        rows = [self.next_line("a vertex") for _ in range(count)]
        with_normals = count > 0 and all(len(row) >= 6 for row in rows)
        width = 6 if with_normals else 3
        data = np.array([self.numbers(row, width, "a vertex", kind=float) for row in rows]).reshape(count, width)
        if not np.isfinite(data).all():
            raise self.error("vertex coordinates must be finite")
        return data[:, :3], (data[:, 3:6] if with_normals else None)

    def surface(self, num_vertices: int) -> tuple[int, int, np.ndarray, np.ndarray, int]:
        tokens = self.next_line("SURF")
        if tokens[0] != "SURF":
            raise self.error(f"expected SURF, got {tokens[0]!r}")
        flags = self.numbers(tokens[1:], 1, "SURF flags", kind=int)[0]
        material = 0
        while True:
            tokens = self.next_line("refs")
            if tokens[0] == "mat":
                material = self.numbers(tokens[1:], 1, "mat", kind=int)[0]
            elif tokens[0] == "refs":
                count = self.numbers(tokens[1:], 1, "refs", kind=int)[0]
                break
            else:
                raise self.error(f"expected mat or refs, got {tokens[0]!r}")
        line = self.pos
        indices = np.zeros(count, dtype=np.int64)
        uvs = np.zeros((count, 2))
        for i in range(count):
            row = self.next_line("a surface vertex reference")
            indices[i] = self.numbers(row, 1, "a vertex reference", kind=int)[0]
            if len(row) >= 3:
                uvs[i] = self.numbers(row[1:], 2, "a texture coordinate")
        if count and (indices.min() < 0 or indices.max() >= num_vertices):
            bad = indices[(indices < 0) | (indices >= num_vertices)][0]
            raise self.error(f"vertex reference {bad} out of range (object has {num_vertices} vertices)", line)
        return flags, material, indices, uvs, line

    def add_surfaces(self, vertices, vertex_normals, surfaces, texture, texrep, texoff, linear, offset) -> None:
        triangles = []  # (material, vertex indices (3,), uvs (3, 2), flags)
        for flags, material, indices, uvs, line in surfaces:
            kind = flags & 0x0F
            if kind in (SURF_CLOSED_LINE, SURF_LINE):
                continue
            if kind == SURF_POLYGON:
                tris = [(0, i, i + 1) for i in range(1, len(indices) - 1)]
            elif kind == SURF_STRIP:
                tris = [(i, i + 1, i + 2) if i % 2 == 0 else (i + 1, i, i + 2) for i in range(len(indices) - 2)]
            else:
                raise self.error(f"unknown surface type {kind} in SURF {flags:#x}", line)
            if material >= max(len(self.materials), 1):
                raise self.error(f"material {material} out of range ({len(self.materials)} materials)", line)
            for tri in tris:
                idx = indices[list(tri)]
                if len(set(idx.tolist())) < 3:
                    continue  # degenerate (strips repeat vertices to turn corners)
                triangles.append((material, idx, uvs[list(tri)], flags))
        if not triangles:
            return

        world = vertices @ linear.T + offset
        world = world @ Y_UP_TO_Z_UP.T
        normal_matrix = Y_UP_TO_Z_UP @ np.linalg.inv(linear).T
        all_idx = np.stack([t[1] for t in triangles])
        positions = world[all_idx]  # (T, 3, 3)
        flat = face_normals(positions)
        if vertex_normals is not None:
            normals = normalize(vertex_normals @ normal_matrix.T)[all_idx]
        else:
            # smooth surfaces: area-weighted vertex normals over the object's smooth faces
            smooth = np.array([bool(t[3] & FLAG_SMOOTH) for t in triangles])
            area_weighted = np.cross(positions[:, 1] - positions[:, 0], positions[:, 2] - positions[:, 0])
            accum = np.zeros_like(world)
            for corner in range(3):
                np.add.at(accum, all_idx[smooth, corner], area_weighted[smooth])
            vertex_smooth = normalize(accum)[all_idx]
            normals = np.where(smooth[:, None, None], vertex_smooth, flat[:, None, :])
        # a normal that disagrees with the face (bad export) or is missing falls back to flat
        bad = (np.einsum("tcd,td->tc", normals, flat) <= 0.0) | (np.linalg.norm(normals, axis=-1) < 0.5)
        normals = np.where(bad[..., None], flat[:, None, :], normals)
        uvs = np.stack([t[2] for t in triangles]) * texrep + texoff
        if texture in NO_TEXTURE_NAMES:
            texture = ""
        materials = np.array([t[0] for t in triangles])
        double = np.array([bool(t[3] & FLAG_TWO_SIDED) for t in triangles])
        for material in np.unique(materials):
            color = tuple(self.materials[material]) if self.materials else (1.0, 1.0, 1.0)
            group = self.groups.setdefault((texture, color), _Group())
            for two in (False, True):
                mask = (materials == material) & (double == two)
                if not mask.any():
                    continue
                p, n, u = positions[mask], normals[mask], uvs[mask]
                if two:
                    p, n, u = two_sided(p, n, u)
                group.positions.append(p)
                group.normals.append(n)
                group.uvs.append(u)

    def mesh(self) -> Mesh:
        parts = []
        for (texture, color), group in self.groups.items():
            parts.append(
                MeshPart(
                    positions=np.concatenate(group.positions).astype(np.float32),
                    normals=np.concatenate(group.normals).astype(np.float32),
                    uvs=np.concatenate(group.uvs).astype(np.float32),
                    texture=None,
                    color=color,
                    name=texture,
                )
            )
        if not parts:
            raise DataError(f"{self.source}: AC3D file holds no triangles")
        return Mesh(parts)
