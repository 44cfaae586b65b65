"""Learned scenes taken out of a run: `write_export` (from a run folder) and `ExportedScenes`
(the standalone reader, which needs no run folder). The layout is in docs/export.md."""

from latentscenes.export.reader import FORMAT, VERSION, ExportedScenes

__all__ = ["FORMAT", "VERSION", "ExportedScenes"]
