"""Frame sequences to video files: MP4 (H.264 through imageio's ffmpeg plugin, whose
`imageio-ffmpeg` wheel carries its own ffmpeg binary), or an animated GIF when that is
unavailable or asked for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from latentscenes.io import atomic_path

FORMATS = ("mp4", "gif")


def ffmpeg_available() -> bool:
    """Whether imageio can write MP4 here (the `imageio-ffmpeg` package and its binary)."""
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return False
    return True


def save_video(stem: Path, frames: np.ndarray, fps: float = 12.0, format: str = "mp4") -> Path:
    """Write uint8 frames (F, H, W, 3) to `stem`.mp4, or to `stem`.gif when `format` is
    "gif" or MP4 cannot be written here. Returns the path written (atomically)."""
    if format not in FORMATS:
        raise ValueError(f"video format must be one of {FORMATS}, got {format!r}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    if format == "mp4" and ffmpeg_available():
        path = stem.with_suffix(".mp4")
        _write_mp4(path, frames, fps)
        return path
    path = stem.with_suffix(".gif")
    _write_gif(path, frames, fps)
    return path


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    import imageio.v2 as imageio

    # H.264 in yuv420p plays in every browser; it needs even sides, so odd ones get one
    # edge pixel repeated.
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    # ffmpeg picks the container from the suffix, so the temporary file keeps it.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        writer = imageio.get_writer(
            tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
            macro_block_size=1, output_params=["-movflags", "+faststart"], ffmpeg_log_level="error",
        )
        with writer:
            for frame in frames:
                writer.append_data(frame)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
        )
