"""A JAX function seen from gradverify: pytree leaves by path, a numpy forward, JAX's own derivatives.

:func:`prepare` flattens the arguments (``params['dense']['kernel']``),
decides which leaves are differentiable (floating leaves; integer and boolean
ones are constants), detects which modes the function supports (reverse
through ``jax.vjp``, forward through ``jax.jvp``: a ``custom_vjp`` function
has no forward mode, and that is a note, not an error), and returns, per mode,
the derivative the engine compares with its estimates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InvalidArgument
from .run import Derivative

__all__ = ["Prepared", "prepare", "MODE_NAMES"]

#: Above this many differentiable entries the numerical side is jitted by default.
JIT_ENTRIES = 200

MODE_NAMES = {"rev": "reverse mode (jax.vjp)", "fwd": "forward mode (jax.jvp)"}


def _arg_names(fn: Any, count: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= count:
        return positional[:count]
    return [f"args[{i}]" for i in range(count)]


@dataclass
class Prepared:
    names: list[str]
    point: list[np.ndarray]
    forward: Callable[[Sequence[np.ndarray]], tuple[Any, ...]]
    derivatives: dict[str, Derivative]
    outputs: list[tuple[int, str | None, tuple[Any, ...]]]
    notes: list[str] = field(default_factory=list)


def prepare(
    fn: Callable[..., Any],
    args: Sequence[Any],
    *,
    argnums: Any,
    modes: Any,
    jit: Any,
    arg_names: Sequence[str] | None = None,
) -> Prepared:
    """``fn`` at ``args`` seen from gradverify; ``arg_names`` name the arguments (by default fn's parameters)."""
    label = f"fn ({getattr(fn, '__qualname__', None) or getattr(fn, '__name__', type(fn).__name__)})"
    arg_names = list(arg_names) if arg_names is not None else _arg_names(fn, len(args))
    chosen = _argnums(argnums, len(args))
    with_path, treedef = jax.tree_util.tree_flatten_with_path(tuple(args))
    notes: list[str] = []
    diff: list[int] = []
    names: list[str] = []
    leaves = [leaf for _, leaf in with_path]
    for i, (path, leaf) in enumerate(with_path):
        name = arg_names[path[0].idx] + jax.tree_util.keystr(tuple(path[1:]))
        dtype = jnp.asarray(leaf).dtype
        if path[0].idx not in chosen:
            if i == 0 or with_path[i - 1][0][0].idx != path[0].idx:
                notes.append(f"{arg_names[path[0].idx]} held constant (not in argnums)")
        elif jnp.issubdtype(dtype, jnp.floating):
            diff.append(i)
            names.append(name)
        elif jnp.issubdtype(dtype, jnp.complexfloating):
            raise InvalidArgument(f"{name} is {dtype}: gradverify checks real derivatives of real inputs")
        else:
            notes.append(f"{name} ({dtype}) held constant")
    if not diff:
        raise InvalidArgument(f"nothing to check: {label} has no floating-point argument")
    point = [np.array(jnp.asarray(leaves[i])) for i in diff]
    dtypes = {a.dtype for a in point}
    if len(dtypes) > 1:
        raise InvalidArgument(
            f"the arguments of {label} mix dtypes ({', '.join(f'{n}: {a.dtype}' for n, a in zip(names, point))}); "
            "cast them to one"
        )
    given = {np.asarray(leaves[i]).dtype for i in diff if hasattr(leaves[i], "dtype")}
    if np.dtype(np.float64) in given and point[0].dtype == np.float32:
        notes.append("jax_enable_x64 is off: float64 arguments are float32 in JAX, and are checked in float32")

    def of_diff(*values: Any) -> Any:
        full = list(leaves)
        for i, v in zip(diff, values):
            full[i] = v
        return fn(*jax.tree_util.tree_unflatten(treedef, full))

    def outputs_of(value: Any) -> list[Any]:
        out_leaves, _ = jax.tree_util.tree_flatten(value)
        if not out_leaves or not all(isinstance(o, (jax.Array, np.ndarray)) for o in out_leaves):
            kinds = sorted({type(o).__name__ for o in out_leaves}) or ["nothing"]
            raise InvalidArgument(f"{label} returned {', '.join(kinds)}; it must return an array or a pytree of arrays")
        return out_leaves

    if jit == "auto":
        # Compiling costs ~0.3 s per dtype (real and complex); op-by-op dispatch
        # costs ~1 ms a call, and a check makes a few calls per entry.
        jit = sum(a.size for a in point) > JIT_ENTRIES
    evaluate = jax.jit(of_diff) if jit else of_diff
    probe_value = of_diff(*[jnp.asarray(a) for a in point])
    out_paths, _ = jax.tree_util.tree_flatten_with_path(probe_value)
    probe = outputs_of(probe_value)
    if jit:
        try:
            evaluate(*[jnp.asarray(a) for a in point])
        except (jax.errors.JAXTypeError, jax.errors.ConcretizationTypeError, TypeError) as exc:
            notes.append(f"{label} cannot be jitted ({type(exc).__name__}); evaluated op by op")
            evaluate = of_diff
    outputs: list[tuple[int, str | None, tuple[Any, ...]]] = []
    for k, ((path, _), o) in enumerate(zip(out_paths, probe)):
        if jnp.issubdtype(o.dtype, jnp.floating):
            tag = None if len(probe) == 1 else "output" + jax.tree_util.keystr(tuple(path))
            outputs.append((k, tag, tuple(o.shape)))
        else:
            notes.append(f"output {k} ({o.dtype}) is not differentiable and is not checked")
    if not outputs:
        raise InvalidArgument(f"{label} returned no floating-point array: there is no derivative to check")

    def forward(arrays: Sequence[np.ndarray]) -> tuple[Any, ...]:
        return tuple(np.asarray(o) for o in outputs_of(evaluate(*[jnp.asarray(a) for a in arrays])))

    wanted = _modes(modes)
    derivatives: dict[str, Derivative] = {}
    primals = [jnp.asarray(a) for a in point]
    for mode in wanted:
        try:
            if mode == "rev":
                jax.vjp(of_diff, *primals)
            else:
                jax.jvp(of_diff, tuple(primals), tuple(jnp.zeros_like(p) for p in primals))
        except Exception as exc:  # what a rule raises is the user's: a custom_vjp raises TypeError
            if modes != "auto":
                raise InvalidArgument(f"modes includes {mode!r}, but {label} does not support {MODE_NAMES[mode]}: {exc}") from exc
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            notes.append(f"{MODE_NAMES[mode]} not checked: {label} does not support it ({first})")
            continue
        derivatives[mode] = _reverse(of_diff, probe) if mode == "rev" else _forward(of_diff)
    if not derivatives:
        raise InvalidArgument(f"{label} supports neither reverse nor forward mode differentiation")
    return Prepared(names, point, forward, derivatives, outputs, notes)


def _argnums(argnums: Any, count: int) -> set[Any]:
    if argnums is None:
        return set(range(count))
    chosen = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not chosen or any(not isinstance(a, int) or not -count <= a < count for a in chosen):
        raise InvalidArgument(f"argnums={argnums!r} must be an int or ints in range({count}) (one per argument)")
    return {a % count for a in chosen}


def _modes(modes: Any) -> tuple[Any, ...]:
    if modes == "auto":
        return ("rev", "fwd")
    chosen = (modes,) if isinstance(modes, str) else tuple(modes)
    if not chosen or any(m not in MODE_NAMES for m in chosen):
        raise InvalidArgument(f"modes={modes!r} must be 'auto' or a sequence of 'rev' and 'fwd'")
    return chosen


def _reverse(of_diff: Callable[..., Any], probe: list[Any]) -> Derivative:
    passes = [0]

    def pullback(arrays: list[Any]) -> tuple[Any, ...]:
        out, vjp_fun = jax.vjp(of_diff, *[jnp.asarray(a) for a in arrays])
        return out, vjp_fun

    def cotangent_tree(out: Any, k: int, ct: Any) -> Any:
        flat, tree = jax.tree_util.tree_flatten(out)
        parts = [jnp.zeros_like(o) if j != k else jnp.asarray(ct, dtype=o.dtype) for j, o in enumerate(flat)]
        return jax.tree_util.tree_unflatten(tree, parts)

    def vjp(k: int, arrays: list[Any], cotangent: np.ndarray) -> list[Any]:
        out, vjp_fun = pullback(arrays)
        passes[0] += 1
        return [np.asarray(g) for g in vjp_fun(cotangent_tree(out, k, cotangent))]

    def jacobian(k: int, arrays: list[Any], shape: tuple[Any, ...]) -> list[Any]:
        out, vjp_fun = pullback(arrays)
        size = int(np.prod(shape, dtype=np.int64))
        basis = jnp.eye(size, dtype=jax.tree_util.tree_leaves(out)[k].dtype).reshape((size,) + shape)
        passes[0] += size
        rows = jax.vmap(lambda e: vjp_fun(cotangent_tree(out, k, e)))(basis)
        return [np.asarray(r).reshape(shape + a.shape) for r, a in zip(rows, arrays)]

    return Derivative(jacobian, vjp, passes)


def _forward(of_diff: Callable[..., Any]) -> Derivative:
    passes = [0]

    def full_jacobian(k: int, arrays: list[Any]) -> tuple[np.ndarray, list[Any]]:
        primals = tuple(jnp.asarray(a) for a in arrays)
        sizes = [a.size for a in arrays]
        n = int(sum(sizes))
        eye = jnp.eye(n, dtype=primals[0].dtype)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

        def column(e: Any) -> Any:
            tangents = tuple(e[offsets[j] : offsets[j + 1]].reshape(a.shape) for j, a in enumerate(arrays))
            return jax.tree_util.tree_leaves(jax.jvp(of_diff, primals, tangents)[1])[k]

        passes[0] += n
        cols = np.asarray(jax.vmap(column)(eye))  # (n, *out_shape)
        return cols.reshape(n, -1), [int(o) for o in offsets]

    def jacobian(k: int, arrays: list[Any], shape: tuple[Any, ...]) -> list[Any]:
        cols, offsets = full_jacobian(k, arrays)
        return [cols[offsets[j] : offsets[j + 1]].T.reshape(shape + a.shape) for j, a in enumerate(arrays)]

    def vjp(k: int, arrays: list[Any], cotangent: np.ndarray) -> list[Any]:
        cols, offsets = full_jacobian(k, arrays)
        pulled = cols @ np.asarray(cotangent, dtype=cols.dtype).reshape(-1)
        return [pulled[offsets[j] : offsets[j + 1]].reshape(a.shape) for j, a in enumerate(arrays)]

    return Derivative(jacobian, vjp, passes)
