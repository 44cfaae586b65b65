"""Camera conventions, stated once.

- ``cam2world`` is a 4x4 rigid transform in the **OpenCV** convention: camera x points
  right, y points down, z points forward (the viewing direction). Its last column is the
  camera centre in world coordinates; ``world2cam = inverse(cam2world)``.
- The world is z-up; objects live inside ``[-1, 1]^3``. A camera's *height* is
  ``cam2world[2, 3]``, its *radius* the distance of its centre from the origin and its
  *elevation* the angle (degrees) of its centre above the world xy plane.
- Intrinsics ``K`` (3x3) are in **pixels of the loaded resolution**::

      K = [[fx, 0, cx],
           [0, fy, cy],
           [0,  0,  1]]

  Pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``; its centre is at
  ``(u, v) = (j + 0.5, i + 0.5)``. With this convention resizing an image by ``(sx, sy)``
  scales row 0 of ``K`` by ``sx`` and row 1 by ``sy``, exactly (``scale_intrinsics``).
- **Normalised** intrinsics divide row 0 by the width ``W`` and row 1 by the height ``H``
  (``fx/W, cx/W, fy/H, cy/H``): resolution-independent, as in EG3D labels.
- OpenGL / Blender / nerfstudio cameras (x right, y up, z backward) convert with
  ``opengl_to_opencv``: flip the camera's y and z axes, ``c2w @ diag(1, -1, -1, 1)``.

Every function is pure torch and accepts any leading batch shape ``...``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "opengl_to_opencv",
    "opencv_to_opengl",
    "world_to_camera",
    "project",
    "make_intrinsics",
    "intrinsics_from_fov",
    "scale_intrinsics",
    "normalize_intrinsics",
    "denormalize_intrinsics",
    "camera_centers",
    "camera_radius",
    "camera_elevation",
    "look_at",
    "orbit_cam2world",
    "turntable_cam2world",
    "rotation_error",
]

_GL_FLIP = (1.0, -1.0, -1.0, 1.0)


def opengl_to_opencv(cam2world: Tensor) -> Tensor:
    """Convert OpenGL cam2world (x right, y up, z back) to OpenCV (x right, y down, z forward).

    cam2world: (..., 4, 4) -> (..., 4, 4). Flips the camera's y and z axes, i.e.
    ``cam2world @ diag(1, -1, -1, 1)``: the rotation's columns 1 and 2 change sign, the
    camera centre is unchanged. The conversion is its own inverse.
    """
    flip = torch.tensor(_GL_FLIP, dtype=cam2world.dtype, device=cam2world.device)
    return cam2world * flip


def opencv_to_opengl(cam2world: Tensor) -> Tensor:
    """Inverse of `opengl_to_opencv` (the same axis flip). (..., 4, 4) -> (..., 4, 4)."""
    return opengl_to_opencv(cam2world)


def world_to_camera(cam2world: Tensor) -> Tensor:
    """Invert rigid cam2world transforms in closed form. (..., 4, 4) -> (..., 4, 4).

    ``world2cam = [[R^T, -R^T t], [0, 1]]`` for ``cam2world = [[R, t], [0, 1]]``.
    """
    rotation = cam2world[..., :3, :3]
    translation = cam2world[..., :3, 3:]
    rotation_t = rotation.transpose(-1, -2)
    out = torch.zeros_like(cam2world)
    out[..., :3, :3] = rotation_t
    out[..., :3, 3:] = -rotation_t @ translation
    out[..., 3, 3] = 1.0
    return out


def project(points_world: Tensor, K: Tensor, cam2world: Tensor) -> tuple[Tensor, Tensor]:
    """Project world points into cameras.

    points_world: (..., N, 3); K: (..., 3, 3) pixels; cam2world: (..., 4, 4) OpenCV.
    Returns ``pixels`` (..., N, 2) as continuous ``(u, v)`` = (column, row) coordinates
    (pixel ``(i, j)`` has its centre at ``(j + 0.5, i + 0.5)``) and ``depth`` (..., N), the
    camera-space z (positive in front of the camera). Points with depth <= 0 get
    meaningless pixel coordinates; check ``depth`` before using them.

        x_cam = R^T (x_world - t);  (u, v) = (fx x/z + cx, fy y/z + cy);  depth = z
    """
    rotation = cam2world[..., :3, :3]
    translation = cam2world[..., None, :3, 3]
    # Row-vector form of R^T (p - t):  (p - t) @ R.
    points_cam = (points_world - translation) @ rotation
    depth = points_cam[..., 2]
    uvw = points_cam @ K.transpose(-1, -2)
    pixels = uvw[..., :2] / uvw[..., 2:3]
    return pixels, depth


def make_intrinsics(fx, fy, cx, cy, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Pixel intrinsics from scalars or tensors of shape (...,). Returns (..., 3, 3)."""
    fx, fy, cx, cy = (torch.as_tensor(v, dtype=dtype) for v in (fx, fy, cx, cy))
    fx, fy, cx, cy = torch.broadcast_tensors(fx, fy, cx, cy)
    K = torch.zeros(fx.shape + (3, 3), dtype=dtype)
    K[..., 0, 0] = fx
    K[..., 1, 1] = fy
    K[..., 0, 2] = cx
    K[..., 1, 2] = cy
    K[..., 2, 2] = 1.0
    return K


