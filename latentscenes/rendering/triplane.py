"""Tri-Plane feature sampling: three axis-aligned planes, bilinear lookup, sum over planes.

Convention (stated once, tested in tests/test_triplane.py):

- `planes` has shape (B, 3, C, R, R) and covers the cube [-box/2, box/2]^3 (box 2 ->
  [-1, 1]^3). Plane p sees the world axes `PLANE_AXES[p]` = (x, y), (x, z), (y, z): three
  *distinct* pairs (EG3D's XY, XZ, ZX projection sees x-z twice; NVlabs/eg3d #30, #67).
- Within plane p = (a, b), the texel `planes[s, p, :, i, j]` (row i, column j) sits at
  world coordinates a = -box/2 + (j + 0.5) * box / R and b = -box/2 + (i + 0.5) * box / R:
  the column follows the first axis of the pair and the row the second; texel centres,
  not texel corners, align with the grid (`align_corners=False`).
- Lookups are bilinear; outside the cube the features fade to zero across half a texel
  and are zero beyond (`padding_mode="zeros"`), as in EG3D.

Two fast paths compute the same thing (`sampler`):

- "gather" (default on CPU): the planes are copied once to a channel-last table with a
  zero border; each point's 12 corner texels (3 planes x 4) and bilinear weights feed one
  `embedding_bag` (a weighted gather of C-vectors). Its backward groups points by their
  top-left texel with one sort of 3 keys per point and gathers the upstream gradient
  per texel (4 more `embedding_bag`s, shifted by the corner offsets), instead of
  scattering scalar by scalar as `grid_sample`'s CPU backward does, which is slow on CPU
  (`docs/log/benchmarks.md`, rendering).
- "grid_sample" (default on GPU): one `grid_sample` per plane, accumulated in place,
  with a backward that neither copies the upstream gradient per plane nor needs the
  grid gradient.

`sample_triplane_reference` is the slow, obviously-correct twin (`F.grid_sample` per
plane with autograd). Tests compare all three forward and backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "PLANE_AXES",
    "SAMPLERS",
    "TriPlaneLookup",
    "plane_grid",
    "sample_triplane",
    "sample_triplane_rays",
    "sample_triplane_reference",
    "total_variation",
]

PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))
SAMPLERS = ("auto", "gather", "grid_sample")
_AXIS_INDEX = [a for pair in PLANE_AXES for a in pair]  # [0, 1, 0, 2, 1, 2]
_U = [a for a, _ in PLANE_AXES]  # axis along each plane's columns: [0, 0, 1]
_V = [b for _, b in PLANE_AXES]  # axis along each plane's rows:    [1, 2, 2]


def _check(planes: Tensor, points: Tensor) -> None:
    if planes.dim() != 5 or planes.shape[1] != 3 or planes.shape[-1] != planes.shape[-2]:
        raise ValueError(f"planes must have shape (B, 3, C, R, R), got {tuple(planes.shape)}")
    if points.dim() != 3 or points.shape[-1] != 3 or points.shape[0] != planes.shape[0]:
        raise ValueError(
            f"points must have shape (B, N, 3) with B = {planes.shape[0]}, got {tuple(points.shape)}"
        )


def _resolve(sampler: str, planes: Tensor, aggregate: str) -> str:
    if aggregate not in ("sum", "product"):
        raise ValueError(f"aggregate must be 'sum' or 'product', got {aggregate!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if aggregate == "product":
        return "grid_sample"  # the gather path sums the 12 corners in one bag
    if sampler == "auto":
        return "gather" if planes.device.type == "cpu" else "grid_sample"
    return sampler


def plane_grid(points: Tensor, box: float = 2.0) -> Tensor:
    """`grid_sample` coordinates of points on the three planes, plane-major.

    points: (..., 3) world. Returns (3, ..., 2): for plane p = (a, b) the pair
    (a, b) * 2 / box, i.e. (x, y) in grid_sample's (width, height) order.
    """
    grid = points[..., _AXIS_INDEX] * (2.0 / box)  # (..., 6)
    grid = grid.view(*points.shape[:-1], 3, 2)
    return grid.movedim(-2, 0)


# ---- "grid_sample" path ------------------------------------------------------------------


class _SumOfPlaneLookups(torch.autograd.Function):
    """features = sum_p grid_sample(planes[:, p], grid[p]); planes (B, 3, C, R, R), grid
    (3, B, H, W, 2) contiguous -> (B, C, H, W). The backward hands the same upstream
    gradient to each plane's grid_sampler_2d_backward (autograd's expand of `sum` would
    materialise it three times) and asks for no grid gradient."""

    @staticmethod
    def forward(ctx, planes: Tensor, grid: Tensor) -> Tensor:
        flat = [planes[:, p].contiguous() for p in range(3)]
        out = None
        for p in range(3):
            sampled = torch.ops.aten.grid_sampler_2d(flat[p], grid[p], 0, 0, False)  # bilinear, zeros
            out = sampled if out is None else out.add_(sampled)
        ctx.save_for_backward(*flat, grid)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        *flat, grid = ctx.saved_tensors
        grad = grad.contiguous()
        grads = [
            torch.ops.aten.grid_sampler_2d_backward(grad, flat[p], grid[p], 0, 0, False, [True, False])[0]
            for p in range(3)
        ]
        return torch.stack(grads, dim=1), None


def _grid_sample_rays(
    planes: Tensor, origins: Tensor, directions: Tensor, t: Tensor, box: float, aggregate: str
) -> Tensor:
    o = plane_grid(origins, box).unsqueeze(3)  # (3, B, Nr, 1, 2)
    d = plane_grid(directions, box).unsqueeze(3)
    grid = torch.addcmul(o, t[None, :, :, :, None], d)  # (3, B, Nr, S, 2), contiguous
    if aggregate == "sum":
        features = _SumOfPlaneLookups.apply(planes, grid)
    else:
        features = None
        for p in range(3):
            sampled = F.grid_sample(planes[:, p], grid[p], mode="bilinear", padding_mode="zeros", align_corners=False)
            features = sampled if features is None else features * sampled
    return features.permute(0, 2, 3, 1)  # (B, Nr, S, C), a view


# ---- "gather" path -----------------------------------------------------------------------


class _QuadGather(torch.autograd.Function):
    """Weighted sum of 4 corner rows per point and plane from a channel-last table.

    table: (T, C) texels (padded planes, row-major, `pitch` texels per row);
    corner: (M, 3) int32, the top-left texel of each point's bilinear cell on each plane;
    weights: (M, 3, 4) weights of the texels corner + (0, 1, pitch, pitch + 1).
    Returns (M, C) = sum over the 12 (texel, weight) pairs of weight * table[texel].
    """

    @staticmethod
    def forward(ctx, table: Tensor, corner: Tensor, weights: Tensor, pitch: int) -> Tensor:
        offsets = torch.tensor([0, 1, pitch, pitch + 1], dtype=corner.dtype, device=corner.device)
        index = (corner[..., None] + offsets).view(corner.shape[0], 12)
        ctx.save_for_backward(corner, weights)
        ctx.rows, ctx.pitch = table.shape[0], pitch
        return F.embedding_bag(index, table, per_sample_weights=weights.view(-1, 12), mode="sum")

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        # grad_table[k + s_c] += sum over (point, plane) with top-left texel k of w_c * grad[point],
        # for the 4 corners c with shifts s_c: group (point, plane) pairs by k with one sort,
        # then one embedding_bag per corner gathers grad rows into per-texel sums.
        corner, weights = ctx.saved_tensors
        rows, pitch = ctx.rows, ctx.pitch
        keys = corner.view(-1)
        order = torch.sort(keys).indices
        counts = torch.bincount(keys, minlength=rows)
        bag_starts = torch.cumsum(counts, 0) - counts
        point = torch.div(order, 3, rounding_mode="floor")
        sorted_weights = weights.view(-1, 4).index_select(0, order).t()  # (4, 3M)
        grad = grad.contiguous()
        grad_table = torch.zeros(rows + pitch + 1, grad.shape[1], dtype=grad.dtype, device=grad.device)
        for c, shift in enumerate((0, 1, pitch, pitch + 1)):
            per_texel = F.embedding_bag(
                point, grad, bag_starts, mode="sum", per_sample_weights=sorted_weights[c].contiguous()
            )
            grad_table[shift : shift + rows] += per_texel
        return grad_table[:rows], None, None, None


def _padded_table(planes: Tensor) -> Tensor:
    """(B, 3, C, R, R) -> (B * 3 * (R + 3)^2, C): channel-last texel rows, planes padded with
    one zero texel before and two after on both axes (so no lookup needs a mask)."""
    c = planes.shape[2]
    return F.pad(planes.permute(0, 1, 3, 4, 2), (0, 0, 1, 2, 1, 2)).reshape(-1, c)


def _gather_rays(
    table: Tensor, shape: tuple[int, int, int], origins: Tensor, directions: Tensor, t: Tensor, box: float
) -> Tensor:
    b, c, r = shape
    pitch = r + 3
    # Texel coordinates in the padded grid: texel centres at integers 1..R.
    scale, shift = r / box, r / 2 + 0.5
    tt = t[..., None]
    xu = torch.addcmul((origins[..., _U] * scale + shift)[:, :, None], tt, (directions[..., _U] * scale)[:, :, None])
    xv = torch.addcmul((origins[..., _V] * scale + shift)[:, :, None], tt, (directions[..., _V] * scale)[:, :, None])
    # Clamping to [0, R + 1] keeps every corner inside the padded plane; beyond the cube
    # both corners along that axis are border zeros, or the real one gets weight 0.
    xu.clamp_(0, r + 1)
    xv.clamp_(0, r + 1)
    iu, iv = xu.floor(), xv.floor()
    fu, fv = xu.sub_(iu), xv.sub_(iv)  # (B, Nr, S, 3) fractional parts
    base = (torch.arange(b * 3, device=table.device, dtype=torch.int32) * (pitch * pitch)).view(b, 1, 1, 3)
    corner = torch.addcmul(iu, iv, torch.tensor(float(pitch), dtype=iu.dtype, device=iu.device))
    corner = corner.to(torch.int32).add_(base)  # (B, Nr, S, 3) top-left texel rows
    gu, gv = 1.0 - fu, 1.0 - fv
    weights = torch.stack([gv * gu, gv * fu, fv * gu, fv * fu], dim=-1)  # (B, Nr, S, 3, 4)
    features = _QuadGather.apply(table, corner.view(-1, 3), weights.view(-1, 3, 4), pitch)
    return features.view(*t.shape, c)


# ---- public API ---------------------------------------------------------------------------


class TriPlaneLookup:
    """B scenes' planes prepared once for many lookups (the renderer's coarse and fine
    passes share one padded channel-last table on the gather path).

    planes: (B, 3, C, R, R). `rays(origins, directions, t)` -> (B, Nr, S, C);
    `points(points)` -> (B, N, C). sampler: "auto" (gather on CPU, grid_sample
    elsewhere), "gather" or "grid_sample"; aggregate="product" always uses grid_sample.
    """

    def __init__(self, planes: Tensor, box: float = 2.0, aggregate: str = "sum", sampler: str = "auto"):
        if planes.dim() != 5 or planes.shape[1] != 3 or planes.shape[-1] != planes.shape[-2]:
            raise ValueError(f"planes must have shape (B, 3, C, R, R), got {tuple(planes.shape)}")
        self.planes = planes
        self.box = box
        self.aggregate = aggregate
        self.sampler = _resolve(sampler, planes, aggregate)
        self._table: Tensor | None = None

    def rays(self, origins: Tensor, directions: Tensor, t: Tensor) -> Tensor:
        """Features at origins + t * directions. origins, directions: (B, Nr, 3); t: (B, Nr, S) -> (B, Nr, S, C)."""
        _check(self.planes, origins)
        if torch.is_grad_enabled() and (origins.requires_grad or directions.requires_grad or t.requires_grad):
            raise ValueError(
                "the fast Tri-Plane samplers give no gradient to ray origins, directions or distances; "
                "detach them, or use sample_triplane_reference"
            )
        if directions.shape != origins.shape or t.shape[:2] != origins.shape[:2]:
            raise ValueError(
                f"directions {tuple(directions.shape)} and t {tuple(t.shape)} "
                f"do not match origins {tuple(origins.shape)}"
            )
        if self.sampler == "grid_sample":
            return _grid_sample_rays(self.planes, origins, directions, t, self.box, self.aggregate)
        if self._table is None:
            self._table = _padded_table(self.planes)
        b, _, c, r, _ = self.planes.shape
        return _gather_rays(self._table, (b, c, r), origins, directions, t, self.box)

    def points(self, points: Tensor) -> Tensor:
        """Features at points (B, N, 3) -> (B, N, C)."""
        _check(self.planes, points)
        t = points.new_zeros(points.shape[:2] + (1,))
        return self.rays(points, torch.zeros_like(points), t)[:, :, 0]


def sample_triplane_rays(
    planes: Tensor,
    origins: Tensor,
    directions: Tensor,
    t: Tensor,
    box: float = 2.0,
    aggregate: str = "sum",
    sampler: str = "auto",
) -> Tensor:
    """Tri-Plane features at the points origins + t * directions (fast paths).

    planes: (B, 3, C, R, R); origins, directions: (B, Nr, 3); t: (B, Nr, S).
    Returns (B, Nr, S, C), channel-last: features[s, r, k] = sum_p bilerp(planes[s, p],
    proj_p(o + t d)) (product over p with aggregate="product"). See `TriPlaneLookup`.
    """
    return TriPlaneLookup(planes, box, aggregate, sampler).rays(origins, directions, t)


def sample_triplane(
    planes: Tensor, points: Tensor, box: float = 2.0, aggregate: str = "sum", sampler: str = "auto"
) -> Tensor:
    """Tri-Plane features at points. planes: (B, 3, C, R, R); points: (B, N, 3) -> (B, N, C)."""
    return TriPlaneLookup(planes, box, aggregate, sampler).points(points)


def sample_triplane_reference(
    planes: Tensor, points: Tensor, box: float = 2.0, aggregate: str = "sum"
) -> Tensor:
    """Slow twin of `sample_triplane`: one F.grid_sample per plane. Returns (B, N, C)."""
    _check(planes, points)
    out = None
    for p, (a, b) in enumerate(PLANE_AXES):
        coords = torch.stack([points[..., a], points[..., b]], dim=-1) / (box / 2)  # (B, N, 2)
        sampled = F.grid_sample(
            planes[:, p], coords[:, None], mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B, C, 1, N)
        sampled = sampled[:, :, 0].transpose(1, 2)  # (B, N, C)
        if out is None:
            out = sampled
        elif aggregate == "sum":
            out = out + sampled
        elif aggregate == "product":
            out = out * sampled
        else:
            raise ValueError(f"aggregate must be 'sum' or 'product', got {aggregate!r}")
    return out


def total_variation(planes: Tensor) -> Tensor:
    """Mean squared difference of neighbouring texels (L2 total variation), a scalar.

    planes: (B, 3, C, R, R). TV = mean((P[..., i+1, j] - P[..., i, j])^2) +
    mean((P[..., i, j+1] - P[..., i, j])^2).
    """
    dv = planes[..., 1:, :] - planes[..., :-1, :]
    du = planes[..., :, 1:] - planes[..., :, :-1]
    return dv.square().mean() + du.square().mean()
