"""The verdict: is an analytic derivative right at this point?

Each entry passes when ``|analytic - numerical| <= safety * bound + floor``
where ``bound`` is the estimator's own error bound
(:mod:`gradverify.estimators`) and ``safety`` and ``floor`` come from
:mod:`gradverify.steps`.  ``check_grad``, ``check_vjp`` and ``check_jacobian``
reduce to one routine on an ``(n, m)`` matrix of derivatives: ``n`` inputs,
``m`` outputs (``m = 1`` for a gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import steps as rules
from .diagnose import diagnose
from .errors import GradientMismatch, InvalidArgument, NonFiniteValue, NotComplexSafe
from .estimators import complex_truncation, directional, first_pass, measure_noise, refine
from .evaluate import Evaluator
from .matrices import _analytic_matrix, _call_derivative, _flat_point, _seed, _unflatten_matrix
from .params import ParamSpec
from .report import Report, Row

__all__ = ["check_grad", "check_vjp", "check_jacobian", "assert_grad", "Report"]

#: Full checks cost one or two calls per entry; above this many calls the
#: default mode switches to random directions (see ``mode``).
DEFAULT_BUDGET = 4096

#: Random directions checked in directional mode by default.
DEFAULT_DIRECTIONS = 2

#: Complex-step entries this small relative to the derivative's scale get their
#: truncation measured before they are called wrong.
NEAR_ZERO = 1e-6

#: Failing complex-step entries cross-checked with finite differences.
CONFIRM_MAX = 4

#: An entry whose ladder did not converge, and whose bound (times safety) and
#: disagreement both exceed this fraction of the largest derivative, was not
#: resolved by the estimator and is not judged a pass.
UNRESOLVED_FRACTION = 1.0

#: Rows shown in the readable report.
REPORT_ROWS = 5

MODES = ("auto", "full", "directional")
METHODS_PUBLIC = ("auto",) + rules.METHODS


def _resolve_method(
    method: str,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    rng: np.random.Generator,
    noise: Callable[[], np.ndarray],
    safety: float,
    make_complex: Callable[[], Evaluator],
) -> tuple[str, str | None, Evaluator | None]:
    """Resolve ``auto`` and vet ``complex``: complex-safety is checked, never assumed.

    The complex-step derivative along a random direction must agree with a
    Richardson estimate within both bounds.  Returns the method, a note, and
    the complex evaluator when complex-step is used.
    """
    if method not in ("auto", "complex"):
        return method, None, None
    v = rng.standard_normal(x.size)
    reason = None
    try:
        ev_c = make_complex()
        d_cs, b_cs, _ = directional(ev_c, x, f0, v, "complex", noise=np.zeros_like(f0))
    except NotComplexSafe as exc:
        reason = str(exc)
        ev_c = None
    if ev_c is not None:
        d_fd, b_fd, _ = directional(ev, x, f0, v, "richardson", noise())
        # The rung directions fl(x + t u) differ from u by ~EPS/t relative.
        b_dir = 4 * rules.eps(x.dtype) / rules.base_step("richardson", x.dtype) * 16 * np.abs(d_fd)
        floor = rules.FLOOR_FACTOR * rules.eps(x.dtype) * np.abs(d_fd)
        gap = np.abs(d_cs - d_fd)
        if np.all(gap <= safety * (b_fd + b_cs + b_dir) + floor):
            return (
                "complex",
                (
                    "complex-step chosen: f accepted complex input and its complex-step derivative "
                    "agreed with finite differences along a random direction"
                )
                if method == "auto"
                else None,
                ev_c,
            )
        reason = (
            f"its complex-step derivative along a random direction ({d_cs[0]:.12g}) disagrees with finite differences "
            f"({d_fd[0]:.12g} +- {b_fd[0]:.2g}): f is not analytic (abs, max/min, comparisons, np.real, a cast to "
            "float, or a special function that loses the imaginary part?)"
        )
    if method == "complex":
        raise NotComplexSafe(f"method='complex' cannot be used: {reason}; use method='central' or 'richardson'")
    return "richardson", f"complex-step not used ({reason}); Richardson-extrapolated central differences instead", None


def _run(
    kind: str,
    f: Callable[[Any], Any],
    spec: ParamSpec,
    x: np.ndarray,
    analytic_of: Callable[..., np.ndarray],
    *,
    method: str,
    h: Any,
    safety: float | None,
    mode: str,
    directions: int | None,
    budget: int | None,
    vectorized: bool,
    seed: int | None,
    name: str,
    wrap_output: Callable[[Any], Any] | None = None,
) -> Report:
    if method not in METHODS_PUBLIC:
        raise InvalidArgument(f"method={method!r} is not one of {', '.join(map(repr, METHODS_PUBLIC))}")
    if mode not in MODES:
        raise InvalidArgument(f"mode={mode!r} is not one of {', '.join(map(repr, MODES))}")
    if safety is not None and (not np.isfinite(safety) or safety <= 0):
        raise InvalidArgument(f"safety={safety!r} must be a positive number")
    if budget is not None and (not isinstance(budget, (int, np.integer)) or budget < 1):
        raise InvalidArgument(f"budget={budget!r} must be a positive int (calls of f)")
    if directions is not None and (not isinstance(directions, (int, np.integer)) or directions < 1):
        raise InvalidArgument(f"directions={directions!r} must be a positive int")
    if h is not None and method == "auto":
        method = "central"
    seed = _seed(seed)
    rng = np.random.default_rng(seed)
    counter = [0]
    f_used = wrap_output(f) if wrap_output else f
    ev = Evaluator(f_used, spec, x, vectorized=vectorized, scalar=(kind == "gradient"), name=name, counter=counter)
    f0 = ev.base_value()
    out_shape = ev.out_shape or ()
    A = analytic_of(out_shape)
    safety_used = float(safety if safety is not None else rules.SAFETY.get(x.dtype, 4.0))
    noise_cache: list = []

    def noise() -> np.ndarray:
        if not noise_cache:
            noise_cache.append(measure_noise(ev, x, f0, rng))
        return noise_cache[0]

    def make_complex() -> Evaluator:
        return Evaluator(
            f_used,
            spec,
            x,
            complex_step=True,
            vectorized=vectorized,
            scalar=(kind == "gradient"),
            name=name,
            counter=counter,
        )

    method_used, note, ev_c = _resolve_method(method, ev, x, f0, rng, noise, safety_used, make_complex)
    notes = [note] if note else []
    per_entry = 2 if method_used in ("central", "richardson") else 1
    limit = budget if budget is not None else DEFAULT_BUDGET
    chosen_mode = mode
    if mode == "auto":
        if directions is not None:
            chosen_mode = "directional"
            notes.append(f"directional check of {directions} random directions, as asked")
        elif x.size * per_entry > limit:
            chosen_mode = "directional"
            notes.append(
                f"directional check chosen: a full check would cost ~{x.size * per_entry} calls, over the budget of {limit}"
            )
        else:
            chosen_mode = "full"
    common: dict[str, Any] = dict(
        kind=kind,
        spec=spec,
        x=x,
        f0=f0,
        A=A,
        method=method_used,
        ev=ev,
        ev_c=ev_c,
        noise=noise,
        safety=safety_used,
        notes=notes,
        seed=seed,
        counter=counter,
        out_shape=out_shape,
    )
    if chosen_mode == "directional":
        from .directional import directional_check

        return directional_check(rng=rng, directions=directions or DEFAULT_DIRECTIONS, **common)
    return _full_check(h=h, **common)


def _full_check(
    *,
    kind: str,
    spec: ParamSpec,
    x: np.ndarray,
    f0: np.ndarray,
    A: np.ndarray,
    method: str,
    ev: Evaluator,
    ev_c: Evaluator | None,
    noise: Callable[[], np.ndarray],
    safety: float,
    notes: list,
    seed: int,
    counter: list,
    out_shape: tuple,
    h: Any,
) -> Report:
    explicit = h is not None
    eps_w = rules.eps(x.dtype)
    if method == "complex":
        assert ev_c is not None
        est = first_pass(ev_c, x, f0, "complex", rules.steps_for("complex", x, h), np.zeros_like(f0))
    else:
        first_method = "forward" if method == "forward" else "central"
        est = first_pass(ev, x, f0, first_method, rules.steps_for(first_method, x, h), noise())
    N, B, step = est.value.copy(), est.bound.copy(), est.step.copy()

    # The floor's scale: the largest derivative, or |f| / max(1, |x|) when that
    # is larger (|x| the root mean square of x, the convention of the step
    # rule).  A derivative is a sum of terms of about that size, and where they
    # cancel to a small result, any evaluation of it (the analytic one, or
    # complex-step) is only accurate to EPS times the terms, not the result.
    x_rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0
    natural = np.abs(f0)[None, :] / max(1.0, x_rms)

    def floor_of(values: np.ndarray) -> np.ndarray:
        return rules.FLOOR_FACTOR * eps_w * np.maximum(np.max(np.abs(values), axis=0, keepdims=True), natural)

    def verdict() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        floor = floor_of(N)
        allowed = np.maximum(safety * B + floor, np.finfo(np.float64).tiny)  # never 0: ratios stay finite
        err = np.abs(A - N)
        return err, allowed, np.any(err > allowed, axis=1)

    err, allowed, fail = verdict()
    kinks: list = []
    kink_ok = np.zeros(x.size, bool)
    not_converged = np.zeros(x.size, bool)
    if not est.complete and fail.any():
        idx = np.flatnonzero(fail)
        steps = rules.steps_for(method, x, h)[idx]
        ref = refine(ev, x, f0, idx, method, steps, noise(), explicit=explicit)
        N[idx], B[idx], step[idx] = ref.value, ref.bound, ref.step
        if ref.converged is not None:
            not_converged[idx] = ~ref.converged
        err, allowed, fail = verdict()
        if ref.kink.any():
            assert ref.left is not None and ref.right is not None and ref.slope_bound is not None
            for k in np.flatnonzero(ref.kink):
                i = int(idx[k])
                lo = np.minimum(ref.left[k], ref.right[k])
                hi = np.maximum(ref.left[k], ref.right[k])
                tol = safety * ref.slope_bound[k] + allowed[i]
                between = bool(np.all((A[i] >= lo - tol) & (A[i] <= hi + tol)))
                kink_ok[i] = between
                kinks.append(
                    {
                        "index": spec.locate(i),
                        "name": spec.describe(i),
                        "left": float(ref.left[k][0]),
                        "right": float(ref.right[k][0]),
                        "analytic": float(A[i][0]),
                        "between": between,
                    }
                )
    elif method == "complex" and fail.any():
        # Complex-step's own truncation matters only where the derivative is
        # nearly zero (x**3 at 0): measure it for failing entries of that kind.
        scale = max(float(np.max(np.abs(A))), float(np.max(natural)))
        small = np.all(np.abs(N) <= NEAR_ZERO * scale, axis=1) if scale > 0 else np.ones(x.size, bool)
        idx = np.flatnonzero(fail & small)
        if len(idx):
            assert ev_c is not None
            B[idx] += complex_truncation(ev_c, x, idx, step[idx], N[idx])
            err, allowed, fail = verdict()
    if method == "complex" and fail.any():
        # Cross-check failing complex-step entries with finite differences:
        # where the two estimators disagree, complex-step is not reliable for
        # that entry (f is not analytic there) and the finite difference wins.
        idx = np.flatnonzero(fail)
        idx = idx[np.argsort(-np.max(err[idx] / allowed[idx], axis=1))][:CONFIRM_MAX]
        ref = refine(ev, x, f0, idx, "richardson", rules.steps_for("richardson", x)[idx], noise())
        floor = floor_of(N)
        disagree = np.any(np.abs(ref.value - N[idx]) > safety * (ref.bound + B[idx]) + floor, axis=1)
        if disagree.any():
            bad = idx[disagree]
            N[bad], B[bad], step[bad] = ref.value[disagree], ref.bound[disagree], ref.step[disagree]
            notes.append(
                f"complex-step disagreed with finite differences at {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} "
                f"(e.g. {spec.describe(int(bad[0]))}); finite differences were used there"
            )
            err, allowed, fail = verdict()
    fail = fail & ~kink_ok
    # An entry whose bound dwarfs the derivative's scale was not resolved by any
    # step (a singularity, or a kink the ladder could not pin down).  Where the
    # analytic value is also far from the estimate, the check cannot judge,
    # and a check that cannot judge does not pass.
    scale = np.max(np.abs(N), axis=0, keepdims=True)
    unresolved = not_converged & np.any(
        (safety * B > UNRESOLVED_FRACTION * scale) & (err > UNRESOLVED_FRACTION * scale), axis=1
    )
    unresolved &= ~fail & ~kink_ok
    if unresolved.any():
        first = int(np.flatnonzero(unresolved)[0])
        notes.append(
            f"{int(unresolved.sum())} entr{'y' if unresolved.sum() == 1 else 'ies'} (e.g. {spec.describe(first)}) could not be "
            "estimated: the estimates at different steps do not converge (a singularity, or a kink, at x?)"
        )
    fail = fail | unresolved
    ratio = np.max(err / allowed, axis=1)
    # The worst entry: the failing one furthest outside its tolerance, or, when
    # all pass, the one closest to it.
    worst = int(np.flatnonzero(fail)[np.argmax(ratio[fail])]) if fail.any() else int(np.argmax(ratio))
    pattern, diagnosis = _explain(fail, unresolved, kinks, notes, A, N, allowed, spec, x)
    rel = err / np.maximum(np.maximum(np.abs(A), np.abs(N)), allowed)
    kink_names = {k["name"] for k in kinks}
    rows = []
    for i in np.argsort(-ratio)[:REPORT_ROWS]:
        j = int(np.argmax(err[i] / allowed[i]))
        name = spec.describe(int(i))
        note = "kink" if name in kink_names else ("wrong" if fail[i] else "")
        values = (float(A[i, j]), float(N[i, j]), float(err[i, j]), float(allowed[i, j]))
        rows.append(Row(_entry_name(spec, int(i), j, out_shape), *values, note))
    report = Report(
        ok=not bool(fail.any()),
        kind=kind,
        method=method,
        mode="full",
        h=float(np.median(np.abs(step))),
        evaluations=counter[0],
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst_index=spec.locate(worst),
        worst_name=spec.describe(worst),
        safety=safety,
        floor=float(np.max(floor_of(N))),
        diagnosis=diagnosis,
        pattern=pattern,
        numerical=_unflatten_matrix(N, spec, out_shape),
        analytic=_unflatten_matrix(A, spec, out_shape),
        tolerance=_unflatten_matrix(allowed, spec, out_shape),
        failures=int(fail.sum()),
        entries=int(x.size),
        kinks=kinks,
        notes=notes,
        seed=seed,
        dtype=str(x.dtype),
        rows=rows,
    )
    return report


def _explain(
    fail: np.ndarray,
    unresolved: np.ndarray,
    kinks: list,
    notes: list,
    A: np.ndarray,
    N: np.ndarray,
    allowed: np.ndarray,
    spec: ParamSpec,
    x: np.ndarray,
) -> tuple[str | None, str | None]:
    """(pattern, diagnosis) of a full check; a note on kinks when it passed."""
    if not fail.any():
        if kinks:
            notes.append(
                f"{len(kinks)} entr{'y' if len(kinks) == 1 else 'ies'} at a kink (not differentiable here); "
                "the analytic value is a valid one-sided slope or between them"
            )
        return None, None
    bad_kinks = [k for k in kinks if not k["between"]]
    if bad_kinks and len(bad_kinks) == int(fail.sum()):
        k = bad_kinks[0]
        return "kink", (
            f"f is not differentiable at {k['name']} (left slope {k['left']:.6g}, right slope {k['right']:.6g}) "
            f"and the analytic value {k['analytic']:.6g} is not between them"
        )
    if unresolved.any() and not (fail & ~unresolved).any():
        return "unresolved", notes[-1]
    return diagnose(A, N, allowed, fail, spec, x)


def _entry_name(spec: ParamSpec, i: int, j: int, out_shape: tuple) -> str:
    base = spec.describe(i)
    if out_shape:
        return f"{base} of out{list(np.unravel_index(j, out_shape))}"
    return base


# -- public entry points --------------------------------------------------------------------

_DOC_OPTIONS = """
    method : {"auto", "complex", "richardson", "central", "forward"}
        The estimator.  ``"auto"`` uses complex-step when ``f`` is
        complex-safe (verified on the spot, along a random direction) and
        Richardson-extrapolated central differences otherwise.
    h : float or array, optional
        An explicit absolute step (one for all entries, or one per entry);
        by default the rule of
        :mod:`gradverify.steps`, adapted per entry where needed.
    safety : float, optional
        Multiplies the error bound in the verdict (default from
        :data:`gradverify.steps.SAFETY`).
    mode : {"auto", "full", "directional"}
        ``"full"`` compares every entry; ``"directional"`` compares
        derivatives along random directions and localises wrong entries by
        bisection; ``"auto"`` picks full unless it would cost more than
        ``budget`` calls.
    directions : int, optional
        Random directions to check (implies directional mode).
    budget : int, optional
        Calls of ``f`` a full check may cost before ``"auto"`` switches to
        directions (default 4096).
    vectorized : bool
        ``f`` accepts a stack of points (leading axis of every leaf) and
        returns one value per point, so perturbations are evaluated in chunks.
    seed : int, optional
        Seeds the random directions and the noise walk; a fresh seed is drawn
        (and recorded in the report) when omitted.
