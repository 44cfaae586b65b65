"""On-disk cache of latents (posterior means) of every training view, for a frozen encoder.

Layout: `<folder>/<encoder key>/<scene key>.safetensors`, one file per scene holding
`latents float32 (V, c, h, w)`, where

- the encoder key is a SHA-256 of every tensor that determines `encode` (encoder and
  quant_conv: names, dtypes, shapes and values), so a changed encoder never reuses
  stale latents;
- the scene key hashes the scene id and the images' bytes and shape (so their content
  and resolution).

Files are written atomically and carry the SHA-256 of their latents: a file that cannot be
read, or whose latents do not match their checksum (truncated, damaged), is never used but
recomputed and replaced.
Latents are raw (not normalised): the normaliser can change without invalidating them.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from latentscenes.autoencoder.model import LatentAutoencoder, images_to_model
from latentscenes.errors import LatentScenesError
from latentscenes.io import atomic_path

CACHE_VERSION = "2"  # 2: files carry a checksum of their latents


def encoder_key(ae: LatentAutoencoder) -> str:
    """Hex SHA-256 of the encoder's weights (everything `encode` depends on)."""
    digest = hashlib.sha256(f"latentscenes-latent-cache-v{CACHE_VERSION}".encode())
    for name, tensor in sorted(ae.encoder_state().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def images_key(scene_id: str, images: Tensor | np.ndarray) -> str:
    """Hex digest of a scene id and its images `uint8 (V, H, W, 3)` (content and resolution)."""
    array = np.ascontiguousarray(torch.as_tensor(images).numpy())
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{scene_id}|{array.dtype}|{array.shape}|".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


_PIXELS_PER_BATCH = 1 << 20


class LatentCache:
    """Latents of a frozen encoder, computed once per (encoder, scene, images) and kept in `folder`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, key: str, scene_id: str, images: Tensor | np.ndarray) -> Path:
        """The file for scene `scene_id` with `images` under encoder key `key`."""
        return self.folder / key[:32] / f"{images_key(scene_id, images)}.safetensors"

    @torch.no_grad()
    def get_or_compute(
        self,
        ae: LatentAutoencoder,
        images: Mapping[str, Tensor | np.ndarray] | Iterable[tuple[str, Tensor | np.ndarray]],
        batch_size: int | None = None,
    ) -> dict[str, Tensor]:
        """`{scene_id: latents float32 (V, c, h, w)}` (posterior means, on the CPU) of every scene.

        `images` maps scene ids to `uint8 (V, H, W, 3)` views, as a dict or an iterable of
        pairs (scenes can stream from disk). Cached scenes are read; the others are
        encoded in batches of `batch_size` views (default: about 2^20 pixels per batch, 64
        views of 128^2; the encoder's cost per view falls with the batch) and written.
        """
        key = encoder_key(ae)
        pairs = images.items() if isinstance(images, Mapping) else images
        latents: dict[str, Tensor] = {}
        for scene_id, views in pairs:
            if scene_id in latents:
                raise ValueError(f"scene id {scene_id!r} appears twice")
            path = self.path(key, scene_id, views)
            cached = self._read(path, key, len(views), ae.latent_shape(views.shape[1], views.shape[2]))
            if cached is None:
                cached = self._encode(ae, views, batch_size)
                self._write(path, cached, key, scene_id)
                self.misses += 1
            else:
                self.hits += 1
            latents[scene_id] = cached
        return latents

    @staticmethod
    def _encode(ae: LatentAutoencoder, views: Tensor | np.ndarray, batch_size: int | None) -> Tensor:
        views = torch.as_tensor(views)
        batch_size = batch_size or max(1, _PIXELS_PER_BATCH // (views.shape[1] * views.shape[2]))
        out = []
        for chunk in views.split(batch_size):
            batch = images_to_model(chunk).to(ae.device, ae.dtype)
            out.append(ae.encode(batch, sample=False).float().cpu())
        return torch.cat(out)

    @staticmethod
    def _read(path: Path, key: str, count: int, shape: tuple[int, int, int]) -> Tensor | None:
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("encoder_key") != key:
                    raise ValueError("encoder key differs")
                latents = handle.get_tensor("latents")
            if metadata.get("sha256") != _checksum(latents):
                raise ValueError("latents do not match their checksum")
        except Exception as error:  # unreadable or foreign file: recompute and replace it
            warnings.warn(f"latent cache file {path} is unreadable ({error}); recomputing it")
            return None
        if tuple(latents.shape) != (count, *shape):
            warnings.warn(f"latent cache file {path} has shape {tuple(latents.shape)}; recomputing it")
            return None
        return latents

    @staticmethod
    def _write(path: Path, latents: Tensor, key: str, scene_id: str) -> None:
        metadata = {"encoder_key": key, "scene_id": str(scene_id), "version": CACHE_VERSION, "sha256": _checksum(latents)}
        with atomic_path(path) as tmp:
            try:
                save_file({"latents": latents.contiguous()}, str(tmp), metadata=metadata)
            except SafetensorError as error:  # a full disk: no partial file is left under the entry's name
                raise LatentScenesError(f"cannot write latent cache file {path}: {error}") from None


def _checksum(latents: Tensor) -> str:
    return hashlib.sha256(latents.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
