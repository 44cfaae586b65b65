"""Triangle meshes as the builders hand them to the renderer: parts of per-corner attributes.

A `Mesh` is a list of `MeshPart`s; each part is a triangle soup sharing one texture image
(or one flat colour). Attributes are stored per triangle corner, so a part needs no index
buffer and UV seams need no vertex splitting:

    positions  float32 (T, 3, 3)   world units, z up
    normals    float32 (T, 3, 3)   unit length
    uvs        float32 (T, 3, 2)   OpenGL convention: v = 0 is the *bottom* row of the image
    texture    uint8 (h, w, 3) in image row order (row 0 at the top), or None
    color      RGB in [0, 1]; multiplies the texture, or is the colour of an untextured part

Triangles are front-facing when their corners run counter-clockwise as seen by the viewer
(OpenGL); renderers cull back faces, so a two-sided surface is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class MeshPart:
    positions: np.ndarray  # float32 (T, 3, 3)
    normals: np.ndarray  # float32 (T, 3, 3)
    uvs: np.ndarray  # float32 (T, 3, 2)
    texture: np.ndarray | None = None  # uint8 (h, w, 3), row 0 at the top
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    name: str = ""

    @property
    def num_triangles(self) -> int:
        return int(self.positions.shape[0])


@dataclass
class Mesh:
    parts: list[MeshPart] = field(default_factory=list)

    @property
    def num_triangles(self) -> int:
        return sum(part.num_triangles for part in self.parts)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) corners of the axis-aligned bounding box, float64 (3,) each."""
        points = np.concatenate([part.positions.reshape(-1, 3) for part in self.parts if part.num_triangles])
        return points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)

    def merged(self) -> Mesh:
        """Parts sharing one texture array (the same object) and colour joined into one part."""
        groups: dict[tuple, list[MeshPart]] = {}
        for part in self.parts:
            key = (id(part.texture) if part.texture is not None else None, tuple(part.color))
            groups.setdefault(key, []).append(part)
        parts = []
        for members in groups.values():
            first = members[0]
            parts.append(
                replace(
                    first,
                    positions=np.concatenate([m.positions for m in members]),
                    normals=np.concatenate([m.normals for m in members]),
                    uvs=np.concatenate([m.uvs for m in members]),
                    name="+".join(dict.fromkeys(m.name for m in members)),
                )
            )
        return Mesh(parts)

    def transformed(self, linear: np.ndarray, offset: np.ndarray = np.zeros(3)) -> Mesh:
        """The mesh under ``x -> linear @ x + offset``; normals use the inverse transpose."""
        linear = np.asarray(linear, dtype=np.float64)
        offset = np.asarray(offset, dtype=np.float64)
        normal_matrix = np.linalg.inv(linear).T
        flip = np.linalg.det(linear) < 0
        parts = []
        for part in self.parts:
            positions = part.positions.astype(np.float64) @ linear.T + offset
            normals = normalize(part.normals.astype(np.float64) @ normal_matrix.T)
            uvs = part.uvs
            if flip:  # a mirror reverses the winding: swap two corners to keep fronts in front
                positions, normals, uvs = (a[:, [0, 2, 1]] for a in (positions, normals, uvs))
            parts.append(
                replace(part, positions=positions.astype(np.float32), normals=normals.astype(np.float32), uvs=uvs)
            )
        return Mesh(parts)


def two_sided(positions: np.ndarray, normals: np.ndarray, uvs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Append each triangle reversed (corners 0, 2, 1) with negated normals, for culling renderers."""
    order = [0, 2, 1]
    return (
        np.concatenate([positions, positions[:, order]]),
        np.concatenate([normals, -normals[:, order]]),
        np.concatenate([uvs, uvs[:, order]]),
    )


def face_normals(positions: np.ndarray) -> np.ndarray:
    """Unit normals (T, 3) of triangles (T, 3, 3) by the right-hand rule (zero for degenerate ones)."""
    cross = np.cross(positions[:, 1] - positions[:, 0], positions[:, 2] - positions[:, 0])
    return normalize(cross)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis (zero vectors stay zero)."""
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 1e-12)


def fit_to_sphere(lower: np.ndarray, upper: np.ndarray, half_diagonal: float) -> tuple[float, np.ndarray]:
    """(scale, offset) of ``x -> scale * x + offset`` that centres the box [lower, upper] at the
    origin and makes its half-diagonal `half_diagonal` (so the box fits a sphere of that radius)."""
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    radius = float(np.linalg.norm(upper - lower)) / 2
    if not radius > 0:
        raise ValueError(f"cannot normalise an empty box {lower.tolist()} .. {upper.tolist()}")
    scale = half_diagonal / radius
    return scale, -scale * (lower + upper) / 2
