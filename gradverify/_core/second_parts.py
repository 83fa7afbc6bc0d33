"""Pieces of the second-order checks that need no finite differences of a gradient.

* the gradient a Hessian is the Jacobian of: the user's ``grad``, or one
  estimated from ``f`` at fixed steps (complex-step when ``f`` is analytic,
  fourth-order central differences otherwise);
* the cheap checks of a claimed Hessian or HVP (symmetry, linearity in ``v``);
* the second-order Taylor test;
* the diagnosis of a wrong Hessian: a factor, a missing ``d * I`` term
  (a regulariser), a transposed block, a wrong block, a few wrong entries;
* the reports of the checks that need no finite differences, and the
  helpers that build and adjust :class:`Report` s field by field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import steps as rules
from .diagnose import EXPLAIN_FACTOR, FEW_ENTRIES, _factor_hint, name_factor
from .matrices import _analytic_matrix
from .params import ParamSpec
from .report import Report

__all__ = [
    "cheap_rtol",
    "checked_with_gradient",
    "mark_inconclusive",
    "explain_hessian",
    "gradient_function",
    "make_report",
    "outer_method",
    "pair_location",
    "pair_name",
    "replace_fields",
    "taylor_note",
    "taylor_order",
]


def cheap_rtol(dtype: Any) -> float:
    """Relative tolerance of the checks that compare the claimed derivative with itself.

    Symmetry and linearity hold exactly in exact arithmetic; an analytic
    Hessian or HVP computed in floating point keeps them only to the rounding
    of its own sums, which grows with the number of terms and with
    cancellation we cannot see from outside.  These checks are there for
    structural bugs (an HVP that ignores or normalises ``v``, a block written
    on one side only), so they use ``sqrt(EPS)``: far above any rounding
    (``1.5e-8`` in float64, ``3.5e-4`` in float32), far below such a bug.  The
    finite-difference check that follows judges everything smaller.
    """
    return float(np.sqrt(rules.eps(dtype)))


def pair_name(spec: ParamSpec, i: int, j: int) -> str:
    """``H[2, 3]`` for one array ``x``; ``H[W1[0, 1], b2[3]]`` for structured ``x``."""
    if spec.kind == "array" and len(spec.shapes[0]) <= 1:
        return f"H[{i}, {j}]"
    return f"H[{spec.describe(i)}, {spec.describe(j)}]"


def pair_location(spec: ParamSpec, i: int, j: int) -> tuple[Any, ...]:
    if spec.kind == "array" and len(spec.shapes[0]) <= 1:
        return (i, j)
    return (spec.locate(i), spec.locate(j))


# -- the gradient the Hessian is the Jacobian of ---------------------------------------------


def gradient_function(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any] | None,
    spec: ParamSpec,
    x: np.ndarray,
    counter: list[Any],
    allow_complex: bool = True,
) -> tuple[Callable[[Any], np.ndarray], str]:
    """A function of the parameters returning the flat gradient, and what it costs.

    With ``grad`` it is the user's gradient, flattened.  Without it, the
    gradient of ``f`` is estimated at every point the outer check visits, at
    steps fixed at ``x`` (so the estimate is a smooth function of the point and
    its own error is differentiable and small):

    * complex-step, ``Im f(p + i t e_k) / t``, when ``f`` accepts complex
      input and its complex-step gradient at ``x`` agrees with a Richardson
      one: exact to rounding, so the outer estimate's bound covers all of the
      error;
    * otherwise fourth-order central differences at the steps the Richardson
      estimate at ``x`` converged at, per entry: their truncation is far below
      the outer estimate's rounding, and the rounding they add shows up as
      noise of the gradient, which the outer estimator measures.
    """
    if grad is not None:

        def g_user(p: Any) -> np.ndarray:
            counter[0] += 1
            value = grad(p)
            if any(np.iscomplexobj(leaf) for leaf in spec.leaves(p)):
                # complex-step through grad (the outer check vets it, as for any f)
                return spec.flatten(value, dtype=np.complex128, argname="grad(x)")
            return _analytic_matrix(value, spec, (), "grad(x)")[:, 0]

        return g_user, "grad"
    complex_ok, h = _inner_setup(f, spec, x, counter, allow_complex)
    if complex_ok:
        t = rules.eps(x.dtype) ** 1.5

        def g_complex(p: Any) -> np.ndarray:
            flat = spec.flatten(p).astype(np.complex128 if x.dtype == np.float64 else np.complex64)
            out = np.empty(x.size)
            for k in range(x.size):
                flat[k] += 1j * t
                counter[0] += 1
                out[k] = float(np.imag(f(spec.views(flat)))) / t
                flat[k] -= 1j * t
            return out.astype(x.dtype)

        return g_complex, "complex-step gradients of f"

    def g_fd(p: Any) -> np.ndarray:
        flat = spec.flatten(p)
        out = np.empty(x.size)
        for k in range(x.size):
            d = []
            for step in (h[k], h[k] / 2):
                base = flat[k]
                flat[k] = base + step
                up = float(f(spec.views(flat)))
                hp = float(flat[k]) - float(base)
                flat[k] = base - step
                down = float(f(spec.views(flat)))
                hm = float(base) - float(flat[k])
                flat[k] = base
                counter[0] += 2
                d.append((up - down) / (hp + hm))
            out[k] = (4 * d[1] - d[0]) / 3
        return out.astype(x.dtype)

    return g_fd, "fourth-order central-difference gradients of f"


def checked_with_gradient(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any] | None,
    spec: ParamSpec,
    x: np.ndarray,
    counter: list[Any],
    run: Callable[[Callable[[Any], np.ndarray]], Report],
) -> tuple[Report, str, list[Any], str | None]:
    """``run(g)`` with the gradient ``g`` of :func:`gradient_function`: the report, what g is, notes, and
    the words of an inconclusive verdict (None when it is not one).

    A failure with complex-step gradients of ``f`` is cross-checked with
    finite-difference ones, as a full check cross-checks failing complex-step
    entries: complex-step is exact only where ``f`` is analytic, and its
    vetting sees a non-analytic part (an ``np.real``, a ``max``) only down to
    the finite differences' resolution, while a Hessian differentiates that
    part once more.  Where the two estimates disagree beyond both tolerances,
    complex-step is not reliable and the finite-difference verdict stands;
    where they agree, only an analytic ``f`` makes the complex-step failure
    real, which cannot be told from outside: the check is inconclusive.
    """
    g, what = gradient_function(f, grad, spec, x, counter)
    report = run(g)
    if grad is not None or _outcome(report) != "failed" or not what.startswith("complex"):
        return report, what, [], None
    g_fd, what_fd = gradient_function(f, grad, spec, x, counter, allow_complex=False)
    again = run(g_fd)
    if _outcome(again) == "failed":
        note = "the failure was confirmed with finite-difference gradients of f, whose verdict is reported"
        return again, what_fd, [note], None
    N_c, T_c, N_f, T_f = (_values(getattr(r, k)) for r in (report, again) for k in ("numerical", "tolerance"))
    failing = np.abs(_values(report.analytic) - N_c) > T_c
    if _outcome(again) == "passed" and np.any(np.abs(N_c - N_f)[failing] > (T_c + T_f)[failing]):
        note = (
            "complex-step gradients of f disagreed with finite-difference ones where the check failed (f is not "
            "analytic there?), so finite-difference gradients were used; their verdict stands"
        )
        return again, what_fd, [note], None
    words = (
        "complex-step gradients of f see a mismatch that finite-difference gradients are too coarse to resolve; "
        "it is a bug if f is analytic (no np.real, abs, max, comparisons), else an artefact of complex-step:"
    )
    return report, what, [], words


def _outcome(report: Report) -> str:
    return str(getattr(report, "outcome", "passed" if report.ok else "failed"))


def mark_inconclusive(report: Report, words: str, suggestion: str) -> Report:
    """The report as inconclusive (``ok`` False), with ``words`` before its diagnosis."""
    diagnosis = f"{words} {report.diagnosis}" if report.diagnosis else words
    out = replace_fields(report, outcome="inconclusive", ok=False, diagnosis=diagnosis, suggestion=suggestion)
    return out


def _values(value: Any) -> np.ndarray:
    """The leaves of a report's array or dict/tuple/list of arrays, as one flat float64 vector."""
    leaves = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    return np.concatenate([np.asarray(leaf, dtype=np.float64).ravel() for leaf in leaves])


