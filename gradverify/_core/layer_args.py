"""The arguments, outputs and gradients of a forward/backward pair, named and checked.

:func:`gradverify.check_layer` meets layers as people write them
(``out, cache = affine_forward(x, w, b)``, ``dx, dw, db = affine_backward(dout,
cache)``).  This module does the bookkeeping around the verdict: it names each
argument by the forward's signature, decides which arguments are
differentiated (and says why the others are not), reads what forward returned
(outputs and cache, or a loss with its gradient) and what backward returned
(one array, a tuple, or a dict), and refuses, naming the argument, whatever
does not fit.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument, NonFiniteValue, ShapeMismatch

__all__ = ["NO_CACHE", "Argument", "classify", "dout_style", "fresh", "read_gradients", "read_outputs"]


@dataclass
class Argument:
    """One argument of the forward: its name, value, and whether it is differentiated."""

    name: str
    value: Any
    keyword: bool
    differentiable: bool
    reason: str = ""  # why a constant is constant
    excluded: bool = False  # a floating array left out by wrt: a gradient returned for it is not checked


def _names(forward: Callable[..., Any], count: int) -> list[str]:
    """Names of the first ``count`` positional arguments, from forward's signature."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # builtins and C functions have no signature
        return [f"args[{i}]" for i in range(count)]
    names: list[str] = []
    for p in params:
        if len(names) == count:
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            start = len(names)
            names.extend(f"{p.name}[{i}]" for i in range(count - start))
    if len(names) < count:
        raise InvalidArgument(
            f"check_layer was given {count} positional arguments for forward, which takes {len(names)} "
            f"({', '.join(names) or 'none'})"
        )
    return names


def _constant_reason(value: Any) -> str | None:
    """Why a value is not differentiated, or None when it is a floating array."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "f":
            return None
        if kind in "iu":
            return f"integer array ({value.dtype}): indices or labels"
        if kind == "b":
            return "boolean array: a mask"
        if kind == "c":
            return f"complex array ({value.dtype}): only real arguments are differentiated"
        return f"array of dtype {value.dtype}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a Python bool"
    if isinstance(value, (int, np.integer)):
        return "a Python int"
    if isinstance(value, (float, np.floating)):
        return "a Python float (a hyperparameter; pass wrt= to differentiate it)"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a dict (options such as bn_param or conv_param)"
    return f"a {type(value).__name__}"


def classify(
    forward: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], wrt: Sequence[str] | str | None
) -> list[Argument]:
    """Name every argument and decide which are differentiated.

    Without ``wrt`` the floating arrays are; with it, exactly the named ones
    (floating arrays, or Python floats, which are then passed as 0-d arrays).

    >>> import numpy as np
    >>> def layer(x, w, y, mode="train"): ...
    >>> [(a.name, a.differentiable) for a in classify(layer, (np.ones(2), np.ones(2), np.arange(2)), {}, None)]
    [('x', True), ('w', True), ('y', False)]
    """
    found = [Argument(n, v, False, False) for n, v in zip(_names(forward, len(args)), args)]
    found += [Argument(str(k), v, True, False) for k, v in kwargs.items()]
    by_name = {a.name: a for a in found}
    if isinstance(wrt, str):
        wrt = [wrt]
    if wrt is not None:
        wanted = list(wrt)
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise InvalidArgument(
                f"wrt={wanted!r} names {', '.join(map(repr, unknown))}, which forward was not given; "
                f"its arguments are {', '.join(by_name)}"
            )
        if not wanted:
            raise InvalidArgument("wrt=[] names no argument: there is nothing to differentiate")
    for a in found:
        reason = _constant_reason(a.value)
        if wrt is None:
            a.differentiable, a.reason = reason is None, reason or ""
        elif a.name in wanted:
            if isinstance(a.value, (float, np.floating)) and not isinstance(a.value, bool):
                a.value = np.asarray(a.value, dtype=np.float64)
            elif reason is not None:
                raise InvalidArgument(
                    f"wrt names {a.name!r}, but {a.name} is {reason}, which cannot be differentiated "
                    "(cast it to a floating array if it really is a real-valued input)"
                )
            a.differentiable = True
        else:
            a.reason = reason or "a floating array, not named in wrt (its gradient is not checked)"
            a.excluded = reason is None
    if not any(a.differentiable for a in found):
        described = "; ".join(f"{a.name}: {a.reason}" for a in found) or "no arguments"
        raise InvalidArgument(
            f"forward has no floating-array argument to differentiate ({described}); "
            "pass the inputs as float arrays, or name them with wrt="
        )
    return found


def fresh(value: Any) -> Any:
    """A copy for one call: forward may write into its option dict, backward into its cache."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (dict, list)):
        return copy.deepcopy(value)
    return value


