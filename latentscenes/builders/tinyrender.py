"""Offscreen rendering with pybullet's CPU TinyRenderer, and its camera conventions.

pybullet takes a 4x4 view matrix V (world -> OpenGL camera: x right, y up, looking down
-z) as a *column-major* list of 16 floats, and a perspective projection built from the
vertical field of view. With ``D = diag(1, -1, -1, 1)`` (OpenGL <-> OpenCV axes)::

    V          = D @ inv(cam2world)        # cam2world: OpenCV (x right, y down, z forward)
    cam2world  = inv(V) @ D
    view list  = V.T.reshape(16)           # column-major
    fx = fy    = 0.5 * H / tan(fov / 2),  cx = W / 2,  cy = H / 2   (pixel centres at +0.5)

TinyRenderer samples pixel (row i, column j) at (j, i + 1) rather than at its centre;
`projection_matrix` shifts the frustum by half a pixel to compensate, so the intrinsics
above are exact (checked to 1e-5 in depth by the tests).

The depth buffer holds OpenGL window depth d in [0, 1]; the metric depth along the optical
axis (the camera-space z of OpenCV) is ``far * near / (far - (far - near) * d)``.

`render_views` renders at ``supersample`` times the size, puts the background to white
with the segmentation mask, and box-filters down (the intrinsics of the small image are
those of the large one divided by ``supersample``, pixel centres included). Lighting is a
fixed directional light in world coordinates, ambient + diffuse, no specular and no
shadows, so a surface point has the same colour in every view (the Tri-Plane MLP has no
view dependence).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
from PIL import Image

from latentscenes.builders.mesh import Mesh

OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
NEAR, FAR = 0.05, 20.0
MAX_TRIANGLES_PER_SHAPE = 40_000  # pybullet refuses a visual shape with ~200k vertices


@dataclass(frozen=True)
class Lighting:
    """Soft, fixed lighting: ``colour = texture * (ambient + diffuse * max(0, n . l))``."""

    direction: tuple[float, float, float] = (0.4, 0.25, 1.0)  # towards the light, world frame
    ambient: float = 0.6
    diffuse: float = 0.45
    specular: float = 0.0


def view_matrix(cam2world: np.ndarray) -> list[float]:
    """pybullet's column-major view list from an OpenCV cam2world (4, 4)."""
    view = OPENGL_FROM_OPENCV @ np.linalg.inv(np.asarray(cam2world, dtype=np.float64))
    return view.T.reshape(16).tolist()


def projection_matrix(fov_deg: float, size: int, near: float = NEAR, far: float = FAR) -> list[float]:
    """pybullet's column-major OpenGL projection for a square image, corrected to sample pixel centres.

    TinyRenderer samples pixel (row i, column j) at the image point (u, v) = (j, i + 1),
    not at the centre (j + 0.5, i + 0.5) (measured: `tests/test_builders.py`). Moving the
    frustum by half a pixel (+1/size in NDC x and y, i.e. the matrix entries (0, 2) and
    (1, 2)) makes it sample centres, so ``cx = cy = size / 2`` hold exactly.
    """
    import pybullet

    matrix = list(pybullet.computeProjectionMatrixFOV(fov=fov_deg, aspect=1.0, nearVal=near, farVal=far))
    matrix[8] += 1.0 / size  # entry (row 0, column 2)
    matrix[9] += 1.0 / size  # entry (row 1, column 2)
    return matrix


def metric_depth(depth_buffer: np.ndarray, near: float = NEAR, far: float = FAR) -> np.ndarray:
    """OpenGL window depth in [0, 1] -> distance along the optical axis (camera z)."""
    depth_buffer = np.asarray(depth_buffer, dtype=np.float64)
    return far * near / (far - (far - near) * depth_buffer)


