"""Scenes layer: the bank of N scenes' Tri-Planes (plain or micro-macro)."""

from latentscenes.rendering.config import TriPlaneConfig
from latentscenes.scenes.bank import SceneBank

__all__ = ["SceneBank", "TriPlaneConfig"]
