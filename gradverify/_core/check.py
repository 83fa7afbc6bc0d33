"""The verdict: is an analytic derivative right at this point?

Each entry passes when ``|analytic - numerical| <= safety * bound + floor``
where ``bound`` is the estimator's own error bound
(:mod:`gradverify._core.estimators`) and ``safety`` and ``floor`` come from
:mod:`gradverify.steps`.  ``check_grad``, ``check_vjp`` and ``check_jacobian``
reduce to one routine on an ``(n, m)`` matrix of derivatives: ``n`` inputs,
``m`` outputs (``m = 1`` for a gradient).

This module is the front: the public functions, their options and ``_run``,
which validates the options and picks the method
(:mod:`gradverify._core.method`) and the mode; the checks themselves are in
:mod:`gradverify._core.full` and :mod:`gradverify._core.directional`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import CheckInconclusive, GradientMismatch, InvalidArgument, NonFiniteValue, ShapeMismatch
from .evaluate import Evaluator, OutputRefused
from .full import full_check
from .matrices import _analytic_matrix, _call_derivative, _flat_point
from .memory import converts_memory_errors
from .method import resolve_method
from .params import ParamSpec
from .problem import Noise, Problem, Sensitivity
from .report import Report
from .validate import (
    show,
    valid_array,
    valid_callable,
    valid_choice,
    valid_count,
    valid_positive,
    valid_seed,
    valid_step,
)

__all__ = ["check_grad", "check_vjp", "check_jacobian", "assert_grad", "Report"]

#: Full checks cost one or two calls per entry; above this many calls the
#: default mode switches to random directions (see ``mode``).
DEFAULT_BUDGET = 4096

#: A float64 reference is used when f's noise at the float64 point is at most
#: this many ulps of float64 (the zoo: 1 to ~30; an f computing in float32: ~1e8).
REFERENCE_ULPS = 1e3

#: Random directions checked in directional mode by default.
DEFAULT_DIRECTIONS = 2

MODES = ("auto", "full", "directional")
REFERENCES = ("auto", "float64", "same")


class _Work(NamedTuple):
    """Where the numerical side works: the point, f there, its evaluator, noise and tolerance."""

    x: np.ndarray
    f0: np.ndarray
    ev: Evaluator
    noise: Noise
    tolerance: rules.Tolerance
    evaluators: tuple[Evaluator, ...]


def _float64_reference(
    reference: str,
    work: _Work,
    f: Callable[[Any], Any],
    spec: ParamSpec,
    vectorized: bool,
    kind: str,
    name: str,
    rng: np.random.Generator,
    safety: float | None,
    notes: list[Any],
) -> _Work:
    """Finite differences of a float32 check in float64, when f computes in float64.

    A float32 derivative is held to float32 rounding either way: the floor of
    the verdict stays ``FLOOR_FACTOR`` ulps of float32 at the derivative's
    scale (the analytic side's own rounding).  What changes is the numerical
    side: estimated in float64, its error is ~1e-10 instead of ~1e-4, so a
    1e-3 bug is plain.  Used when ``f`` given the float64 point returns float64
    values whose noise is float64 rounding (an f that casts to float32 inside
    shows float32 noise, and the check stays in float32).
    """
    x = work.x
    if x.dtype != np.float32:
        return work
    x64 = x.astype(np.float64)
    ev64 = Evaluator(f, spec, x64, vectorized=vectorized, scalar=(kind == "gradient"), name=name)
    refused = "f does not return float64 values at the float64 point"
    try:
        f0_64 = ev64.at(x64, what="x in float64 (a float64 numerical reference)")
    except (NonFiniteValue, InvalidArgument, TypeError, ValueError) as exc:
        f0_64, refused = None, f"f failed at the float64 point ({exc})"
    if f0_64 is not None and ev64.out_dtype == np.float64 and _rounds_to_float32(ev64, x64, f0_64):
        f0_64, refused = None, "f does not change when x moves below float32's resolution (it rounds x to float32)"
    if f0_64 is not None and ev64.out_dtype == np.float64:
        noise = Noise(ev64, x64, f0_64, rng)
        ulps = float(np.max(noise() / np.maximum(rules.eps(np.float64) * np.abs(f0_64), np.finfo(np.float64).tiny)))
        if ulps <= REFERENCE_ULPS:
            tolerance = rules.Tolerance(rules.Tolerance.of(np.float64, safety).safety, rules.eps(np.float32))
            notes.append(
                "float64 numerical reference: f accepted the float32 point in float64 and returned float64, so the "
                "numerical side worked in float64; the float32 derivative is held to it with its own float32 "
                "rounding as the floor"
            )
            return _Work(x64, f0_64, ev64, noise, tolerance, work.evaluators + (ev64,))
        refused = f"f's values at the float64 point scatter by {ulps:.3g} ulps of float64 (it computes in float32)"
    if reference == "float64":
        raise InvalidArgument(f"reference='float64' cannot be used: {refused}")
    return work._replace(evaluators=work.evaluators + (ev64,))


def _rounds_to_float32(ev64: Evaluator, x64: np.ndarray, f0_64: np.ndarray) -> bool:
    """Whether f ignores a move of x that float32 cannot represent (so it computes from float32 x).

    One call. Such an f looks noiseless at the float64 point (its values do not
    change at all over the noise walk), which would pass it as a float64 reference
    and turn every difference into 0: seen with a Hessian-vector product of a
    float32 gradient. The move is a thousandth of a float32 ulp of each entry.
    """
    # Irregular weights of one sign, not alternating signs: a move of +d, -d,
    # +d, -d relative to each entry leaves sum(log(x)) unchanged to the last
    # bit (its change is the sum of the relative moves), so near log's edge a
    # float64 f looked as if it rounded x to float32 and the check stayed in
    # float32 (the numpy 1 case of tests/test_calls.py).
    weights = 1.0 + (np.arange(x64.size) * 0.6180339887) % 1.0
    magnitude = np.abs(x64)
    typical = float(np.max(magnitude)) if magnitude.size and np.max(magnitude) > 0 else 1.0
    delta = 1e-3 * rules.eps(np.float32) * np.where(magnitude > 0, magnitude, typical) * weights
    moved = ev64.at(x64 + delta, what="x in float64 moved below float32's resolution (a float64 reference)")
    return bool(np.array_equal(moved, f0_64))


METHODS_PUBLIC = ("auto",) + rules.METHODS


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
    extra_calls: int = 0,
    reference: str = "auto",
    out_groups: tuple[tuple[int, int], ...] | None = None,
) -> Report:
    """Validate the options, evaluate ``f`` at ``x``, choose the method and the mode, and check."""
    _validate_options(method, mode, safety, budget, directions)
    if reference not in REFERENCES:
        raise InvalidArgument(f"reference={reference!r} is not one of {', '.join(map(repr, REFERENCES))}")
    if h is not None and method == "auto":
        method = "central"
    seed = valid_seed(seed)
    rng = np.random.default_rng(seed)
    f_used = wrap_output(f) if wrap_output else f
    ev = Evaluator(f_used, spec, x, vectorized=vectorized, scalar=(kind == "gradient"), name=name)
    f0 = ev.base_value()
    out_shape = tuple(ev.out_shape or ())
    A = analytic_of(out_shape)
    tolerance = rules.Tolerance.of(x.dtype, safety)
    noise = Noise(ev, x, f0, rng)
    limit = budget if budget is not None else DEFAULT_BUDGET
    full = mode == "full" or (mode == "auto" and directions is None and 2 * x.size <= limit)
    choice = resolve_method(method, ev, x, f0, rng, noise, tolerance, A, full=full)
    notes = [choice.note] if choice.note else []
    work = _Work(x, f0, ev, noise, tolerance, (ev,))
    if choice.method != "complex" and reference != "same":
        # Not before the method: complex-step in complex128 would hold a float32 derivative
        # to its floor alone, and a float32 sum that cancels (db of a layer: 5 terms of 1 to
        # 5e-3) carries 7x that; complex64's bound at the derivative's scale covers it.
        work = _float64_reference(reference, work, f_used, spec, vectorized, kind, name, rng, safety, notes)
    per_entry = 2 if choice.method in ("central", "richardson") else 1
    chosen_mode = _choose_mode(mode, directions, x.size * per_entry, budget, notes)
    problem = Problem(
        kind=kind,
        spec=spec,
        x=work.x,
        f0=work.f0,
        A=A,
        out_shape=out_shape,
        method=choice.method,
        ev=work.ev,
        ev_c=choice.ev_c,
        evaluators=work.evaluators + choice.tried,
        noise=work.noise,
        tolerance=work.tolerance,
        seed=seed,
        rng=rng,
        h=h,
        notes=notes,
        extra_calls=extra_calls,
        dtype=str(x.dtype),
        out_groups=out_groups,
    )
    # The derivative's own rounding, measured only if an entry fails by a hair: its change under
    # moves of x by a few ulps, or, against a float64 reference, the derivative at the float64 point.
    scale = problem.floor_scale(A)
    sensitivity = Sensitivity(lambda point: analytic_of(out_shape, point), x, A, scale, seed, promoted=work.x is not x)
    problem = replace(problem, sensitivity=sensitivity)
    if chosen_mode == "directional":
        from .directional import directional_check

        return directional_check(problem, directions or DEFAULT_DIRECTIONS)
    return full_check(problem)


def _validate_options(method: str, mode: str, safety: float | None, budget: int | None, directions: int | None) -> None:
    """Refuse bad options before ``f`` is called, naming the argument and its value."""
    valid_choice("method", method, METHODS_PUBLIC)
    valid_choice("mode", mode, MODES)
    if safety is not None:
        valid_positive("safety", safety)
    if budget is not None:
        valid_count("budget", budget, minimum=1)
    if directions is not None:
        valid_count("directions", directions, minimum=1)


def _validate_call(
    functions: dict[str, tuple[Any, str]],
    x: Any,
    names: Any,
    *,
    method: str,
    mode: str,
    h: Any,
    safety: float | None,
    budget: int | None,
    directions: int | None,
    vectorized: Any,
    seed: Any,
) -> tuple[ParamSpec, np.ndarray, Any, int]:
    """Every argument of a public check, validated before any user function runs.

    Returns the structure of ``x``, its flat copy, the validated step and the seed.
    """
    for name, (fn, what) in functions.items():
        valid_callable(name, fn, what)
    _validate_options(method, mode, safety, budget, directions)
    if not isinstance(vectorized, (bool, np.bool_)):
        raise InvalidArgument(f"vectorized={show(vectorized)} must be True or False")
    seed = valid_seed(seed)
    spec, flat = _flat_point(x, names=names)
    return spec, flat, valid_step(h, flat.size), seed


def _choose_mode(mode: str, directions: int | None, cost: int, budget: int | None, notes: list[str]) -> str:
    """Resolve ``mode="auto"``: directional when directions are asked for or ``cost`` is over budget."""
    if mode != "auto":
        return mode
    limit = budget if budget is not None else DEFAULT_BUDGET
    if directions is not None:
        notes.append(f"directional check of {directions} random directions, as asked")
        return "directional"
    if cost > limit:
        notes.append(f"directional check chosen: a full check would cost ~{cost} calls, over the budget of {limit}")
        return "directional"
    return "full"


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
    names : list of str, optional
        Names of the leaves of a tuple or list ``x``, used in the report
        (``names=["x", "w", "b"]`` reports ``b[0]``).  Without them a tuple's
        leaves are ``args[0]``, ``args[1]``, ... and a namedtuple's its
        fields; a dict's leaves are always its keys.
    reference : {"auto", "float64", "same"}
        For float32 ``x`` checked by finite differences: ``"auto"`` takes the
        differences in float64 when ``f`` accepts the point in float64 and
        computes in float64 (the report says so), the float32 derivative
        still held to its own float32 rounding; ``"float64"`` requires it;
        ``"same"`` works in x's dtype.
"""


@converts_memory_errors("check_grad", x_position=2)
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
    names: list[str] | tuple[str, ...] | None = None,
    reference: str = "auto",
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
        ``report.outcome`` is the verdict (``"passed"``, ``"failed"`` or
        ``"inconclusive"``), ``report.ok`` is True only when it passed,
        ``report.resolution`` the smallest relative error it could have seen;
        ``str(report)`` explains it.

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
    spec, flat, h, seed = _validate_call(
        {"f": (f, "parameters -> scalar"), "grad": (grad, "parameters -> gradient like the parameters")},
        x,
        names,
        method=method,
        mode=mode,
        h=h,
        safety=safety,
        budget=budget,
        directions=directions,
        vectorized=vectorized,
        seed=seed,
    )

    def analytic(out_shape: tuple[int, ...], point: np.ndarray = flat) -> np.ndarray:
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
        reference=reference,
    )


