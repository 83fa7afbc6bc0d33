"""Which estimator a check uses: resolve ``method="auto"`` and vet ``method="complex"``.

Complex-step is exact to rounding when ``f`` is analytic, and silently wrong
when it is not (``abs``, ``max``, ``np.real``, a cast to float).  So
complex-safety is measured, never assumed: the complex-step derivative along a
random direction must agree with a Richardson estimate within both bounds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import NonFiniteValue, NotComplexSafe
from .estimators import MAX_SHRINK, directional
from .evaluate import Evaluator
from .problem import Noise

__all__ = ["MethodChoice", "resolve_method"]


class MethodChoice(NamedTuple):
    """The estimator a check uses, why, and the complex evaluators it made."""

    method: str
    note: str | None
    ev_c: Evaluator | None
    tried: tuple[Evaluator, ...]


#: Rungs of the central-difference ladder that vets complex-step along its
#: direction: two, and one more (up to this many) while the smallest rung is
#: still dominated by truncation.
VET_RUNGS = 4


def resolve_method(
    method: str,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    rng: np.random.Generator,
    noise: Noise,
    tolerance: rules.Tolerance,
    A: np.ndarray | None = None,
    full: bool = False,
) -> MethodChoice:
    """Resolve ``auto`` and vet ``complex``: complex-safety is checked, never assumed.

    The complex-step derivative along a random direction must agree with
    central differences along it (Richardson-extrapolated over two steps,
    more while truncation dominates) within both bounds.  With the analytic
    derivative ``A`` the comparison runs on residuals against ``A`` (the
    direction each rung really took, ``fl(x + t u)``, differs from ``u`` by
    an ulp per entry; ``A`` accounts for that to first order).  Returns the
    method, a note, the complex evaluator when complex-step is used, and every
    complex evaluator made (their calls count).  With ``full`` (a full check
    will run: n complex calls against 2n real ones), ``"auto"`` takes central
    differences instead when complex calls cost more (:func:`_cheaper_real`).
    """
    if method not in ("auto", "complex"):
        return MethodChoice(method, None, None, ())
    v = rng.standard_normal(x.size)
    reason = None
    made = Evaluator(ev.f, ev.spec, x, complex_step=True, vectorized=ev.vectorized, scalar=ev.scalar, name=ev.name)
    tried = (made,)
    ev_c: Evaluator | None = made
    try:
        cs = directional(made, x, f0, v, "complex", noise=np.zeros_like(f0))
        d_cs, b_cs = cs.value, cs.bound
    except NotComplexSafe as exc:
        reason = str(exc)
        ev_c = None
    if ev_c is not None:
        A_used = A if A is not None else np.zeros((x.size, len(f0)))
        agree, d_fd, b_fd, why = _agrees(ev, x, f0, v, d_cs, b_cs, noise, tolerance, A_used)
        murky = _murky(
            agree, noise, f0, x.dtype, d_cs, A_used.T @ (v * np.maximum(1.0, np.abs(x.astype(np.float64)))), b_fd
        )
        if murky is not None and method == "complex":
            note = f"complex-step could not be vetted ({murky}); used as asked (method='complex')"
            return MethodChoice("complex", note, ev_c, tried)
        if murky is not None:
            # Finite differences this uncertain agree with anything: no evidence that
            # complex-step is right here (numpy 1's sign() of a complex number is
            # analytic, so complex-step sees only the smooth part of a jump).
            note = f"complex-step not used (it cannot be vetted: {murky}); Richardson-extrapolated central differences instead"
            return MethodChoice("richardson", note, None, tried)
        if agree:
            cheaper = _cheaper_real(method, ev, made, x, noise, tolerance, A) if full else None
            if cheaper is not None:
                return MethodChoice("central", cheaper, None, tried)
            note = (
                "complex-step chosen: f accepted complex input and its complex-step derivative "
                "agreed with finite differences along a random direction"
            )
            return MethodChoice("complex", note if method == "auto" else None, ev_c, tried)
        reason = why or (
            f"its complex-step derivative along a random direction ({d_cs[0]:.12g}) disagrees with finite differences "
            f"({d_fd[0]:.12g} +- {b_fd[0]:.2g}): f is not analytic (abs, max/min, comparisons, np.real, a cast to "
            "float, or a special function that loses the imaginary part?)"
        )
    if method == "complex":
        raise NotComplexSafe(f"method='complex' cannot be used: {reason}; use method='central' or 'richardson'")
    note = f"complex-step not used ({reason}); Richardson-extrapolated central differences instead"
    return MethodChoice("richardson", note, None, tried)


#: A complex call is weighed against real ones only when a real call of f
#: takes at least this long: below it the whole check takes milliseconds
#: whichever method runs, and timings that short are mostly noise.
COST_MIN_SECONDS = 1e-3

#: Central differences replace complex-step when a complex call costs more
#: than this many real calls: 2 (central spends two real calls per entry
#: where complex-step spends one complex call) times a margin of 1.5 for the
#: timing's own noise.
COST_RATIO = 3.0

#: ... and when central differences would still see a relative error this
#: small on the largest entry (the 1e-6 float64 bugs the default check must
#: catch), predicted from f's measured noise at the rule's step.
COST_RESOLUTION = 1e-7


def _cheaper_real(
    method: str,
    ev: Evaluator,
    ev_c: Evaluator,
    x: np.ndarray,
    noise: Noise,
    tolerance: rules.Tolerance,
    A: np.ndarray | None,
) -> str | None:
    """Central differences instead of vetted complex-step, when they cost less and see as much; the note why.

    Only for ``method="auto"`` on an f whose complex calls were timed at more
    than :data:`COST_RATIO` real calls (a real data matrix times complex
    weights costs 2-8x) and whose noise lets central differences resolve
    :data:`COST_RESOLUTION` of the derivative.
    """
    real, cplx = ev.call_seconds, ev_c.call_seconds
    if method != "auto" or A is None or not np.isfinite(cplx) or real < COST_MIN_SECONDS:
        return None
    if cplx <= COST_RATIO * real:
        return None
    h = rules.base_step("central", x.dtype) * np.maximum(1.0, np.abs(x.astype(np.float64)))
    scale = float(np.max(np.abs(A))) if A.size else 0.0
    if scale <= 0:
        return None
    bound = rules.ROUNDING_FACTOR["central"] * float(np.max(noise.quick())) / float(np.min(h))
    predicted = float(tolerance.allowed(bound, scale)) / scale
    if predicted > COST_RESOLUTION:
        return None
    return (
        f"central differences chosen over complex-step (which f supports): a complex call of f took "
        f"{cplx / real:.3g}x a real one ({cplx * 1e3:.3g} ms against {real * 1e3:.3g} ms), so two real calls per "
        f"entry cost less than one complex call, and they still resolve about {predicted:.1g} of the derivative"
    )


def _murky(
    agree: bool, noise: Noise, f0: np.ndarray, dtype: np.dtype, d_cs: np.ndarray, d_a: np.ndarray, bound: np.ndarray
) -> str | None:
    """Why an agreement of the vetting is no evidence, or None.

    It is none when f is noisy (or jumps, or is quantised) near x, by far more
    than its rounding, *and* the finite differences are therefore too
    uncertain to tell anything at the resolution a verdict needs.  Either alone
    is not enough: at a near-minimum f rounds far above its own tiny value
    while the differences stay sharp.
    """
    if not agree:
        return None
    sigma = noise.quick()
    f_abs = np.abs(f0.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        ulps = np.where(f_abs > 0, sigma / (rules.eps(dtype) * np.where(f_abs > 0, f_abs, 1.0)), 0.0)
    scale = np.maximum(np.abs(d_cs), np.abs(d_a))
    wide = bound > rules.RESOLUTION_LIMIT * scale
    bad = (ulps > rules.NOISY_ULPS) & wide
    if not bad.any():
        return None
    k = int(np.flatnonzero(bad)[0])
    return (
        f"f's values near x scatter by {float(sigma[k]):.3g}, {float(ulps[k]):.3g} times the rounding of {dtype}, "
        f"and the finite differences along a random direction are known only to +- {float(bound[k]):.2g} of "
        f"{float(d_cs[k]):.6g}: noise, a jump or a quantisation they cannot see past"
    )


def _agrees(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    v: np.ndarray,
    d_cs: np.ndarray,
    b_cs: np.ndarray,
    noise: Noise,
    tolerance: rules.Tolerance,
    A: np.ndarray,
) -> tuple[bool, np.ndarray, np.ndarray, str | None]:
    """Central differences along ``v`` (scaled as the estimators scale it) against complex-step's ``d_cs``.

    With ``rho(t) = D(t) - A^T u_t - (d_cs - A^T u)`` (``u_t`` the direction
    rung ``t`` really took), an analytic f has ``rho(t) = c t**2 + rounding``,
    so the extrapolation ``(16 rho(t/4) - rho(t)) / 15`` is rounding alone;
    complex-step off by ``delta`` leaves ``delta`` in it.  Rounding comes from
    f's noise measured along one walk: an underestimate only refuses
    complex-step (the check then uses finite differences), it never passes a
    wrong one.  An f that does not change at all over the rungs, but does
    further out, is quantised (a rounding to a grid that complex-step's
    imaginary step never crosses): refused.  Returns (agree, the
    finite-difference value, its bound, why it was refused when not plain
    disagreement).
    """
    x64 = x.astype(np.float64)
    u = v * np.maximum(1.0, np.abs(x64))
    t = rules.base_step("central", x.dtype) * rules.LADDER_RATIO
    gain = rules.LADDER_RATIO**2
    offset = d_cs - A.T @ u
    sigma = noise.quick()
    rho: list[np.ndarray] = []
    rounding: list[np.ndarray] = []
    value = bound = np.full_like(d_cs, np.inf)
    shrinks = 0
    flat = True
    j = 0
    while j < VET_RUNGS:
        plus, minus = (x64 + t * u).astype(x.dtype), (x64 - t * u).astype(x.dtype)
        try:
            fp = ev.at(plus, what=f"x + {t:.3g}*v (vetting complex-step)")
            fm = ev.at(minus, what=f"x - {t:.3g}*v (vetting complex-step)")
        except NonFiniteValue:
            # The step left f's domain (x near the edge of a log or sqrt):
            # a smaller one, as the coordinate estimates do; where none
            # stays inside, complex-step is not vetted (refused).
            shrinks += 1
            if shrinks > MAX_SHRINK or rho:
                return False, d_cs + value, bound, None
            t /= rules.LADDER_RATIO**2
            continue
        flat = flat and bool(np.array_equal(fp, f0) and np.array_equal(fm, f0))
        eff = (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * t)
        rho.append((fp - fm) / (2 * t) - A.T @ eff - offset)
        rounding.append(rules.ROUNDING_FACTOR["central"] * sigma / t)
        if j >= 1:
            value = (gain * rho[-1] - rho[-2]) / (gain - 1)
            bound = (gain * rounding[-1] + rounding[-2]) / (gain - 1) + b_cs
            if np.all(tolerance.verdict(value, 0.0, bound, np.abs(d_cs)).within):
                why = _quantised(ev, x64, x.dtype, f0, u) if flat else None
                return why is None, d_cs + value, bound, why
            # A smaller step helps only while truncation, not rounding, is
            # what keeps the pair apart.
            if np.all(np.abs(rho[-1] - rho[-2]) <= rounding[-1] + rounding[-2]):
                break
        t /= rules.LADDER_RATIO
        j += 1
    return False, d_cs + value, bound, None


def _quantised(ev: Evaluator, x64: np.ndarray, dtype: np.dtype, f0: np.ndarray, u: np.ndarray) -> str | None:
    """Why f, flat over every vetting step, is quantised (it changes further out), or None (one call)."""
    point = (x64 + rules.QUANTUM_PROBE * u).astype(dtype)
    try:
        far = ev.at(point, what=f"x + {rules.QUANTUM_PROBE:g}*v (vetting complex-step)")
    except NonFiniteValue:
        return None  # outside f's domain: nothing learnt, and complex-step's agreement stands
    if np.array_equal(far, f0):
        return None  # constant along v as far as can be seen
    return (
        "f does not change at all along a random direction over the steps of finite differences, yet it does "
        f"{rules.QUANTUM_PROBE:g} further out: it is quantised (an int(), a round(), a lower-precision cast?), "
        "and complex-step's imaginary step never crosses its grid"
    )
