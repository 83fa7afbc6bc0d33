"""Checks of the arguments every public function takes, in one place.

Small pure helpers shared by the checks, :mod:`gradverify.descent` and
:mod:`gradverify.invariants`: a finite or positive real argument, a count,
a seed, and a real scalar returned by the user's loss.  Each raises :class:`~gradverify.errors.InvalidArgument` naming the argument and
its value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgument

__all__ = ["real_scalar", "valid_count", "valid_finite", "valid_positive", "valid_seed"]


def valid_finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name}={value!r} must be a real number") from exc
    if not math.isfinite(out):
        raise InvalidArgument(f"{name}={value!r} must be finite")
    return out


def valid_positive(name: str, value: Any) -> float:
    out = valid_finite(name, value)
    if out <= 0:
        raise InvalidArgument(f"{name}={value!r} must be positive")
    return out


def valid_count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an int >= {minimum}")
    return int(value)


def real_scalar(value: Any, what: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"{what} must return a real scalar, got {type(value).__name__} of shape {arr.shape}")
    return float(arr.reshape(()))


def valid_seed(seed: Any) -> int:
    """The seed a check or a run uses: the caller's int >= 0, or a fresh one.

    A fresh seed each run (so repeated runs try new directions and batches) is
    recorded in the report or trajectory, so that any run can be replayed.

    >>> valid_seed(3)
    3
    >>> 0 <= valid_seed(None) < 2**32
    True
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return valid_count("seed", seed, minimum=0)
