"""Numerical derivatives that carry their own error bounds.

Every estimate comes with a bound made of two parts:

* **rounding**: ``ROUNDING_FACTOR * noise / h``, where ``noise`` is the
  standard deviation of ``f``'s floating-point noise *measured* at ``x``
  (:func:`measure_noise`, in the spirit of Moré and Wild's ECnoise: high-order
  differences of ``f`` along short walks see only noise), floored at one ulp
  of ``f(x)``;
* **truncation**: from comparing the estimate at a step with the estimates at
  every smaller step of a ladder (:func:`gradverify.steps.ladder`), which goes
  on down until its two smallest rungs agree within rounding.

Per coordinate the estimators are used in two passes.  :func:`first_pass`
spends the minimum (one call per coordinate for forward and complex-step, two
for central) and bounds only the rounding part; the verdict layer accepts an
entry on that bound alone when it can (a stricter test than the full bound),
and :func:`refine` runs the full ladder, with truncation bound and kink
detection, on the entries it cannot.  :func:`estimate` runs the ladder on
every entry and is what the public ``estimate_gradient`` uses (``numerical_gradient``
stops at the first pass, as scipy does).

References
----------
Moré, J. J. and Wild, S. M. (2011), "Estimating computational noise",
SIAM J. Sci. Comput. 33(3).
Squire, W. and Trapp, G. (1998), "Using complex variables to estimate
derivatives of real functions", SIAM Review 40(1).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from math import factorial
from typing import NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import NonFiniteValue
from .evaluate import Evaluator

__all__ = [
    "Directional",
    "Estimate",
    "complex_truncation",
    "directional",
    "estimate",
    "exact_steps",
    "first_pass",
    "measure_noise",
    "refine",
]

#: Points of each noise walk, f(x) included (ECnoise uses 7 to 9 on one walk).
NOISE_POINTS = 6

#: Step lengths of the noise walks, in units of sqrt(EPS) relative: the golden
#: ratio and its inverse, so the two walks never share a period with a grid.
NOISE_WALKS = (0.6180339887, 1.6180339887)


@dataclass
class Estimate:
    """Estimates for a set of coordinates, shape ``(k, m)`` for ``m`` outputs.

    Attributes
    ----------
    value : ndarray
        The derivative estimates.
    bound : ndarray
        Their error bounds (rounding only when ``complete`` is False).
    step : ndarray, shape (k,)
        The step each entry was estimated with.
    complete : bool
        Whether ``bound`` includes truncation.
    kink : ndarray of bool, shape (k,)
        Entries where the left and right slopes disagree beyond their bounds.
    right, left : ndarray or None
        One-sided slopes, where computed.
    slope_bound : ndarray or None
        The error bound of the one-sided slopes.
    converged : ndarray of bool or None
        Entries whose ladder reached steps where successive estimates agree
        within rounding (None: not a ladder estimate).
    shrunk : ndarray of bool or None
        Entries whose step was shrunk because f was not finite at the rule's
        step (it left f's domain).
    """

    value: np.ndarray
    bound: np.ndarray
    step: np.ndarray
    complete: bool
    kink: np.ndarray
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    slope_bound: np.ndarray | None = None
    converged: np.ndarray | None = None
    shrunk: np.ndarray | None = None


#: How many times a first-pass step that leaves f's domain (f is NaN or inf
#: there) is divided by LADDER_RATIO**2 before the entry is left unresolved.
MAX_SHRINK = 8


def exact_steps(x: np.ndarray, h: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """The signed steps actually taken: ``fl(x + sign*h) - x``, exact in float64.

    Using these in the difference quotient removes the representation error
    of ``x + h`` from the estimate.
    """
    moved = (x + (sign * h).astype(x.dtype)).astype(x.dtype)
    return np.asarray(moved.astype(np.float64) - x.astype(np.float64))


def measure_noise(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    rng: np.random.Generator,
    walks: tuple[float, ...] = NOISE_WALKS,
) -> np.ndarray:
    """The standard deviation of ``f``'s rounding noise at ``x``, per output.

    ``f`` is evaluated along a walk of steps ``sqrt(EPS)`` (relative) in a
    random sign direction; at that scale the smooth part of ``f`` is a cubic
    polynomial to working precision, so its third and fourth differences are
    noise alone.  The estimate from the
    ``j``-th differences is ``sqrt(gamma_j * mean(diff_j ** 2))`` with
    ``gamma_j = (j!)**2 / (2j)!``; the larger of ``j = 3, 4`` is kept.
    The result is floored at one ulp of ``f(x)`` (a computed value is rarely
    better than that).  ``walks`` are the step lengths of the walks taken
    (:data:`NOISE_WALKS` by default; one walk costs ``NOISE_POINTS - 1`` calls).
    """
    # Steps of sqrt(EPS) relative to each entry (entries at zero move relative
    # to the largest entry): large enough that the rounding errors at the walk's
    # points are independent (a walk of a few ulps leaves most intermediate
    # results of f unchanged, and under-reports the noise), small enough that
    # third and fourth differences of the smooth part vanish.  Equally spaced
    # points can alias with the grid f's intermediate values are rounded to
    # (the noise then looks like zero), so two walks with incommensurate step
    # lengths and independent directions are taken and the larger estimate kept.
    magnitude = np.abs(x.astype(np.float64, copy=False))
    typical = float(np.max(magnitude)) if magnitude.size and np.max(magnitude) > 0 else 1.0
    floored = np.maximum(magnitude, 1e-3 * typical)
    del magnitude  # one copy of x fewer alive during the walks
    sigmas = []
    for length in walks:
        delta = length * np.sqrt(rules.eps(x.dtype)) * floored
        values = _noise_walk(ev, x, f0, delta, rng.choice(np.array([-1.0, 1.0]), size=x.size))
        for j in (3, 4):
            diff = np.diff(values, n=j, axis=0)
            gamma = factorial(j) ** 2 / factorial(2 * j)
            sigmas.append(np.sqrt(gamma * np.mean(diff * diff, axis=0)))
    # One ulp of f(x), in the coarser of f's output dtype and x's dtype: float32
    # inputs mean float32 arithmetic even when the result is returned as float64
    # (numpy 1 promotes float32 scalars mixed with Python floats).
    floor = max(rules.eps(ev.out_dtype or np.float64), rules.eps(x.dtype)) * np.abs(f0)
    return np.asarray(np.maximum(np.max(sigmas, axis=0), floor))


def _noise_walk(ev: Evaluator, x: np.ndarray, f0: np.ndarray, delta: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """f along ``x + k * delta * signs``, k = 0 .. NOISE_POINTS-1: shape (points, m).

    A walk that leaves f's domain (NaN or inf, as at the edge of sqrt or log)
    is taken again all forwards, then all backwards, before giving up: the
    direction of the walk does not matter for the noise.
    """
    error: NonFiniteValue | None = None
    origin = x.astype(np.float64, copy=False)
    for direction in (signs, np.ones_like(signs), -np.ones_like(signs)):
        try:
            # The walk's points are made as f needs them (Evaluator.along), not
            # as one (points, n) array: a few copies of x in all, whatever n is.
            walk = ev.along(
                origin,
                delta * direction,
                NOISE_POINTS - 1,
                what=lambda k: f"x + {k + 1}*delta (a short walk that measures the rounding noise of f near x)",
            )
            return np.concatenate([f0[None, :], walk])
        except NonFiniteValue as exc:
            error = error or exc
    assert error is not None
    raise error


def _complex_estimate(ev: Evaluator, x: np.ndarray, idx: np.ndarray, h: np.ndarray) -> Estimate:
    values = ev.shifted(idx, h).imag / h[:, None]
    scale = np.max(np.abs(values), axis=0, keepdims=True) if len(idx) else 0.0
    bound = rules.COMPLEX_RELATIVE * rules.eps(x.dtype) * (np.abs(values) + scale)
    return Estimate(values, bound, h, True, np.zeros(len(idx), bool))


def complex_truncation(ev: Evaluator, x: np.ndarray, idx: np.ndarray, h: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Truncation bound of complex-step estimates ``value`` at steps ``h`` (entries idx).

    Complex-step's error ``h**2 f''' / 6`` is far below rounding unless the
    derivative itself is (nearly) zero, as for ``x**3`` at 0, where it is all
    there is.  A second step ``2h`` measures it: ``D(2h) - D(h) = 3 h**2 f''' / 6``.
    Used only for entries that fail on the rounding bound alone.
    """
    doubled = _complex_estimate(ev, x, idx, 2 * h).value
    return np.asarray(rules.TRUNCATION_FACTOR * np.abs(doubled - value) / 3)


def first_pass(ev: Evaluator, x: np.ndarray, f0: np.ndarray, method: str, h: np.ndarray, noise: np.ndarray) -> Estimate:
    """The cheapest estimate of every coordinate, with its rounding bound.

    Forward and complex-step cost one call per coordinate, central and
    Richardson two (Richardson starts from the central value).  Complex-step
    bounds are complete; the others bound rounding only.
    """
    idx = np.arange(x.size)
    if method == "complex":
        return _complex_estimate(ev, x, idx, h)
    with np.errstate(divide="ignore", invalid="ignore"):  # a step x + h == x gives NaN, judged inconclusive
        return _first_difference(ev, x, f0, method, h, noise, idx)


def _first_difference(
    ev: Evaluator, x: np.ndarray, f0: np.ndarray, method: str, h: np.ndarray, noise: np.ndarray, idx: np.ndarray
) -> Estimate:
    h = np.asarray(h, dtype=np.float64).copy()
    hp, fp, hm, fm = _first_values(ev, x, method, h, idx)
    shrunk = np.zeros(x.size, bool)
    # A step that leaves f's domain (a log or sqrt near 0: f is NaN there) is
    # shrunk for that entry until f is finite on both sides, while the step
    # still moves x.
    for _ in range(MAX_SHRINK):
        bad = ~np.all(np.isfinite(fp), axis=1)
        if fm is not None:
            bad |= ~np.all(np.isfinite(fm), axis=1)
        smaller = h / rules.LADDER_RATIO**2
        bad &= smaller >= rules.REPRESENTABLE_ULPS * rules.eps(x.dtype) * np.abs(x.astype(np.float64))
        if not bad.any():
            break
        b = np.flatnonzero(bad)
        h[b] = smaller[b]
        shrunk[b] = True
        hp_b, fp_b, hm_b, fm_b = _first_values(ev, x[b], method, h[b], np.arange(len(b)), ev_index=b)
        hp[b], fp[b] = hp_b, fp_b
        if fm is not None and hm is not None and fm_b is not None and hm_b is not None:
            hm[b], fm[b] = hm_b, fm_b
    nowhere = ~np.any(np.isfinite(fp), axis=1)
    if fm is not None:
        nowhere &= ~np.any(np.isfinite(fm), axis=1)
    if nowhere.any():
        i = int(np.flatnonzero(nowhere)[0])
        raise NonFiniteValue(
            f"{ev.name} is NaN or inf at every step tried along {ev.spec.describe(i)} (down to h={h[i]:.3g}): "
            "a derivative cannot be checked through NaN or inf (is x on the edge of f's domain?)"
        )
    right = (fp - f0) / hp[:, None]
    if method == "forward" or fm is None or hm is None:
        bound = rules.ROUNDING_FACTOR["forward"] * noise / hp[:, None]
        return Estimate(right, bound, hp, False, np.zeros(x.size, bool), shrunk=shrunk)
    value, right, left = _three_point(f0, fp, fm, hp, hm)
    step = 0.5 * (hp - hm)
    bound = rules.ROUNDING_FACTOR["central"] * noise / step[:, None]
    return Estimate(value, bound, step, False, np.zeros(x.size, bool), right, left, shrunk=shrunk)


def _first_values(
    ev: Evaluator, x: np.ndarray, method: str, h: np.ndarray, idx: np.ndarray, ev_index: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(hp, f(x + hp e), hm, f(x + hm e)) for the entries ``ev_index`` (x here is ``x[ev_index]``); NaN off f's domain."""
    at = idx if ev_index is None else ev_index
    hp = exact_steps(x, h)
    fp = ev.shifted(at, hp, finite=False)
    if method == "forward":
        return hp, fp, None, None
    hm = exact_steps(x, h, -1.0)  # negative
    fm = ev.shifted(at, hm, sign_label="-", finite=False)
    return hp, fp, hm, fm


def _select(
    D: np.ndarray, H: np.ndarray, method: str, noise: np.ndarray, ratio: float, explicit: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick the best rung of a ladder of difference quotients.

    ``D`` has shape (L, k, m) for steps ``H`` of shape (L, k, 1), decreasing
    down the ladder; entries whose ladder is shorter are NaN past its end.
    Returns ``(value, bound, step, extend)`` where ``extend`` flags entries
    whose smallest rung still shows truncation above rounding: their ladder
    has not reached the steps where the estimate converges, so it goes on.
    """
    order = 1 if method == "forward" else 2
    gain = ratio**order
    rounding = rules.ROUNDING_FACTOR[method] * noise / H
    if method == "richardson":
        C = (gain * D[1:] - D[:-1]) / (gain - 1)
        round_part = rounding[1:] * (gain + 1) / (gain - 1)
        steps_of = H[1:]
        factor, tail_factor = 1.0, 1.0
    else:
        C, round_part, steps_of = D, rounding, H
        factor, tail_factor = gain / (gain - 1), 1 / (gain - 1)
    L = len(C)
    valid = ~np.isnan(C)
    # Each entry's smallest valid rung (k, m).  Rungs are NaN past the end of
    # a shorter ladder, and also at the top where a step left f's domain.
    last = np.where(valid.any(axis=0), L - 1 - np.argmax(valid[::-1], axis=0), 0)
    if explicit:
        # Keep the user's step (the last rung); its truncation from the pair.
        trunc = tail_factor * np.abs(C[-1] - C[-2])[None] if L > 1 else np.abs(D[-1] - D[-2])[None] / (gain - 1)
        err = rules.TRUNCATION_FACTOR * trunc + round_part[-1:]
        return C[-1], err[0], steps_of[-1][:, 0], np.zeros(C.shape[1], bool)
    trunc = np.full_like(C, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of short ladders
        for j in range(L):
            # Rung j is judged against its neighbour and, less their own
            # rounding, against *every* smaller rung: large steps that agree
            # with each other (a plateau, as in a saturated softmax) but not
            # with the small steps are not trusted.
            parts = []
            if j + 1 < L:
                parts.append(np.abs(C[j] - C[j + 1]))
            if j + 2 < L:
                parts.append(
                    np.nanmax(np.abs(C[j][None] - C[j + 2 :]) - round_part[j + 2 :], axis=0)
                    if np.any(valid[j + 2 :])
                    else np.full_like(C[j], np.nan)
                )
            trunc[j] = factor * np.fmax.reduce(parts) if parts else np.nan
        # Each entry's smallest rung is judged by its neighbour above, as in
        # Richardson's error estimate.
        tail = np.full_like(C[0], np.nan)
        has_pair = last >= 1
        above = np.take_along_axis(C, np.maximum(last - 1, 0)[None], axis=0)[0]
        at_last = np.take_along_axis(C, last[None], axis=0)[0]
        tail[has_pair] = (tail_factor * np.abs(above - at_last))[has_pair]
        # ... and by the pair above it, scaled down by the asymptotic rate: two
        # rungs can agree by coincidence where the error is not yet c * h**order
        # (its terms of different order cancel between them: forward
        # differences of a tanh network at x scaled by 4e-4 agreed to 4e-4 at
        # two steps whose real error was 6e-3).  A rate that fast is not
        # trusted; the pair above says what the smallest rung's error is at
        # least, less the rounding of that pair.
        has_three = last >= 2
        two_up = np.take_along_axis(C, np.maximum(last - 2, 0)[None], axis=0)[0]
        round_above = np.take_along_axis(np.broadcast_to(round_part, C.shape), np.maximum(last - 1, 0)[None], axis=0)[0]
        predicted = np.where(has_three, np.maximum(np.abs(two_up - above) - round_above, 0.0) / gain, 0.0)
        tail = np.fmax(tail, np.where(has_pair, tail_factor * predicted, np.nan))
        np.put_along_axis(trunc, last[None], tail[None], axis=0)
    trunc = rules.TRUNCATION_FACTOR * trunc
    err = np.where(valid, trunc + round_part, np.inf)
    err = np.where(np.isnan(err), np.inf, err)
    best = np.argmin(err, axis=0)  # (k, m)

    def take(a: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.asarray(np.take_along_axis(np.broadcast_to(a, err.shape), where[None], axis=0)[0])

    # Go on down while the two smallest rungs differ by more than the rounding
    # at the smallest: the asymptotic formula that scales their difference down
    # (by gain - 1) is only trusted once a rung below has confirmed it.
    # (The pair above's prediction widens the smallest rung's bound, but does not
    # send the ladder further down: below, rounding dominates, and where f's
    # noise is read too low - a float32 gradient cancelling to 4e-3 from terms of
    # 1.2 - it went on to a step of 6e-7 and an estimate 20% off within its bound.)
    raw_tail = np.abs(take(C, np.maximum(last - 1, 0)) - take(C, last))
    extend = np.any(raw_tail > take(round_part, last), axis=1)
    return take(C, best), take(err, best), take(steps_of, best)[:, 0], extend


def _goes_on(extend: np.ndarray, next_step: np.ndarray | float, x_abs: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The one rule that extends a ladder downwards, for coordinate and directional ladders alike.

    An entry goes on while its smallest rung still shows truncation above
    rounding (``extend``, from :func:`_select`) and the next rungs' step is
    still at least :data:`~gradverify.steps.REPRESENTABLE_ULPS` ulps of x: a
    step that x + h cannot represent measures nothing.
    """
    floor = rules.REPRESENTABLE_ULPS * rules.eps(dtype) * x_abs
    return np.asarray(extend & (np.asarray(next_step) >= floor))


def _central_rung(
    ev: Evaluator, x: np.ndarray, f0: np.ndarray, idx: np.ndarray, rung: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One rung of the ladder for the entries idx: (D, right slope, left slope, step)."""
    xs = x[idx]
    hp = exact_steps(xs, rung)
    # A rung whose step leaves f's domain gives NaN there and is dropped by
    # the selection (and by the kink test) for that entry.
    fp = ev.shifted(idx, hp, finite=False)
    right = (fp - f0) / hp[:, None]
    if method == "forward":
        return right, right, right, hp
    hm = exact_steps(xs, rung, -1.0)
    fm = ev.shifted(idx, hm, sign_label="-", finite=False)
    value, right, left = _three_point(f0, fp, fm, hp, hm)
    return value, right, left, 0.5 * (hp - hm)


def _three_point(
    f0: np.ndarray, fp: np.ndarray, fm: np.ndarray, hp: np.ndarray, hm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The central difference on the steps actually taken: (value, right slope, left slope).

    ``x + h`` and ``x - h`` are rounded differently, so the steps ``hp > 0``
    and ``-hm > 0`` differ by up to an ulp of x, and ``(fp - fm) / (hp - hm)``
    then carries ``f'' (hp + hm) / 2``: an error of first order in that
    difference that no comparison of steps or noise of f reveals (Rosenbrock
    at its minimum (1, 1), where f = 0: 1e-14 against a bound of 2e-15, found by
    a property test).  Weighting the one-sided slopes by the opposite step
    cancels the f'' term exactly; for equal steps it is the usual formula.
    """
    a, b = hp[:, None], -hm[:, None]
    right = (fp - f0) / a
    left = (f0 - fm) / b
    return (b * right + a * left) / (a + b), right, left


def refine(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    idx: np.ndarray,
    method: str,
    h: np.ndarray,
    noise: np.ndarray,
    *,
    explicit: bool = False,
) -> Estimate:
    """Ladder estimates with complete bounds for the coordinates ``idx``.

    ``h`` holds the rule's (or the user's) step per entry of ``idx``.  With
    ``explicit=True`` the user's step is kept: the value is taken at ``h`` and
    only the truncation estimate uses a second step.  Otherwise the ladder
    goes on down (up to :data:`gradverify.steps.MAX_EXTENSIONS` more blocks of rungs) for the
    entries whose smallest rung still shows truncation above rounding: a
    function whose curvature lives at a smaller scale than the rule assumes
    (x scaled down, a saturated softmax) is followed down to the steps it needs.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if method == "complex":
        return _complex_estimate(ev, x, idx, h)
    with np.errstate(divide="ignore", invalid="ignore"):  # a step x + h == x gives NaN, judged inconclusive
        return _ladder(ev, x, f0, idx, method, h, noise, explicit)


def _ladder(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    idx: np.ndarray,
    method: str,
    h: np.ndarray,
    noise: np.ndarray,
    explicit: bool,
) -> Estimate:
    k, m = len(idx), len(f0)
    if explicit:
        factors = np.array([1.0, 0.5, 0.25]) if method == "richardson" else np.array([2.0, 1.0])
        ratio = 2.0
    else:
        factors = rules.LADDER_RATIO ** (1.0 - np.arange(rules.LADDER_LENGTH))
        ratio = rules.LADDER_RATIO
    D_rows, R_rows, L_rows, H_rows = [], [], [], []
    active = np.arange(k)
    base = h.astype(np.float64)
    for _block in range(rules.MAX_EXTENSIONS + 1 if not explicit else 1):
        for factor in factors:
            d = np.full((k, m), np.nan)
            right, left, step = d.copy(), d.copy(), np.full(k, np.nan)
            if len(active):
                out = _central_rung(ev, x, f0, idx[active], factor * base[active], method)
                d[active], right[active], left[active], step[active] = out
            D_rows.append(d)
            R_rows.append(right)
            L_rows.append(left)
            H_rows.append(step)
        D, H = np.array(D_rows), np.array(H_rows)[:, :, None]
        value, bound, used, extend = _select(D, H, method, noise, ratio, explicit)
        if method != "forward" and not explicit:
            # For a smooth f the gap between the one-sided slopes is h f'' and
            # falls by the ladder ratio from rung to rung.  Where it does not,
            # the smallest rung is not yet in the asymptotic regime (a kink, or
            # curvature at a smaller scale, within reach of the step), however
            # well its central estimate agrees with the rung above: go on down.
            gap = np.abs(np.array(R_rows[-2:]) - np.array(L_rows[-2:]))
            slope_round = rules.KINK_ROUNDING * noise / np.array(H_rows[-1])[:, None]
            with np.errstate(invalid="ignore"):
                slow = (gap[1] > 1.4 * gap[0] / ratio) & (gap[1] > 4 * slope_round)
            extend = extend | np.any(slow, axis=1)
        if not explicit:
            # No pair of valid rungs yet (the larger steps left f's domain):
            # the smaller steps below are where the estimate is.
            extend = extend | ~np.all(np.isfinite(bound), axis=1)
        base = base * rules.LADDER_RATIO ** -len(factors)
        # Stop where the next rungs would fall below a few ulps of x: a step
        # that x + h cannot represent measures nothing.
        goes_on = _goes_on(extend, factors.max() * base, np.abs(x[idx].astype(np.float64)), x.dtype)
        active = np.intersect1d(active, np.flatnonzero(goes_on & (factors.min() * base > 0)))
        if not len(active):
            break
    kink = np.zeros(k, bool)
    right = left = slope_bound = None
    if method != "forward" and len(D_rows) >= 2:
        kink, right, left, slope_bound = _kink_test(
            np.array(R_rows), np.array(L_rows), np.array(H_rows)[:, :, None], noise, bound, ratio
        )
    # Entries whose smallest rung still shows truncation above rounding when
    # the ladder stopped (out of blocks, or of representable steps) never
    # converged: a singularity, or a derivative no float step can resolve.
    converged = ~extend if not explicit else np.ones(k, bool)
    return Estimate(value, bound, used, True, kink, right, left, slope_bound, converged)


def _kink_test(
    R: np.ndarray, Lft: np.ndarray, Hs: np.ndarray, noise: np.ndarray, bound: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kinks from the one-sided slopes ``R`` and ``Lft`` (rungs, k, m) of a ladder of steps ``Hs`` (rungs, k, 1).

    Returns ``(kink, right, left, slope_bound)`` per entry, the slopes and
    their rounding bound taken at the deepest rung that speaks.
    """
    jump = np.abs(R - Lft)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_round = rules.KINK_ROUNDING * noise / Hs
        # A pair of rungs speaks when the smaller one's slopes stand clear of
        # their rounding; the deepest such pair decides.  Smooth: the gap
        # between one-sided slopes is h f'' and shrinks with h.  A kink: it
        # stays.
        informative = np.all(jump > 4 * slope_round + bound[None], axis=2)  # (rungs, k)
    informative[0] = False
    rungs = len(R)
    deepest = np.where(informative.any(axis=0), rungs - 1 - np.argmax(informative[::-1], axis=0), 0)
    has = deepest > 0
    j = np.maximum(deepest, 1)

    def pick(a: np.ndarray, at: np.ndarray) -> np.ndarray:
        return np.asarray(np.take_along_axis(a, at[None, :, None], axis=0)[0])

    with np.errstate(invalid="ignore"):
        # Smooth: the jump shrinks by the ladder ratio (to 1/ratio of the rung
        # above); a kink keeps it whole.  The threshold sits between the two.
        stays = np.all(pick(jump, j) > 0.5 * (1 + 1 / ratio) * pick(jump, j - 1), axis=1)
    return has & stays, pick(R, j), pick(Lft, j), pick(np.broadcast_to(slope_round, R.shape), j)


def estimate(
    ev: Evaluator, x: np.ndarray, f0: np.ndarray, method: str, noise: np.ndarray, h: np.ndarray | None = None
) -> Estimate:
    """Complete estimates of every coordinate (the ladder on every entry)."""
    explicit = h is not None
    steps = rules.steps_for(method, x, h)
    return refine(ev, x, f0, np.arange(x.size), method, steps, noise, explicit=explicit)


class Directional(NamedTuple):
    """The derivative along one direction (or its residual), shape (m,), with its evidence.

    ``right`` and ``left`` are the one-sided residuals (None for forward
    differences and complex-step), ``kink`` whether they stay apart as the
    step shrinks.
    """

    value: np.ndarray
    bound: np.ndarray
    calls: int
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    slope_bound: np.ndarray | None = None
    kink: bool = False


def directional(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    v: np.ndarray,
    method: str,
    noise: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Directional:
    """The derivative of ``f`` along ``v`` (or its residual against ``project``).

    The perturbation of entry ``i`` is ``t * v_i * max(1, |x_i|)`` at ladder
    steps ``t``, so every entry moves by a relative amount as in the
    coordinate estimators.  Because ``fl(x + t v)`` is not exactly
    ``x + t v``, each rung differs slightly in direction; with ``project``
    (the analytic derivative applied to a direction) the ladder runs on the
    residual ``D_t - project(u_t)``, with ``u_t`` the direction each rung
    really took, which cancels that effect.  The derivative then estimated
    is of ``f`` along ``u = v * max(1, |x|)``.  Central and Richardson
    ladders also carry the one-sided slopes, and the kink test of the
    coordinate ladders runs on them.
    """
    scale = np.maximum(1.0, np.abs(x.astype(np.float64, copy=False)))
    u = v * scale
    del scale  # only u is needed from here on
    calls0 = ev.calls
    if method == "complex":
        t = rules.base_step("complex", x.dtype)
        value = ev_complex_direction(ev, x, u, t)
        residual = value - project(u) if project is not None else value
        ref = np.abs(value) + (np.abs(project(np.abs(u))) if project is not None else 0)
        bound = rules.COMPLEX_RELATIVE * rules.eps(x.dtype) * ref
        return Directional(residual, bound, ev.calls - calls0)
    t = rules.base_step(method, x.dtype) * rules.LADDER_RATIO
    x64 = x.astype(np.float64)
    D: list[np.ndarray] = []
    T: list[float] = []
    R: list[np.ndarray] = []
    Lft: list[np.ndarray] = []

    def residual_of(d: np.ndarray, along: np.ndarray) -> np.ndarray:
        return d - project(along) if project is not None else d

    shrinks = 0
    for _ in range(rules.MAX_EXTENSIONS + 1):
        rung = 0
        while rung < rules.LADDER_LENGTH:
            plus = (x64 + t * u).astype(x.dtype)
            up = plus.astype(np.float64) - x64
            minus = (x64 - t * u).astype(x.dtype)
            um = x64 - minus.astype(np.float64)
            try:
                fp = ev.at(plus, what=f"x + {t:.3g}*v")
                fm = ev.at(minus, what=f"x - {t:.3g}*v") if method != "forward" else fp
            except NonFiniteValue:
                # The ladder's first step left f's domain (x near the edge of
                # a log or sqrt along v): start it lower, as coordinate
                # estimates do.  A NaN below a finite rung is not a domain
                # edge but a singularity: that is reported.
                shrinks += 1
                if D or shrinks > MAX_SHRINK:
                    raise
                t /= rules.LADDER_RATIO**2
                continue
            rung += 1
            if method == "forward":
                d, eff = (fp - f0) / t, up / t
            else:
                d, eff = (fp - fm) / (2 * t), (up + um) / (2 * t)
                R.append(residual_of((fp - f0) / t, up / t))
                Lft.append(residual_of((f0 - fm) / t, um / t))
            D.append(residual_of(d, eff))
            T.append(t)
            t /= rules.LADDER_RATIO
        value, bound, _, extend = _select(
            np.array(D)[:, None, :], np.array(T)[:, None, None], method, noise, rules.LADDER_RATIO, False
        )
        # t is relative to max(1, |x|): the ladder's rule with x at unit scale
        if not _goes_on(extend, t, np.ones(1), x.dtype)[0]:
            break
    if method == "forward":
        return Directional(value[0], bound[0], ev.calls - calls0)
    kink, right, left, slope_bound = _kink_test(
        np.array(R)[:, None, :], np.array(Lft)[:, None, :], np.array(T)[:, None, None], noise, bound, rules.LADDER_RATIO
    )
    return Directional(value[0], bound[0], ev.calls - calls0, right[0], left[0], slope_bound[0], bool(kink[0]))


def ev_complex_direction(ev: Evaluator, x: np.ndarray, u: np.ndarray, t: float) -> np.ndarray:
    """``Im f(x + i t u) / t`` with a complex evaluator."""
    # Real part x, imaginary part t*u: the same numbers as x + 1j*(t*u), made
    # without three complex temporaries of the size of x.
    point = np.empty(x.size, dtype=ev.dtype)
    point.real = x
    point.imag = t * u
    return ev.at(point, what=f"x + i*{t:.3g}*v").imag / t