class TinyRenderer:
    """One pybullet DIRECT connection that renders one `Mesh` at a time.

    >>> with TinyRenderer() as renderer:
    ...     renderer.set_mesh(mesh)
    ...     rgb, mask, depth = renderer.render(cam2world, fov_deg=52.0, size=256)
    """

    def __init__(self, lighting: Lighting = Lighting()):
        import pybullet

        self.p = pybullet
        self.lighting = lighting
        self.client = pybullet.connect(pybullet.DIRECT)

    def close(self) -> None:
        if self.client is not None:
            self.p.disconnect(physicsClientId=self.client)
            self.client = None

    def __enter__(self) -> TinyRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_mesh(self, mesh: Mesh) -> None:
        """Replace the scene with `mesh` (one body per part, textures loaded from PNGs)."""
        p, cid = self.p, self.client
        p.resetSimulation(physicsClientId=cid)
        for part in mesh.parts:
            texture_id = None
            if part.texture is not None:
                # TinyRenderer samples like OpenGL (v = 0 is the PNG's bottom row), so the
                # upright image is saved as it is.
                handle, name = tempfile.mkstemp(prefix="latentscenes-texture-", suffix=".png")
                os.close(handle)
                try:
                    Image.fromarray(np.ascontiguousarray(part.texture)).save(name, compress_level=0)
                    texture_id = p.loadTexture(name, physicsClientId=cid)
                finally:
                    os.unlink(name)
            for start in range(0, part.num_triangles, MAX_TRIANGLES_PER_SHAPE):
                stop = min(start + MAX_TRIANGLES_PER_SHAPE, part.num_triangles)
                count = 3 * (stop - start)
                shape = p.createVisualShape(
                    p.GEOM_MESH,
                    vertices=part.positions[start:stop].reshape(count, 3).astype(np.float64).tolist(),
                    indices=list(range(count)),
                    normals=part.normals[start:stop].reshape(count, 3).astype(np.float64).tolist(),
                    uvs=part.uvs[start:stop].reshape(count, 2).astype(np.float64).tolist(),
                    physicsClientId=cid,
                )
                body = p.createMultiBody(baseMass=0, baseVisualShapeIndex=shape, physicsClientId=cid)
                rgba = [*map(float, part.color), 1.0]
                if texture_id is not None:
                    p.changeVisualShape(body, -1, textureUniqueId=texture_id, rgbaColor=rgba, physicsClientId=cid)
                else:
                    p.changeVisualShape(body, -1, rgbaColor=rgba, physicsClientId=cid)

    def render(self, cam2world: np.ndarray, fov_deg: float, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One square view: RGB uint8 (H, W, 3), object mask bool (H, W), metric depth float32 (H, W)."""
        p, light = self.p, self.lighting
        projection = projection_matrix(fov_deg, size)
        _, _, rgba, depth, segmentation = p.getCameraImage(
            size,
            size,
            viewMatrix=view_matrix(cam2world),
            projectionMatrix=projection,
            renderer=p.ER_TINY_RENDERER,
            shadow=0,
            lightDirection=list(light.direction),
            lightColor=[1.0, 1.0, 1.0],
            lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse,
            lightSpecularCoeff=light.specular,
            physicsClientId=self.client,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(size, size, 4)[..., :3]
        mask = np.asarray(segmentation).reshape(size, size) >= 0
        depth = metric_depth(np.asarray(depth, dtype=np.float64).reshape(size, size)).astype(np.float32)
        return rgb, mask, depth


def composite_and_downsample(rgb: np.ndarray, mask: np.ndarray, factor: int) -> np.ndarray:
    """White background outside `mask`, then a `factor` x `factor` box filter.

    rgb: uint8 (H, W, 3) with H, W divisible by factor -> uint8 (H/factor, W/factor, 3), each
    pixel the mean of its block rounded half up (integer arithmetic, exact).
    """
    image = np.where(mask[..., None], rgb, np.uint8(255)).astype(np.uint8)
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    total = image.reshape(h, factor, w, factor, 3).sum(axis=(1, 3), dtype=np.uint32)
    count = factor * factor
    return ((total + count // 2) // count).astype(np.uint8)


def render_views(
    renderer: TinyRenderer, cam2world: np.ndarray, fov_deg: float, size: int, supersample: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased views on white: cam2world (V, 4, 4) OpenCV -> uint8 (V, size, size, 3), and
    bool (V,): whether the object touches the image border (it may be cut off) in that view."""
    images, touches = [], []
    for pose in cam2world:
        rgb, mask, _ = renderer.render(pose, fov_deg, size * supersample)
        images.append(composite_and_downsample(rgb, mask, supersample))
        touches.append(bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()))
    return np.stack(images), np.array(touches)