def intrinsics_from_fov(
    fov_x: float, width: int, height: int, fov_y: float | None = None, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Pixel intrinsics of a centred pinhole camera from field(s) of view in **radians**.

    ``fx = W / (2 tan(fov_x / 2))``; ``fy`` from ``fov_y`` when given, else ``fy = fx``
    (square pixels); principal point at the image centre ``(W/2, H/2)``. Returns (3, 3).
    """
    fx = 0.5 * width / math.tan(0.5 * fov_x)
    fy = fx if fov_y is None else 0.5 * height / math.tan(0.5 * fov_y)
    return make_intrinsics(fx, fy, 0.5 * width, 0.5 * height, dtype=dtype)


def scale_intrinsics(K: Tensor, sx: float | Tensor, sy: float | Tensor) -> Tensor:
    """Intrinsics after resizing the image by ``sx`` horizontally and ``sy`` vertically.

    K: (..., 3, 3) -> (..., 3, 3). Row 0 (fx, skew, cx) is multiplied by ``sx``, row 1
    (fy, cy) by ``sy``; exact under the pixel-centres-at-+0.5 convention. E.g. 512 -> 128
    pixels is ``sx = sy = 0.25``.
    """
    sx = torch.as_tensor(sx, dtype=K.dtype, device=K.device)
    sy = torch.as_tensor(sy, dtype=K.dtype, device=K.device)
    out = K.clone()
    out[..., 0, :] = K[..., 0, :] * sx[..., None]
    out[..., 1, :] = K[..., 1, :] * sy[..., None]
    return out


def normalize_intrinsics(K: Tensor, width: int | Tensor, height: int | Tensor) -> Tensor:
    """Pixel intrinsics -> normalised (row 0 / W, row 1 / H). (..., 3, 3) -> (..., 3, 3)."""
    return scale_intrinsics(K, 1.0 / torch.as_tensor(width, dtype=K.dtype), 1.0 / torch.as_tensor(height, dtype=K.dtype))


def denormalize_intrinsics(K_normalized: Tensor, width: int | Tensor, height: int | Tensor) -> Tensor:
    """Normalised intrinsics -> pixels of a W x H image. (..., 3, 3) -> (..., 3, 3)."""
    return scale_intrinsics(K_normalized, width, height)


def camera_centers(cam2world: Tensor) -> Tensor:
    """Camera centres in world coordinates. (..., 4, 4) -> (..., 3)."""
    return cam2world[..., :3, 3]


def camera_radius(cam2world: Tensor) -> Tensor:
    """Distance of each camera centre from the world origin. (..., 4, 4) -> (...)."""
    return torch.linalg.vector_norm(camera_centers(cam2world), dim=-1)


def camera_elevation(cam2world: Tensor) -> Tensor:
    """Elevation of each camera centre above the world xy plane, in degrees (z up).

    (..., 4, 4) -> (...), in [-90, 90]: ``degrees(asin(z / radius))``. 0 for a camera at
    the origin.
    """
    centers = camera_centers(cam2world)
    radius = torch.linalg.vector_norm(centers, dim=-1)
    sine = torch.where(radius > 0, centers[..., 2] / radius.clamp_min(1e-12), torch.zeros_like(radius))
    return torch.rad2deg(torch.asin(sine.clamp(-1.0, 1.0)))


def look_at(eye: Tensor, target: Tensor | None = None, up: Tensor | None = None) -> Tensor:
    """OpenCV cam2world of cameras at ``eye`` looking at ``target`` with world ``up``.

    eye: (..., 3); target: (..., 3) (default the origin); up: (3,) or (..., 3) (default
    +z). Returns (..., 4, 4): z (forward) = normalise(target - eye), x (right) =
    normalise(forward x up), y (down) = forward x right. `ValueError` if ``up`` is
    parallel to a viewing direction (the camera's roll would be undefined).
    """
    eye = torch.as_tensor(eye)
    dtype = eye.dtype if eye.is_floating_point() else torch.float32
    eye = eye.to(dtype)
    target = torch.zeros_like(eye) if target is None else torch.as_tensor(target, dtype=dtype)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=dtype) if up is None else torch.as_tensor(up, dtype=dtype)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.linalg.cross(forward, up.expand_as(forward))
    if bool((torch.linalg.vector_norm(right, dim=-1) < 1e-8).any()):
        raise ValueError("look_at: a camera looks along the up vector; give another `up`")
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.linalg.cross(forward, right)
    out = torch.zeros(eye.shape[:-1] + (4, 4), dtype=dtype)
    out[..., :3, 0] = right
    out[..., :3, 1] = down
    out[..., :3, 2] = forward
    out[..., :3, 3] = eye
    out[..., 3, 3] = 1.0
    return out


def orbit_cam2world(
    radius: float | Tensor, azimuth_deg: float | Tensor, elevation_deg: float | Tensor
) -> Tensor:
    """OpenCV cam2world of cameras on a sphere around the origin, looking at it (z up).

    Broadcastable scalars/tensors of shape (...) -> (..., 4, 4). The centre is
    ``radius * (cos(el) cos(az), cos(el) sin(az), sin(el))``. ``|elevation| < 90``.
    """
    radius, azimuth, elevation = torch.broadcast_tensors(
        *(torch.as_tensor(v, dtype=torch.float64) for v in (radius, azimuth_deg, elevation_deg))
    )
    az, el = torch.deg2rad(azimuth), torch.deg2rad(elevation)
    eye = torch.stack(
        [radius * torch.cos(el) * torch.cos(az), radius * torch.cos(el) * torch.sin(az), radius * torch.sin(el)],
        dim=-1,
    )
    return look_at(eye).to(torch.float32)


def turntable_cam2world(
    frames: int, radius: float, elevation_deg: float, start_azimuth_deg: float = 0.0
) -> Tensor:
    """OpenCV cam2world of `frames` cameras evenly spaced on one full turn around the z axis,
    at a fixed radius and elevation, looking at the origin. Returns (frames, 4, 4).

    Frame k sits at azimuth ``start + 360 k / frames`` degrees (counter-clockwise seen from
    above), so the last frame is one step short of the first and the path loops seamlessly.
    """
    if frames < 1:
        raise ValueError(f"a turntable needs at least 1 frame, got {frames}")
    azimuths = start_azimuth_deg + 360.0 * torch.arange(frames, dtype=torch.float64) / frames
    return orbit_cam2world(radius, azimuths, elevation_deg)


def rotation_error(cam2world: Tensor) -> Tensor:
    """How far each rotation block is from a proper rotation. (..., 4, 4) -> (...).

    ``max(|R^T R - I|_max, |det R - 1|)``: 0 for a rotation, ~2 for a reflection. Readers
    reject poses whose error exceeds ~1e-3.
    """
    rotation = cam2world[..., :3, :3]
    eye = torch.eye(3, dtype=rotation.dtype, device=rotation.device)
    gram = (rotation.transpose(-1, -2) @ rotation - eye).abs().amax(dim=(-1, -2))
    det = (torch.linalg.det(rotation) - 1.0).abs()
    return torch.maximum(gram, det)
