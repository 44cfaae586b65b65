"""Scenes layer: the bank of N scenes' Tri-Planes (plain or micro-macro)."""

from latentscenes.scenes.bank import SceneBank
from latentscenes.scenes.config import TriPlaneConfig

__all__ = ["SceneBank", "TriPlaneConfig"]
