"""Checks of the numbers the descent routines take and get back.

Small pure helpers shared by :mod:`gradverify.descent`, its schedules and
smoothness estimate, and :mod:`gradverify.invariants`: a finite or positive
real argument, a count, and a real scalar returned by the user's loss.  Each
raises :class:`~gradverify.errors.InvalidArgument` naming the argument and
its value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InvalidArgument

__all__ = ["_count", "_finite", "_positive", "_scalar"]


def _finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name}={value!r} must be a real number") from exc
    if not math.isfinite(out):
        raise InvalidArgument(f"{name}={value!r} must be finite")
    return out


def _positive(name: str, value: Any) -> float:
    out = _finite(name, value)
    if out <= 0:
        raise InvalidArgument(f"{name}={value!r} must be positive")
    return out


def _count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an int >= {minimum}")
    return int(value)


def _scalar(value: Any, what: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"{what} must return a real scalar, got {type(value).__name__} of shape {arr.shape}")
    return float(arr.reshape(()))
