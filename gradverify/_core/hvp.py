"""Hessian-vector products checked with the verdict engine.

``H v`` is the derivative of ``t -> grad(x + t v)`` at ``t = 0``: the
Jacobian of that map, a few gradient calls per direction, checked by
:func:`~gradverify.check_jacobian`.  First, with no finite differences, the
claimed product must be linear in ``v`` (an HVP that ignores ``v`` or
normalises it fails here) and symmetric (``u.H(v) == v.H(u)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .check import check_jacobian_of_gradient
from .diagnose import _factor_hint, name_factor
from .full import REPORT_ROWS
from .matrices import _analytic_matrix, _call_derivative, _flat_point
from .params import ParamSpec
from .report import Report, Row
from .second_parts import (
    _fits,
    cheap_rtol,
    checked_with_gradient,
    make_report,
    mark_inconclusive,
    outer_method,
    replace_fields,
    taylor_note,
    taylor_order,
)
from .validate import valid_count, valid_seed

__all__ = ["check_hvp"]


def _cheap_hvp_failure(
    hvp: Callable[..., Any], spec: ParamSpec, flat: np.ndarray, vs: list[Any], seed: int
) -> tuple[Report | None, list[Any]]:
    """Linearity and symmetry of the claimed HVP; (a failed report or None, the products)."""

    def product(v: np.ndarray) -> np.ndarray:
        value = _call_derivative(hvp, spec, flat, (spec.unflatten(v.astype(flat.dtype)),), "hvp")
        return _analytic_matrix(value, spec, (), "hvp(x, v)")[:, 0]

    a, b = 0.75, -1.25
    v1, v2 = vs[0], vs[1]
    h1, h2, h3 = product(v1), product(v2), product(a * v1 + b * v2)
    rtol = cheap_rtol(flat.dtype)
    nrm = np.linalg.norm
    problem = None
    if nrm(h1) > 0 and nrm(h1 - h2) <= rtol * max(nrm(h1), nrm(h2)):
        problem = (
            "ignores_v",
            "hvp(x, v) returns the same vector for two different v: it ignores v (a Hessian-vector product is "
            "linear in v; is v multiplied in?)",
        )
    elif nrm(h3 - (a * h1 + b * h2)) > rtol * (abs(a) * nrm(h1) + abs(b) * nrm(h2)):
        problem = (
            "not_linear",
            f"hvp(x, v) is not linear in v: hvp({a}*v1 + {b}*v2) differs from {a}*hvp(v1) + {b}*hvp(v2) by "
            f"{nrm(h3 - (a * h1 + b * h2)):.3g} (relative {nrm(h3 - (a * h1 + b * h2)) / max(nrm(h3), 1e-300):.3g}); "
            "is v normalised, or a term added that does not multiply v?",
        )
    elif abs(v1 @ h2 - v2 @ h1) > rtol * (nrm(v1) * nrm(h2) + nrm(v2) * nrm(h1)):
        problem = (
            "asymmetric",
            f"hvp is not symmetric: u.H(v) = {v1 @ h2:.6g} but v.H(u) = {v2 @ h1:.6g}; the Hessian of a "
            "twice-differentiable f is symmetric (a cross term applied on one side only?)",
        )
    if problem is None:
        return None, [h1, h2]
    return make_report(
        cheap=True, ok=False, kind="hvp", method="linearity", mode="directional", h=0.0, evaluations=0,
        max_abs_error=float(nrm(h3 - (a * h1 + b * h2))), max_rel_error=1.0, worst_index=None,
        worst_name="hvp(x, v)", safety=1.0, floor=0.0, diagnosis=problem[1], pattern=problem[0], failures=1,
        entries=3, notes=["no finite differences were needed: linearity and symmetry in v are checked first"],
        seed=seed, dtype=str(flat.dtype),
    ), [h1, h2]  # fmt: skip


def check_hvp(
    f: Callable[[Any], Any],
    hvp: Callable[[Any, Any], Any],
    x: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    v: Any = None,
    directions: int = 2,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    seed: int | None = None,
) -> Report:
    """Check a Hessian-vector product ``hvp(x, v)`` of the scalar function ``f``.

    First, with no finite differences, ``hvp`` must be linear in ``v`` (an
    HVP that ignores ``v`` fails here, saying so) and symmetric
    (``u.H(v) == v.H(u)``).  Then ``H v`` is checked, entry by entry, as the
    derivative of ``t -> grad(x + t v)`` at ``t = 0`` for each direction
    (the Jacobian of that map, with the verdict engine), with ``grad`` when
    given, else a gradient estimated from ``f`` (see :func:`check_hessian`).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``.
    hvp : callable
        ``hvp(x, v)``, with the structure of ``x``.
    x : array or dict/tuple/list of arrays
    grad : callable, optional
    v : like x, optional
        The direction; ``directions`` seeded random ones by default.
    directions : int
        Random directions checked when ``v`` is not given.
    method, h, safety, seed
        As for :func:`gradverify.check_jacobian`.

    Returns
    -------
    Report
        ``kind="hvp"``; entry ``(i, k)`` is entry ``i`` of ``H v_k``.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: np.sum(x ** 4)
    >>> grad = lambda x: 4 * x ** 3
    >>> gv.check_hvp(f, lambda x, v: 12 * x ** 2 * v, np.array([0.5, -1.0]), grad=grad, seed=0).ok
    True
    >>> gv.check_hvp(f, lambda x, v: 12 * x ** 2, np.array([0.5, -1.0]), grad=grad, seed=0).pattern
    'ignores_v'
    """
    spec, flat = _flat_point(x)
    seed = valid_seed(seed)
    k = valid_count("directions", directions, minimum=1)
    rng = np.random.default_rng(seed + 3)
    vs = [rng.standard_normal(flat.size) for _ in range(max(2, k))]
    failed, products = _cheap_hvp_failure(hvp, spec, flat, vs, seed)
    if failed is not None:
        return failed
    if v is not None:
        vs = [spec.flatten(v, dtype=np.float64, argname="v")]
        if not np.all(np.isfinite(vs[0])) or not np.any(vs[0]):
            raise InvalidArgument("v must be finite and not all zeros")
        products = [_analytic_matrix(_call_derivative(hvp, spec, flat, (spec.unflatten(vs[0].astype(flat.dtype)),),
                                                      "hvp"), spec, (), "hvp(x, v)")[:, 0]]  # fmt: skip
    else:
        vs = vs[:k]
        products = (products + [None] * k)[:k]
        for q in range(k):
            if products[q] is None:
                value = _call_derivative(hvp, spec, flat, (spec.unflatten(vs[q].astype(flat.dtype)),), "hvp")
                products[q] = _analytic_matrix(value, spec, (), "hvp(x, v)")[:, 0]
    f_calls = [0]
    slope = None
    if grad is not None:
        slope = float(
            _analytic_matrix(_call_derivative(grad, spec, flat, (), "grad"), spec, (), "grad(x)")[:, 0] @ vs[0]
        )
    order, used = taylor_order(f, spec, flat, vs[0], slope, float(vs[0] @ products[0]), f_calls)
    xs = flat.astype(np.float64)
    # The step along t is the rule's for x: v is scaled so that t = 1 moves x by max(1, rms x).
    scales = np.array([max(1.0, float(np.sqrt(np.mean(xs**2)))) / float(np.sqrt(np.mean(u**2))) for u in vs])
    D = np.stack(vs, axis=1) * scales[None, :]
    J = np.stack(products, axis=1) * scales[None, :]

    def run(g: Callable[[Any], np.ndarray]) -> Report:
        def along(t: np.ndarray) -> np.ndarray:
            return g(spec.unflatten((xs + D @ np.asarray(t, dtype=np.float64)).astype(flat.dtype)))

        return check_jacobian_of_gradient(
            along, lambda t: J, np.zeros(len(vs), dtype=flat.dtype), spec.groups, method=outer_method(method, grad),
            h=h, safety=safety, seed=seed,
        )  # fmt: skip

    report, what, repeated, unsure = checked_with_gradient(f, grad, spec, flat, f_calls if grad is None else [0], run)
    A, N, T = (
        np.asarray(getattr(report, key), dtype=np.float64) / scales[None, :]
        for key in ("analytic", "numerical", "tolerance")
    )
    notes = list(report.notes) + [taylor_note(order, used, grad is not None)] + repeated
    notes.append(f"H v is the derivative of {what if grad is None else 'grad'} along v, for {len(vs)} direction(s)")
    err = np.abs(A - N)
    ratio = err / np.maximum(T, 1e-300)
    i, q = (int(c) for c in np.unravel_index(np.argmax(ratio), A.shape))
    pattern, diagnosis = report.pattern, report.diagnosis
    if not report.ok:
        pattern, diagnosis = _explain_hvp(A, N, T, np.stack(vs, axis=1), pattern, diagnosis)
    rows = []
    for flat_i in np.argsort(-ratio, axis=None)[:REPORT_ROWS]:
        a, c = (int(z) for z in np.unravel_index(flat_i, A.shape))
        rows.append(
            Row(
                f"(H v{c})[{spec.describe(a)}]",
                A[a, c],
                N[a, c],
                err[a, c],
                T[a, c],
                "wrong" if err[a, c] > T[a, c] else "",
            )
        )
    final = replace_fields(
        report, kind="hvp", worst_index=(spec.locate(i), q), worst_name=f"(H v{q})[{spec.describe(i)}]",
        pattern=pattern, diagnosis=diagnosis, analytic=A, numerical=N, tolerance=T,
        evaluations=report.evaluations if grad is not None else f_calls[0], notes=notes, rows=rows,
        entries=int(A.size), failures=int(np.sum(err > T)) if not report.ok else 0,
    )  # fmt: skip
    return (
        mark_inconclusive(
            final, unsure, "pass grad= (the Hessian is then the Jacobian of your gradient), or check that f is analytic"
        )
        if unsure
        else final
    )


def _explain_hvp(
    A: np.ndarray, N: np.ndarray, T: np.ndarray, V: np.ndarray, pattern: str | None, diagnosis: str | None
) -> tuple[str | None, str | None]:
    """A factor or a missing ``d * v`` term (a regulariser's HVP); else the engine's words."""
    M = N.ravel()
    if np.any(M):
        c = float(M @ A.ravel() / (M @ M))
        if abs(c - 1) > 1e-3 and _fits(A, c * N, T):
            return "scale", f"H v is {name_factor(c)} x the numerical one: {_factor_hint(name_factor(c))}"
    gap = (N - A).ravel()
    d = float(V.ravel() @ gap / (V.ravel() @ V.ravel()))
    if d != 0 and _fits(A, N - d * V, T):
        kind = "is missing" if d > 0 else "has an extra"
        return "missing_term", (
            f"H v {kind} a term {abs(d):.4g} * v (the Hessian of a regulariser 0.5 * {abs(d):.4g} * |x|**2, "
            "that is its identity term, left out or counted twice?)"
        )
    return pattern, diagnosis
