"""Real aircraft from Debian's ``flightgear-data-ai`` package: models, liveries, fetching.

The tree (``--flightgear-root``) is FlightGear's data folder (``$FG_ROOT``, e.g.
``/usr/share/games/flightgear`` of an installed package) or the extraction root of the
``.deb`` (``usr/share/games/flightgear`` below it is found by itself)::

    AI/Aircraft/<type>/<type>-main.xml         model file: <path>Models/<model>.ac</path>,
                                               animations, lights (not used here)
    AI/Aircraft/<type>/<type>-<airline>.xml    a livery: <PropertyList include="<type>-main.xml">
                                               and <texture-path>Textures/<airline></texture-path>
    AI/Aircraft/<type>/Models/<model>.ac       the mesh (AC3D, metres)
    AI/Aircraft/<type>/Textures/<airline>/...  the livery's textures (PNG, some SGI .rgb)

A *livery* is an XML directly in a type folder whose ``<path>`` (after its ``include``
chain; both paths relative to the XML's folder, as FlightGear reads them) is an ``.ac``
model and whose ``<texture-path>`` folder holds at least one texture the model names.
Texture names resolve as FlightGear does: in the livery's folder first, then beside the
model; a name with folders (some exporters wrote absolute Windows paths) is also looked up
by its file name. A model is used when it parses and has at least one livery whose every
texture is found; liveries with identical texture bytes are listed once. What is left out,
and why, is counted in `FlightGearAircraftSource.describe` (meta.json). Hot-air balloons
(the ``balloon`` type) are aircraft but not aeroplanes, so they are left out too.

flightgear-data-ai 1:2020.3.16 gives 78 models with 1164 distinct liveries (airliners,
regional and business jets, a few light aeroplanes). Without ``--flightgear-root`` the
package is fetched once into ``$LATENTSCENES_CACHE/flightgear`` (default
``~/.cache/latentscenes/flightgear``) with ``apt-get download flightgear-data-ai``, and
only ``AI/Aircraft/`` is extracted.

Frames: an ``.ac`` model in FlightGear has its nose towards -x, z up (AC3D's y) once read by
`read_ac3d`; the source turns it half a turn about z so that the nose points along +x, the
cars' forward. The XMLs' animations (the gear is drawn down, as parked), light models and
``<offsets>`` (pitch trims of about a degree) are not applied.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from latentscenes.builders.ac3d import read_ac3d
from latentscenes.builders.debian import DebianTree
from latentscenes.builders.mesh import Mesh
from latentscenes.builders.source import Entry, Source, file_digest, interleave
from latentscenes.builders.textures import dress
from latentscenes.builders.variants import Variant
from latentscenes.errors import DataError

AIRCRAFT = Path("AI/Aircraft")
NOT_AEROPLANES = ("balloon",)
MAX_INCLUDES = 8
# FlightGear's model frame has the nose towards -x; half a turn about z points it along +x.
NOSE_TO_PLUS_X = np.diag([-1.0, -1.0, 1.0])

HOW_TO_GET = (
    "get the Debian package flightgear-data-ai (e.g. `apt-get download flightgear-data-ai` on a Debian "
    "or Ubuntu machine, or from https://packages.debian.org/flightgear-data-ai), extract it with "
    "`dpkg-deb -x flightgear-data-ai_*.deb DIR`, and pass --flightgear-root DIR/usr/share/games/flightgear"
)
FLIGHTGEAR_DATA = DebianTree(  # the tree is FG_ROOT inside the package
    package="flightgear-data-ai", tree=Path("usr/share/games/flightgear"), members=(AIRCRAFT,),
    cache="flightgear", option="--flightgear-root", size="about 290 MB; AI/Aircraft/ is about 420 MB",
    how_to_get=HOW_TO_GET,
)


def fetch_flightgear_data(folder: Path) -> Path:
    """Download ``flightgear-data-ai`` with apt into `folder` and extract AI/Aircraft/ there (once)."""
    return FLIGHTGEAR_DATA.fetch(folder)


# -- model files ----------------------------------------------------------------------------
def read_model_xml(path: Path) -> tuple[Path | None, Path | None]:
    """(model, texture folder) of a FlightGear model XML: its ``<path>`` and ``<texture-path>``
    after following the root's ``include`` chain (the including file wins), both relative to
    `path`'s folder; None where absent or empty. Raises DataError naming the file."""
    values: dict[str, str] = {}
    seen: list[Path] = []
    current = path
    while current is not None:
        if len(seen) >= MAX_INCLUDES or current in seen:
            raise DataError(f"{path}: include chain too long or circular ({' -> '.join(p.name for p in seen)})")
        seen.append(current)
        try:
            root = ET.parse(current).getroot()
        except (OSError, ET.ParseError) as error:
            raise DataError(f"{current}: cannot read FlightGear model XML: {error}") from None
        for tag in ("path", "texture-path"):
            element = root.find(tag)
            if tag not in values and element is not None:
                values[tag] = (element.text or "").strip()
        include = root.get("include")
        current = current.parent / include if include else None
    model, textures = values.get("path"), values.get("texture-path")
    return (path.parent / model if model else None), (path.parent / textures if textures else None)


