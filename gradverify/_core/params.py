"""Parameters as one flat vector: one array, or a dict/tuple/list of arrays.

Estimators work on a flat float vector; users work with a model's parameters.
:class:`ParamSpec` records the structure once and moves between the two.  The
trick that keeps per-coordinate loops cheap is :meth:`ParamSpec.views`: the
leaves handed to the user's function are views into one flat buffer, so
perturbing ``buffer[i]`` perturbs the right entry of the right leaf without
rebuilding anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

import numpy as np

from ..errors import InvalidArgument, ShapeMismatch

__all__ = ["ParamSpec", "Params", "Location"]

#: What gradverify accepts as parameters.
Params = Union[np.ndarray, float, dict, tuple, list]  # noqa: UP007 (a runtime alias on Python 3.10)
#: Where an entry lives: an index tuple for a lone array, else (name, index).
Location = tuple


def _float_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """The float dtype the estimators work in.

    Integer and boolean inputs are promoted to float64 (a finite difference at
    an integer point is still well defined); mixed float32/float64 parameters
    are worked in float64 so no entry loses precision.
    """
    floats = [d for d in dtypes if d.kind == "f"]
    if any(d.kind == "c" for d in dtypes):
        raise InvalidArgument(
            "complex parameters are not supported: gradverify checks derivatives "
            "of real functions of real arrays (complex-step is done internally)"
        )
    if any(d.kind not in "fiub" for d in dtypes):
        bad = next(d for d in dtypes if d.kind not in "fiub")
        raise InvalidArgument(f"parameters must be numeric arrays, got dtype {bad}")
    if not floats:
        return np.dtype(np.float64)
    if all(d == np.float32 for d in floats) and len(floats) == len(dtypes):
        return np.dtype(np.float32)
    if all(d.itemsize <= 4 for d in floats) and len(floats) == len(dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


@dataclass(frozen=True)
class ParamSpec:
    """The structure of a parameter set: names, shapes and offsets.

    Attributes
    ----------
    kind : str
        ``"array"`` for one array, else ``"dict"``, ``"tuple"`` or ``"list"``.
    names : tuple
        Dict keys in order, or positions for tuples and lists.
    shapes : tuple of tuple of int
        The shape of each leaf.
    dtype : numpy.dtype
        The float dtype every leaf is worked in.
    """

    kind: str
    names: tuple
    shapes: tuple
    dtype: np.dtype

    @classmethod
    def of(cls, x: Any, *, argname: str = "x") -> ParamSpec:
        """Describe ``x`` (one array or a dict/tuple/list of arrays)."""
        if isinstance(x, dict):
            if not x:
                raise InvalidArgument(f"{argname} is an empty dict: there is nothing to differentiate")
            names = tuple(x.keys())
            leaves = [np.asarray(v) for v in x.values()]
            kind = "dict"
        elif isinstance(x, (tuple, list)):
            if not x:
                raise InvalidArgument(f"{argname} is an empty {type(x).__name__}: there is nothing to differentiate")
            names = tuple(range(len(x)))
            leaves = [np.asarray(v) for v in x]
            kind = type(x).__name__
        else:
            try:
                leaves = [np.asarray(x)]
            except Exception as exc:  # pragma: no cover - numpy raises many types
                raise InvalidArgument(
                    f"{argname} must be an array or a dict/tuple/list of arrays, got {type(x).__name__}"
                ) from exc
            names = (None,)
            kind = "array"
        for name, leaf in zip(names, leaves):
            if leaf.dtype == object:
                where = "" if kind == "array" else f"[{name!r}]"
                raise InvalidArgument(
                    f"{argname}{where} is not a numeric array (dtype object); "
                    "nested structures are not supported: flatten them into a dict of arrays"
                )
        dtype = _float_dtype([leaf.dtype for leaf in leaves])
        return cls(kind, names, tuple(leaf.shape for leaf in leaves), dtype)

    # -- sizes -----------------------------------------------------------------
    # Cached: a vectorized sweep asks for views of every chunk, and recomputing
    # these per chunk cost more than a cheap f itself.
    @cached_property
    def sizes(self) -> tuple:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @cached_property
    def offsets(self) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        offsets.flags.writeable = False
        return offsets

    @cached_property
    def size(self) -> int:
        return int(sum(self.sizes))

    # -- moving between flat and structured --------------------------------------
    def flatten(self, x: Any, *, dtype: Any = None, argname: str = "x") -> np.ndarray:
        """Copy the leaves of ``x`` into one new flat vector of ``dtype``."""
        leaves = self.leaves(x, argname=argname)
        out = np.empty(self.size, dtype=dtype or self.dtype)
        for leaf, start, stop in zip(leaves, self.offsets[:-1], self.offsets[1:]):
            out[start:stop] = np.asarray(leaf).reshape(-1)
        return out

    def leaves(self, x: Any, *, argname: str = "x") -> list:
        """The leaves of ``x`` as arrays, checked against this structure."""
        if self.kind == "array":
            if isinstance(x, (dict, tuple, list)) and not isinstance(x, np.ndarray):
                raise ShapeMismatch(f"{argname} is a {type(x).__name__}, expected one array of shape {self.shapes[0]}")
            leaves = [np.asarray(x)]
        elif self.kind == "dict":
            if not isinstance(x, dict):
                raise ShapeMismatch(f"{argname} is a {type(x).__name__}, expected a dict with keys {list(self.names)}")
            if set(x.keys()) != set(self.names):
                raise ShapeMismatch(
                    f"{argname} has keys {sorted(map(str, x.keys()))}, expected {sorted(map(str, self.names))}"
                )
            leaves = [np.asarray(x[name]) for name in self.names]
        else:
            if not isinstance(x, (tuple, list)) or len(x) != len(self.names):
                got = type(x).__name__ + (f" of length {len(x)}" if isinstance(x, (tuple, list)) else "")
                raise ShapeMismatch(f"{argname} is a {got}, expected a {self.kind} of {len(self.names)} arrays")
            leaves = [np.asarray(v) for v in x]
        for name, leaf, shape in zip(self.names, leaves, self.shapes):
            if leaf.shape != shape:
                raise ShapeMismatch(
                    f"{argname}{self._where(name)} has shape {leaf.shape}, expected {shape} (the shape of the input)"
                )
        return leaves

    def views(self, flat: np.ndarray) -> Any:
        """The structure whose leaves are views into ``flat`` (no copy).

        ``flat`` may carry leading batch axes: ``(..., size)`` gives leaves of
        shape ``(..., *shape)``.
        """
        lead = flat.shape[:-1]
        leaves = [
            flat[..., start:stop].reshape(lead + shape)
            for shape, start, stop in zip(self.shapes, self.offsets[:-1], self.offsets[1:])
        ]
        return self.build(leaves)

    def build(self, leaves: Sequence[Any]) -> Any:
        """Assemble leaves into this structure."""
        if self.kind == "array":
            return leaves[0]
        if self.kind == "dict":
            return dict(zip(self.names, leaves))
        if self.kind == "tuple":
            return tuple(leaves)
        return list(leaves)

    def unflatten(self, flat: np.ndarray) -> Any:
        """A new structure (copies) holding the entries of ``flat``."""
        return self.views(np.array(flat, copy=True))

    # -- naming entries ------------------------------------------------------------
    def locate(self, flat_index: int) -> Location:
        """The location of flat entry ``flat_index``: an index tuple, or (name, index)."""
        leaf = int(np.searchsorted(self.offsets, flat_index, side="right") - 1)
        local = int(flat_index - self.offsets[leaf])
        index = tuple(int(i) for i in np.unravel_index(local, self.shapes[leaf])) if self.shapes[leaf] else ()
        if self.kind == "array":
            return index
        return (self.names[leaf], index)

    def flat_index(self, location: Location) -> int:
        """Inverse of :meth:`locate`."""
        if self.kind == "array":
            name, index = None, location
        else:
            name, index = location
        leaf = self.names.index(name)
        local = int(np.ravel_multi_index(index, self.shapes[leaf])) if self.shapes[leaf] else 0
        return int(self.offsets[leaf] + local)

    def describe(self, flat_index: int) -> str:
        """A readable name for an entry, such as ``W1[3, 4]`` or ``x[2]``."""
        loc = self.locate(flat_index)
        if self.kind == "array":
            name, index = "x", loc
        else:
            name, index = loc
            name = str(name) if self.kind == "dict" else f"x[{name}]"
        return f"{name}[{', '.join(map(str, index))}]" if index else str(name)

    def leaf_of(self, flat_index: int) -> int:
        return int(np.searchsorted(self.offsets, flat_index, side="right") - 1)

    def _where(self, name: Any) -> str:
        if self.kind == "array":
            return ""
        return f"[{name!r}]"
