"""Hypothesis strategies for checking derivatives.

Everything here follows Hypothesis' own conventions (see
``hypothesis.extra.numpy``): plural names, keyword-only arguments, ``min_*`` /
``max_*`` bounds, ``None`` where the real default depends on other arguments,
and bad arguments reported as :class:`gradverify.errors.InvalidArgument` when
the strategy is *drawn from*, not when it is built.  Wherever a user will want
to vary something (a shape, a dimension, a number of samples) a strategy is
accepted in place of a value.

Every strategy shrinks to an obvious minimum, so a failure found by Hypothesis
is reported on the simplest input that still fails:

=====================  =====================================================
strategy               shrinks towards
=====================  =====================================================
``shapes``             ``(min_side,) * min_dims``
``weights``            zeros (or ``+1`` when ``log_uniform``), pushed out of
                       every forbidden band (kinks, ``min_magnitude``)
``params``             every dimension at ``min_side``, values as ``weights``
``step_sizes``         the default step of the method and dtype
``directions``         the first basis vector ``e0``
``learning_rates``     ``min_value`` (so a failure finds its smallest rate)
``batch_sizes``        ``min_size``
``datasets``           the smallest sizes, ``X = 0``, ``y = 0``
``tensors``            as ``weights``, as a torch tensor or a JAX array
=====================  =====================================================

Examples
--------
>>> from hypothesis import given
>>> from gradverify import strategies as gst
>>> @given(gst.weights(shape=gst.shapes(max_dims=2), kinks=[0.0], margin=1e-3))
... def test_relu_grad(x):
...     pass
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from . import steps as _steps
from .errors import InvalidArgument

__all__ = [
    "shapes",
    "weights",
    "params",
    "step_sizes",
    "directions",
    "learning_rates",
    "batch_sizes",
    "datasets",
    "MLP_LAYOUT",
    "METHODS",
]

#: A value, or a strategy drawing it.
IntOrStrategy = int | SearchStrategy[int]
ShapeLike = int | tuple[int, ...] | SearchStrategy[Any]

#: The parameter layout of a two-layer perceptron (as ``zoo.mlp_loss`` uses).
MLP_LAYOUT: Mapping[str, tuple[Any, ...]] = {"W1": ("D", "H"), "b1": ("H",), "W2": ("H", "C"), "b2": ("C",)}

#: Estimators that have a step size.
METHODS = _steps.METHODS


def _step_band(method: str, dtype: np.dtype) -> tuple[float, float, float]:
    """``(low, default, high)`` relative step for ``method`` in ``dtype``.

    The numbers live in :mod:`gradverify.steps` (one table for the whole
    library): the default is the method's base step ``EPS**p`` and the band is
    where its error stays small.  Steps are relative: the estimators scale
    them by ``max(1, |x_i|)``.
    """
    low, high = _steps.step_band(method, dtype)
    return low, _steps.base_step(method, dtype), high


# ---------------------------------------------------------------------------
# argument checking (called inside draws, so errors surface when drawn from)
# ---------------------------------------------------------------------------
def _check_int(name: str, value: Any, *, minimum: int | None = None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name}={value!r} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")


def _check_real(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name}={value!r} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be finite")
    if positive and value <= 0:
        raise InvalidArgument(f"{name}={value!r} must be positive")
    if nonnegative and value < 0:
        raise InvalidArgument(f"{name}={value!r} must be non-negative")
    return float(value)


def _check_order(lo_name: str, lo: Any, hi_name: str, hi: Any) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} is larger than {hi_name}={hi!r}")


def _check_dtype(dtype: Any, name: str = "dtype") -> np.dtype[Any]:
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidArgument(f"{name}={dtype!r} is not a numpy dtype; use np.float32 or np.float64") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidArgument(f"{name}={dtype!r} is not supported; gradverify works in np.float32 or np.float64")
    return dt


def _check_method(method: Any) -> str:
    if method not in METHODS:
        hint = (
            " ('auto' picks one of them per function: pass the method you will check with)" if method == "auto" else ""
        )
        raise InvalidArgument(f"method={method!r} must be one of {', '.join(map(repr, METHODS))}{hint}")
    return str(method)


def _draw_int(draw: Any, name: str, value: Any, *, minimum: int) -> int:
    """Draw ``value`` if it is a strategy, then check it as an integer."""
    if isinstance(value, SearchStrategy):
        value = draw(value)
    _check_int(name, value, minimum=minimum)
    return int(value)


def _draw_shape(draw: Any, shape: Any, name: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, SearchStrategy):
        shape = draw(shape)
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape
    ):
        raise InvalidArgument(f"{name}={shape!r} must be an int, a tuple of ints, or a strategy drawing one")
    if any(s < 0 for s in shape):
        raise InvalidArgument(f"{name}={tuple(shape)!r} has a negative side")
    return tuple(int(s) for s in shape)


def _log_uniform(draw: Any, *, low: float, ref: float, high: float) -> float:
    """A float in ``[low, high]``, log-uniform, shrinking towards ``ref``.

    Hypothesis shrinks a float towards 0, so we draw the decimal exponent's
    *offset* from ``ref``: the minimal draw is ``ref`` itself.
    """
    lo, hi = math.log10(low / ref), math.log10(high / ref)
    offset = draw(st.floats(min(lo, 0.0), max(hi, 0.0)))
    return float(min(max(ref * 10.0**offset, low), high))


# ---------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------
def shapes(
    *,
    min_dims: int = 1,
    max_dims: int | None = None,
    min_side: int = 1,
    max_side: int | None = None,
    max_size: int | None = None,
) -> SearchStrategy[tuple[int, ...]]:
    """Array shapes, edge cases included (sides of 1, one and several dims).

    Parameters
    ----------
    min_dims, max_dims : int
        Number of dimensions; ``max_dims`` defaults to ``min_dims + 2``.
    min_side, max_side : int
        Length of each side; ``max_side`` defaults to ``min_side + 4``.
    max_size : int, optional
        Upper bound on the number of entries (a full gradient check costs a
        few evaluations per entry).  Sides are drawn within the remaining
        budget, so nothing is filtered away.

    Shrinks towards ``(min_side,) * min_dims``.
    """
    return _shapes(min_dims, max_dims, min_side, max_side, max_size)


@st.composite
def _shapes(draw: st.DrawFn, min_dims: Any, max_dims: Any, min_side: Any, max_side: Any, max_size: Any) -> Any:
    _check_int("min_dims", min_dims, minimum=0)
    _check_int("max_dims", max_dims, minimum=0, allow_none=True)
    _check_int("min_side", min_side, minimum=0)
    _check_int("max_side", max_side, minimum=0, allow_none=True)
    _check_int("max_size", max_size, minimum=0, allow_none=True)
    max_dims = min_dims + 2 if max_dims is None else max_dims
    max_side = min_side + 4 if max_side is None else max_side
    _check_order("min_dims", min_dims, "max_dims", max_dims)
    _check_order("min_side", min_side, "max_side", max_side)
    if max_dims > 32:
        raise InvalidArgument(f"max_dims={max_dims} is larger than numpy's limit of 32 dimensions")
    if max_size is not None and min_side**min_dims > max_size:
        raise InvalidArgument(
            f"max_size={max_size} is smaller than the smallest allowed shape "
            f"({min_side},)*{min_dims} of size {min_side**min_dims}; raise max_size or lower min_side/min_dims"
        )
    if max_size is not None and min_side > 1:
        # more dimensions than this cannot fit within max_size
        max_dims = min(max_dims, int(math.log(max_size, min_side) + 1e-9)) if max_size >= min_side else min_dims
    ndim = draw(st.integers(min_dims, max_dims))
    shape = []
    budget = max_size
    for i in range(ndim):
        hi = max_side
        if budget is not None:
            rest = min_side ** (ndim - i - 1)
            hi = min(hi, budget // rest) if rest else hi
        side = draw(st.integers(min_side, max(hi, min_side)))
        shape.append(side)
        if budget is not None and side:
            budget //= side
    return tuple(shape)


# ---------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------
#: Default distance kept from a kink, per dtype: wider than the default step of
#: every estimator at values of order one (see the step table above).
_DEFAULT_MARGIN = {np.dtype(np.float64): 1e-3, np.dtype(np.float32): 5e-2}


def weights(
    *,
    shape: ShapeLike,
    dtype: Any = np.float64,
    min_magnitude: float | None = None,
    max_magnitude: float = 10.0,
    log_uniform: bool = False,
    kinks: Iterable[float] = (),
    margin: float | None = None,
) -> SearchStrategy[np.ndarray]:
    """Finite, well-scaled arrays of ``dtype``, optionally kept away from kinks.

    Parameters
    ----------
    shape : int, tuple of int, or strategy
        Shape of the array (``shapes()`` draws one).
    dtype : np.float32 or np.float64
    min_magnitude, max_magnitude : float
        Every entry satisfies ``min_magnitude <= |x| <= max_magnitude``.
        ``min_magnitude`` defaults to 0 (with entries below
        ``SNAP_TO_ZERO * max_magnitude`` drawn as exactly 0, so that squares
        and products of drawn values never underflow), or to ``max_magnitude * 1e-4`` when
        ``log_uniform`` (a log scale needs a positive lower end).
    log_uniform : bool
        Draw magnitudes log-uniformly (every scale between the bounds is
        equally likely) instead of uniformly.  Signs are drawn separately.
    kinks : iterable of float
        Points where the function is not differentiable (``[0.0]`` for ReLU,
        ``|x|``, hinge losses in their margin variable).
    margin : float, optional
        Every entry satisfies ``|x - k| >= margin`` for each kink ``k``.
        Defaults to 1e-3 in float64 and 5e-2 in float32, wider than every
        estimator's default step at values of order one.

    Notes
    -----
    Values are drawn, then each entry falling in a forbidden band is moved to
    the nearest allowed value (nothing is filtered, so shrinking stays fast).
    Uniform draws shrink to zeros, log-uniform draws to ``+1`` (clipped into
    the magnitude bounds), each then pushed out of the forbidden bands.
    """
    return _weights(shape, dtype, min_magnitude, max_magnitude, log_uniform, kinks, margin)


def _forbidden_bands(
    dtype: np.dtype, min_magnitude: float, kinks: list[float], margin: float, max_magnitude: float
) -> list[tuple[float, float]]:
    """Merged open intervals no entry may fall in, with dtype-exact ends."""
    bands = [(k - margin, k + margin) for k in kinks if margin > 0]
    if min_magnitude > 0:
        bands.append((-min_magnitude, min_magnitude))
    bands.sort()
    merged: list[list[float]] = []
    for a, b in bands:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out = []
    for a, b in merged:
        # round the ends outwards in the dtype so a cast never lands inside
        a_d, b_d = dtype.type(a), dtype.type(b)
        if float(a_d) > a:
            a_d = np.nextafter(a_d, dtype.type(-np.inf))
        if float(b_d) < b:
            b_d = np.nextafter(b_d, dtype.type(np.inf))
        # k + margin may round to a point a hair closer than margin to k, as
        # measured by |x - k| in float64: step outwards until it is not
        for _ in range(8):
            if not any(abs(float(a_d) - k) < margin for k in kinks):
                break
            a_d = np.nextafter(a_d, dtype.type(-np.inf))
        for _ in range(8):
            if not any(abs(float(b_d) - k) < margin for k in kinks):
                break
            b_d = np.nextafter(b_d, dtype.type(np.inf))
        if float(a_d) < -max_magnitude and float(b_d) > max_magnitude:
            raise InvalidArgument(
                f"kinks={kinks!r} with margin={margin!r} and min_magnitude={min_magnitude!r} leave no "
                f"allowed value in [-{max_magnitude!r}, {max_magnitude!r}]; lower margin or raise max_magnitude"
            )
        out.append((float(a_d), float(b_d)))
    return out


def _push_out(x: np.ndarray, bands: list[tuple[float, float]], max_magnitude: float) -> np.ndarray:
    """Move each entry inside a band to the nearer allowed end of it."""
    x = x.copy()
    for a, b in bands:
        inside = (x > a) & (x < b)
        if not inside.any():
            continue
        if a < -max_magnitude:
            to = np.full(x.shape, b)
        elif b > max_magnitude:
            to = np.full(x.shape, a)
        else:
            # ties go to the upper end, so zeros shrink to +margin
            to = np.where((x - a) < (b - x), a, b)
        x[inside] = to[inside]
    return x


@st.composite
def _weights(draw: st.DrawFn, shape: Any, dtype: Any, min_magnitude: Any, max_magnitude: Any, log_uniform: Any, kinks: Any, margin: Any) -> Any:
    dt = _check_dtype(dtype)
    max_magnitude = _check_real("max_magnitude", max_magnitude, positive=True)
    if max_magnitude > float(np.finfo(dt).max) / 4:
        raise InvalidArgument(f"max_magnitude={max_magnitude!r} is too close to the largest {dt.name}")
    if not isinstance(log_uniform, bool):
        raise InvalidArgument(f"log_uniform={log_uniform!r} must be True or False")
    snap_tiny = min_magnitude is None and not log_uniform
    if min_magnitude is None:
        min_magnitude = max_magnitude * 1e-4 if log_uniform else 0.0
    min_magnitude = _check_real("min_magnitude", min_magnitude, nonnegative=True)
    _check_order("min_magnitude", min_magnitude, "max_magnitude", max_magnitude)
    if log_uniform and min_magnitude <= 0:
        raise InvalidArgument(f"min_magnitude={min_magnitude!r} must be positive when log_uniform=True")
    if log_uniform and min_magnitude < float(np.finfo(dt).tiny):
        raise InvalidArgument(f"min_magnitude={min_magnitude!r} is below the smallest normal {dt.name}")
    if isinstance(kinks, (str, bytes)) or not isinstance(kinks, Iterable):
        raise InvalidArgument(f"kinks={kinks!r} must be an iterable of numbers, such as [0.0]")
    kinks = [_check_real("kinks", k) for k in kinks]
    if margin is None:
        margin = _DEFAULT_MARGIN[dt] if kinks else 0.0
    margin = _check_real("margin", margin, nonnegative=True)
    bands = _forbidden_bands(dt, min_magnitude, kinks, margin, max_magnitude)
    shape = _draw_shape(draw, shape)

    # the largest dtype value not above max_magnitude (floats() needs exact bounds)
    top = dt.type(max_magnitude)
    if float(top) > max_magnitude:
        top = np.nextafter(top, dt.type(0))
    top = float(top)
    width = 32 if dt == np.float32 else 64
    if log_uniform:
        ref = min(max(1.0, min_magnitude), top)
        lo, hi = math.log10(min_magnitude / ref), math.log10(top / ref)
        offsets = draw(hnp.arrays(np.float64, shape, elements=st.floats(min(lo, 0.0), max(hi, 0.0))))
        negative = draw(hnp.arrays(np.bool_, shape))
        mags = np.clip(ref * 10.0**offsets, min_magnitude, top)
        x = np.where(negative, -mags, mags).astype(dt)
        x = np.clip(x, -top, top)
        x = _push_out(x, bands, top)
        # a cast may round a magnitude just below min_magnitude: round it back up
        if min_magnitude > 0:
            low_ = np.abs(x) < min_magnitude
            x[low_] = np.nextafter(x[low_], np.copysign(np.inf, x[low_]).astype(dt))
    else:
        elements = st.floats(-top, top, width=width, allow_subnormal=False)  # type: ignore[arg-type]
        x = draw(hnp.arrays(dt, shape, elements=elements))
        if snap_tiny:
            # Entries far below the scale (1e-234 is a valid float) make squares
            # and products underflow to 0, so f stops depending on them: a
            # derivative that no float can show.  They are drawn as 0 instead.
            x = np.where(np.abs(x) < SNAP_TO_ZERO * top, dt.type(0), x)
        x = _push_out(x, bands, top)
    return x.astype(dt, copy=False)


#: By default, entries smaller than this fraction of max_magnitude are drawn as 0.
SNAP_TO_ZERO = 1e-8


# ---------------------------------------------------------------------------
# params
# ---------------------------------------------------------------------------
def params(
    *,
    layout: Mapping[str, tuple[Any, ...]] | None = None,
    dims: Mapping[str, IntOrStrategy] | None = None,
    min_side: int = 1,
    max_side: int = 4,
    dtype: Any = np.float64,
    min_magnitude: float | None = None,
    max_magnitude: float = 10.0,
    log_uniform: bool = False,
    kinks: Iterable[float] = (),
    margin: float | None = None,
) -> SearchStrategy[dict[str, np.ndarray]]:
    """Dicts of named arrays whose shapes share named dimensions.

    Parameters
    ----------
    layout : mapping of str to tuple, optional
        Each parameter's shape as a tuple of dimension names (str) or fixed
        sizes (int).  Defaults to :data:`MLP_LAYOUT`,
        ``{"W1": ("D", "H"), "b1": ("H",), "W2": ("H", "C"), "b2": ("C",)}``.
    dims : mapping of str to int or strategy, optional
        Sizes for some named dimensions (for example ``{"D": 3, "C": 2}`` to
        match a data set).  The others are drawn from
        ``integers(min_side, max_side)``.
    min_side, max_side : int
        Bounds for the dimensions not given in ``dims``.
    dtype, min_magnitude, max_magnitude, log_uniform, kinks, margin
        As for :func:`weights`, applied to every array.

    Shrinks towards every dimension at ``min_side`` and the minimal weights.

    Examples
    --------
    >>> s = params(dims={"D": 3, "C": 2})   # two-layer MLP on 3 features, 2 classes
    """
    return _params(layout, dims, min_side, max_side, dtype, min_magnitude, max_magnitude, log_uniform, kinks, margin)


@st.composite
def _params(draw: st.DrawFn, layout: Any, dims: Any, min_side: Any, max_side: Any, dtype: Any, min_magnitude: Any, max_magnitude: Any, log_uniform: Any, kinks: Any, margin: Any) -> Any:
    layout = MLP_LAYOUT if layout is None else layout
    if not isinstance(layout, Mapping) or not layout:
        raise InvalidArgument(
            f"layout={layout!r} must be a non-empty mapping of name to shape, such as {dict(MLP_LAYOUT)!r}"
        )
    dims = {} if dims is None else dims
    if not isinstance(dims, Mapping):
        raise InvalidArgument(f"dims={dims!r} must be a mapping of dimension name to int or strategy")
    _check_int("min_side", min_side, minimum=0)
    _check_int("max_side", max_side, minimum=0)
    _check_order("min_side", min_side, "max_side", max_side)
    names: list[str] = []
    for key, spec in layout.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"layout has the key {key!r}; parameter names must be strings")
        if isinstance(spec, (str, int)):
            spec = (spec,)
        if not isinstance(spec, tuple):
            raise InvalidArgument(f"layout[{key!r}]={spec!r} must be a tuple of dimension names or ints")
        for d in spec:
            if isinstance(d, str):
                if d not in names:
                    names.append(d)
            elif isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0:
                raise InvalidArgument(f"layout[{key!r}] has the dimension {d!r}; use a name (str) or a size (int >= 0)")
    unknown = sorted(set(dims) - set(names))
    if unknown:
        raise InvalidArgument(f"dims has {unknown!r}, which no parameter in layout uses (known: {names!r})")
    sizes = {}
    for name in names:  # drawn in order of first use, so shrinking is stable
        value = dims.get(name, st.integers(min_side, max_side))
        sizes[name] = _draw_int(draw, f"dims[{name!r}]", value, minimum=0)
    out = {}
    for key, spec in layout.items():
        spec = (spec,) if isinstance(spec, (str, int)) else spec
        shape = tuple(sizes[d] if isinstance(d, str) else int(d) for d in spec)
        out[key] = draw(
            weights(
                shape=shape,
                dtype=dtype,
                min_magnitude=min_magnitude,
                max_magnitude=max_magnitude,
                log_uniform=log_uniform,
                kinks=kinks,
                margin=margin,
            )
        )
    return out


# ---------------------------------------------------------------------------
# step sizes, directions, learning rates, batch sizes
# ---------------------------------------------------------------------------
def step_sizes(*, method: str, dtype: Any = np.float64) -> SearchStrategy[float]:
    """Relative steps h inside the band where ``method`` is accurate in ``dtype``.

    Drawn log-uniformly over the band (``gradverify.steps``); shrinks towards
    the method's default step, so a failure is reported at the step closest
    to the default that still fails.

    Parameters
    ----------
    method : {"forward", "central", "complex", "richardson"}
    dtype : np.float32 or np.float64
    """
    return _step_sizes(method, dtype)


@st.composite
def _step_sizes(draw: st.DrawFn, method: Any, dtype: Any) -> Any:
    method = _check_method(method)
    dt = _check_dtype(dtype)
    low, default, high = _step_band(method, dt)
    return _log_uniform(draw, low=low, ref=default, high=high)


def directions(*, shape: ShapeLike, dtype: Any = np.float64) -> SearchStrategy[np.ndarray]:
    """Unit vectors (2-norm 1) of ``shape``, for directional checks.

    Drawn as data, so a direction shrinks and replays like any other input;
    shrinks towards the first basis vector ``e0``.
    """
    return _directions(shape, dtype)


@st.composite
def _directions(draw: st.DrawFn, shape: Any, dtype: Any) -> Any:
    dt = _check_dtype(dtype)
    shape = _draw_shape(draw, shape)
    size = int(np.prod(shape, dtype=np.int64))
    if size == 0:
        raise InvalidArgument(f"shape={shape!r} has no entries: a direction needs at least one")
    v = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1.0, 1.0, allow_subnormal=False)))
    scale = np.max(np.abs(v))
    if scale == 0:  # the zero vector has no direction: use e0, the minimal one
        v = np.zeros(shape)
        v.flat[0] = 1.0
    else:
        v = v / scale  # rescale first so the squares cannot underflow
        v = v / np.sqrt(np.sum(v * v))
    return v.astype(dt)


def learning_rates(*, min_value: float = 1e-4, max_value: float = 1.0) -> SearchStrategy[float]:
    """Positive learning rates (step sizes of descent), log-uniform.

    Shrinks towards ``min_value``: a failing run is reported at the smallest
    rate that still fails, the threshold you want to know.
    Pass ``max_value=1 / L`` to stay within a smoothness bound ``L``.
    """
    return _learning_rates(min_value, max_value)


@st.composite
def _learning_rates(draw: st.DrawFn, min_value: Any, max_value: Any) -> Any:
    min_value = _check_real("min_value", min_value, positive=True)
    max_value = _check_real("max_value", max_value, positive=True)
    _check_order("min_value", min_value, "max_value", max_value)
    return _log_uniform(draw, low=min_value, ref=min_value, high=max_value)


def batch_sizes(n: int, *, min_size: int = 1, max_size: int | None = None) -> SearchStrategy[int]:
    """Mini-batch sizes for ``n`` samples.

    Mostly the sizes people use (powers of two such as 32, 64, 128) and the
    edges (1 is SGD, ``n`` is full batch), plus any size in between, which
    leaves a short last batch.  Shrinks towards ``min_size``.

    Parameters
    ----------
    n : int
        Number of samples.
    min_size, max_size : int
        Bounds; ``max_size`` defaults to ``n``.
    """
    return _batch_sizes(n, min_size, max_size)


@st.composite
def _batch_sizes(draw: st.DrawFn, n: Any, min_size: Any, max_size: Any) -> Any:
    _check_int("n", n, minimum=1)
    _check_int("min_size", min_size, minimum=1)
    _check_int("max_size", max_size, minimum=1, allow_none=True)
    max_size = n if max_size is None else max_size
    if max_size > n:
        raise InvalidArgument(f"max_size={max_size} is larger than n={n}: a batch cannot hold more than n samples")
    _check_order("min_size", min_size, "max_size", max_size)
    usual = sorted({min_size, max_size} | {2**k for k in range(max_size.bit_length()) if min_size <= 2**k <= max_size})
    return draw(st.one_of(st.sampled_from(usual), st.integers(min_size, max_size)))


# ---------------------------------------------------------------------------
# data sets
# ---------------------------------------------------------------------------
def datasets(
    *,
    n_samples: IntOrStrategy | None = None,
    n_features: IntOrStrategy | None = None,
    n_classes: IntOrStrategy | None = None,
    dtype: Any = np.float64,
    max_magnitude: float = 1.0,
) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Classification data ``(X, y)``: ``X`` of shape (N, D), ``y`` ints in [0, C).

    Parameters
    ----------
    n_samples, n_features, n_classes : int or strategy, optional
        Sizes; default to ``integers(1, 16)``, ``integers(1, 5)`` and
        ``integers(1, 4)`` (one class is a legitimate edge case; pass
        ``n_classes=2`` for logistic regression).
    dtype : np.float32 or np.float64
        dtype of ``X`` (``y`` is int64).
    max_magnitude : float
        Bound on ``|X|`` (standardised features by default).

    Shrinks towards the smallest sizes, ``X = 0`` and ``y = 0``.
    """
    return _datasets(n_samples, n_features, n_classes, dtype, max_magnitude)


