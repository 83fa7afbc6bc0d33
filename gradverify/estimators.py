"""Numerical derivatives that carry their own error bounds.

Every estimate comes with a bound made of two parts:

* **rounding**: ``ROUNDING_FACTOR * noise / h``, where ``noise`` is the
  standard deviation of ``f``'s floating-point noise *measured* at ``x``
  (:func:`measure_noise`, in the spirit of Moré and Wild's ECnoise: high-order
  differences of ``f`` along a few-ulp walk see only noise), floored at half an
  ulp of ``f(x)``;
* **truncation**: from comparing the estimate at a step with the estimate at
  the next smaller step of a ladder (:func:`gradverify.steps.ladder`).

Per coordinate the estimators are used in two passes.  :func:`first_pass`
spends the minimum (one call per coordinate for forward and complex-step, two
for central) and bounds only the rounding part; the verdict layer accepts an
entry on that bound alone when it can (a stricter test than the full bound),
and :func:`refine` runs the full ladder, with truncation bound and kink
detection, on the entries it cannot.  :func:`estimate` runs the ladder on
every entry and is what the public ``numerical_gradient`` uses.

References
----------
Moré, J. J. and Wild, S. M. (2011), "Estimating computational noise",
SIAM J. Sci. Comput. 33(3).
Squire, W. and Trapp, G. (1998), "Using complex variables to estimate
derivatives of real functions", SIAM Review 40(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import Callable

import numpy as np

from . import steps as rules
from .evaluate import Evaluator

__all__ = ["Estimate", "measure_noise", "first_pass", "refine", "estimate", "directional", "exact_steps"]

#: Complex-step error per entry, in units of EPS * (|estimate| + largest
#: |estimate|).  The imaginary part is computed without cancellation of the
#: step, so it is as accurate as any other value f computes: a few ulps of the
#: terms it is summed from, and those are at the scale of the largest entry.
COMPLEX_RELATIVE = 8.0

#: Points of the noise walk (ECnoise uses 7 to 9).
NOISE_POINTS = 8


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
    """

    value: np.ndarray
    bound: np.ndarray
    step: np.ndarray
    complete: bool
    kink: np.ndarray
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    slope_bound: np.ndarray | None = None


