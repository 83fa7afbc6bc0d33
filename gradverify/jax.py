"""Check JAX derivatives: any function, ``custom_vjp`` and ``custom_jvp`` rules, over pytrees.

``pip install 'gradverify[jax]'``.  This module imports jax;
``import gradverify`` does not.

The analytic side is JAX's own: reverse mode (``jax.vjp``) and forward mode
(``jax.jvp``), each where the function supports it, detected (a
``custom_vjp`` function has no forward mode: that is a note in the report,
never an exception).  The numerical side is gradverify's estimators on a
numpy view of the function (jitted once, in the arguments' dtype).  Leaves are
named by their pytree paths (``params['dense']['kernel'][2, 1]``).  JAX
computes in float32 unless ``jax_enable_x64`` is on, and float32 is checked
with float32's bounds.

Examples
--------
>>> import jax, jax.numpy as jnp, gradverify.jax as gvj
>>> @jax.custom_vjp
... def softplus(x):
...     return jnp.logaddexp(x, 0.0)
>>> softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x),))
>>> report = gvj.check(softplus, jnp.array([-3.0, 0.5, 4.0]), seed=0)
>>> report.ok
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._core.report import Report
from ._core.validate import valid_seed
from ._frameworks.jax_fn import MODE_NAMES, prepare
from ._frameworks.jax_second import backward_of, second_order_report
from ._frameworks.outputs import CallCache, combine
from ._frameworks.run import JACOBIAN_MAX, check_outputs

__all__ = ["JACOBIAN_MAX", "check"]


def check(
    fn: Callable[..., Any],
    *args: Any,
    argnums: Any = None,
    modes: Any = "auto",
    jit: Any = "auto",
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "auto",
    directions: int | None = None,
    budget: int | None = None,
    seed: int | None = None,
    full_jacobian: bool | None = None,
    order: int = 1,
) -> Report:
    """Check JAX's derivatives of ``fn`` at ``args`` (with ``order=2``, also those of its backward).

    Parameters
    ----------
    fn : callable
        A JAX function of ``args`` (arrays or pytrees of arrays) returning an
        array or a pytree of arrays.
    *args
        Floating leaves are checked; integer and boolean leaves are constants.
    argnums : int or sequence of int, optional
        Check only these arguments (as ``jax.grad``'s ``argnums``); the others
        are constants.  By default every argument.
    modes : "auto" or sequence of {"rev", "fwd"}
        ``"auto"``: every mode the function supports.  Naming a mode the
        function does not support is an error.
    jit : {"auto", True, False}
        Evaluate the numerical side through ``jax.jit`` (falls back to op by op
        when tracing fails); ``"auto"`` jits above 200 differentiable entries,
        where compiling costs less than dispatching op by op.
    method, h, safety, mode, directions, budget, seed, full_jacobian
        As for :func:`gradverify.torch.check`.
    order : {1, 2}
        ``2`` checks the backward of the backward too (what
        ``jax.test_util.check_grads(..., order=2)`` and torch's
        ``gradgradcheck`` check): once the first order passes, the function
        ``(args, cotangent) -> jax.vjp(fn, *args)[1](cotangent)`` is checked
        the same way, its analytic side JAX's reverse-over-reverse and
        forward-over-reverse, each where JAX supports it (detected and
        noted, never an exception: a ``custom_vjp`` function has reverse
        mode only at first order; its ``bwd`` rule is differentiated in
        both modes at second order).
        Its entries are named ``x[...]`` (the second-order term) and
        ``cotangent[...]`` (the forward product); ``cotangent`` is a seeded
        standard normal pytree like ``fn``'s output.

    Returns
    -------
    Report
        The failed (or closest to failing) output and mode; the notes give
        the others.

    Examples
    --------
    >>> import jax.numpy as jnp, gradverify.jax as gvj
    >>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    >>> loss = lambda params, x: jnp.sum(jnp.tanh(x @ params["dense"]["kernel"] + params["dense"]["bias"]) ** 2)
    >>> gvj.check(loss, params, jnp.arange(3.0), seed=0).ok
    True
    >>> gvj.check(jnp.sin, jnp.array([0.3, 1.2]), order=2, seed=0).ok
    True
    """
    __tracebackhide__ = True
    seed = valid_seed(seed)
    options = dict(method=method, h=h, safety=safety, mode=mode, directions=directions, budget=budget, seed=seed)
    if isinstance(order, bool) or order not in (1, 2):
        from .errors import InvalidArgument

        raise InvalidArgument(f"order={order!r} must be 1 or 2 (2 also checks the backward of the backward)")
    first = _check(fn, args, argnums, modes, jit, options, full_jacobian)
    if order == 1 or not first.ok:
        return second_order_report(first, None) if order == 2 else first
    backward, point, positions, names = backward_of(fn, args, argnums, seed)
    second = _check(backward, point, positions, "auto", jit, options, full_jacobian, names)
    return second_order_report(first, second)


def _check(
    fn: Callable[..., Any],
    args: Any,
    argnums: Any,
    modes: Any,
    jit: Any,
    options: dict[str, Any],
    full_jacobian: bool | None,
    names: list[str] | None = None,
) -> Report:
    """The first-order check of ``fn`` at ``args``: every mode it supports, every output."""
    prepared = prepare(fn, args, argnums=argnums, modes=modes, jit=jit, arg_names=names)
    options = dict(options, seed=valid_seed(options.get("seed")))
    cache = CallCache(prepared.forward)
    reports = []
    for n, (which, derivative) in enumerate(prepared.derivatives.items()):
        cache.reading = n > 0
        report = check_outputs(
            cache,
            derivative,
            prepared.names,
            prepared.point,
            prepared.outputs,
            notes=[],
            options=options,
            full_jacobian=full_jacobian,
        )
        if report.diagnosis:
            report.diagnosis = f"{MODE_NAMES[which]}: {report.diagnosis}"
        reports.append((MODE_NAMES[which], report))
    modes_done = ", ".join(MODE_NAMES[m] for m in prepared.derivatives)
    return combine(reports, calls=cache.calls, notes=prepared.notes + [f"checked: {modes_done}"], same_entries=True)
