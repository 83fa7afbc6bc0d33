"""Second derivatives: a claimed Hessian checked with the verdict engine.

A Hessian is the Jacobian of the gradient, so its check is
:func:`~gradverify.check_jacobian` of the gradient (the user's ``grad``, or
one estimated from ``f``, see :func:`.second_parts.gradient_function`),
entry ``(i, j)`` being ``d grad_i / d x_j``: the same estimators, bounds and
rule ``|analytic - numerical| <= safety * bound + floor``.  Hessian-vector
products are in :mod:`.hvp`, the backward of a backward in :mod:`.vjp_of_vjp`.

A check that needs no finite difference comes first and can fail on its own:
a claimed Hessian must be symmetric.  The second-order Taylor test is run as
evidence and reported in the notes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument, NonFiniteValue, ShapeMismatch
from .check import check_jacobian_of_gradient
from .full import REPORT_ROWS
from .matrices import _analytic_matrix, _call_derivative, _flat_point
from .params import ParamSpec
from .report import Report, Row
from .second_parts import (
    cheap_rtol,
    checked_with_gradient,
    explain_hessian,
    make_report,
    mark_inconclusive,
    outer_method,
    pair_location,
    pair_name,
    replace_fields,
    taylor_note,
    taylor_order,
)
from .validate import valid_seed

__all__ = ["check_hessian"]


def _hessian_matrix(value: Any, spec: ParamSpec) -> np.ndarray:
    """The claimed Hessian as an (n, n) float64 matrix, refused if misshapen or not finite."""
    n = spec.size
    H = np.asarray(value)
    shapes = [(n, n)] + ([spec.shapes[0] * 2] if spec.kind == "array" else [])
    if H.shape not in shapes:
        want = " or ".join(str(s) for s in dict.fromkeys(shapes))
        raise ShapeMismatch(f"hess(x) has shape {H.shape}, but x has {n} entries: it must have shape {want}")
    if H.dtype.kind not in "fiub":
        raise InvalidArgument(f"hess(x) has dtype {H.dtype}; a real numeric array is expected")
    H = H.astype(np.float64).reshape(n, n)
    if not np.all(np.isfinite(H)):
        i, j = np.argwhere(~np.isfinite(H))[0]
        raise NonFiniteValue(f"hess(x) returned {H[i, j]} at {pair_name(spec, int(i), int(j))}; it must be finite")
    return H


def _symmetry_failure(H: np.ndarray, spec: ParamSpec, x: np.ndarray, seed: int) -> Report | None:
    """A failed report if the claimed Hessian is not symmetric, else None."""
    gap = np.abs(H - H.T)
    # Relative to the largest entry: an entry that is a small difference of large
    # terms keeps its symmetry only to the rounding of those terms.  Asymmetries
    # below this are left to the finite-difference check, which compares both sides.
    allowed = np.full(H.shape, cheap_rtol(x.dtype) * np.max(np.abs(H)))
    bad = np.triu(gap > allowed, 1)
    if not bad.any():
        return None
    i, j = (int(v) for v in np.unravel_index(np.argmax(np.where(bad, gap / np.maximum(allowed, 1e-300), 0)), H.shape))
    rows = [
        Row(
            pair_name(spec, a, b),
            float(H[a, b]),
            float(H[b, a]),
            float(gap[a, b]),
            float(allowed[a, b]),
            "not symmetric",
        )
        for a, b in zip(*np.nonzero(bad))
    ][:REPORT_ROWS]
    count = int(bad.sum())
    diagnosis = (
        f"the claimed Hessian is not symmetric: {pair_name(spec, i, j)} = {H[i, j]:.6g} but "
        f"{pair_name(spec, j, i)} = {H[j, i]:.6g} ({count} pair{'s differ' if count > 1 else ' differs'}); the Hessian of a "
        "twice-differentiable f is symmetric, so at least one of each pair is wrong (a cross term written on one side "
        "only?)"
    )
    return make_report(
        cheap=True,
        ok=False,
        kind="hessian",
        method="symmetry",
        mode="full",
        h=0.0,
        evaluations=0,
        max_abs_error=float(gap.max()),
        max_rel_error=float(np.max(gap / np.maximum(np.maximum(np.abs(H), np.abs(H.T)), 1e-300))),
        worst_index=pair_location(spec, i, j),
        worst_name=pair_name(spec, i, j),
        safety=1.0,
        floor=0.0,
        diagnosis=diagnosis,
        pattern="asymmetric",
        analytic=H,
        failures=count,
        entries=int(H.size),
        notes=["no finite differences were needed: symmetry is checked first"],
        seed=seed,
        dtype=str(x.dtype),
        rows=rows,
    )


def _as_matrix(value: Any, spec: ParamSpec, rows: int) -> np.ndarray:
    """Leaves ``(rows,) + leaf.shape`` (a Jacobian over x) as one ``(rows, n)`` matrix."""
    leaves = [value] if spec.kind == "array" else [value[k] for k in spec.names] if spec.kind == "dict" else list(value)
    return np.concatenate([np.asarray(leaf, dtype=np.float64).reshape(rows, -1) for leaf in leaves], axis=1)


def _hessian_rows(A: np.ndarray, N: np.ndarray, T: np.ndarray, spec: ParamSpec) -> tuple[list[Any], np.ndarray, int, int]:
    err = np.abs(A - N)
    ratio = err / np.maximum(T, 1e-300)
    fail = err > T
    order = np.argsort(-ratio, axis=None)[:REPORT_ROWS]
    rows = []
    for flat in order:
        i, j = (int(v) for v in np.unravel_index(flat, A.shape))
        rows.append(Row(pair_name(spec, i, j), A[i, j], N[i, j], err[i, j], T[i, j], "wrong" if fail[i, j] else ""))
    i, j = (int(v) for v in np.unravel_index(order[0], A.shape))
    return rows, fail, i, j


def check_hessian(
    f: Callable[[Any], Any],
    hess: Callable[[Any], Any],
    x: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    seed: int | None = None,
) -> Report:
    """Check the Hessian ``hess`` of the scalar function ``f`` at ``x``.

    The claimed Hessian must first be symmetric (no call of ``f`` is needed
    for that).  Then it is checked, entry by entry, as the Jacobian of the
    gradient: of ``grad`` when given (calls of ``grad`` are counted), else of
    a gradient estimated from ``f`` at fixed steps (complex-step when ``f`` is
    analytic, fourth-order differences otherwise; calls of ``f`` are counted).
    The second-order Taylor test along a random direction is added to the
    notes.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``.
    hess : callable
        ``hess(x)``: shape ``x.shape + x.shape`` for one array, or ``(n, n)``
        over the flattened entries (dict/tuple/list ``x`` in its order).
    x : array or dict/tuple/list of arrays
    grad : callable, optional
        ``grad(x)``, with the structure of ``x``; the Hessian's rows.
    method, h, safety, seed
        As for :func:`gradverify.check_jacobian` (the outer estimate).

    Returns
    -------
    Report
        ``kind="hessian"``; entries ``(i, j)`` named ``H[i, j]``.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: x[0] ** 2 * x[1] + np.sin(x[1])
    >>> grad = lambda x: np.array([2 * x[0] * x[1], x[0] ** 2 + np.cos(x[1])])
    >>> hess = lambda x: np.array([[2 * x[1], 2 * x[0]], [2 * x[0], -np.sin(x[1])]])
    >>> gv.check_hessian(f, hess, np.array([0.5, 1.0]), grad=grad, seed=0).ok
    True
    >>> gv.check_hessian(f, lambda x: 2 * hess(x), np.array([0.5, 1.0]), grad=grad, seed=0).pattern
    'scale'
    """
    spec, flat = _flat_point(x)
    seed = valid_seed(seed)
    n = flat.size
    H = _hessian_matrix(_call_derivative(hess, spec, flat, (), "hess"), spec)
    failed = _symmetry_failure(H, spec, flat, seed)
    if failed is not None:
        return failed
    f_calls = [0]
    d = np.random.default_rng(seed + 2).standard_normal(n)
    slope = None
    if grad is not None:
        slope = float(_analytic_matrix(_call_derivative(grad, spec, flat, (), "grad"), spec, (), "grad(x)")[:, 0] @ d)
    order, used = taylor_order(f, spec, flat, d, slope, float(d @ H @ d), f_calls)
    jac_value = _jac_structure(H, spec)

    def run(g: Callable[[Any], np.ndarray]) -> Report:
        return check_jacobian_of_gradient(
            g, lambda p: jac_value, spec.unflatten(flat), spec.groups, method=outer_method(method, grad), h=h,
            safety=safety, seed=seed,
        )  # fmt: skip

    report, what, repeated, unsure = checked_with_gradient(f, grad, spec, flat, f_calls if grad is None else [0], run)
    A, N, T = (_as_matrix(getattr(report, k), spec, n) for k in ("analytic", "numerical", "tolerance"))
    rows, fail, i, j = _hessian_rows(A, N, T, spec)
    notes = list(report.notes) + [taylor_note(order, used, grad is not None)] + repeated
    if grad is None:
        notes.append(f"the Hessian is the Jacobian of {what} (calls counted are calls of f, {f_calls[0]} in all)")
    else:
        notes.append(f"the Hessian is the Jacobian of grad; the calls counted are calls of grad (f: {f_calls[0]})")
    pattern, diagnosis = report.pattern, report.diagnosis
    if not report.ok:
        found = explain_hessian(A, N, T, fail, spec)
        if found is not None:
            pattern, diagnosis = found
    shape = spec.shapes[0] * 2 if spec.kind == "array" else (n, n)
    final = replace_fields(
        report,
        kind="hessian",
        worst_index=pair_location(spec, i, j),
        worst_name=pair_name(spec, i, j),
        pattern=pattern,
        diagnosis=diagnosis,
        analytic=A.reshape(shape),
        numerical=N.reshape(shape),
        tolerance=T.reshape(shape),
        evaluations=report.evaluations if grad is not None else f_calls[0],
        entries=int(A.size),
        failures=int(fail.sum()) if not report.ok else 0,
        notes=notes,
        rows=rows,
    )
    return (
        mark_inconclusive(
            final, unsure, "pass grad= (the Hessian is then the Jacobian of your gradient), or check that f is analytic"
        )
        if unsure
        else final
    )


def _jac_structure(H: np.ndarray, spec: ParamSpec) -> Any:
    """The (n, n) Hessian as check_jacobian's structure: leaves ``(n,) + leaf.shape``."""
    n = spec.size
    return spec.build(
        [H[:, a:b].reshape((n,) + tuple(s)) for s, a, b in zip(spec.shapes, spec.offsets[:-1], spec.offsets[1:])]
    )
