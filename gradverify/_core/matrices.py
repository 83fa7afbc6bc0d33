"""Derivatives as (n, m) matrices: n inputs (the flat parameters), m outputs.

The verdict layer compares analytic and numerical derivatives entry by entry on
one matrix, whatever the structure of the user's parameters (one array, or a
dict/tuple/list of arrays) and of the function's output (a scalar, or an
array).  These helpers move between the two, validating on the way: the point
must be finite, a derivative must have the structure and shapes of the point
(with the output's shape in front), be finite, and leave its input alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputMutated, InvalidArgument, NonFiniteValue
from .params import ParamSpec

__all__ = ["_analytic_matrix", "_call_derivative", "_flat_point", "_unflatten_matrix"]


def _flat_point(x: Any, argname: str = "x", names: Any = None) -> tuple[ParamSpec, np.ndarray]:
    """The structure of ``x`` and a flat copy of it, refused if not finite."""
    spec = ParamSpec.of(x, argname=argname, names=names)
    if spec.size == 0:
        raise InvalidArgument(f"{argname} has no entries (shapes {list(spec.shapes)}): there is nothing to check")
    flat = spec.flatten(x, argname=argname)
    if not np.all(np.isfinite(flat)):
        bad = int(np.flatnonzero(~np.isfinite(flat))[0])
        raise NonFiniteValue(f"{argname} contains {flat[bad]} at {spec.describe(bad)}; the point must be finite")
    return spec, flat


def _analytic_matrix(value: Any, spec: ParamSpec, out_shape: tuple[Any, ...], argname: str) -> np.ndarray:
    """Flatten a derivative of structure like x (leaves out_shape + leaf shape) to (n, m).

    The structure is checked by :meth:`ParamSpec.leaves`, the one structure
    check (a :class:`ShapeMismatch` for any leaf, key or shape not like x).
    """
    m = int(np.prod(out_shape)) if out_shape else 1
    leaves = spec.leaves(value, argname=argname, prefix=tuple(out_shape))
    A = np.empty((spec.size, m), dtype=np.float64)
    for leaf, start, stop in zip(leaves, spec.offsets[:-1], spec.offsets[1:]):
        A[start:stop] = leaf.reshape(m, -1).T
    if not np.all(np.isfinite(A)):
        i, j = np.argwhere(~np.isfinite(A))[0]
        out = f", output {tuple(int(k) for k in np.unravel_index(j, out_shape))}" if out_shape else ""
        raise NonFiniteValue(
            f"{argname} returned {A[i, j]} at entry {spec.describe(int(i))}{out}; the analytic derivative must be finite"
        )
    return A


def _call_derivative(fn: Callable[..., Any], spec: ParamSpec, x: np.ndarray, args: tuple[Any, ...], argname: str) -> Any:
    """``fn`` at a fresh copy of the point; an error if it modifies that copy."""
    point = spec.unflatten(x)
    snapshot = x.copy()
    value = fn(point, *args)
    if not np.array_equal(spec.flatten(point), snapshot):
        raise InputMutated(f"{argname} modified its input in place; it must not modify x (copy before writing)")
    return value


def _unflatten_matrix(M: np.ndarray, spec: ParamSpec, out_shape: tuple[Any, ...]) -> Any:
    """(n, m) back to the structure of x with leaves out_shape + leaf shape."""
    leaves = []
    for shape, a, b in zip(spec.shapes, spec.offsets[:-1], spec.offsets[1:]):
        block = M[a:b].T.reshape(tuple(out_shape) + tuple(shape))
        leaves.append(block)
    return spec.build(leaves)