@st.composite
def _datasets(draw: st.DrawFn, n_samples: Any, n_features: Any, n_classes: Any, dtype: Any, max_magnitude: Any) -> Any:
    dt = _check_dtype(dtype)
    max_magnitude = _check_real("max_magnitude", max_magnitude, positive=True)
    n = _draw_int(draw, "n_samples", st.integers(1, 16) if n_samples is None else n_samples, minimum=1)
    d = _draw_int(draw, "n_features", st.integers(1, 5) if n_features is None else n_features, minimum=1)
    c = _draw_int(draw, "n_classes", st.integers(1, 4) if n_classes is None else n_classes, minimum=1)
    X = draw(weights(shape=(n, d), dtype=dt, max_magnitude=max_magnitude))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return X, y


# ---------------------------------------------------------------------------
# second derivatives and sparse Jacobians: symmetric and positive-definite
# matrices, banded and random sparsity patterns
# ---------------------------------------------------------------------------
__all__ += ["symmetric_matrices", "positive_definite_matrices", "banded_patterns", "sparsity_patterns"]


def _draw_side(draw: Any, n: Any, name: str = "n") -> int:
    return _draw_int(draw, name, st.integers(1, 6) if n is None else n, minimum=1)


def symmetric_matrices(
    *, n: IntOrStrategy | None = None, dtype: Any = np.float64, max_magnitude: float = 1.0
) -> SearchStrategy[np.ndarray]:
    """Symmetric ``(n, n)`` matrices (Hessians of quadratics ``0.5 x.S.x``).

    Parameters
    ----------
    n : int or strategy, optional
        The side; ``integers(1, 6)`` by default.
    dtype : np.float32 or np.float64
    max_magnitude : float
        Bound on every entry.

    Shrinks towards the zero matrix of the smallest side.
    """
    return _symmetric_matrices(n, dtype, max_magnitude)


