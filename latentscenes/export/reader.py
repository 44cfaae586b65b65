"""Read an export folder (docs/export.md) and render its scenes, without any run folder.

    scenes = ExportedScenes("exports/cars")
    scene = scenes.scene("car-003")                    # or scenes.scene(3)
    views = scenes.render(scene, scene.cam2world[:2], scene.intrinsics[:2], scene.height, scene.width)
    views.images                                       # (2, 3, H, W) in [-1, 1]

Only the rendering layer and, for latent scenes, the autoencoder are needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from latentscenes.autoencoder import LatentAutoencoder, load_autoencoder
from latentscenes.config import load_config
from latentscenes.errors import CheckpointError
from latentscenes.rendering.config import DecoderConfig, RenderConfig
from latentscenes.rendering.decoder import TriPlaneDecoder
from latentscenes.rendering.scene_views import LatentDecoding, SceneViews, render_scene_views

FORMAT = "latentscenes-export"
VERSION = 1
EXPORT_JSON = "export.json"
SCENES_JSON = "scenes.json"
RENDER_YAML = "render.yaml"
MLP_YAML = "mlp.yaml"
MLP_WEIGHTS = "mlp.safetensors"
AUTOENCODER = "autoencoder"
SCENES = "scenes"


def scene_file(index: int) -> str:
    """The file of the `index`-th exported scene, relative to the export folder."""
    return f"{SCENES}/{index:06d}.safetensors"


@dataclass
class ExportedScene:
    """One scene: planes (3, C, R, R); its views' cam2world (V, 4, 4) and intrinsics (V, 3, 3)
    in pixels of its `height` x `width` images (the first `num_test_views` held out)."""

    scene_id: str
    planes: torch.Tensor
    cam2world: torch.Tensor
    intrinsics: torch.Tensor
    height: int
    width: int
    num_test_views: int


class ExportedScenes:
    """An export folder: the shared MLP, render settings, the autoencoder of latent exports,
    and one file per scene, read when asked for (never all scenes at once)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.meta = _read_json(self.folder / EXPORT_JSON)
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise CheckpointError(
                f"{self.folder / EXPORT_JSON} is not a {FORMAT} version {VERSION} file "
                f"(format {self.meta.get('format')!r}, version {self.meta.get('version')!r})"
            )
        self.space: str = self.meta["space"]
        self.scenes_info: list[dict] = _read_json(self.folder / SCENES_JSON)["scenes"]
        self.scene_ids = [info["id"] for info in self.scenes_info]
        self.render_config = load_config(RenderConfig, self.folder / RENDER_YAML)
        mlp = self.meta["mlp"]
        self.mlp = TriPlaneDecoder(mlp["in_channels"], mlp["out_channels"], load_config(DecoderConfig, self.folder / MLP_YAML))
        self.mlp.load_state_dict(_load_tensors(self.folder / MLP_WEIGHTS))
        self.mlp.eval()
        self.autoencoder: LatentAutoencoder | None = None
        if self.space == "latent":
            self.autoencoder = load_autoencoder(self.folder / AUTOENCODER).eval()

    def __len__(self) -> int:
        return len(self.scene_ids)

    def scene(self, which: str | int) -> ExportedScene:
        """A scene by id or index."""
        if isinstance(which, str) and which not in self.scene_ids:
            raise KeyError(f"{self.folder} has no scene {which!r}")
        index = self.scene_ids.index(which) if isinstance(which, str) else which
        path = self.folder / self.scenes_info[index]["file"]
        tensors = _load_tensors(path)
        info = self.scenes_info[index]
        return ExportedScene(
            scene_id=self.scene_ids[index], planes=tensors["planes"], cam2world=tensors["cam2world"],
            intrinsics=tensors["intrinsics"], height=info["height"], width=info["width"],
            num_test_views=info["num_test_views"],
        )

    def latent_decoding(self) -> LatentDecoding | None:
        """For latent exports: the stored white background and the autoencoder's decoder."""
        if self.autoencoder is None:
            return None
        latent = self.meta["latent"]
        background = torch.tensor(latent["background"], dtype=torch.float32)
        return LatentDecoding(background, latent["factor"], self.autoencoder.decode_normalized)

    @torch.no_grad()
    def render(
        self, scene: ExportedScene, cam2world: torch.Tensor, intrinsics: torch.Tensor, height: int, width: int
    ) -> SceneViews:
        """Views of `scene` from cam2world (V, 4, 4) (OpenCV) with intrinsics (V, 3, 3) in pixels of
        `height` x `width` images."""
        return render_scene_views(
            scene.planes, self.mlp, self.render_config, cam2world, intrinsics, height, width, self.latent_decoding()
        )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path} is missing or not JSON: {error}") from None


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is missing or corrupt: {error}") from None