def _real_array(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "fiucb":
        raise InvalidArgument(f"{what} is a {type(value).__name__}, not a numeric array")
    return arr


def read_outputs(result: Any, *, returns_grad: bool) -> tuple[list[np.ndarray], Any]:
    """Split what forward returned into its outputs and its cache (or, for a loss, its gradients).

    A tuple's last element is the cache and the others are outputs; a lone
    array is the output of a forward without a cache.  With ``returns_grad``
    the first element is the scalar loss and the rest its gradient(s).
    """
    if returns_grad:
        if not isinstance(result, (tuple, list)) or len(result) < 2:
            raise InvalidArgument(
                f"forward returned a {type(result).__name__}; with backward=None it must return "
                "(loss, gradient) or (loss, grad_1, grad_2, ...)"
            )
        loss = _real_array(result[0], "the loss forward returned")
        if loss.size != 1:
            raise InvalidArgument(
                f"forward returned a loss of shape {loss.shape}; with backward=None the first value must be a scalar loss"
            )
        grads = result[1] if len(result) == 2 else tuple(result[1:])
        return [loss.reshape(())], grads
    if isinstance(result, (tuple, list)):
        if len(result) < 2:
            raise InvalidArgument(
                f"forward returned a {type(result).__name__} of length {len(result)}; expected (out, cache)"
            )
        outs, cache = list(result[:-1]), result[-1]
    else:
        outs, cache = [result], NO_CACHE
    arrays = []
    for k, out in enumerate(outs):
        what = "forward's output" if len(outs) == 1 else f"forward's output {k}"
        arr = _real_array(out, what)
        if arr.dtype.kind == "c":
            raise InvalidArgument(f"{what} is complex; only real outputs can be checked")
        if not np.all(np.isfinite(arr)):
            raise NonFiniteValue(f"{what} contains NaN or inf at the point; a derivative cannot be checked through it")
        arrays.append(arr)
    return arrays, cache


#: Stands for the cache of a forward that returned only its output.
NO_CACHE = object()


def dout_style(backward: Callable[..., Any], n_outputs: int) -> str:
    """``"spread"`` (``backward(dout_1, dout_2, cache)``) or ``"tuple"`` (``backward((dout_1, dout_2), cache)``)."""
    if n_outputs == 1:
        return "spread"
    try:
        params = list(inspect.signature(backward).parameters.values())
    except (TypeError, ValueError):
        return "tuple"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(required) <= n_outputs + 1 <= len(positional):
        return "spread"
    if len(required) <= 2 <= len(positional):
        return "tuple"
    raise InvalidArgument(
        f"forward returned {n_outputs} outputs and a cache, but backward takes {len(positional)} positional "
        f"arguments; it must take one dout per output and the cache (backward(dout_1, ..., dout_{n_outputs}, cache)) "
        "or a tuple of douts and the cache"
    )


def _shape_message(grad_name: str, got: tuple[Any, ...], name: str, want: tuple[Any, ...]) -> str:
    message = f"{grad_name} has shape {got}, but {name} has shape {want}"
    if int(np.prod(got)) == int(np.prod(want)):
        if len(got) == len(want) == 2 and got == want[::-1]:
            return message + ": the same entries transposed (a missing .T?)"
        return message + ": the same number of entries in another shape (a missing reshape, or keepdims?)"
    return message + "; a gradient has the shape of its argument"


def read_gradients(value: Any, arguments: list[Argument], who: str) -> dict[str, np.ndarray]:
    """The gradients ``who`` returned, keyed by argument name, checked against the arguments.

    ``value`` may be one array (one differentiable argument), a tuple with one
    gradient per differentiable argument (or one per argument, ``None`` for the
    constants), or a dict keyed by argument name (``"x"`` or ``"dx"``).
    """
    diff = [a for a in arguments if a.differentiable]
    names = ", ".join(a.name for a in diff)
    by_name = {a.name: a for a in arguments}
    if isinstance(value, dict):
        grads: dict[str, Any] = {}
        for key, g in value.items():
            name = key if key in by_name else (key[1:] if isinstance(key, str) and key[1:] in by_name else None)
            if name is None:
                raise InvalidArgument(
                    f"{who} returned a gradient keyed {key!r}, which is no argument of forward ({', '.join(by_name)})"
                )
            grads[name] = g
        pairs = [(by_name[n], g) for n, g in grads.items()]
        for a in diff:
            if a.name not in grads:
                raise InvalidArgument(f"{who} returned no gradient for {a.name} (its dict has keys {list(value)})")
    elif isinstance(value, (tuple, list)):
        floats = [a for a in arguments if a.differentiable or a.excluded]
        if len(value) == len(diff):
            pairs = list(zip(diff, value))
        elif len(value) == len(arguments):
            pairs = list(zip(arguments, value))
        elif len(value) == len(floats) > len(diff):  # backward's usual gradients, wrt checks some of them
            pairs = list(zip(floats, value))
        else:
            hint = ""
            arrays = [a for a in arguments if isinstance(a.value, np.ndarray)]
            if len(value) == len(arrays) and len(arrays) > len(diff):
                const = ", ".join(f"{a.name} ({a.reason})" for a in arrays if not a.differentiable)
                hint = f"; it looks like one per array argument, but {const} is not differentiated: return no gradient for it"
            are = "argument is" if len(diff) == 1 else "arguments are"
            raise InvalidArgument(
                f"{who} returned {len(value)} gradients, but {len(diff)} {are} differentiated ({names}){hint}; "
                "return one gradient per differentiated argument, in order, or name them with wrt=[...]"
            )
    else:
        if len(diff) != 1:
            raise InvalidArgument(
                f"{who} returned one {type(value).__name__}, but {len(diff)} arguments are differentiated "
                f"({names}): return one gradient each, in order, as a tuple, or name the one it returns with wrt=[...]"
            )
        pairs = [(diff[0], value)]
    out: dict[str, np.ndarray] = {}
    for a, g in pairs:
        grad_name = f"d{a.name}"
        if not a.differentiable:
            if g is None or a.excluded:
                continue
            raise InvalidArgument(
                f"{who} returned a gradient ({grad_name}) for {a.name}, which is not differentiated ({a.reason}); "
                f"return None for it, leave it out, or differentiate it with wrt="
            )
        if g is None:
            raise InvalidArgument(
                f"{who} returned None for {grad_name}, but {a.name} is differentiated (a floating array); "
                f"return its gradient, or leave {a.name} out with wrt=[...]"
            )
        arr = _real_array(g, f"{grad_name} ({who})")
        want = np.shape(a.value)
        if arr.shape != want:
            raise ShapeMismatch(_shape_message(grad_name, arr.shape, a.name, want))
        out[a.name] = arr
    return out