def exact_steps(x: np.ndarray, h: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """The signed steps actually taken: ``fl(x + sign*h) - x``, exact in float64.

    Using these in the difference quotient removes the representation error
    of ``x + h`` from the estimate.
    """
    moved = (x + (sign * h).astype(x.dtype)).astype(x.dtype)
    return moved.astype(np.float64) - x.astype(np.float64)


def measure_noise(ev: Evaluator, x: np.ndarray, f0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The standard deviation of ``f``'s rounding noise at ``x``, per output.

    ``f`` is evaluated along a walk of a few ulps in a random sign direction;
    at that scale the smooth part of ``f`` is linear to working precision, so
    its second and higher differences are noise alone.  The estimate from the
    ``j``-th differences is ``sqrt(gamma_j * mean(diff_j ** 2))`` with
    ``gamma_j = (j!)**2 / (2j)!``; the largest over ``j = 2..4`` is kept.
    The result is floored at half an ulp of ``f(x)``.
    """
    signs = rng.choice(np.array([-1.0, 1.0]), size=x.size)
    delta = 16.0 * rules.eps(x.dtype) * np.maximum(1.0, np.abs(x.astype(np.float64)))
    walk = [f0]
    for k in range(1, NOISE_POINTS):
        point = (x.astype(np.float64) + k * delta * signs).astype(x.dtype)
        walk.append(ev.at(point, what=f"a point {k} noise-steps from x"))
    values = np.array(walk)  # (points, m)
    sigmas = []
    for j in (2, 3, 4):
        diff = np.diff(values, n=j, axis=0)
        gamma = factorial(j) ** 2 / factorial(2 * j)
        sigmas.append(np.sqrt(gamma * np.mean(diff * diff, axis=0)))
    floor = 0.5 * rules.eps(ev.out_dtype or np.float64) * np.abs(f0)
    return np.maximum(np.max(sigmas, axis=0), floor)


def _complex_estimate(ev: Evaluator, x: np.ndarray, idx: np.ndarray, h: np.ndarray) -> Estimate:
    values = ev.shifted(idx, h).imag / h[:, None]
    scale = np.max(np.abs(values), axis=0, keepdims=True) if len(idx) else 0.0
    bound = COMPLEX_RELATIVE * rules.eps(x.dtype) * (np.abs(values) + scale)
    return Estimate(values, bound, h, True, np.zeros(len(idx), bool))


def first_pass(
    ev: Evaluator, x: np.ndarray, f0: np.ndarray, method: str, h: np.ndarray, noise: np.ndarray
) -> Estimate:
    """The cheapest estimate of every coordinate, with its rounding bound.

    Forward and complex-step cost one call per coordinate, central and
    Richardson two (Richardson starts from the central value).  Complex-step
    bounds are complete; the others bound rounding only.
    """
    idx = np.arange(x.size)
    if method == "complex":
        return _complex_estimate(ev, x, idx, h)
    hp = exact_steps(x, h)
    fp = ev.shifted(idx, hp)
    right = (fp - f0) / hp[:, None]
    if method == "forward":
        bound = rules.ROUNDING_FACTOR["forward"] * noise / hp[:, None]
        return Estimate(right, bound, hp, False, np.zeros(x.size, bool))
    hm = exact_steps(x, h, -1.0)  # negative
    fm = ev.shifted(idx, hm, sign_label="-")
    left = (f0 - fm) / -hm[:, None]
    value = (fp - fm) / (hp - hm)[:, None]
    step = 0.5 * (hp - hm)
    bound = rules.ROUNDING_FACTOR["central"] * noise / step[:, None]
    return Estimate(value, bound, step, False, np.zeros(x.size, bool), right, left)


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
    only the truncation estimate uses a second step.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if method == "complex":
        return _complex_estimate(ev, x, idx, h)
    r = 2.0 if explicit else rules.LADDER_RATIO
    if explicit:
        factors = np.array([1.0, 0.5, 0.25]) if method == "richardson" else np.array([2.0, 1.0])
        rungs = factors[:, None] * h[None, :]
    else:
        rungs = rules.ladder(h)
    xs = x[idx]
    slopes_r, slopes_l, values, used = [], [], [], []
    for rung in rungs:
        hp = exact_steps(xs, rung)
        fp = ev.shifted(idx, hp)
        if method == "forward":
            values.append((fp - f0) / hp[:, None])
            used.append(hp)
            continue
        hm = exact_steps(xs, rung, -1.0)
        fm = ev.shifted(idx, hm, sign_label="-")
        values.append((fp - fm) / (hp - hm)[:, None])
        slopes_r.append((fp - f0) / hp[:, None])
        slopes_l.append((f0 - fm) / -hm[:, None])
        used.append(0.5 * (hp - hm))
    D = np.array(values)  # (L, k, m), steps decreasing
    H = np.array(used)[:, :, None]  # (L, k, 1)
    order = 1 if method == "forward" else 2
    gain = r**order
    rounding = rules.ROUNDING_FACTOR[method] * noise / H
    if method == "richardson":
        R = (gain * D[1:] - D[:-1]) / (gain - 1)
        # The error of R at a pair, from the next pair down (or up, at the end).
        diffs = np.abs(np.diff(R, axis=0))
        trunc = np.concatenate([diffs, diffs[-1:]], axis=0) if len(R) > 1 else np.abs(D[1] - D[0])[None] / (gain - 1)
        err = trunc + rounding[1:] * (gain + 1) / (gain - 1)
        candidates, steps_of = R, H[1:]
    else:
        diffs = np.abs(np.diff(D, axis=0))  # D_j - D_{j+1}
        if explicit:
            # Keep the user's step (the last rung); its truncation from the pair.
            trunc = diffs[-1:] / (gain - 1)
            err = trunc + rounding[-1:]
            candidates, steps_of = D[-1:], H[-1:]
        else:
            # Each step is compared with the next smaller one (never with a
            # larger one), so agreeing large steps cannot vouch for each other.
            trunc = np.concatenate([diffs * gain / (gain - 1), diffs[-1:] / (gain - 1)], axis=0)
            err = trunc + rounding
            candidates, steps_of = D, H
    best = np.argmin(err, axis=0)  # (k, m)
    take = lambda a: np.take_along_axis(a, best[None], axis=0)[0]  # noqa: E731
    value = take(candidates)
    bound = take(err)
    step = np.take_along_axis(np.broadcast_to(steps_of, err.shape), best[None], axis=0)[0][:, 0]
    kink = np.zeros(len(idx), bool)
    right = left = slope_bound = None
    if method != "forward" and len(rungs) >= 2:
        right, left = slopes_r[-1], slopes_l[-1]
        jump_small = np.abs(np.array(slopes_r[-1]) - np.array(slopes_l[-1]))
        jump_large = np.abs(np.array(slopes_r[-2]) - np.array(slopes_l[-2]))
        slope_round = 2 * rules.ROUNDING_FACTOR["forward"] * noise / H[-1]
        # Smooth: the jump between one-sided slopes is h f'' and shrinks with h.
        # A kink: it stays.  Demand both, with room for rounding.
        stays = jump_small > 0.5 * jump_large
        kink = np.any(stays & (jump_small > 4 * slope_round + bound), axis=1)
        slope_bound = slope_round + jump_small / (r - 1) * 0  # the slopes' own rounding
    return Estimate(value, bound, step, True, kink, right, left, slope_bound)


def estimate(
    ev: Evaluator, x: np.ndarray, f0: np.ndarray, method: str, noise: np.ndarray, h: np.ndarray | None = None
) -> Estimate:
    """Complete estimates of every coordinate (the ladder on every entry)."""
    explicit = h is not None
    steps = rules.steps_for(method, x, h)
    return refine(ev, x, f0, np.arange(x.size), method, steps, noise, explicit=explicit)


def directional(
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    v: np.ndarray,
    method: str,
    noise: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The derivative of ``f`` along ``v`` (or its residual against ``project``).

    Returns ``(value, bound, calls)``.  The perturbation of entry ``i`` is
    ``t * v_i * max(1, |x_i|)`` at ladder steps ``t``, so every entry moves
    by a relative amount as in the coordinate estimators.  Because
    ``fl(x + t v)`` is not exactly ``x + t v``, each rung differs slightly
    in direction; with ``project`` (the analytic derivative applied to a
    direction) the ladder runs on the residual ``D_t - project(u_t)``, with
    ``u_t`` the direction each rung really took, which cancels that effect.
    The derivative then estimated is of ``f`` along ``u = v * max(1, |x|)``.
    """
    scale = np.maximum(1.0, np.abs(x.astype(np.float64)))
    u = v * scale
    calls0 = ev.calls
    if method == "complex":
        t = rules.base_step("complex", x.dtype)
        value = ev_complex_direction(ev, x, u, t)
        residual = value - project(u) if project is not None else value
        ref = np.abs(value) + (np.abs(project(np.abs(u))) if project is not None else 0)
        bound = COMPLEX_RELATIVE * rules.eps(x.dtype) * ref
        return residual, bound, ev.calls - calls0
    base = rules.base_step(method if method != "complex" else "central", x.dtype)
    ts = base * rules.LADDER_RATIO ** (1.0 - np.arange(rules.LADDER_LENGTH))
    D, T = [], []
    for t in ts:
        plus = (x.astype(np.float64) + t * u).astype(x.dtype)
        up = plus.astype(np.float64) - x.astype(np.float64)
        fp = ev.at(plus, what=f"x + {t:.3g}*v")
        if method == "forward":
            d = (fp - f0) / t
            eff = up / t
        else:
            minus = (x.astype(np.float64) - t * u).astype(x.dtype)
            um = x.astype(np.float64) - minus.astype(np.float64)
            fm = ev.at(minus, what=f"x - {t:.3g}*v")
            d = (fp - fm) / (2 * t)
            eff = (up + um) / (2 * t)
        D.append(d - project(eff) if project is not None else d)
        T.append(t)
    D_arr = np.array(D)
    T_arr = np.array(T)[:, None]
    order = 1 if method == "forward" else 2
    gain = rules.LADDER_RATIO**order
    rounding = rules.ROUNDING_FACTOR[method] * noise / T_arr
    if method == "richardson":
        R = (gain * D_arr[1:] - D_arr[:-1]) / (gain - 1)
        diffs = np.abs(np.diff(R, axis=0))
        err = np.concatenate([diffs, diffs[-1:]]) + rounding[1:] * (gain + 1) / (gain - 1)
        cand = R
    else:
        diffs = np.abs(np.diff(D_arr, axis=0))
        err = np.concatenate([diffs * gain / (gain - 1), diffs[-1:] / (gain - 1)]) + rounding
        cand = D_arr
    best = np.argmin(err, axis=0)
    value = np.take_along_axis(cand, best[None], axis=0)[0]
    bound = np.take_along_axis(err, best[None], axis=0)[0]
    return value, bound, ev.calls - calls0


def ev_complex_direction(ev: Evaluator, x: np.ndarray, u: np.ndarray, t: float) -> np.ndarray:
    """``Im f(x + i t u) / t`` with a complex evaluator."""
    point = x.astype(ev.dtype) + 1j * (t * u).astype(ev.dtype)
    return ev.at(point, what=f"x + i*{t:.3g}*v").imag / t
