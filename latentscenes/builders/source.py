"""What a dataset builder needs from a mesh source (TORCS cars, pybullet objects).

A source lists its *entries* (one textured object each: a mesh and a livery/colour) and
assembles an entry's variant into a `Mesh` in the source's own frame (z up, any unit).
`Source.load` normalises it into the world box: the variant-0 mesh of every source mesh is
centred at the origin and scaled so its bounding box's half-diagonal is `HALF_DIAGONAL`
(a little more than ShapeNet's unit diagonal, so cars fill SRN-like ~3/4 of
the frame); variants keep that transform, so
a variant scaled by 1.05 really is 5% larger. With cameras at radius 1.3 and a 52 degree
field of view, a sphere of radius 1.3 * sin(26 deg) = 0.57 stays inside every view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from latentscenes.builders.mesh import Mesh, fit_to_sphere
from latentscenes.builders.variants import Variant

HALF_DIAGONAL = 0.55


@dataclass(frozen=True)
class Entry:
    """One textured object of a source; `mesh` groups entries that share geometry."""

    id: str  # unique within the source, e.g. "car1-trb1/berniw-3"
    mesh: str  # e.g. "car1-trb1": variants and liveries of one mesh never straddle a split
    livery: str  # e.g. "berniw-3", "default", "#0a12e8"
    files: tuple[tuple[str, str], ...] = ()  # (role, path relative to the source root)


class Source:
    """Base class: subclasses set `name` and implement `entries`, `assemble`, `describe`."""

    name = "source"
    caches: tuple[str, ...] = ()  # dict attributes a render worker rebuilds itself (not sent to it)

    def __init__(self) -> None:
        self._fits: dict[str, tuple[float, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, **{name: {} for name in self.caches}}

    def entries(self) -> list[Entry]:
        """All entries, ordered so that a prefix covers as many meshes as possible."""
        raise NotImplementedError

    def rims(self) -> list[str]:
        """Wheel designs variants may pick from (empty when the source has none)."""
        return []

    def assemble(self, entry: Entry, variant: Variant) -> Mesh:
        """The entry's variant in the source frame (z up)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON-able facts about the source for meta.json (no absolute paths)."""
        return {"name": self.name}

    def file_digests(self, entry: Entry) -> dict[str, str]:
        """{role: short content hash} of the entry's files, for meta.json."""
        return {}

    def load(self, entry: Entry, variant: Variant) -> Mesh:
        """The entry's variant in the world: centred, half-diagonal `HALF_DIAGONAL` at variant 0."""
        if entry.mesh not in self._fits:
            base = self.assemble(entry, Variant())
            self._fits[entry.mesh] = fit_to_sphere(*base.bounds(), HALF_DIAGONAL)
        scale, offset = self._fits[entry.mesh]
        mesh = self.assemble(entry, variant)
        return mesh.transformed(np.eye(3) * scale, offset).merged()

    def normalisation(self, entry: Entry) -> dict:
        """The source-to-world transform of the entry's mesh, ``world = scale * x + offset``."""
        if entry.mesh not in self._fits:
            self.load(entry, Variant())
        scale, offset = self._fits[entry.mesh]
        return {"scale": round(float(scale), 6), "offset": [round(float(v), 6) for v in offset]}


def interleave(groups: dict[str, list[Entry]]) -> list[Entry]:
    """Round-robin over the groups (in key order): the first entry of each, then the second..."""
    ordered: list[Entry] = []
    keys = sorted(groups)
    depth = max((len(v) for v in groups.values()), default=0)
    for level in range(depth):
        for key in keys:
            if level < len(groups[key]):
                ordered.append(groups[key][level])
    return ordered


def file_digest(path: str | Path) -> str:
    """First 12 hex digits of the file's SHA-1 (recorded in meta.json)."""
    return _digest(Path(path))


@lru_cache(maxsize=None)
def _digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]