@st.composite
def _symmetric_matrices(draw: st.DrawFn, n: Any, dtype: Any, max_magnitude: Any) -> Any:
    dt = _check_dtype(dtype)
    max_magnitude = _check_real("max_magnitude", max_magnitude, positive=True)
    side = _draw_side(draw, n)
    A = draw(weights(shape=(side, side), dtype=np.float64, max_magnitude=max_magnitude))
    return (np.triu(A) + np.triu(A, 1).T).astype(dt)  # the upper triangle mirrored: exactly symmetric


def positive_definite_matrices(
    *, n: IntOrStrategy | None = None, dtype: Any = np.float64, min_eigenvalue: float = 0.1, max_magnitude: float = 1.0
) -> SearchStrategy[np.ndarray]:
    """Symmetric positive-definite ``(n, n)`` matrices, ``B B^T / n + min_eigenvalue * I``.

    Every eigenvalue is at least ``min_eigenvalue`` (in exact arithmetic; the
    drawn matrix is exactly symmetric).  Shrinks towards
    ``min_eigenvalue * I`` of the smallest side.
    """
    return _positive_definite_matrices(n, dtype, min_eigenvalue, max_magnitude)


@st.composite
def _positive_definite_matrices(draw: st.DrawFn, n: Any, dtype: Any, min_eigenvalue: Any, max_magnitude: Any) -> Any:
    dt = _check_dtype(dtype)
    min_eigenvalue = _check_real("min_eigenvalue", min_eigenvalue, positive=True)
    max_magnitude = _check_real("max_magnitude", max_magnitude, positive=True)
    side = _draw_side(draw, n)
    B = draw(weights(shape=(side, side), dtype=np.float64, max_magnitude=max_magnitude))
    S = B @ B.T / side + min_eigenvalue * np.eye(side)
    return (np.triu(S) + np.triu(S, 1).T).astype(dt)


