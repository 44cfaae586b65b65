"""Validation shared by the readers: every error is one line naming the file (or entry)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentscenes.cameras import rotation_error
from latentscenes.errors import DataError

ROTATION_TOLERANCE = 1e-3


def read_json(path: Path) -> Any:
    """The JSON document in `path`; a missing or malformed file is a `DataError` naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None


def parse_pose(values: Any, where: str) -> np.ndarray:
    """A validated cam2world ``float64 (4, 4)`` from 16 numbers (flat or nested 4x4).

    `where` names the file (and entry) for the error message. Checks: exactly 16 finite
    numbers, last row ``0 0 0 1``, rotation block orthonormal with determinant +1 within
    `ROTATION_TOLERANCE`.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: pose must be 16 numbers (a 4x4 cam2world matrix)") from None
    if array.size != 16 or array.shape not in ((16,), (4, 4)):
        raise DataError(
            f"{where}: pose must be 16 numbers (a 4x4 cam2world matrix), got {array.size}"
        )
    array = array.reshape(4, 4)
    if not np.isfinite(array).all():
        raise DataError(f"{where}: pose has non-finite numbers (nan or inf)")
    if np.abs(array[3] - np.array([0.0, 0.0, 0.0, 1.0])).max() > ROTATION_TOLERANCE:
        raise DataError(f"{where}: pose's last row must be 0 0 0 1, got {_fmt(array[3])}")
    error = float(rotation_error(torch.from_numpy(array)))
    if error > ROTATION_TOLERANCE:
        raise DataError(
            f"{where}: pose's rotation is not orthonormal with determinant +1 "
            f"(error {error:.2g} > {ROTATION_TOLERANCE:g})"
        )
    return array


def check_intrinsics(K: np.ndarray, where: str) -> np.ndarray:
    """Validate a pinhole ``(3, 3)`` K: finite, fx > 0, fy > 0, last row ``0 0 1``."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise DataError(f"{where}: intrinsics must be a 3x3 matrix (9 numbers), got {K.size}")
    if not np.isfinite(K).all():
        raise DataError(f"{where}: intrinsics have non-finite numbers (nan or inf)")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise DataError(f"{where}: focal lengths must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}")
    if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
        raise DataError(f"{where}: intrinsics must look like [[fx,s,cx],[0,fy,cy],[0,0,1]]")
    return K


def positive_number(value: Any, name: str, where: str) -> float:
    """A finite number > 0 (JSON values, text fields), else `DataError`."""
    if isinstance(value, bool):
        raise DataError(f"{where}: '{name}' must be a positive number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: '{name}' must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise DataError(f"{where}: '{name}' must be a positive number, got {value!r}")
    return number


def _fmt(row: np.ndarray) -> str:
    return " ".join(f"{v:g}" for v in row)
