"""Rendering layer: pure tensor functions and small modules for Tri-Plane volume rendering.

- `rays`: rays from OpenCV cameras, random pixel subsets, pixel gathering
- `triplane`: the plane-axes convention, bilinear Tri-Plane sampling, total variation
- `decoder`: the tiny shared MLP (features -> density, colour)
- `samplers`: stratified and importance (inverse-CDF) samples along rays
- `volume`: compositing weights, accumulation, depth, background (pure math)
- `renderer`: `render_rays` (any field; `TriPlaneField` for Tri-Planes), `render_views` (images)
- `scene_views`: `render_scene_views` (one scene's whole views from any cameras: images,
  depth, latents decoded by a given decoder), `render_path` (a camera path in chunks)
- `config`: `RenderConfig`, `DecoderConfig`
"""

from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.rays import Rays, camera_rays, gather_pixels, pixel_centers, random_pixels
from latentscenes.rendering.renderer import (
    RenderOutput,
    TriPlaneField,
    points_along_rays,
    render_rays,
    render_views,
)
from latentscenes.rendering.triplane import PLANE_AXES, sample_triplane, total_variation

__all__ = [
    "DecoderConfig",
    "RenderConfig",
    "TriPlaneDecoder",
    "Rays",
    "camera_rays",
    "gather_pixels",
    "pixel_centers",
    "random_pixels",
    "RenderOutput",
    "TriPlaneField",
    "points_along_rays",
    "render_rays",
    "render_views",
    "PLANE_AXES",
    "sample_triplane",
    "total_variation",
]