def _inner_setup(
    f: Callable[[Any], Any], spec: ParamSpec, x: np.ndarray, counter: list[Any], allow_complex: bool
) -> tuple[bool, np.ndarray]:
    """Is complex-step usable for the inner gradient, and the fourth-order steps if not.

    Both come from the estimators themselves at ``x``: a Richardson estimate
    (whose step ladder finds, per entry, a step where the estimate converged,
    the steps the inner gradient then keeps) and a complex-step one; f is
    taken as complex-safe when the two agree within the verdict's rule on
    their combined bounds, as when a check resolves ``method="auto"``.
    """
    from ..errors import GradverifyError
    from .numerical import estimate_gradient

    def counted(p: Any) -> Any:
        counter[0] += 1
        return f(p)

    point = spec.unflatten(x)
    rich = estimate_gradient(counted, point, method="richardson", seed=0)
    r_value = spec.flatten(rich.value, dtype=np.float64)
    r_bound = spec.flatten(rich.bound, dtype=np.float64)
    steps = np.abs(spec.flatten(rich.h, dtype=np.float64))
    if not allow_complex:
        return False, steps
    try:
        cs = estimate_gradient(counted, point, method="complex")
    except (GradverifyError, TypeError, ValueError, ArithmeticError):  # refused complex input: not complex-safe
        return False, steps
    c_value = spec.flatten(cs.value, dtype=np.float64)
    c_bound = spec.flatten(cs.bound, dtype=np.float64)
    safety = rules.SAFETY.get(x.dtype, 4.0)
    floor = rules.FLOOR_FACTOR * rules.eps(x.dtype) * max(float(np.max(np.abs(r_value))), 1e-300)
    agree = bool(np.all(np.abs(c_value - r_value) <= safety * (r_bound + c_bound) + floor))
    return agree, steps


