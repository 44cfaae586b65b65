"""Real car meshes from Debian's ``torcs-data`` package: discovery, liveries, wheels, fetching.

The tree (``--torcs-root``) is the folder that holds ``cars/`` and ``drivers/``, e.g.
``/usr/share/games/torcs`` of an installed package, or the extraction root of the ``.deb``
(``usr/share/games/torcs`` below it is found by itself)::

    cars/<car>/<car>.xml          car parameters: LOD meshes, axles, wheel sizes
    cars/<car>/<car>.acc          the body mesh (AC3D with TORCS's multi-texture lines)
    cars/<car>/<car>.rgb          the default livery (SGI image), other textures beside it
    cars/<car>/tex-wheel.rgb      the rim texture (four quadrants; top left = standing still)
    drivers/<robot>/<n>/<car>.rgb alternative liveries for <car>

17 car models with 76 distinct liveries in torcs-data 1.3.7. Without ``--torcs-root`` the
package is fetched once into ``$LATENTSCENES_CACHE/torcs`` (default
``~/.cache/latentscenes/torcs``) with ``apt-get download torcs-data`` and only ``cars/``
and ``drivers/`` are extracted (``dpkg-deb --fsys-tarfile ... | tar -x``).

Wheels are not in the body meshes: like TORCS when a car has no 3D wheel models (the
Debian package ships none), they are generated from the car's XML: the centre of the wheel
on axle ``a`` at ``(Axle.xpos, Wheel.ypos, radius - ride height)`` in the model frame
(x forward, y left, z up, z = 0 at the floor of the body), ``radius = rim diameter / 2 +
tire width * height-width ratio``; a dark tread cylinder closed by two rim discs textured
with the standing-still quadrant of ``tex-wheel.rgb``, the outer one dished 5 cm inwards.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from latentscenes.builders.ac3d import read_ac3d
from latentscenes.builders.debian import DebianTree
from latentscenes.builders.mesh import Mesh, MeshPart, face_normals
from latentscenes.builders.source import Entry, Source, file_digest, interleave
from latentscenes.builders.textures import cached_texture, dress
from latentscenes.builders.variants import Variant
from latentscenes.errors import DataError

TREAD_COLOR = (0.09, 0.09, 0.09)
INNER_RIM_SHADE = 0.3
RIM_DISH = 0.05  # metres the rim centre sits inside the tyre's outer face (TORCS: 0.05)
WHEEL_SEGMENTS = 32
WHEEL_SECTIONS = ("Front Right Wheel", "Front Left Wheel", "Rear Right Wheel", "Rear Left Wheel")
AXLE_SECTIONS = ("Front Axle", "Front Axle", "Rear Axle", "Rear Axle")
UNITS = {None: 1.0, "": 1.0, "m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}

HOW_TO_GET = (
    "get the Debian package torcs-data (e.g. `apt-get download torcs-data` on a Debian or Ubuntu "
    "machine, or from https://packages.debian.org/torcs-data), extract it with "
    "`dpkg-deb -x torcs-data_*.deb DIR` (or `ar x` + `tar -xf data.tar.xz`), and pass "
    "--torcs-root DIR/usr/share/games/torcs"
)
TORCS_DATA = DebianTree(
    package="torcs-data", tree=Path("usr/share/games/torcs"), members=(Path("cars"), Path("drivers")),
    cache="torcs", option="--torcs-root", size="about 330 MB; cars/ and drivers/ are about 50 MB",
    how_to_get=HOW_TO_GET,
)


def fetch_torcs_data(folder: Path) -> Path:
    """Download ``torcs-data`` with apt into `folder` and extract cars/ and drivers/ there (once)."""
    return TORCS_DATA.fetch(folder)


# -- car parameters -----------------------------------------------------------------------
@dataclass(frozen=True)
class Wheel:
    """One wheel in the model frame (x forward, y left, z up), metres."""

    x: float
    y: float
    rim_radius: float
    tire_width: float
    tire_height: float
    ride_height: float

    @property
    def radius(self) -> float:
        return self.rim_radius + self.tire_height

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x, self.y, self.radius - self.ride_height])


@dataclass(frozen=True)
class TorcsCar:
    name: str
    folder: Path
    mesh_file: Path
    wheels: tuple[Wheel, ...]
    wheel_texture: Path


def read_car(root: Path, name: str) -> TorcsCar:
    """Parse ``cars/<name>/<name>.xml``: the most detailed mesh, the four wheels, the rim texture."""
    folder = root / "cars" / name
    xml_path = folder / f"{name}.xml"
    params = _read_params(xml_path)

    mesh_name = None
    ranges = params.get(("Graphic Objects", "Ranges"))
    if isinstance(ranges, dict):  # LOD 1 is the most detailed
        first = sorted((k for k in ranges if isinstance(ranges[k], dict)), key=_section_order)
        if first:
            mesh_name = ranges[first[0]].get("car")
    candidates = [mesh_name] if mesh_name else []
    candidates += [f"{name}.acc", f"{name}.ac"]
    mesh_file = next((folder / c for c in candidates if c and (folder / c).is_file()), None)
    if mesh_file is None:
        raise DataError(f"{folder}: no body mesh found (looked for {', '.join(c for c in candidates if c)})")

    wheels = []
    for wheel_section, axle_section in zip(WHEEL_SECTIONS, AXLE_SECTIONS):
        wheel = params.get((wheel_section,))
        axle = params.get((axle_section,))
        if not isinstance(wheel, dict) or not isinstance(axle, dict):
            raise DataError(f"{xml_path}: missing section '{wheel_section}' or '{axle_section}'")

        def number(section: dict, key: str, where: str, default: float | None = None) -> float:
            value = section.get(key)
            if not isinstance(value, _Number):
                if default is not None:
                    return default
                raise DataError(f"{xml_path}: section '{where}' has no attnum '{key}'")
            return value.si(f"{xml_path}: attnum '{key}' of section '{where}'")

        rim_radius = number(wheel, "rim diameter", wheel_section) / 2
        width = number(wheel, "tire width", wheel_section)
        wheels.append(
            Wheel(
                x=number(axle, "xpos", axle_section),
                y=number(wheel, "ypos", wheel_section),
                rim_radius=rim_radius,
                tire_width=width,
                tire_height=width * number(wheel, "tire height-width ratio", wheel_section),
                ride_height=number(wheel, "ride height", wheel_section, default=0.0),
            )
        )
    graphic = params.get(("Graphic Objects",), {})
    texture_name = graphic.get("wheel texture", "tex-wheel.rgb") if isinstance(graphic, dict) else "tex-wheel.rgb"
    wheel_texture = folder / str(texture_name)
    if not wheel_texture.is_file():
        raise DataError(f"{wheel_texture}: missing rim texture named by {xml_path}")
    return TorcsCar(name=name, folder=folder, mesh_file=mesh_file, wheels=tuple(wheels), wheel_texture=wheel_texture)


def _section_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


@dataclass(frozen=True)
class _Number:
    text: str
    unit: str | None

    def si(self, where: str) -> float:
        """The value in SI units (metres); `where` names the file and key in errors."""
        if self.unit not in UNITS:
            raise DataError(f"{where} has an unknown unit {self.unit!r}")
        try:
            return float(self.text) * UNITS[self.unit]
        except ValueError:
            raise DataError(f"{where} has a bad value {self.text!r}") from None


def _read_params(xml_path: Path) -> dict:
    """TORCS params XML -> {section path tuple: {attribute name: _Number or str}}.

    Nested sections also appear inside their parent's dict under their own name.
    """
    if not xml_path.is_file():
        raise DataError(f"{xml_path}: missing car description")
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as error:
        raise DataError(f"{xml_path}: not valid XML: {error}") from None
    sections: dict = {}

    def walk(element: ET.Element, path: tuple[str, ...]) -> dict:
        values: dict = {}
        for child in element:
            name = child.get("name")
            if child.tag == "section" and name is not None:
                values[name] = walk(child, path + (name,))
            elif child.tag == "attnum" and name is not None:
                values[name] = _Number(child.get("val", ""), child.get("unit"))
            elif child.tag == "attstr" and name is not None:
                values[name] = child.get("val", "")
        sections[path] = values
        return values

    walk(tree.getroot(), ())
    return sections


# -- discovery ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Livery:
    id: str  # "default" or "<robot>-<n>"
    path: Path


def discover(root: Path) -> dict[str, list[Livery]]:
    """{car name: liveries (default first, then drivers sorted by path)} for every car with a
    body mesh and an XML; liveries with identical bytes are listed once."""
    cars_dir = root / "cars"
    if not cars_dir.is_dir():
        raise DataError(f"{root}: no cars/ folder; {HOW_TO_GET}")
    result: dict[str, list[Livery]] = {}
    seen: set[str] = set()
    names = sorted(p.name for p in cars_dir.iterdir() if (p / f"{p.name}.xml").is_file())
    for name in names:
        default = cars_dir / name / f"{name}.rgb"
        if not default.is_file():
            continue
        liveries = [Livery("default", default)]
        drivers = sorted((root / "drivers").glob(f"*/*/{name}.rgb")) if (root / "drivers").is_dir() else []
        liveries += [Livery(f"{p.parent.parent.name}-{p.parent.name}", p) for p in drivers]
        unique = []
        for livery in liveries:
            digest = file_digest(livery.path)
            if digest not in seen:
                seen.add(digest)
                unique.append(livery)
        result[name] = unique
    if not result:
        raise DataError(
            f"{cars_dir}: no TORCS cars found (each needs cars/<car>/<car>.xml and <car>.rgb); {HOW_TO_GET}"
        )
    return result


def rim_choices(root: Path, cars: list[str]) -> list[str]:
    """Cars whose ``tex-wheel.rgb`` differ (the first car of each distinct rim texture)."""
    seen: dict[str, str] = {}
    for name in sorted(cars):
        path = root / "cars" / name / "tex-wheel.rgb"
        if path.is_file():
            seen.setdefault(file_digest(path), name)
    return sorted(seen.values())


# -- textures and meshes ------------------------------------------------------------------
@lru_cache(maxsize=32)
def _read_body(path: Path) -> Mesh:
    return read_ac3d(path)


def wheel_parts(wheel: Wheel, rim_texture: np.ndarray, segments: int = WHEEL_SEGMENTS) -> list[MeshPart]:
    """Tread (dark, untextured) and rim discs (textured both sides' outward faces) of one wheel."""
    center, radius = wheel.center, wheel.radius
    half = wheel.tire_width / 2
    outward = 1.0 if wheel.y >= 0 else -1.0  # left wheels face +y, right wheels -y
    angles = np.linspace(0.0, 2.0 * math.pi, segments + 1)
    ring = np.stack([np.cos(angles), np.zeros_like(angles), np.sin(angles)], axis=-1)  # in the x-z plane

    # tread: quads between y = -half and +half, normals radial, facing outwards
    a, b = ring[:-1], ring[1:]
    lo, hi = np.array([0.0, -half, 0.0]), np.array([0.0, half, 0.0])
    p00, p01 = center + radius * a + lo, center + radius * b + lo
    p10, p11 = center + radius * a + hi, center + radius * b + hi
    tris = np.concatenate([np.stack([p00, p10, p11], 1), np.stack([p00, p11, p01], 1)])
    normals_a, normals_b = a, b
    tri_normals = np.concatenate(
        [np.stack([normals_a, normals_a, normals_b], 1), np.stack([normals_a, normals_b, normals_b], 1)]
    )
    tris, tri_normals = _face_out(tris, tri_normals)
    tread = MeshPart(tris.astype(np.float32), tri_normals.astype(np.float32),
                     np.zeros(tris.shape[:2] + (2,), np.float32), None, TREAD_COLOR, "tread")

    parts = [tread]
    # rim discs: fans; texture circle centre (0.25, 0.75), radius 0.25 (top-left quadrant)
    uv_ring = np.stack([0.25 + 0.25 * np.cos(angles), 0.75 + 0.25 * np.sin(angles)], axis=-1)
    for side, shade in ((outward, 1.0), (-outward, INNER_RIM_SHADE)):
        face_y = side * half
        dish = -side * RIM_DISH if side == outward else 0.0
        hub = center + np.array([0.0, face_y + dish, 0.0])
        rim = center + radius * ring + np.array([0.0, face_y, 0.0])
        fan = np.stack([np.repeat(hub[None], segments, 0), rim[:-1], rim[1:]], 1)
        uvs = np.stack([np.repeat(np.array([[0.25, 0.75]]), segments, 0), uv_ring[:-1], uv_ring[1:]], 1)
        normal = np.array([0.0, side, 0.0])
        fan_normals = np.repeat(normal[None, None], segments, 0).repeat(3, 1)
        fan, fan_normals, uvs = _face_out(fan, fan_normals, uvs)
        parts.append(MeshPart(fan.astype(np.float32), fan_normals.astype(np.float32), uvs.astype(np.float32),
                              rim_texture, (shade, shade, shade), "rim"))
    return parts


def _face_out(tris: np.ndarray, normals: np.ndarray, uvs: np.ndarray | None = None):
    """Reorder corners so each triangle winds counter-clockwise around its intended normal."""
    geometric = face_normals(tris)
    flip = np.einsum("td,td->t", geometric, normals.mean(axis=1)) < 0
    order = np.where(flip[:, None], [0, 2, 1], [0, 1, 2])
    take = lambda array: np.take_along_axis(array, order[:, :, None], axis=1)  # noqa: E731
    return (take(tris), take(normals)) if uvs is None else (take(tris), take(normals), take(uvs))


def assemble_car(car: TorcsCar, livery: Path, variant: Variant, rim_texture_path: Path | None = None) -> Mesh:
    """Body with `livery` (hue-shifted by the variant) and four wheels, model frame, metres.

    The variant's non-uniform scale (sx, sy, sz) scales the body; wheel centres move with it,
    wheel radii scale by sz and widths by sy, so wheels stay round and inside their arches.
    """
    livery_name = f"{car.name}.rgb".lower()

    def texture_of(name: str) -> tuple[Path, bool]:
        if name.lower() == livery_name:
            return livery, True
        path = car.folder / name
        if not path.is_file():
            raise DataError(f"{path}: texture named by {car.mesh_file} is missing")
        return path, False

    sx, sy, sz = variant.scale
    body = dress(_read_body(car.mesh_file), texture_of, variant.hue_shift).transformed(np.diag([sx, sy, sz]))
    rim_texture = cached_texture(rim_texture_path or car.wheel_texture)
    parts = list(body.parts)
    for wheel in car.wheels:
        scaled = Wheel(
            x=wheel.x * sx, y=wheel.y * sy, rim_radius=wheel.rim_radius * sz, tire_width=wheel.tire_width * sy,
            tire_height=wheel.tire_height * sz, ride_height=wheel.ride_height * sz,
        )
        parts += wheel_parts(scaled, rim_texture)
    return Mesh(parts)


# -- the source ---------------------------------------------------------------------------
class TorcsSource(Source):
    """TORCS cars: one entry per (car, distinct livery); rims from cars with distinct rim textures."""

    name = "torcs"
    caches = ("_cars", "_fits")

    def __init__(self, root: str | Path | None = None):
        super().__init__()
        self.root = TORCS_DATA.resolve(root)
        self._liveries = discover(self.root)
        self._cars: dict[str, TorcsCar] = {}

    def car(self, name: str) -> TorcsCar:
        if name not in self._cars:
            self._cars[name] = read_car(self.root, name)
        return self._cars[name]

    def entries(self) -> list[Entry]:
        groups = {}
        for name, liveries in self._liveries.items():
            mesh_file = self.car(name).mesh_file.relative_to(self.root).as_posix()
            groups[name] = [
                Entry(
                    id=f"{name}/{livery.id}",
                    mesh=name,
                    livery=livery.id,
                    files=(("mesh", mesh_file), ("livery", livery.path.relative_to(self.root).as_posix())),
                )
                for livery in liveries
            ]
        return interleave(groups)

    def rims(self) -> list[str]:
        return rim_choices(self.root, list(self._liveries))

    def _livery_path(self, entry: Entry) -> Path:
        return self.root / dict(entry.files)["livery"]

    def assemble(self, entry: Entry, variant: Variant) -> Mesh:
        car = self.car(entry.mesh)
        rim = self.root / "cars" / variant.rim / "tex-wheel.rgb" if variant.rim else None
        return assemble_car(car, self._livery_path(entry), variant, rim)

    def file_digests(self, entry: Entry) -> dict[str, str]:
        car = self.car(entry.mesh)
        return {"mesh": file_digest(car.mesh_file), "livery": file_digest(self._livery_path(entry))}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "package": TORCS_DATA.package_name(self.root),
            "cars": len(self._liveries),
            "liveries": sum(len(v) for v in self._liveries.values()),
        }
