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
Params = Union[np.ndarray, float, dict[str, Any], tuple[Any, ...], list[Any]]  # noqa: UP007 (a runtime alias on Python 3.10)
#: Where an entry lives: an index tuple for a lone array, else (name, index).
Location = tuple[Any, ...]


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


def _valid_names(names: Any, x: Any, kind: str, argname: str) -> tuple[Any, ...]:
    """The user's ``names=`` for the leaves of a tuple or list ``x``: distinct non-empty strings, one per leaf."""
    if kind not in ("tuple", "list"):
        what = "a dict (its keys name its leaves)" if kind == "dict" else "one array"
        raise InvalidArgument(f"names={names!r} names the leaves of a tuple or list {argname}, but {argname} is {what}")
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise InvalidArgument(f"names={names!r} must be a list of strings, one per leaf of {argname}")
    out = tuple(names)
    if len(out) != len(x):
        raise InvalidArgument(f"names={names!r} has {len(out)} names, but {argname} has {len(x)} leaves")
    if not all(isinstance(n, str) and n for n in out) or len(set(out)) != len(out):
        raise InvalidArgument(f"names={names!r} must be distinct non-empty strings")
    return out


@dataclass(frozen=True)
class ParamSpec:
    """The structure of a parameter set: names, shapes and offsets.

    Attributes
    ----------
    kind : str
        ``"array"`` for one array, else ``"dict"``, ``"tuple"`` or ``"list"``.
    names : tuple
        Dict keys in order; for tuples and lists the names given with
        ``names=`` (or a namedtuple's fields), else positions.
    shapes : tuple of tuple of int
        The shape of each leaf.
    dtype : numpy.dtype
        The float dtype every leaf is worked in.
    labels : tuple of str
        How reports name each leaf: ``"x"`` for one array, a dict's keys, the
        given names or a namedtuple's fields, else ``args[0]``, ``args[1]``, ...
        (``w[0]``, ... for an ``argname`` other than ``"x"``).
    container : type or None
        The tuple or list type to rebuild (a namedtuple reaches ``f`` as itself).
    """

    kind: str
    names: tuple[Any, ...]
    shapes: tuple[Any, ...]
    dtype: np.dtype
    labels: tuple[Any, ...] = ()
    container: Any = None

    @classmethod
    def of(cls, x: Any, *, argname: str = "x", names: Sequence[str] | None = None) -> ParamSpec:
        """Describe ``x`` (one array or a dict/tuple/list of arrays).

        ``names`` names the leaves of a tuple or list ``x`` in reports.

        >>> spec = ParamSpec.of((np.zeros(2), np.ones(3)))
        >>> spec.labels, spec.describe(3)
        (('args[0]', 'args[1]'), 'args[1][1]')
        >>> ParamSpec.of((np.zeros(2), np.ones(3)), names=["w", "b"]).describe(3)
        'b[1]'
        """
        container = None
        if isinstance(x, dict):
            if not x:
                raise InvalidArgument(f"{argname} is an empty dict: there is nothing to differentiate")
            keys = tuple(x.keys())
            leaves = [np.asarray(v) for v in x.values()]
            kind = "dict"
            labels = tuple(str(k) for k in keys)
        elif isinstance(x, (tuple, list)):
            if not x:
                raise InvalidArgument(f"{argname} is an empty {type(x).__name__}: there is nothing to differentiate")
            kind = "tuple" if isinstance(x, tuple) else "list"
            container = type(x)
            leaves = [np.asarray(v) for v in x]
            fields = getattr(x, "_fields", None)  # a namedtuple's names are the user's own
            keys = tuple(fields) if isinstance(x, tuple) and fields is not None else tuple(range(len(x)))
            prefix = "args" if argname == "x" else argname
            labels = tuple(str(k) for k in keys) if fields is not None else tuple(f"{prefix}[{i}]" for i in keys)
        else:
            try:
                leaves = [np.asarray(x)]
            except Exception as exc:  # pragma: no cover - numpy raises many types
                raise InvalidArgument(
                    f"{argname} must be an array or a dict/tuple/list of arrays, got {type(x).__name__}"
                ) from exc
            keys = (None,)
            kind = "array"
            labels = ("x",)
        if names is not None:
            keys = labels = _valid_names(names, x, kind, argname)
        for key, leaf in zip(keys, leaves):
            if leaf.dtype == object:
                where = "" if kind == "array" else f"[{key!r}]"
                raise InvalidArgument(
                    f"{argname}{where} is not a numeric array (dtype object); "
                    "nested structures are not supported: flatten them into a dict of arrays"
                )
        dtype = _float_dtype([leaf.dtype for leaf in leaves])
        return cls(kind, keys, tuple(leaf.shape for leaf in leaves), dtype, labels, container)

    # -- sizes -----------------------------------------------------------------
    # Cached: a vectorized sweep asks for views of every chunk, and recomputing
    # these per chunk cost more than a cheap f itself.
    @cached_property
    def sizes(self) -> tuple[Any, ...]:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @cached_property
    def offsets(self) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        offsets.flags.writeable = False
        return offsets

    @cached_property
    def size(self) -> int:
        return int(sum(self.sizes))

    @cached_property
    def groups(self) -> tuple[tuple[int, int], ...]:
        """Each leaf's (start, stop) in the flat vector."""
        return tuple((int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:]))

    # -- moving between flat and structured --------------------------------------
    def flatten(self, x: Any, *, dtype: Any = None, argname: str = "x") -> np.ndarray:
        """Copy the leaves of ``x`` into one new flat vector of ``dtype``."""
        leaves = self.leaves(x, argname=argname)
        out = np.empty(self.size, dtype=dtype or self.dtype)
        for leaf, start, stop in zip(leaves, self.offsets[:-1], self.offsets[1:]):
            out[start:stop] = np.asarray(leaf).reshape(-1)
        return out

    def leaves(self, x: Any, *, argname: str = "x", prefix: tuple[Any, ...] | None = None, like: str = "x") -> list[Any]:
        """The leaves of ``x`` as arrays, checked against this structure.

        The one structure check of gradverify, for points and derivatives
        alike: with ``prefix`` (the shape of ``f(x)``, ``()`` for a gradient)
        ``x`` is a derivative, named ``argname``, whose leaves must have shape
        ``prefix + leaf shape`` and a real dtype.  Anything else raises
        :class:`~gradverify.errors.ShapeMismatch` naming the leaf and both shapes.
        """
        derivative = prefix is not None
        lead: tuple[Any, ...] = () if prefix is None else tuple(prefix)
        if self.kind == "array":
            if isinstance(x, (dict, tuple, list)):
                raise ShapeMismatch(
                    f"{argname} is a {_kind_of(x)}, expected one array of shape {lead + self.shapes[0]}"
                    + _pair_hint(x, lead + self.shapes[0], derivative)
                )
            raw = [x]
        elif self.kind == "dict":
            if not isinstance(x, dict):
                raise ShapeMismatch(f"{argname} is a {_kind_of(x)}, expected a dict with keys {list(self.names)}")
            if set(x.keys()) != set(self.names):
                missing = [k for k in self.names if k not in x]
                extra = [k for k in x if k not in set(self.names)]
                detail = "; ".join(
                    part
                    for part in (f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "")
                    if part
                )
                raise ShapeMismatch(
                    f"{argname} has keys {sorted(map(str, x.keys()))}, expected {sorted(map(str, self.names))} "
                    f"(the keys of {like}: {detail})"
                )
            raw = [x[name] for name in self.names]
        else:
            if not isinstance(x, (tuple, list)) or len(x) != len(self.names):
                got = _kind_of(x)
                raise ShapeMismatch(
                    f"{argname} is a {got}, expected a {self.kind} of {len(self.names)} arrays like {like}"
                )
            raw = list(x)
        leaves = []
        for name, value, shape in zip(self.names, raw, self.shapes):
            where = self._where(name)
            want = lead + tuple(shape)
            try:
                leaf = np.asarray(value)
            except (TypeError, ValueError) as exc:  # ragged nested sequences
                raise ShapeMismatch(f"{argname}{where} is not an array ({exc}); expected shape {want}") from exc
            if derivative and leaf.dtype.kind not in "fiub":
                raise ShapeMismatch(
                    f"{argname}{where} is {_show_leaf(value, leaf)}; a real numeric array of shape {want} is expected"
                )
            if leaf.shape != want:
                if not derivative:
                    message = f"{argname}{where} has shape {leaf.shape}, expected {want} (the shape of the input)"
                elif lead:
                    message = (
                        f"{argname}{where} has shape {leaf.shape}, but {like}{where} has shape {tuple(shape)} "
                        f"and f(x) has shape {lead}, so it must be {want}"
                    )
                else:
                    message = (
                        f"{argname}{where} has shape {leaf.shape}, but {like}{where} has shape {want}; they must match"
                    )
                raise ShapeMismatch(message)
            leaves.append(leaf)
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
        container = self.container or (tuple if self.kind == "tuple" else list)
        if self.kind == "tuple" and hasattr(container, "_fields"):
            return container(*leaves)  # a namedtuple
        try:
            return container(leaves)
        except TypeError:  # a tuple or list subclass whose constructor takes other arguments
            return tuple(leaves) if self.kind == "tuple" else list(leaves)

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
        """A readable name for an entry, such as ``W1[3, 4]``, ``x[2]`` or ``args[1][0]``."""
        leaf = self.leaf_of(flat_index)
        local = int(flat_index - self.offsets[leaf])
        shape = self.shapes[leaf]
        label = self.labels[leaf]
        if not shape:
            return str(label)
        index = np.unravel_index(local, shape)
        return f"{label}[{', '.join(str(int(i)) for i in index)}]"

    def label(self, leaf: int) -> str:
        """How reports name leaf number ``leaf`` (see :attr:`labels`)."""
        return str(self.labels[leaf])

    def leaf_of(self, flat_index: int) -> int:
        """The leaf that holds flat entry ``flat_index``."""
        return int(np.searchsorted(self.offsets, flat_index, side="right") - 1)

    def _where(self, name: Any) -> str:
        if self.kind == "array":
            return ""
        return f"[{name!r}]"


def _kind_of(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, dict):
        return f"dict with keys {sorted(map(str, value))}"
    return type(value).__name__


def _show_leaf(value: Any, leaf: np.ndarray) -> str:
    if value is None:
        return "None"
    if leaf.dtype == object:
        return f"a {type(value).__name__} (not a numeric array)"
    return f"an array of dtype {leaf.dtype}"


def _pair_hint(value: Any, want: tuple[Any, ...], derivative: bool) -> str:
    """A derivative returned as ``(value, gradient)``, as many losses return them, is named so."""
    if not derivative or not isinstance(value, (tuple, list)) or len(value) != 2:
        return ""
    try:
        first, second = np.asarray(value[0]), np.asarray(value[1])
    except (TypeError, ValueError):
        return ""
    if first.size == 1 and second.shape == want:
        return (
            f" (it holds a scalar and an array of shape {want}: it looks like (value, gradient); "
            "return the gradient alone, e.g. lambda x: loss_and_grad(x)[1])"
        )
    return ""