def find_texture(name: str, folders: list[Path]) -> Path | None:
    """The file a texture name of an ``.ac`` refers to: `name` in each folder in turn, then its
    bare file name in each (as FlightGear's loader does for names with folders)."""
    simple = name.replace("\\", "/").rsplit("/", 1)[-1]
    candidates = [folder / name for folder in folders]
    if simple != name:
        candidates += [folder / simple for folder in folders]
    return next((c for c in candidates if c.is_file()), None)


@dataclass(frozen=True)
class Livery:
    id: str  # the texture folder below Textures/, e.g. "Lufthansa"
    xml: Path
    textures: tuple[tuple[str, Path, bool], ...]  # (name in the .ac, file, found in the livery's folder)


@dataclass(frozen=True)
class Aircraft:
    id: str  # "<type>/<model file stem>", e.g. "747/744"
    mesh_file: Path
    liveries: tuple[Livery, ...]


@dataclass
class Discovery:
    aircraft: list[Aircraft] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first file and message

    def skip(self, reason: str, example: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.examples.setdefault(reason, example)


def discover(root: Path) -> Discovery:
    """Every usable aircraft model under ``root/AI/Aircraft`` with its liveries (see the module
    docstring); models and liveries left out are counted by reason in ``skipped``."""
    aircraft_dir = root / AIRCRAFT
    found = Discovery()
    candidates: dict[Path, list[tuple[Path, Path]]] = {}  # model -> [(livery xml, texture folder)]
    for type_dir in sorted(p for p in aircraft_dir.iterdir() if p.is_dir()):
        if type_dir.name in NOT_AEROPLANES:
            found.skip("types not aeroplanes", type_dir.name)
            continue
        for xml_path in sorted(type_dir.glob("*.xml")):
            try:
                model, textures = read_model_xml(xml_path)
            except DataError as error:
                found.skip("unreadable xml", str(error))
                continue
            if model is None or model.suffix.lower() != ".ac" or textures is None:
                continue  # a main file, a light or another sub-model: not a livery
            if not model.is_file():
                found.skip("liveries whose model is missing", f"{xml_path}: {model} is missing")
            elif not textures.is_dir():
                found.skip("liveries whose texture folder is missing", f"{xml_path}: {textures} is missing")
            else:
                candidates.setdefault(model.resolve(), []).append((xml_path, textures))

    for mesh_file, liveries in sorted(candidates.items()):
        try:
            names = texture_names(_read_mesh(mesh_file))
        except DataError as error:
            found.skip("models that do not parse", str(error))
            continue
        if not names:
            found.skip("models without textures", str(mesh_file))
            continue
        if not _within(mesh_file, aircraft_dir):
            found.skip("models outside AI/Aircraft", str(mesh_file))
            continue
        relative = mesh_file.relative_to(aircraft_dir.resolve())
        type_dir = relative.parts[0]
        kept, digests = [], set()
        for xml_path, folder in liveries:
            resolved = []
            for name in names:
                path = find_texture(name, [folder, mesh_file.parent])
                resolved.append((name, path, path is not None and _within(path, folder)))
            missing = [name for name, path, _ in resolved if path is None]
            if missing:
                found.skip("liveries missing a texture", f"{xml_path}: no texture {missing[0]!r} in {folder}")
                continue
            if not any(own for _, _, own in resolved):
                found.skip("liveries whose folder has none of the model's textures", str(xml_path))
                continue
            digest = tuple(file_digest(path) for _, path, _ in resolved)
            if digest in digests:
                found.skip("duplicate liveries", str(xml_path))
                continue
            digests.add(digest)
            textures = tuple((name, path.resolve(), own) for name, path, own in resolved)  # type: ignore[union-attr]
            kept.append(Livery(_livery_id(folder, aircraft_dir / type_dir, kept), xml_path, textures))
        if kept:
            model_id = f"{type_dir}/{mesh_file.stem}"
            if any(aircraft.id == model_id for aircraft in found.aircraft):
                model_id = relative.with_suffix("").as_posix()
            found.aircraft.append(Aircraft(model_id, mesh_file, tuple(kept)))
        else:
            found.skip("models without a complete livery", str(mesh_file))
    return found


def texture_names(mesh: Mesh) -> list[str]:
    """The texture names an ``.ac`` mesh uses, in order of first use."""
    return list(dict.fromkeys(part.name for part in mesh.parts if part.name))


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _livery_id(folder: Path, type_dir: Path, taken: list[Livery]) -> str:
    try:
        parts = folder.resolve().relative_to(type_dir.resolve()).parts
    except ValueError:
        parts = (folder.name,)
    if len(parts) > 1 and parts[0] == "Textures":
        parts = parts[1:]
    name = "-".join(parts) or folder.name
    ids = {livery.id for livery in taken}
    unique, k = name, 2
    while unique in ids:
        unique, k = f"{name}-{k}", k + 1
    return unique


# -- meshes ---------------------------------------------------------------------------------
@lru_cache(maxsize=128)
def _read_mesh(path: Path) -> Mesh:
    return read_ac3d(path)


def assemble_aircraft(aircraft: Aircraft, livery: Livery, variant: Variant) -> Mesh:
    """The model with `livery`'s textures (those of the livery's own folder hue-shifted by the
    variant), nose along +x, z up, metres times the variant's scale (x along the fuselage)."""
    textures = {name: (path, own) for name, path, own in livery.textures}
    mesh = dress(_read_mesh(aircraft.mesh_file), textures.__getitem__, variant.hue_shift)
    return mesh.transformed(np.diag(variant.scale) @ NOSE_TO_PLUS_X)


# -- the source ---------------------------------------------------------------------------
class FlightGearAircraftSource(Source):
    """FlightGear's AI aircraft: one entry per (model, distinct livery); every model is a mesh."""

    name = "flightgear-aircraft"
    caches = ("_fits",)

    def __init__(self, root: str | Path | None = None):
        super().__init__()
        self.root = FLIGHTGEAR_DATA.resolve(root)
        self._found = discover(self.root)
        if not self._found.aircraft:
            reasons = "; ".join(f"{n} {reason} (e.g. {self._found.examples[reason]})"
                                for reason, n in self._found.skipped.items())
            raise DataError(f"{self.root / AIRCRAFT}: no usable aircraft (a model .ac, a livery XML with a "
                            f"<texture-path>, and its textures){': ' + reasons if reasons else ''}; {HOW_TO_GET}")
        self._aircraft = {aircraft.id: aircraft for aircraft in self._found.aircraft}

    def entries(self) -> list[Entry]:
        groups = {}
        for aircraft in self._found.aircraft:
            mesh = self._relative(aircraft.mesh_file)
            groups[aircraft.id] = [
                Entry(id=f"{aircraft.id}/{livery.id}", mesh=aircraft.id, livery=livery.id,
                      files=(("mesh", mesh), ("xml", self._relative(livery.xml)), *self._texture_files(livery)))
                for livery in aircraft.liveries
            ]
        return interleave(groups)

    def _texture_files(self, livery: Livery) -> list[tuple[str, str]]:
        own = [path for _, path, is_own in livery.textures if is_own]
        files = [("livery", self._relative(own[0]))]
        files += [(f"texture:{name}", self._relative(path)) for name, path, _ in livery.textures if path != own[0]]
        return files

    def _relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def _livery(self, entry: Entry) -> tuple[Aircraft, Livery]:
        aircraft = self._aircraft[entry.mesh]
        return aircraft, next(livery for livery in aircraft.liveries if livery.id == entry.livery)

    def assemble(self, entry: Entry, variant: Variant) -> Mesh:
        return assemble_aircraft(*self._livery(entry), variant)

    def file_digests(self, entry: Entry) -> dict[str, str]:
        return {role: file_digest(self.root / path) for role, path in entry.files}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "package": FLIGHTGEAR_DATA.package_name(self.root),
            "models": len(self._found.aircraft),
            "liveries": sum(len(aircraft.liveries) for aircraft in self._found.aircraft),
            "skipped": dict(sorted(self._found.skipped.items())),
        }