def banded_patterns(
    *, n: IntOrStrategy | None = None, min_bandwidth: int = 0, max_bandwidth: int | None = None
) -> SearchStrategy[np.ndarray]:
    """Boolean ``(n, n)`` band patterns: True where ``-lower <= j - i <= upper``.

    The lower and upper bandwidths are drawn separately from
    ``[min_bandwidth, max_bandwidth]`` (``max_bandwidth`` defaults to
    ``n - 1``).  Shrinks towards the diagonal of the smallest side.
    """
    return _banded_patterns(n, min_bandwidth, max_bandwidth)


@st.composite
def _banded_patterns(draw: st.DrawFn, n: Any, min_bandwidth: Any, max_bandwidth: Any) -> Any:
    _check_int("min_bandwidth", min_bandwidth, minimum=0)
    _check_int("max_bandwidth", max_bandwidth, minimum=0, allow_none=True)
    _check_order("min_bandwidth", min_bandwidth, "max_bandwidth", max_bandwidth)
    side = _draw_side(draw, n)
    top = side - 1 if max_bandwidth is None else min(max_bandwidth, side - 1)
    if min_bandwidth > top:
        raise InvalidArgument(f"min_bandwidth={min_bandwidth} does not fit a side of n={side} (at most {side - 1})")
    lower = draw(st.integers(min_bandwidth, top))
    upper = draw(st.integers(min_bandwidth, top))
    offset = np.arange(side)[None, :] - np.arange(side)[:, None]
    return (offset >= -lower) & (offset <= upper)


