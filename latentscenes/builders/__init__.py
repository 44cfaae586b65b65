"""Dataset builders: render real meshes (TORCS cars) or pybullet's objects to the SRN layout.

    from latentscenes.builders import BuildSettings, build_dataset
    result = build_dataset("data/cars", BuildSettings(source="torcs", scenes=76))

Modules, from files to pixels: `ac3d` (AC3D reader), `debian` (fetching a Debian package
into the cache), `torcs` (cars, liveries, wheels), `pybullet_objects` (the pip-only
fallback), `variants`, `source` (entries and world normalisation), `sampling` (SRN-like
cameras), `tinyrender` (pybullet's CPU renderer and its camera conventions), `build` (plan,
render, meta.json), `contact_sheet`, `cli` (``latentscenes data build``).
"""

from latentscenes.builders.build import BuildResult, BuildSettings, ScenePlan, build_dataset, plan_scenes

__all__ = ["BuildResult", "BuildSettings", "ScenePlan", "build_dataset", "plan_scenes"]