@converts_memory_errors("check_vjp", x_position=2)
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
    names: list[str] | tuple[str, ...] | None = None,
    reference: str = "auto",
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
    spec, flat, h, seed = _validate_call(
        {"f": (f, "parameters -> array"), "vjp": (vjp, "(parameters, cotangent) -> gradient like the parameters")},
        x,
        names,
        method=method,
        mode=mode,
        h=h,
        safety=safety,
        budget=budget,
        directions=directions,
        vectorized=vectorized,
        seed=seed,
    )
    given = None if cotangent is None else valid_array("cotangent", cotangent)
    # The cotangent is made (or the given one checked) at f's first call, the
    # one at x that every check starts with: no extra call of f to learn its
    # shape, so report.evaluations counts every call.
    held: dict[str, np.ndarray] = {}

    def cotangent_for(shape: tuple[Any, ...]) -> np.ndarray:
        if given is None:
            return np.random.default_rng(seed + 1).standard_normal(shape)
        if given.shape != shape:
            raise ShapeMismatch(f"cotangent has shape {given.shape}, but f(x) has shape {shape}")
        return given

    def wrap(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def contracted(p: Any) -> Any:
            raw = fn(p)
            try:
                value = np.asarray(raw)
            except (TypeError, ValueError, OverflowError):
                raise OutputRefused(f"{show(raw)}, not a numeric array") from None
            if value.dtype.kind not in "fiubc":
                raise OutputRefused(f"{type(raw).__name__} {show(raw)}, not a numeric array")
            shape = value.shape[1:] if vectorized else value.shape
            if "ct" not in held:
                held["ct"] = cotangent_for(shape)
            ct = held["ct"]
            if shape != ct.shape:
                raise OutputRefused(f"an output of shape {shape} (it had shape {ct.shape} at x)")
            if vectorized:
                return np.sum(value.reshape(value.shape[0], -1) * ct.reshape(1, -1), axis=1)
            return np.sum(value * ct)

        return contracted

    def analytic(_: tuple[int, ...], point: np.ndarray = flat) -> np.ndarray:
        ct = held["ct"]
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
        reference=reference,
        wrap_output=wrap,
    )


