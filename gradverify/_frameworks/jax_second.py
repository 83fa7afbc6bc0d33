"""The backward of a JAX function as a JAX function of (args, cotangent), for ``gradverify.jax.check(order=2)``.

JAX has no ``gradgradcheck``; ``jax.test_util.check_grads(order=2)`` compares
with fixed tolerances.  Here the backward ``(args, ct) -> vjp(ct)`` is built
once, as an ordinary JAX function, and checked by the same adapter as any
other function: its reverse mode is JAX's reverse-over-reverse, its forward
mode forward-over-reverse (each where JAX supports it, detected by the
adapter and noted: a ``custom_vjp`` function has reverse mode only, but its
backward, the ``bwd`` rule, is ordinary JAX code with both), its numerical side
gradverify's estimators on the first-order backward.  This mirrors
:func:`gradverify.check_vjp_of_vjp` for numpy: the first order is checked
first, and the second order only when it passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._core.report import Report
from .jax_fn import _arg_names, _argnums

__all__ = ["backward_of", "second_order_report"]


def backward_of(
    fn: Callable[..., Any], args: tuple[Any, ...], argnums: Any, seed: int
) -> tuple[Callable[..., Any], tuple[Any, ...], tuple[int, ...], list[str]]:
    """``fn``'s backward as a function of ``(*args, cotangent)``: it, the point, its argnums and argument names.

    The backward returns the cotangents of the arguments in ``argnums`` (every
    argument by default), one pytree each.  The cotangent is a seeded standard
    normal pytree like ``fn(*args)`` (zeros of JAX's ``float0`` for integer
    outputs, which have no cotangent).
    """
    count = len(args)

    def floating(arg: Any) -> bool:
        return any(jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating) for leaf in jax.tree_util.tree_leaves(arg))

    # arguments without a floating leaf (an integer count) have no cotangent: constants here too
    chosen = tuple(i for i in sorted(_argnums(argnums, count)) if floating(args[i]))
    out = fn(*args)
    leaves, tree = jax.tree_util.tree_flatten(out)
    rng = np.random.default_rng([seed, 2])
    parts: list[Any] = []
    for leaf in leaves:
        dtype = jnp.asarray(leaf).dtype
        if jnp.issubdtype(dtype, jnp.floating):
            parts.append(jnp.asarray(rng.standard_normal(jnp.shape(leaf)), dtype=dtype))
        else:
            parts.append(np.zeros(jnp.shape(leaf), dtype=jax.dtypes.float0))
    cotangent = jax.tree_util.tree_unflatten(tree, parts)

    def backward(*values: Any) -> Any:
        primals, ct = list(values[:count]), values[count]

        def of_chosen(*diff: Any) -> Any:
            full = list(primals)
            for i, v in zip(chosen, diff):
                full[i] = v
            return fn(*full)

        _, pullback = jax.vjp(of_chosen, *[primals[i] for i in chosen])
        grads = pullback(ct)
        return grads[0] if len(chosen) == 1 else tuple(grads)

    label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", type(fn).__name__)
    backward.__qualname__ = f"backward of {label}"
    return backward, tuple(args) + (cotangent,), chosen + (count,), _arg_names(fn, count) + ["cotangent"]


def second_order_report(first: Report, second: Report | None) -> Report:
    """The report of an ``order=2`` check: the second order's, or the first order's when it did not pass."""
    if second is None:
        first.notes = list(first.notes) + [
            "order=2: the first-order derivative did not pass, so its backward was not checked (fix it first)"
        ]
        return first
    second.notes = list(second.notes) + [
        f"order=2: the backward of fn, a function of (args, cotangent), checked against JAX's derivatives of it; "
        f"the first order passed first ({first.entries} entries, {first.evaluations} calls of fn)"
    ]
    second.kind = "vjp_of_vjp"
    if second.diagnosis:
        second.diagnosis = f"backward of the backward: {second.diagnosis}"
    second.evaluations = first.evaluations + second.evaluations
    return second
