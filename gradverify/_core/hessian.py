"""Second derivatives: a claimed Hessian or Hessian-vector product, checked with the verdict engine.

A Hessian is the Jacobian of the gradient, so its check is
:func:`~gradverify.check_jacobian` of the gradient (the user's ``grad``, or
one estimated from ``f``, see :func:`.second_parts.gradient_function`),
entry ``(i, j)`` being ``d grad_i / d x_j``: the same estimators, bounds and
rule ``|analytic - numerical| <= safety * bound + floor``.  An HVP ``H v`` is
the derivative of ``t -> grad(x + t v)`` at ``t = 0``: the Jacobian of that
map, a few gradient calls per direction.

Checks that need no finite difference come first and can fail on their own:
a claimed Hessian must be symmetric; an HVP must be linear in ``v`` (an HVP
that ignores ``v`` or normalises it fails here) and symmetric
(``u.Hv == v.Hu``).  The second-order Taylor test is run as evidence and
reported in the notes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument, NonFiniteValue, ShapeMismatch
from .check import check_jacobian, check_vjp
from .full import REPORT_ROWS
from .matrices import _analytic_matrix, _call_derivative, _flat_point
from .params import ParamSpec
from .report import Report, Row
from .second_parts import cheap_rtol, explain_hessian, gradient_function, pair_location, pair_name, taylor_order
from .validate import valid_count, valid_seed

__all__ = ["check_hessian", "check_hvp", "check_vjp_of_vjp", "make_report"]


class _CheapReport(Report):
    """A report of a check that needed no finite differences (symmetry, linearity in v).

    A :class:`Report` in every field; only its text differs, since there is no
    estimate, step or error bound to show.
    """

    def __str__(self) -> str:
        what = {"asymmetric": "not symmetric", "ignores_v": "it ignores v", "not_linear": "not linear in v"}.get(
            str(self.pattern), str(self.pattern)
        )
        lines = [
            f"gradverify: {self.kind} check FAILED (no finite differences needed: {what}, "
            f"{self.evaluations} calls of f, {self.dtype})",
            f"  diagnosis: {self.diagnosis}",
        ]
        if self.rows:
            lines.append(f"  {'entry':<16} {'H[i, j]':>13} {'H[j, i]':>13} {'|diff|':>10} {'allowed':>10}")
            for r in self.rows:
                lines.append(
                    f"  {r.name:<16} {r.analytic:>13.6g} {r.numerical:>13.6g} {r.error:>10.3g} {r.allowed:>10.3g}"
                )
            lines.append(
                f"  {self.failures} pair{'s' if self.failures > 1 else ''} not symmetric among the {self.entries} "
                f"entries; allowed |H[i, j] - H[j, i]| <= sqrt(EPS) x max|H| = {self.rows[0].allowed:.3g}"
            )
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.seed is not None:
            lines.append(f"  seed {self.seed} (pass seed={self.seed} to replay)")
        return "\n".join(lines)


def make_report(cheap: bool = False, **fields: Any) -> Report:
    """A :class:`Report` from the fields it has (the verdict's ``outcome`` set when it is one)."""
    names = {f.name for f in dataclasses.fields(Report)}
    if "outcome" in names and "outcome" not in fields:
        fields["outcome"] = "passed" if fields["ok"] else "failed"
    cls = _CheapReport if cheap else Report
    return cls(**{k: v for k, v in fields.items() if k in names})


def _replace(report: Report, **fields: Any) -> Report:
    names = {f.name for f in dataclasses.fields(Report)}
    return dataclasses.replace(report, **{k: v for k, v in fields.items() if k in names})


def _outer_method(method: str, grad: Any) -> str:
    # The estimated gradient refuses nothing but is not analytic in a complex
    # argument: the outer estimate uses finite differences.
    return "richardson" if grad is None and method == "auto" else method


# -- check_hessian -------------------------------------------------------------------------------


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


def _hessian_rows(A: np.ndarray, N: np.ndarray, T: np.ndarray, spec: ParamSpec) -> tuple[list, np.ndarray, int, int]:
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
    g, what = gradient_function(f, grad, spec, flat, f_calls if grad is None else [0])
    jac_value = _jac_structure(H, spec)
    report = check_jacobian(
        g, lambda p: jac_value, spec.unflatten(flat), method=_outer_method(method, grad), h=h, safety=safety,
        seed=seed, mode="full",
    )  # fmt: skip
    A, N, T = (_as_matrix(getattr(report, k), spec, n) for k in ("analytic", "numerical", "tolerance"))
    rows, fail, i, j = _hessian_rows(A, N, T, spec)
    notes = list(report.notes) + [_taylor_note(order, used, grad is not None)]
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
    return _replace(
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


def _jac_structure(H: np.ndarray, spec: ParamSpec) -> Any:
    """The (n, n) Hessian as check_jacobian's structure: leaves ``(n,) + leaf.shape``."""
    n = spec.size
    return spec.build(
        [H[:, a:b].reshape((n,) + tuple(s)) for s, a, b in zip(spec.shapes, spec.offsets[:-1], spec.offsets[1:])]
    )


def _taylor_note(order: float, used: int, with_grad: bool) -> str:
    right, wrong = (3, 2) if with_grad else (4, 2)
    if not used:
        return "second-order Taylor test: the remainder stayed at rounding level along the direction tried (no order)"
    verdict = "consistent with a right second derivative" if order > (right + wrong) / 2 else "suggests a WRONG one"
    return (
        f"second-order Taylor test along a random direction: remainder of order {order:.2f} "
        f"({right} when the second derivative is right, {wrong} when wrong): {verdict}"
    )


# -- check_hvp -----------------------------------------------------------------------------------------


def _cheap_hvp_failure(
    hvp: Callable[..., Any], spec: ParamSpec, flat: np.ndarray, vs: list, seed: int
) -> tuple[Report | None, list]:
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
    g, what = gradient_function(f, grad, spec, flat, f_calls if grad is None else [0])
    xs = flat.astype(np.float64)
    # The step along t is the rule's for x: v is scaled so that t = 1 moves x by max(1, rms x).
    scales = np.array([max(1.0, float(np.sqrt(np.mean(xs**2)))) / float(np.sqrt(np.mean(u**2))) for u in vs])
    D = np.stack(vs, axis=1) * scales[None, :]
    J = np.stack(products, axis=1) * scales[None, :]

    def along(t: np.ndarray) -> np.ndarray:
        return g(spec.unflatten((xs + D @ np.asarray(t, dtype=np.float64)).astype(flat.dtype)))

    report = check_jacobian(
        along, lambda t: J, np.zeros(len(vs), dtype=flat.dtype), method=_outer_method(method, grad), h=h,
        safety=safety, seed=seed, mode="full",
    )  # fmt: skip
    A, N, T = (
        np.asarray(getattr(report, key), dtype=np.float64) / scales[None, :]
        for key in ("analytic", "numerical", "tolerance")
    )
    notes = list(report.notes) + [_taylor_note(order, used, grad is not None)]
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
    return _replace(
        report, kind="hvp", worst_index=(spec.locate(i), q), worst_name=f"(H v{q})[{spec.describe(i)}]",
        pattern=pattern, diagnosis=diagnosis, analytic=A, numerical=N, tolerance=T,
        evaluations=report.evaluations if grad is not None else f_calls[0], notes=notes, rows=rows,
        entries=int(A.size), failures=int(np.sum(err > T)) if not report.ok else 0,
    )  # fmt: skip


def _explain_hvp(
    A: np.ndarray, N: np.ndarray, T: np.ndarray, V: np.ndarray, pattern: str | None, diagnosis: str | None
) -> tuple[str | None, str | None]:
    """A factor or a missing ``d * v`` term (a regulariser's HVP); else the engine's words."""
    from .second_parts import _fits

    M = N.ravel()
    if np.any(M):
        c = float(M @ A.ravel() / (M @ M))
        if abs(c - 1) > 1e-3 and _fits(A, c * N, T):
            from .diagnose import _factor_hint, name_factor

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


# -- the backward of a backward --------------------------------------------------------------------------


def check_vjp_of_vjp(
    f: Callable[[Any], Any],
    vjp: Callable[[Any, Any], Any],
    vjp_of_vjp: Callable[[Any, Any, Any], Any],
    x: np.ndarray,
    *,
    cotangent: Any = None,
    method: str = "auto",
    safety: float | None = None,
    seed: int | None = None,
) -> Report:
    """Check the backward of a backward (what ``torch.autograd.gradgradcheck`` checks).

    A backward ``vjp(x, ct)`` is itself a function of ``(x, ct)``; its own
    VJP, with a cotangent ``w`` like ``x``, is
    ``vjp_of_vjp(x, ct, w) -> (dx, dct)``: ``dx`` is the second-order term
    ``d/dx <w, vjp(x, ct)>`` and ``dct`` is the forward product ``J(x) w``.
    The first-order ``vjp`` is checked first (a wrong backward would make the
    second check meaningless); then :func:`gradverify.check_vjp` checks
    ``vjp_of_vjp`` as the VJP of ``{"x": x, "cotangent": ct} -> vjp(x, ct)``,
    so entries are named ``x[...]`` and ``cotangent[...]``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array``.
    vjp : callable
        ``vjp(x, ct)``, like ``x``.
    vjp_of_vjp : callable
        ``vjp_of_vjp(x, ct, w)`` returning the pair ``(dx, dct)``.
    x : array
    cotangent : array, optional
        ``ct``, like ``f(x)``; seeded standard normal by default.
    method, safety, seed
        As for :func:`gradverify.check_vjp`.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: np.sin(x)
    >>> vjp = lambda x, ct: np.cos(x) * ct
    >>> vv = lambda x, ct, w: (-np.sin(x) * ct * w, np.cos(x) * w)
    >>> gv.check_vjp_of_vjp(f, vjp, vv, np.array([0.3, 1.2]), seed=0).ok
    True
    >>> gv.check_vjp_of_vjp(f, vjp, lambda x, ct, w: (np.sin(x) * ct * w, np.cos(x) * w),
    ...                     np.array([0.3, 1.2]), seed=0).ok
    False
    """
    seed = valid_seed(seed)
    x_arr = np.asarray(x)
    first = check_vjp(f, vjp, x_arr, cotangent=cotangent, method=method, safety=safety, seed=seed)
    if not first.ok:
        return _replace(first, notes=list(first.notes) + ["the first-order vjp is wrong: fix it before its backward"])
    out_shape = np.shape(f(x_arr.copy()))
    ct = (
        np.random.default_rng(seed + 1).standard_normal(out_shape)
        if cotangent is None
        else np.asarray(cotangent, dtype=np.float64)
    )
    point = {"x": x_arr, "cotangent": ct.astype(x_arr.dtype if x_arr.dtype.kind == "f" else np.float64)}

    def backward(p: dict) -> Any:
        return vjp(p["x"], p["cotangent"])

    def backward_vjp(p: dict, w: Any) -> dict:
        value = vjp_of_vjp(p["x"], p["cotangent"], w)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise InvalidArgument(
                f"vjp_of_vjp returned {type(value).__name__}; it must return the pair (dx, dcotangent)"
            )
        return {"x": value[0], "cotangent": value[1]}

    second = check_vjp(backward, backward_vjp, point, method=method, safety=safety, seed=seed)
    return _replace(
        second,
        kind="vjp_of_vjp",
        evaluations=first.evaluations + second.evaluations,
        notes=list(second.notes) + [f"the first-order vjp passed ({first.evaluations} calls of f)"],
    )