@converts_memory_errors("check_jacobian", x_position=2)
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
    sparsity: Any = None,
    names: list[str] | tuple[str, ...] | None = None,
    reference: str = "auto",
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
    sparsity : bool array or scipy.sparse matrix, optional
        The claimed nonzeros, shape ``(f(x).size, x.size)``; also taken from
        ``jac(x)`` when it returns a scipy.sparse matrix.  Columns are then
        grouped and the pattern itself is checked (:mod:`gradverify._core.sparse`).
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
    spec, flat, h, seed = _validate_call(
        {"f": (f, "parameters -> array"), "jac": (jac, "parameters -> Jacobian, leaves f(x).shape + leaf shape")},
        x,
        names,
        method=method,
        mode=mode,
        h=h,
        safety=safety,
        budget=budget,
        directions=directions,
        vectorized=vectorized,
        seed=seed,
    )
    from .sparse import sparse_route  # a sparse pattern (given, or jac's) takes the grouped check

    # after the arguments are checked, so a bad f, jac or option is named before jac is called
    options = dict(
        method=method, h=h, safety=safety, mode=mode, directions=directions, vectorized=vectorized, seed=seed
    )
    routed, jac = sparse_route(f, jac, x, sparsity, options)
    if routed is not None:
        return routed

    def analytic(out_shape: tuple[int, ...], point: np.ndarray = flat) -> np.ndarray:
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
        reference=reference,
    )


