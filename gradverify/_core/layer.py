"""``check_layer``: a forward/backward pair, checked argument by argument.

The numerical side is the vector-Jacobian product of ``forward`` with a
seeded random cotangent ``dout``; the analytic side is ``backward(dout,
cache)``.  Both go through :func:`~gradverify.check_vjp`'s verdict (one
tolerance rule for every check), on a dict of the differentiable arguments
keyed by their names in forward's signature, so every entry is named ``b[2]``
rather than a position in a tuple.  A loss returned together with its gradient
(``loss, dx = softmax_loss(x, y)``) goes through :func:`~gradverify.check_grad`.
The report adds one line per argument (its verdict, worst entry and a
diagnosis of that argument alone) and says which arguments were constants.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InputMutated, InvalidArgument, NonDeterministicFunction
from .check import check_grad, check_vjp
from .layer_args import NO_CACHE, classify, dout_style, fresh, read_gradients, read_outputs
from .layer_report import LayerReport, layer_report
from .validate import valid_seed

__all__ = ["check_layer", "LayerReport"]

_OPTIONS = ("method", "h", "safety", "mode", "directions", "budget", "seed")


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None,
    *args: Any,
    wrt: Sequence[str] | str | None = None,
    kwargs: dict[str, Any] | None = None,
    reset_random_state: bool = False,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "auto",
    directions: int | None = None,
    budget: int | None = None,
    seed: int | None = None,
    **unexpected: Any,
) -> LayerReport:
    """Check a layer's ``backward`` against its ``forward``, one argument at a time.

    Parameters
    ----------
    forward : callable
        ``forward(*args, **kwargs)`` returns ``out``, ``(out, cache)``, or
        ``(out_1, ..., out_k, cache)`` (the last element of a tuple is always
        the cache).
    backward : callable or None
        ``backward(dout, cache)`` (``backward(dout_1, ..., dout_k, cache)`` or
        ``backward((dout_1, ..., dout_k), cache)`` for several outputs, which
        one is read from its signature) returns the gradients of the
        differentiated arguments in order: one array, a tuple (optionally one
        entry per argument with ``None`` for the constants), or a dict keyed by
        argument name (``"w"`` or ``"dw"``).  When forward returns no cache,
        ``backward(dout, *args, **kwargs)`` gets the inputs instead.  ``None``:
        forward is a loss that returns its gradient, ``loss, dx = forward(...)``
        (or ``loss, grads`` with a tuple or dict of gradients).
    *args
        forward's positional arguments, named by its signature.  Floating
        arrays are differentiated; integer and boolean arrays (indices, labels,
        masks), dicts (``bn_param``), Python numbers, strings and ``None`` are
        constants, and the report lists them with the reason.
    wrt : str or list of str, optional
        The arguments to differentiate, by name, instead (``wrt=["W"]`` when
        the data ``X`` is a floating array too).  backward may still return a
        gradient for every floating array; those left out are not checked.
    kwargs : dict, optional
        Keyword arguments of forward.  They are separate from the check's own
        options (``method``, ``seed``, ...) so that neither can shadow the
        other; course layers take their options as a positional dict anyway.
    reset_random_state : bool
        Restore numpy's global random state before every call of forward, so
        that a layer that draws from it (dropout) draws the same mask each
        time.  The state is left as it was found.
    method, h, safety, mode, directions, budget, seed
        As for :func:`gradverify.check_vjp`.

    Returns
    -------
    LayerReport
        ``report.ok``, ``report.failed_arguments`` (such as ``["db"]``),
        ``report.argument("db")``; ``print(report)`` shows one line per
        argument.

    Raises
    ------
    InvalidArgument
        A wrong number of gradients, a gradient for a constant or ``None`` for
        a differentiated argument, an unknown option, a backward that does not
        accept forward's cache, a forward that changes the cache of an earlier
        call.
    ShapeMismatch
        A gradient whose shape is not its argument's (named, such as ``dw``).
    InputMutated
        forward modified one of its arguments in place.
    NonDeterministicFunction
        forward returned different outputs for the same arguments.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> def scale_forward(x, w):
    ...     return x * w, (x, w)
    >>> def scale_backward(dout, cache):
    ...     x, w = cache
    ...     return dout * w, np.sum(dout * x, axis=0)
    >>> x, w = np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, 1.0, 2.0])
    >>> gv.check_layer(scale_forward, scale_backward, x, w, seed=0).ok
    True
    >>> def scale_backward_bug(dout, cache):
    ...     x, w = cache
    ...     return dout * w, np.mean(dout * x, axis=0)
    >>> gv.check_layer(scale_forward, scale_backward_bug, x, w, seed=0).failed_arguments
    ['dw']
    """
    __tracebackhide__ = True
    if unexpected:
        key, value = next(iter(unexpected.items()))
        raise InvalidArgument(
            f"check_layer got {key}={value!r}, which is not one of its options ({', '.join(_OPTIONS)}, wrt, kwargs, "
            f"reset_random_state); keyword arguments of forward go in kwargs={{{key!r}: ...}}"
        )
    if not callable(forward) or (backward is not None and not callable(backward)):
        bad = "forward" if not callable(forward) else "backward"
        raise InvalidArgument(f"{bad} must be callable, got {type(forward if bad == 'forward' else backward).__name__}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise InvalidArgument(f"kwargs must be a dict of forward's keyword arguments, got {type(kwargs).__name__}")
    arguments = classify(forward, args, dict(kwargs or {}), wrt)
    seed = valid_seed(seed)
    layer = _Layer(forward, backward, arguments, reset_random_state)
    options = dict(method=method, h=h, safety=safety, mode=mode, directions=directions, budget=budget, seed=seed)
    try:
        layer.preflight(seed)
        point = {a.name: a.value for a in arguments if a.differentiable}
        if backward is None:
            report = check_grad(layer.loss, layer.loss_grad, point, **options)
        else:
            report = check_vjp(layer.outputs, layer.vjp, point, **options)
    finally:
        layer.restore()
    return layer_report(report, arguments, layer.batch)


class _Layer:
    """Calls forward and backward on fresh copies of the arguments, the conventions resolved once."""

    def __init__(
        self, forward: Callable[..., Any], backward: Callable[..., Any] | None, arguments: list[Any], reset: bool
    ) -> None:
        self.forward, self.backward, self.arguments = forward, backward, arguments
        self.state = np.random.get_state() if reset else None
        self.reset = reset
        self.shapes: list[tuple[Any, ...]] = []
        self.dtypes: list[np.dtype] = []
        self.style = "spread"
        self.batch: int | None = None  # the leading dimension of the output, to say a factor in a layer's words

    def restore(self) -> None:
        if self.state is not None:
            np.random.set_state(self.state)

    def call(self, params: dict[str, Any] | None = None) -> Any:
        """forward at the given differentiable values (or the original ones), constants fresh."""
        pos, kw = [], {}
        for a in self.arguments:
            value = params[a.name] if params is not None and a.differentiable else fresh(a.value)
            if a.keyword:
                kw[a.name] = value
            else:
                pos.append(value)
        if self.state is not None:
            np.random.set_state(self.state)
        return self.forward(*pos, **kw), pos, kw

    # -- the two sides handed to the verdict --------------------------------------------------
    def outputs(self, params: dict[str, Any]) -> Any:
        result = self.call(params)[0]
        outs = result[:-1] if isinstance(result, (tuple, list)) else [result]
        if len(outs) == 1:
            return np.ravel(outs[0])
        return np.concatenate([np.ravel(o) for o in outs])

    def vjp(self, point: dict[str, Any], cotangent: np.ndarray) -> dict[str, Any]:
        result, pos, kw = self.call({k: v.copy() for k, v in point.items()})
        _, cache = read_outputs(result, returns_grad=False)
        return self.run_backward(cotangent, cache, pos, kw, first=False)

    def loss(self, params: dict[str, Any]) -> Any:
        return np.reshape(self.call(params)[0][0], ())  # a loss of shape (1,) is a scalar too

    def loss_grad(self, point: dict[str, Any]) -> dict[str, Any]:
        result = self.call({k: v.copy() for k, v in point.items()})[0]
        return read_gradients(read_outputs(result, returns_grad=True)[1], self.arguments, "forward")

    def run_backward(self, cotangent: np.ndarray, cache: Any, pos: list[Any], kw: dict[str, Any], *, first: bool) -> dict[str, Any]:
        assert self.backward is not None
        douts, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = int(np.prod(shape))
            douts.append(np.asarray(cotangent[start : start + size], dtype=dtype).reshape(shape))
            start += size
        if cache is NO_CACHE:  # backward(dout, *args, **kwargs): the inputs stand in for a cache
            call_args, convention = [douts[0], *pos], "backward(dout, *args)"
        elif len(douts) > 1 and self.style == "tuple":
            call_args, convention, kw = [tuple(douts), cache], "backward((dout_1, ...), cache)", {}
        else:
            spread = "backward(dout, cache)" if len(douts) == 1 else "backward(dout_1, ..., cache)"
            call_args, convention, kw = [*douts, cache], spread, {}
        if not first:
            return read_gradients(self.backward(*call_args, **kw), self.arguments, "backward")
        try:
            value = self.backward(*call_args, **kw)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            if isinstance(exc, ValueError) and "unpack" not in str(exc):
                raise
            given = (
                "(forward returned no cache, so backward gets forward's arguments)"
                if cache is NO_CACHE
                else f"with the cache forward returned ({_describe(cache)})"
            )
            raise InvalidArgument(
                f"backward raised {type(exc).__name__} ({exc}) when called as {convention} {given}: does this "
                "backward belong to this forward, and does it unpack the cache in the order forward packs it?"
            ) from exc
        return read_gradients(value, self.arguments, "backward")

    # -- the checks before the verdict ---------------------------------------------------------
    def preflight(self, seed: int) -> None:
        """Refuse, naming the argument, what would make the verdict meaningless or misleading."""
        first, pos, kw = self.call()
        self._untouched(pos, kw)
        returns_grad = self.backward is None
        outs, cache = read_outputs(first, returns_grad=returns_grad)
        second = self.call()[0]
        outs2, cache2 = read_outputs(second, returns_grad=returns_grad)
        for k, (a, b) in enumerate(zip(outs, outs2)):
            if a.shape != b.shape or not np.array_equal(a, b):
                hint = (
                    "it draws random numbers from somewhere other than numpy's global state (seed its Generator "
                    "from the layer's parameter dict)"
                    if self.reset
                    else "if it draws random numbers from numpy's global state (dropout), pass reset_random_state=True"
                )
                what = "its loss" if returns_grad else ("its output" if len(outs) == 1 else f"its output {k}")
                raise NonDeterministicFunction(
                    f"forward returned two different values of {what} for the same arguments: {hint}, or seed the "
                    "layer (e.g. {'mode': 'train', 'seed': 0} in dropout_param)"
                )
        shared = None if returns_grad or cache is NO_CACHE else _shared(cache, cache2)
        if shared is not None:
            raise InvalidArgument(
                f"forward returned the same {shared} in the cache of two calls, so each call changes the cache of the "
                "one before (a module-level buffer or a mutable default argument?): each call must return a cache "
                "of its own, or a network that uses the layer twice gets wrong gradients"
            )
        if returns_grad:
            first_array = next(a.value for a in self.arguments if a.differentiable)
            self.batch = np.shape(first_array)[0] if np.ndim(first_array) else None
            read_gradients(read_outputs(second, returns_grad=True)[1], self.arguments, "forward")
            return
        self.shapes = [o.shape for o in outs]
        self.batch = outs[0].shape[0] if outs[0].ndim else None
        self.dtypes = [o.dtype if o.dtype.kind == "f" else np.dtype(np.float64) for o in outs]
        assert self.backward is not None
        self.style = dout_style(self.backward, len(outs)) if cache is not NO_CACHE else "spread"
        total = sum(int(np.prod(s)) for s in self.shapes)
        dout = np.random.default_rng(seed + 2).standard_normal(total)
        result, pos, kw = self.call()
        self.run_backward(dout, read_outputs(result, returns_grad=False)[1], pos, kw, first=True)

    def _untouched(self, pos: list[Any], kw: dict[str, Any]) -> None:
        given = iter(pos)
        for a in self.arguments:
            value = kw[a.name] if a.keyword else next(given)
            if isinstance(a.value, np.ndarray) and not np.array_equal(
                value, a.value, equal_nan=a.value.dtype.kind == "f"
            ):
                changed = np.flatnonzero(np.asarray(value).ravel() != a.value.ravel())
                where = (
                    f"[{', '.join(map(str, np.unravel_index(int(changed[0]), a.value.shape)))}]" if len(changed) else ""
                )
                raise InputMutated(
                    f"forward modified its argument {a.name} in place ({a.name}{where} changed): it must not modify "
                    f"its inputs (copy before writing, {a.name} = {a.name}.copy(), or use out-of-place operations)"
                )


def _describe(cache: Any) -> str:
    if isinstance(cache, (tuple, list)):
        parts = [
            f"{type(c).__name__} {np.shape(c)}" if isinstance(c, np.ndarray) else type(c).__name__ for c in cache[:8]
        ]
        return f"a {type(cache).__name__} of {len(cache)}: {', '.join(parts)}{', ...' if len(cache) > 8 else ''}"
    if isinstance(cache, dict):
        return f"a dict with keys {list(cache)[:8]}"
    return f"a {type(cache).__name__}"


def _shared(first: Any, second: Any) -> str | None:
    """What two calls' caches share as one mutable object (the cache itself or an entry of it), if anything."""
    if first is second and _mutable(first):
        return f"{type(first).__name__} object"
    if isinstance(first, tuple) and isinstance(second, tuple):
        for k, (a, b) in enumerate(zip(first, second)):
            if a is b and _mutable(a):
                return f"{type(a).__name__} (entry {k} of the cache)"
    return None


def _mutable(value: Any) -> bool:
    # Immutable values (numbers, strings, tuples, None) are shared harmlessly.
    if isinstance(value, (np.ndarray, dict, list, set, bytearray)):
        return True
    return hasattr(value, "__dict__") and not isinstance(value, (type, types.ModuleType, types.FunctionType))
