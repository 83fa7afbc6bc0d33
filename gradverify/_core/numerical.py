"""Public numerical derivatives: values with their error bounds, and the Taylor test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import steps as rules
from ..errors import InvalidArgument, NonFiniteValue
from .estimators import estimate, first_pass, measure_noise
from .evaluate import Evaluator
from .matrices import _analytic_matrix, _call_derivative, _flat_point, _unflatten_matrix
from .memory import converts_memory_errors
from .method import resolve_method
from .params import ParamSpec
from .problem import Noise
from .validate import valid_callable, valid_choice, valid_count, valid_seed, valid_step

__all__ = [
    "GradientEstimate",
    "estimate_gradient",
    "numerical_gradient",
    "numerical_jacobian",
    "taylor_test",
    "TaylorResult",
]


@dataclass
class GradientEstimate:
    """A numerical derivative with its error bound.

    Attributes
    ----------
    value : array or structure
        The estimate, like ``x`` (``f(x).shape + x.shape`` leaves for a Jacobian).
    bound : array or structure
        The estimated error bound of each entry: truncation plus rounding
        when ``complete``, rounding alone otherwise.
    h : array or structure
        The step each entry was estimated with.
    method : str
    evaluations : int
        Calls of ``f`` made.
    complete : bool
        Whether ``bound`` includes truncation (a ladder of steps per entry) or
        only rounding (one step per entry, ``refine=False``).
    """

    value: Any
    bound: Any
    h: Any
    method: str
    evaluations: int
    complete: bool = True


@converts_memory_errors("estimate_gradient", x_position=1, mode="full")
def estimate_gradient(
    f: Callable[[Any], Any],
    x: Any,
    *,
    method: str = "central",
    h: Any = None,
    seed: int | None = 0,
    scalar: bool = True,
    refine: bool = True,
) -> GradientEstimate:
    """Numerical gradient (or Jacobian) of ``f`` at ``x`` with an error bound per entry.

    Every entry is estimated over a ladder of steps (see
    :mod:`gradverify.steps`); the bound is the truncation estimated by comparing
    steps plus the rounding implied by ``f``'s measured noise.

    Parameters
    ----------
    f : callable
        ``f(x)``: a scalar, or an array when ``scalar=False``.
    x : array or dict/tuple/list of arrays
    method : {"central", "forward", "richardson", "complex"}
    h : float or array, optional
        An explicit step; the value is then taken at exactly that step.
    seed : int, optional
        Seeds the noise measurement.
    scalar : bool
        Require a scalar ``f`` (gradient) or allow an array (Jacobian).
    refine : bool
        ``True`` (as accurate as the method allows): every entry on a ladder
        of steps, the bound with truncation.  ``False``: one step per entry
        (the rule's, or ``h``), as scipy's ``approx_derivative`` does (n calls
        forward and complex-step, 2n central, plus the noise measurement),
        the bound rounding alone (``complete=False``).

    Returns
    -------
    GradientEstimate

    Raises
    ------
    NotComplexSafe
        ``method="complex"`` and ``f`` is not complex-safe: it refuses complex
        input, drops the imaginary part, or (``x * conj(x)``, ``abs``) gives a
        complex-step derivative that disagrees with finite differences along a
        random direction.

    Examples
    --------
    >>> import numpy as np
    >>> est = estimate_gradient(lambda x: np.sum(np.sin(x)), np.array([0.0, 1.0]))
    >>> bool(np.all(np.abs(est.value - np.cos([0.0, 1.0])) <= est.bound))
    True
    """
    return _estimate(f, x, method, h, seed, scalar, refine, measure=True)


def _estimate(
    f: Callable[[Any], Any],
    x: Any,
    method: str,
    h: Any,
    seed: int | None,
    scalar: bool,
    refine: bool,
    measure: bool,
) -> GradientEstimate:
    """:func:`estimate_gradient`; without ``measure`` no noise is measured (no bound: a bare value)."""
    valid_callable("f", f, "parameters -> " + ("scalar" if scalar else "array"))
    valid_choice("method", method, rules.METHODS)
    rng = np.random.default_rng(valid_seed(seed))
    spec, flat = _flat_point(x)
    h = valid_step(h, flat.size)
    ev = Evaluator(f, spec, flat, scalar=scalar)
    f0 = ev.base_value()
    out_shape = ev.out_shape or ()
    noise = Noise(ev, flat, f0, rng)
    tried: tuple[Evaluator, ...] = ()
    single = not refine and method != "richardson"
    if method == "complex":
        # Complex-safety is measured, never assumed, as in the checks: an f
        # such as x * conj(x) accepts complex input and returns a complex value
        # whose imaginary part is 0, a derivative of 0 with a bound of 0.
        choice = resolve_method("complex", ev, flat, f0, rng, noise, rules.Tolerance.of(flat.dtype))
        assert choice.ev_c is not None
        tried = choice.tried
        est = estimate(choice.ev_c, flat, f0, "complex", np.zeros_like(f0), h)
    else:
        measured = noise() if measure else np.zeros_like(f0)
        if single:
            est = first_pass(ev, flat, f0, method, rules.steps_for(method, flat, h), measured)
        else:
            est = estimate(ev, flat, f0, method, measured, h)
    steps = np.broadcast_to(est.step[:, None], est.value.shape)
    return GradientEstimate(
        value=_unflatten_matrix(est.value, spec, out_shape),
        bound=_unflatten_matrix(est.bound, spec, out_shape),
        h=_unflatten_matrix(steps, spec, out_shape),
        method=method,
        evaluations=ev.calls + sum(e.calls for e in tried),
        complete=bool(est.complete),
    )


def numerical_gradient(f: Callable[[Any], Any], x: Any, *, method: str = "central", h: Any = None) -> Any:
    """The numerical gradient of a scalar ``f`` at ``x``, with the structure of ``x``.

    One step per entry (the rule of :mod:`gradverify.steps`, or ``h``), so it
    costs what scipy's ``approx_derivative`` costs: ``n + 2`` calls forward,
    ``2n + 2`` central (f(x) is evaluated twice, to see that f is
    deterministic); ``method="richardson"`` runs the ladder of steps per entry.
    :func:`estimate_gradient` gives the value with an error bound.

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda x: np.sum(x ** 2), np.array([1.0, -2.0]))
    >>> np.allclose(g, [2.0, -4.0])
    True
    """
    return _estimate(f, x, method, h, 0, True, refine=False, measure=False).value


def numerical_jacobian(f: Callable[[Any], Any], x: Any, *, method: str = "central", h: Any = None) -> Any:
    """The numerical Jacobian of ``f`` at ``x``: shape ``f(x).shape + x.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> J = numerical_jacobian(lambda x: np.array([x[0] * x[1], x[1]]), np.array([2.0, 3.0]))
    >>> np.allclose(J, [[3.0, 2.0], [0.0, 1.0]])
    True
    """
    return _estimate(f, x, method, h, 0, False, refine=False, measure=False).value


@dataclass
class TaylorResult:
    """The Taylor test: remainders and their observed convergence orders.

    Attributes
    ----------
    ok : bool
        The remainders converge at order about 2 (a right gradient).
    order : float
        The median observed order over the usable part of the sweep.
    orders : ndarray
        ``log2(r_k / r_{k+1})`` between consecutive epsilons.
    epsilons, remainders : ndarray
        The sweep and ``|f(x + eps d) - f(x) - eps <grad, d>|``.
    evaluations : int
    """

    ok: bool
    order: float
    orders: np.ndarray
    epsilons: np.ndarray
    remainders: np.ndarray
    evaluations: int

    def __str__(self) -> str:
        verdict = "order 2: the gradient is right" if self.ok else "order 1 or worse: the gradient is wrong"
        lines = [f"gradverify: Taylor test, observed order {self.order:.2f} ({verdict})"]
        lines.append(f"  {'eps':>10} {'remainder':>12} {'order':>7}")
        for k, (e, r) in enumerate(zip(self.epsilons, self.remainders)):
            o = f"{self.orders[k - 1]:7.2f}" if k else ""
            lines.append(f"  {e:>10.3g} {r:>12.4g} {o}")
        return "\n".join(lines)


def taylor_test(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    x: Any,
    *,
    direction: Any = None,
    seed: int | None = 0,
    steps: int = 24,
) -> TaylorResult:
    """The Taylor test: a gradient check that needs no tolerance.

    With ``r(eps) = |f(x + eps d) - f(x) - eps <grad(x), d>|``, a right
    gradient gives ``r = O(eps**2)`` and a wrong one ``r = O(eps)``.  The
    sweep halves ``eps`` from ``0.1 * max(1, |x|)``-scaled size and stops
    where ``r`` sinks into ``f``'s rounding noise; the order observed there
    decides.

    Parameters
    ----------
    f, grad : callable
    x : array or dict/tuple/list of arrays
    direction : like x, optional
        The direction ``d``; seeded standard normal by default.  It must be
        finite and not zero (along a zero direction every gradient passes).
    seed : int, optional
    steps : int
        Points in the sweep (at least 2: one observed order needs two).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: np.sum(np.exp(x))
    >>> taylor_test(f, np.exp, np.array([0.1, 0.2])).ok
    True
    >>> taylor_test(f, lambda x: 2 * np.exp(x), np.array([0.1, 0.2])).ok
    False
    """
    valid_callable("f", f, "parameters -> scalar")
    valid_callable("grad", grad, "parameters -> gradient like the parameters")
    rng = np.random.default_rng(valid_seed(seed))
    steps = valid_count("steps", steps, minimum=2)
    spec, flat = _flat_point(x)
    if direction is None:
        d = rng.standard_normal(flat.size)
    else:
        d = _flat_direction(spec, direction)
        if not np.any(d):
            raise InvalidArgument(
                "direction is zero everywhere: along it the remainder is 0 for any gradient, right or wrong; "
                "give a direction with a nonzero entry (or leave direction=None for a random one)"
            )
    counter = [0]
    ev = Evaluator(f, spec, flat, counter=counter)
    f0 = ev.base_value()[0]
    g = _analytic_matrix(_call_derivative(grad, spec, flat, (), "grad"), spec, (), "grad(x)")[:, 0]
    noise = measure_noise(ev, flat, np.array([f0]), rng)[0]
    scale = 0.1 * max(1.0, float(np.max(np.abs(flat)))) / max(float(np.max(np.abs(d))), 1e-300)
    eps_list, rem = [], []
    slope = float(g @ d)
    for k in range(steps):
        e = scale * 0.5**k
        point = (flat.astype(np.float64) + e * d).astype(flat.dtype)
        moved = point.astype(np.float64) - flat.astype(np.float64)
        r = abs(float(ev.at(point, what=f"x + {e:.3g}*d")[0]) - f0 - float(g @ moved))
        eps_list.append(e)
        rem.append(r)
    eps_arr, rem_arr = np.array(eps_list), np.array(rem)
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.log2(rem_arr[:-1] / rem_arr[1:])
    # Use only pairs well above the noise floor: below it the remainder is rounding.
    usable = (rem_arr[1:] > 100 * noise) & (rem_arr[:-1] > 100 * noise) & np.isfinite(orders)
    if not usable.any():
        # The remainder is at the noise level everywhere: f is linear along d
        # and the gradient predicts it exactly, or eps is too small.
        order = 2.0 if np.max(rem_arr) <= 100 * noise + 1e-12 * abs(slope) * scale else 0.0
    else:
        order = float(np.median(orders[usable][-3:]))
    return TaylorResult(order > 1.5, order, orders, eps_arr, rem_arr, counter[0])


def _flat_direction(spec: ParamSpec, direction: Any) -> np.ndarray:
    """The user's Taylor direction, like x, as a finite flat float64 vector."""
    flat = spec.flatten(direction, dtype=np.float64, argname="direction")
    if not np.all(np.isfinite(flat)):
        bad = int(np.flatnonzero(~np.isfinite(flat))[0])
        raise NonFiniteValue(f"direction contains {flat[bad]} at {spec.describe(bad)}; it must be finite")
    return flat