def sparsity_patterns(
    *, shape: ShapeLike | None = None, density: float = 0.25, min_per_row: int = 0
) -> SearchStrategy[np.ndarray]:
    """Random boolean ``(m, n)`` patterns, each entry True with probability about ``density``.

    Parameters
    ----------
    shape : (m, n), or a strategy, optional
        ``shapes(min_dims=2, max_dims=2, min_side=1, max_side=8)`` by default.
    density : float in (0, 1]
    min_per_row : int
        Every row gets at least this many True entries (at columns
        ``i, i+1, ...`` modulo ``n``, so the minimum is a banded pattern).

    Shrinks towards the pattern with only the forced entries.
    """
    return _sparsity_patterns(shape, density, min_per_row)


@st.composite
def _sparsity_patterns(draw: st.DrawFn, shape: Any, density: Any, min_per_row: Any) -> Any:
    density = _check_real("density", density, positive=True)
    if density > 1:
        raise InvalidArgument(f"density={density!r} must be at most 1")
    _check_int("min_per_row", min_per_row, minimum=0)
    shape = _draw_shape(draw, shapes(min_dims=2, max_dims=2, min_side=1, max_side=8) if shape is None else shape)
    if len(shape) != 2 or 0 in shape:
        raise InvalidArgument(f"shape={shape!r} must be (m, n) with m, n >= 1")
    m, n = shape
    if min_per_row > n:
        raise InvalidArgument(f"min_per_row={min_per_row} is larger than the number of columns n={n}")
    k = max(1, round(1 / density))
    # 0 shrinks to False: an entry is True only when its draw is the top value.
    P = draw(hnp.arrays(np.int64, (m, n), elements=st.integers(0, k - 1))) == k - 1
    for i in range(m):
        P[i, (i + np.arange(min_per_row)) % n] = True
    return P


