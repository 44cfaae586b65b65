"""Multi-view scene data.

`load_scenes(root, ...)` reads any format of `formats.FORMATS` (SRN folders, an EG3D
``dataset.json``, nerfstudio/Blender ``transforms.json``) into a `SceneCollection` of
`Scene`s with OpenCV cam2world and pixel intrinsics (conventions: `latentscenes.cameras`). `write_srn_scene`
writes the SRN layout, `write_eg3d_dataset` the EG3D one. `DataConfig` is the typed config
section; `dataset_info` summarises a dataset without decoding it.
"""

from latentscenes.data.config import DataConfig, load_scenes_from_config
from latentscenes.data.eg3d import write_eg3d_dataset
from latentscenes.data.images import read_image, resize_image, write_png
from latentscenes.data.formats import FORMAT_NAMES, FORMATS, detect_format
from latentscenes.data.info import DatasetInfo, dataset_info, format_info
from latentscenes.data.load import load_scenes
from latentscenes.data.scene import Scene, SceneCollection, SceneFiles, to_model_range
from latentscenes.data.srn import write_srn_scene

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "DataConfig",
    "DatasetInfo",
    "Scene",
    "SceneCollection",
    "SceneFiles",
    "dataset_info",
    "detect_format",
    "format_info",
    "load_scenes",
    "load_scenes_from_config",
    "read_image",
    "resize_image",
    "to_model_range",
    "write_eg3d_dataset",
    "write_png",
    "write_srn_scene",
]