"""


def check_grad(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    x: Any,
    *,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "auto",
    directions: int | None = None,
    budget: int | None = None,
    vectorized: bool = False,
    seed: int | None = None,
) -> Report:
    """Check the gradient ``grad`` of the scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``.  It must not modify ``x`` and must be deterministic.
    grad : callable
        ``grad(x)`` returns the gradient, with the structure of ``x``.
    x : array or dict/tuple/list of arrays
        The point.  Integer arrays are promoted to float64; float32 arrays are
        worked in float32.  The caller's arrays are never modified.
    {options}
    Returns
    -------
    Report
        ``report.ok`` is the verdict; ``str(report)`` explains it.

    Raises
    ------
    NonFiniteValue
        ``f`` or ``grad`` produced NaN or inf.
    ShapeMismatch
        ``grad(x)`` does not have the structure and shapes of ``x``.
    InvalidArgument
        ``f`` is not scalar, modifies its input, or is not deterministic.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: np.sum(x ** 3)
    >>> gv.check_grad(f, lambda x: 3 * x ** 2, np.array([1.0, 2.0]), seed=0).ok
    True
    >>> gv.check_grad(f, lambda x: 3 * x, np.array([1.0, 2.0]), seed=0).ok
    False
    """
    spec, flat = _flat_point(x)

    def analytic(out_shape: tuple, point: np.ndarray = flat) -> np.ndarray:
        return _analytic_matrix(_call_derivative(grad, spec, point, (), "grad"), spec, (), "grad(x)")

    return _run(
        "gradient",
        f,
        spec,
        flat,
        analytic,
        method=method,
        h=h,
        safety=safety,
        mode=mode,
        directions=directions,
        budget=budget,
        vectorized=vectorized,
        seed=seed,
        name="f",
    )


def check_vjp(
    f: Callable[[Any], Any],
    vjp: Callable[[Any, Any], Any],
    x: Any,
    *,
    cotangent: Any = None,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "auto",
    directions: int | None = None,
    budget: int | None = None,
    vectorized: bool = False,
    seed: int | None = None,
) -> Report:
    """Check a vector-Jacobian product (a backward pass) of an array function.

    The check is that of the gradient of ``x -> sum(cotangent * f(x))``, whose
    gradient is ``vjp(x, cotangent)``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array``.
    vjp : callable
        ``vjp(x, cotangent)`` returns ``cotangent`` pulled back through the
        Jacobian, with the structure of ``x``.
    x : array or dict/tuple/list of arrays
    cotangent : array, optional
        Of the shape of ``f(x)``; a seeded standard normal one by default.
    {options}
    Returns
    -------
    Report

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> gv.check_vjp(lambda x: A @ x, lambda x, ct: A.T @ ct, np.ones(2), seed=0).ok
    True
    """
    spec, flat = _flat_point(x)
    probe = Evaluator(f, spec, flat, scalar=False, vectorized=vectorized, name="f")
    out = probe.at(flat, what="x")
    out_shape = probe.out_shape or ()
    if cotangent is None:
        ct = np.random.default_rng(_seed(seed) + 1).standard_normal(out_shape)
    else:
        ct = np.asarray(cotangent, dtype=np.float64)
        if ct.shape != tuple(out_shape):
            from .errors import ShapeMismatch

            raise ShapeMismatch(f"cotangent has shape {ct.shape}, but f(x) has shape {tuple(out_shape)}")
        if not np.all(np.isfinite(ct)):
            raise NonFiniteValue("cotangent contains NaN or inf")
    del out

    def wrap(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def contracted(p: Any) -> Any:
            value = np.asarray(fn(p))
            if vectorized:
                return np.sum(value.reshape(value.shape[0], -1) * ct.reshape(1, -1), axis=1)
            return np.sum(value * ct)

        return contracted

    def analytic(_: tuple, point: np.ndarray = flat) -> np.ndarray:
        return _analytic_matrix(_call_derivative(vjp, spec, point, (ct.copy(),), "vjp"), spec, (), "vjp(x, cotangent)")

    return _run(
        "vjp",
        f,
        spec,
        flat,
        analytic,
        method=method,
        h=h,
        safety=safety,
        mode=mode,
        directions=directions,
        budget=budget,
        vectorized=vectorized,
        seed=seed,
        name="f",
        wrap_output=wrap,
    )


def check_jacobian(
    f: Callable[[Any], Any],
    jac: Callable[[Any], Any],
    x: Any,
    *,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "full",
    directions: int | None = None,
    budget: int | None = None,
    vectorized: bool = False,
    seed: int | None = None,
) -> Report:
    """Check the Jacobian ``jac`` of an array function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of shape ``S``.
    jac : callable
        ``jac(x)`` of shape ``S + x.shape`` (for dict/tuple/list parameters,
        that structure with leaves ``S + leaf.shape``).
    x : array or dict/tuple/list of arrays
    {options}
    Returns
    -------
    Report

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: np.array([x[0] * x[1], np.sin(x[0])])
    >>> jac = lambda x: np.array([[x[1], x[0]], [np.cos(x[0]), 0.0]])
    >>> gv.check_jacobian(f, jac, np.array([0.5, 2.0]), seed=0).ok
    True
    """
    spec, flat = _flat_point(x)
    holder: dict = {}

    def analytic(out_shape: tuple, point: np.ndarray = flat) -> np.ndarray:
        holder["shape"] = out_shape
        return _analytic_matrix(_call_derivative(jac, spec, point, (), "jac"), spec, out_shape, "jac(x)")

    return _run(
        "jacobian",
        f,
        spec,
        flat,
        analytic,
        method=method,
        h=h,
        safety=safety,
        mode=mode,
        directions=directions,
        budget=budget,
        vectorized=vectorized,
        seed=seed,
        name="f",
    )


def assert_grad(f: Callable[[Any], Any], grad: Callable[[Any], Any], x: Any, **options: Any) -> Report:
    """Like :func:`check_grad`, but raise :class:`GradientMismatch` on failure.

    Returns the report when the gradient is right, so tests can look further.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> _ = gv.assert_grad(np.sum, np.ones_like, np.zeros(3), seed=0)
    """
    __tracebackhide__ = True
    report = check_grad(f, grad, x, **options)
    if not report.ok:
        raise GradientMismatch(report)
    return report


for _fn in (check_grad, check_vjp, check_jacobian):
    _fn.__doc__ = (_fn.__doc__ or "").replace("    {options}\n", _DOC_OPTIONS.lstrip("\n"))
