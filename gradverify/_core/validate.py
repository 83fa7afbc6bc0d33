"""Checks of the arguments every public function takes, in one place.

Small pure helpers shared by the checks, :mod:`gradverify.descent` and
:mod:`gradverify.invariants`: a callable, a choice among names, a finite or
positive real number, a count, a seed, a step, a real array, and a real scalar
returned by the user's loss.  Each raises
:class:`~gradverify.errors.InvalidArgument` naming the argument and showing
its value, before any user function is called.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "real_scalar",
    "show",
    "valid_array",
    "valid_callable",
    "valid_choice",
    "valid_count",
    "valid_finite",
    "valid_positive",
    "valid_seed",
    "valid_step",
]


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters for a message.

    >>> show("abc")
    "'abc'"
    >>> show(10**400)
    'an int of 401 digits'
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an int of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def valid_callable(name: str, value: Any, what: str) -> Callable[..., Any]:
    """``value`` itself when it can be called; ``what`` says what it should be.

    >>> valid_callable("f", 3, "parameters -> scalar")
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: f=3 is not callable; it must be a function: parameters -> scalar
    """
    if not callable(value):
        raise InvalidArgument(f"{name}={show(value)} is not callable; it must be a function: {what}")
    function: Callable[..., Any] = value
    return function


def valid_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices`` (strings).

    >>> valid_choice("method", "five-point", ("central", "forward"))
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: method='five-point' is not one of 'central', 'forward'
    """
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgument(f"{name}={show(value)} is not one of {', '.join(map(repr, choices))}")
    return value


def _real(name: str, value: Any) -> float:
    # Strings are refused even when float() would parse them: safety='4' is
    # almost always a mistake (a value read from a file or the command line
    # and never converted), and accepting it hides where it came from.
    if isinstance(value, (str, bytes, bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        raise InvalidArgument(f"{name}={show(value)} must be a real number")
    try:
        arr = np.asarray(value)
        if arr.size != 1 or arr.dtype.kind not in "fiu":
            raise TypeError
        return float(arr.reshape(()))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{name}={show(value)} must be a real number") from exc


def valid_finite(name: str, value: Any) -> float:
    """``value`` as a float, when it is a finite real number.

    >>> valid_finite("gamma", 0.5)
    0.5
    """
    out = _real(name, value)
    if not math.isfinite(out):
        raise InvalidArgument(f"{name}={show(value)} must be finite")
    return out


def valid_positive(name: str, value: Any) -> float:
    """``value`` as a float, when it is a finite real number > 0.

    >>> valid_positive("safety", "4")
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: safety='4' must be a real number
    """
    out = valid_finite(name, value)
    if out <= 0:
        raise InvalidArgument(f"{name}={show(value)} must be positive")
    return out


def valid_count(name: str, value: Any, *, minimum: int) -> int:
    """``value`` as an int, when it is an int >= ``minimum`` (bools are refused).

    >>> valid_count("directions", 0, minimum=1)
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: directions=0 must be an int >= 1
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgument(f"{name}={show(value)} must be an int >= {minimum}")
    return int(value)


def valid_array(name: str, value: Any, *, shape: tuple[Any, ...] | None = None) -> np.ndarray:
    """``value`` as a finite float64 array (of ``shape`` when given).

    >>> valid_array("cotangent", "abc")
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: cotangent='abc' must be a real numeric array
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name}={show(value)} must be a real numeric array") from exc
    if arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"{name}={show(value)} must be a real numeric array")
    arr = arr.astype(np.float64)
    if shape is not None and arr.shape != tuple(shape):
        from ..errors import ShapeMismatch

        raise ShapeMismatch(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        from ..errors import NonFiniteValue

        raise NonFiniteValue(f"{name} contains {arr.reshape(-1)[~np.isfinite(arr.reshape(-1))][0]}; it must be finite")
    return arr


def valid_step(h: Any, size: int) -> Any:
    """The user's step ``h``: None, a positive finite number, or one per entry of x.

    >>> valid_step(1e-3, 4)
    0.001
    >>> valid_step("abc", 4)
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: h='abc' must be a positive real number or an array of them
    """
    if h is None:
        return None
    if isinstance(h, (str, bytes, bool, np.bool_)):
        raise InvalidArgument(f"h={show(h)} must be a positive real number or an array of them")
    try:
        arr = np.asarray(h)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"h={show(h)} must be a positive real number or an array of them") from exc
    if arr.dtype.kind not in "fiu":
        raise InvalidArgument(f"h={show(h)} must be a positive real number or an array of them")
    arr = arr.astype(np.float64)
    if arr.ndim != 0 and arr.size != size:
        raise InvalidArgument(f"h has {arr.size} entries, expected a scalar or one per entry of x ({size})")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidArgument(f"h={show(h)} must be positive and finite")
    return float(arr) if arr.ndim == 0 else arr


def real_scalar(value: Any, what: str) -> float:
    """A real scalar returned by the user's ``what`` (a loss), as a float."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        arr = np.asarray(None)
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        raise InvalidArgument(
            f"{what} must return a real scalar, got {type(value).__name__} {show(value)} of shape {arr.shape}"
        )
    return float(arr.reshape(()))


def valid_seed(seed: Any) -> int:
    """The seed a check or a run uses: the caller's int >= 0, or a fresh one.

    A fresh seed each run (so repeated runs try new directions and batches) is
    recorded in the report or trajectory, so that any run can be replayed.

    >>> valid_seed(3)
    3
    >>> 0 <= valid_seed(None) < 2**32
    True
    >>> valid_seed(-1)
    Traceback (most recent call last):
    ...
    gradverify.errors.InvalidArgument: seed=-1 must be an int >= 0
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return valid_count("seed", seed, minimum=0)