# ---------------------------------------------------------------------------
# framework tensors: torch tensors and JAX arrays, drawn as weights are
# ---------------------------------------------------------------------------
__all__ += ["tensors"]

#: Frameworks :func:`tensors` can draw for.
FRAMEWORKS = ("torch", "jax")


def tensors(
    framework: str,
    *,
    shape: ShapeLike,
    dtype: Any = None,
    requires_grad: bool = True,
    min_magnitude: float | None = None,
    max_magnitude: float = 10.0,
    log_uniform: bool = False,
    kinks: Iterable[float] = (),
    margin: float | None = None,
) -> SearchStrategy[Any]:
    """Torch tensors or JAX arrays, drawn (and shrunk) as :func:`weights` draws arrays.

    The framework is imported only when a value is drawn, so a test module
    can build the strategy whether or not the framework is installed (and
    skip its tests when it is not).

    Parameters
    ----------
    framework : {"torch", "jax"}
    shape : int, tuple of int, or strategy
    dtype : float32 or float64, optional
        A numpy dtype, its name, or the framework's own (``torch.float32``,
        ``jnp.float64``).  By default float64 for torch, and for JAX what JAX
        computes in: float64 when ``jax_enable_x64`` is on, else float32.
        JAX float64 needs ``jax_enable_x64`` (JAX would otherwise turn it into
        float32 without a word: an error here instead).
    requires_grad : bool
        Torch only: the tensors are leaves that require grad (the inputs of a
        check); ignored for JAX.
    min_magnitude, max_magnitude, log_uniform, kinks, margin
        As for :func:`weights`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from gradverify import strategies as gst
    >>> @settings(max_examples=5)
    ... @given(gst.tensors("torch", shape=gst.shapes(max_dims=2)))
    ... def test_exp(x):  # doctest: +SKIP
    ...     assert gradverify.torch.check(torch.exp, x, seed=0).ok
    """
    return _tensors(framework, shape, dtype, requires_grad, min_magnitude, max_magnitude, log_uniform, kinks, margin)