# -- the second-order Taylor test ------------------------------------------------------------


def taylor_order(
    f: Callable[[Any], Any],
    spec: ParamSpec,
    x: np.ndarray,
    d: np.ndarray,
    slope: float | None,
    curvature: float,
    counter: list[Any],
    steps: int = 14,
) -> tuple[float, int]:
    """Observed order of the second-order Taylor remainder along ``d``, and the pairs it used.

    With the gradient, ``r(e) = |f(x + e d) - f(x) - e g.d - e**2/2 d.H.d|`` is
    ``O(e**3)`` when the claimed curvature ``d.H.d`` is right and ``O(e**2)``
    when it is wrong.  Without it the symmetric form
    ``|f(x + e d) + f(x - e d) - 2 f(x) - e**2 d.H.d|`` cancels the odd terms:
    order 4 when right, 2 when wrong.  Pairs whose remainder is within a
    thousand roundings of ``f`` are not used (NaN when none is usable).
    """
    xs = x.astype(np.float64)
    f0 = float(f(spec.unflatten(x)))
    counter[0] += 1
    scale = 0.1 * max(1.0, float(np.sqrt(np.mean(xs**2)))) / max(float(np.sqrt(np.mean(d**2))), 1e-300)
    rem, noise = [], []
    for k in range(steps):
        e = scale * 0.5**k
        fp = float(f(spec.unflatten((xs + e * d).astype(x.dtype))))
        counter[0] += 1
        if slope is not None:
            r = fp - f0 - e * slope - 0.5 * e * e * curvature
            size = abs(fp) + abs(f0)
        else:
            fm = float(f(spec.unflatten((xs - e * d).astype(x.dtype))))
            counter[0] += 1
            r = fp + fm - 2 * f0 - e * e * curvature
            size = abs(fp) + abs(fm) + 2 * abs(f0)
        rem.append(abs(r))
        noise.append(1e3 * rules.eps(x.dtype) * size)
    r_arr, n_arr = np.array(rem), np.array(noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.log2(r_arr[:-1] / r_arr[1:])
    usable = (r_arr[1:] > n_arr[1:]) & (r_arr[:-1] > n_arr[:-1]) & np.isfinite(orders)
    if not usable.any():
        return float("nan"), 0
    return float(np.median(orders[usable][-3:])), int(usable.sum())


# -- what a wrong Hessian looks like -----------------------------------------------------------


def _fits(A: np.ndarray, model: np.ndarray, tol: np.ndarray) -> bool:
    return bool(np.all(np.abs(A - model) <= EXPLAIN_FACTOR * tol))


def _blocks(spec: ParamSpec, fail: np.ndarray) -> list[tuple[slice, slice, str]]:
    """Candidate blocks: leaf pairs for structured x; the failing rows x columns for one array."""
    if spec.kind != "array":
        out = []
        for a in range(len(spec.names)):
            for b in range(a, len(spec.names)):
                ra = slice(int(spec.offsets[a]), int(spec.offsets[a + 1]))
                rb = slice(int(spec.offsets[b]), int(spec.offsets[b + 1]))
                label = (
                    f"the block of ({spec.describe(ra.start).split('[')[0]}, {spec.describe(rb.start).split('[')[0]})"
                )
                out.append((ra, rb, label))
        return out
    upper = np.triu(fail | fail.T)
    rows, cols = np.nonzero(upper)
    r = slice(int(rows.min()), int(rows.max()) + 1)
    c = slice(int(cols.min()), int(cols.max()) + 1)
    return [(r, c, f"the block H[{r.start}:{r.stop}, {c.start}:{c.stop}]")]


def explain_hessian(
    A: np.ndarray, N: np.ndarray, tol: np.ndarray, fail: np.ndarray, spec: ParamSpec
) -> tuple[str, str] | None:
    """(pattern, words) for a wrong Hessian ``A`` against the estimate ``N``, or None.

    ``A``, ``N``, ``tol`` and ``fail`` are ``(n, n)``, rows the gradient's
    entries and columns the parameters.
    """
    if not fail.any():
        return None
    M = N.ravel()
    if np.any(M):
        c = float(M @ A.ravel() / (M @ M))
        if abs(c - 1) > 1e-3 and _fits(A, c * N, tol):
            name = name_factor(c)
            return "scale", f"the claimed Hessian is {name} x the numerical one: {_factor_hint(name)}"
    off = ~np.eye(A.shape[0], dtype=bool)
    if _fits(A[off], N[off], tol[off]):
        gap = np.diag(N - A)
        bad = np.diag(fail)
        d = float(np.median(gap[bad])) if bad.any() else 0.0
        model = np.where(bad, d, 0.0)
        if d != 0 and _fits(np.diag(A), np.diag(N) - model, np.diag(tol)):
            kind = "is missing" if d > 0 else "has an extra"
            where = "" if bad.all() else f" on {int(bad.sum())} of its {bad.size} diagonal entries"
            return "missing_term", (
                f"the claimed Hessian {kind} a term {abs(d):.4g} * I{where} (the Hessian of a regulariser "
                f"0.5 * {abs(d):.4g} * |x|**2 left out or counted twice?)"
            )
    confined = _confining_block(spec, fail)
    if confined is not None:
        rs, cs, label = confined
        Ab, Nb, Tb = A[rs, cs], N[rs, cs], tol[rs, cs]
        if 1 < Ab.shape[0] == Ab.shape[1] and rs != cs and _fits(Ab, Nb.T, Tb):
            return "transpose", f"{label} is transposed (a cross term d2f/dx_I dx_J written in the other layout?)"
    pairs = sorted({(min(i, j), max(i, j)) for i, j in zip(*np.nonzero(fail))})
    if len(pairs) <= FEW_ENTRIES and len(pairs) < max(2, A.size // 4):
        names = ", ".join(pair_name(spec, i, j) + (f" and {pair_name(spec, j, i)}" if i != j else "") for i, j in pairs)
        verb = "entry is" if len(pairs) == 1 else "entries are"
        return (
            "entries",
            f"only {len(pairs)} {verb} wrong ({names}); the others agree: an indexing bug or a special case?",
        )
    if confined is not None:
        return "block", f"{confined[2]} is wrong; every entry outside it agrees"
    return None


def _confining_block(spec: ParamSpec, fail: np.ndarray) -> tuple[slice, slice, str] | None:
    """The candidate block (and its mirror) that holds every failing entry, if one does.

    For one array ``x`` the candidate is the failing entries' bounding box,
    which always holds them: it counts only when it is a real block, at most
    a quarter of the matrix and at least half of it failing.
    """
    for rs, cs, label in _blocks(spec, fail):
        inside = np.zeros_like(fail)
        inside[rs, cs] = True
        inside[cs, rs] = True
        if fail[~inside].any() or not fail[inside].any():
            continue
        if spec.kind == "array":
            size = (rs.stop - rs.start) * (cs.stop - cs.start)
            if 4 * size > fail.size or 2 * int(fail[rs, cs].sum()) < size:
                continue
        return rs, cs, label
    return None


# -- reports ---------------------------------------------------------------------------------


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


def replace_fields(report: Report, **fields: Any) -> Report:
    names = {f.name for f in dataclasses.fields(Report)}
    return dataclasses.replace(report, **{k: v for k, v in fields.items() if k in names})


def outer_method(method: str, grad: Any) -> str:
    # The estimated gradient refuses nothing but is not analytic in a complex
    # argument: the outer estimate uses finite differences.
    return "richardson" if grad is None and method == "auto" else method


def taylor_note(order: float, used: int, with_grad: bool) -> str:
    right, wrong = (3, 2) if with_grad else (4, 2)
    if not used:
        return "second-order Taylor test: the remainder stayed at rounding level along the direction tried (no order)"
    verdict = "consistent with a right second derivative" if order > (right + wrong) / 2 else "suggests a WRONG one"
    return (
        f"second-order Taylor test along a random direction: remainder of order {order:.2f} "
        f"({right} when the second derivative is right, {wrong} when wrong): {verdict}"
    )