def check_jacobian_of_gradient(
    grad: Callable[[Any], Any],
    jac: Callable[[Any], Any],
    x: Any,
    groups: tuple[tuple[int, int], ...],
    *,
    method: str,
    h: Any,
    safety: float | None,
    seed: int | None,
) -> Report:
    """:func:`check_jacobian` of a gradient (a Hessian), its outputs grouped as parameters.

    The outputs in one of ``groups`` (start, stop) are parts of one derivative
    and share the floor's scale (:attr:`Problem.out_groups`).  Full mode, in
    x's dtype (the second-order checks cast to it: a float64 reference would
    see only that rounding).
    """
    spec, flat, h, seed = _validate_call(
        {"grad": (grad, "parameters -> gradient"), "jac": (jac, "parameters -> Jacobian of the gradient")},
        x,
        None,
        method=method,
        mode="full",
        h=h,
        safety=safety,
        budget=None,
        directions=None,
        vectorized=False,
        seed=seed,
    )

    def analytic(out_shape: tuple[int, ...], point: np.ndarray = flat) -> np.ndarray:
        return _analytic_matrix(_call_derivative(jac, spec, point, (), "jac"), spec, out_shape, "jac(x)")

    return _run(
        "jacobian",
        grad,
        spec,
        flat,
        analytic,
        method=method,
        h=h,
        safety=safety,
        mode="full",
        directions=None,
        budget=None,
        vectorized=False,
        seed=seed,
        name="f",
        reference="same",
        out_groups=groups,
    )


def assert_grad(f: Callable[[Any], Any], grad: Callable[[Any], Any], x: Any, **options: Any) -> Report:
    """Like :func:`check_grad`, but raise unless the check passed.

    Raises :class:`GradientMismatch` when it failed and
    :class:`CheckInconclusive` (a :class:`GradientMismatch`) when it could not
    judge.  Returns the report when the gradient is right, so tests can look
    further.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> _ = gv.assert_grad(np.sum, np.ones_like, np.zeros(3), seed=0)
    """
    __tracebackhide__ = True
    report = check_grad(f, grad, x, **options)
    if report.outcome == "inconclusive":
        raise CheckInconclusive(report)
    if not report.ok:
        raise GradientMismatch(report)
    return report


for _fn in (check_grad, check_vjp, check_jacobian):
    _fn.__doc__ = (_fn.__doc__ or "").replace("    {options}\n", _DOC_OPTIONS.lstrip("\n"))