def _framework_dtype(framework: str, dtype: Any) -> np.dtype[Any]:
    # torch dtypes are not numpy dtypes, but their names are: torch.float32 -> "float32"
    name = str(dtype)
    if framework == "torch" and name.startswith("torch."):
        dtype = name[len("torch.") :]
    return _check_dtype(dtype)


@st.composite
def _tensors(draw: st.DrawFn, framework: Any, shape: Any, dtype: Any, requires_grad: Any, min_magnitude: Any, max_magnitude: Any, log_uniform: Any, kinks: Any, margin: Any) -> Any:  # fmt: skip
    if framework not in FRAMEWORKS:
        raise InvalidArgument(f"framework={framework!r} is not one of {', '.join(map(repr, FRAMEWORKS))}")
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise InvalidArgument(f"requires_grad={requires_grad!r} must be True or False")
    import importlib  # the framework only now: drawing is when it is needed

    try:
        module = importlib.import_module("torch" if framework == "torch" else "jax")
    except ImportError as exc:
        raise InvalidArgument(
            f"framework={framework!r}: {framework} is not installed (pip install 'gradverify[{framework}]')"
        ) from exc
    x64 = framework == "torch" or bool(module.config.read("jax_enable_x64"))
    dt = _framework_dtype(framework, dtype) if dtype is not None else np.dtype(np.float64 if x64 else np.float32)
    if not x64 and dt == np.float64:
        raise InvalidArgument(
            f"dtype={dtype!r} needs jax_enable_x64 (jax.config.update('jax_enable_x64', True)): "
            "without it JAX makes float64 arrays float32"
        )
    array = draw(_weights(shape, dt, min_magnitude, max_magnitude, log_uniform, kinks, margin))
    if framework == "torch":
        return module.from_numpy(array.copy()).requires_grad_(bool(requires_grad))
    return module.numpy.asarray(array)
