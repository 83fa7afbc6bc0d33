"""Step sizes and the numbers of the tolerance model, in one place.

Step rule
---------
Each method has a base step ``EPS ** p`` (coordinate estimates in float32
start :data:`STEP_MULTIPLIER` times above it) where ``EPS`` is the machine epsilon
of the working dtype (float32 or float64) and ``p`` balances truncation
against rounding for the method's order ``k``: the error of an order-``k``
difference with step ``h`` is about ``C1 h**k + C2 EPS / h``, smallest at
``h ~ EPS ** (1 / (k + 1))``.  The step for entry ``i`` is the base step times
``max(1, |x_i|)``, so a relative perturbation is used for large entries and an
absolute one near zero (the rule of ``scipy.optimize._numdiff``).  The step
actually taken is ``(x_i + h) - x_i``, which is exact in floating point, so
the representation error of ``x_i + h`` never enters the estimate.

A fixed rule is only a start: :func:`ladder` spreads steps by factors of
:data:`LADDER_RATIO` around it, and the estimators pick, per entry, the step
whose estimated total error (truncation from comparison with every smaller
step, plus rounding from the measured noise of ``f``) is smallest.  Comparing
each step with the *smaller* ones is what keeps a plateau of large steps
(estimates that agree with each other because all of them are wrong in the
same way) from being trusted; the ladder goes further down while its two
smallest rungs still differ by more than rounding.

Complex-step has no subtraction, hence no rounding blow-up, and its
truncation error ``h**2 |f'''| / 6`` is negligible for ``h = EPS**1.5``,
except where the derivative itself is about zero; there it is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._core import names as _names
from .errors import InvalidArgument

__all__ = [
    "METHODS",
    "LADDER_RATIO",
    "LADDER_LENGTH",
    "STEP_MULTIPLIER",
    "ORDER",
    "SAFETY",
    "FLOOR_FACTOR",
    "ROUNDING_FACTOR",
    "ROUNDING_SIGMAS",
    "KINK_ROUNDING",
    "TRUNCATION_FACTOR",
    "COMPLEX_RELATIVE",
    "DIRECTION_ROUNDING",
    "KINK_SUSPECT",
    "MAX_EXTENSIONS",
    "NOISY_ULPS",
    "QUANTUM_PROBE",
    "QUANTUM_SLOPE",
    "NEAR_ZERO",
    "REPRESENTABLE_ULPS",
    "RESOLUTION_LIMIT",
    "SHARED_RATIO",
    "SENSITIVITY_CAP",
    "SENSITIVITY_FACTOR",
    "SENSITIVITY_MOVES",
    "SENSITIVITY_ULPS",
    "UNRESOLVED_FRACTION",
    "Tolerance",
    "Verdict",
    "base_step",
    "eps",
    "ladder",
    "step_band",
    "steps_for",
]

#: Methods accepted by the estimators ("auto" is resolved in the verdict layer); defined once in _core.names.
METHODS = _names.METHODS

#: Order of accuracy of each method (Richardson: one extrapolation of central).
ORDER = {"forward": 1, "central": 2, "richardson": 4, "complex": 2}

#: Exponent p of the base step EPS**p, from h ~ EPS**(1/(order+1)).
_STEP_EXPONENT = {"forward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5, "complex": 1.5}

#: Coordinate estimates in float32 (:func:`steps_for`: the first pass, the
#: ladders, estimate_gradient) start LADDER_RATIO times above the base step
#: EPS**p (one rung up).  The first pass accepts an entry on its rounding bound alone, SAFETY *
#: ROUNDING_FACTOR * noise / h, and takes its truncation at face value; the
#: step that minimises that tolerance while truncation stays inside it is
#: about (3 * SAFETY * ROUNDING_FACTOR)**(1/3) ~ 3.7 times EPS**(1/3) for
#: central differences (8 times EPS**(1/2) for forward).  In float32 that is
#: the difference between seeing a 1e-3 bug and not: Richardson caught
#: gradient * (1 + 1e-3) on 1 of the 5 zoo problems at the rule's step and on
#: all 5 (4 seeds each) at 4 times it, with f computing in float32
#: (reference="same"); the ladder's best rung had been its top one.  float64
#: keeps the rule: it resolves 1e-8, far below the bugs it must see.  Steps
#: along directions (the vetting of complex-step, directional checks) keep
#: the base step: at 4 times it the vetting's two rungs had not converged
#: for x scaled by 1e-3 and refused complex-step in 22 of 80 float32 zoo
#: problems at scaled points (17 at the base step).
STEP_MULTIPLIER = {np.dtype(np.float32): 4.0}

#: Ratio between neighbouring steps of the ladder, and how many rungs it has.
LADDER_RATIO = 4.0
LADDER_LENGTH = 4

#: Rounding: the error of a difference quotient is ROUNDING_FACTOR * noise / h,
#: where noise is the measured standard deviation of f's rounding noise
#: (floored at EPS * |f(x)|).  Each factor is ROUNDING_SIGMAS standard
#: deviations of the rounding of the quotient, from the noise of f at both of
#: its points: central (f(x+h) - f(x-h)) / 2h has sqrt(2) / 2 noise / h per
#: sigma, forward (f(x+h) - f(x)) / h has sqrt(2) noise / h.  Richardson's
#: combination of two central rungs scales the central factor in the ladder.
#: The zoo's true float32 noise is 0.37 to 0.82 EPS * |f| (f in float32
#: against the same f in float64 at 300 points), the floor is EPS * |f|, and
#: the walk alone (10 points) reads 0.26x to 2.5x the truth (0.1% and 99%
#: quantiles), which suggested six sigmas.  Kept at 8.5 sigmas (central 6,
#: forward 12 noise / h): where the walk reads the noise far too low, the
#: margin is all there is.  At 6 a float32
#: Hessian-vector product along t = 0, whose gradient cancels to 4e-3 from terms
#: of 1.2, had its noise read 100x too low, the ladder went down to a step of
#: 6e-7 and a right HVP failed by 20% (a 10x property run of
#: tests/test_strategies_second_order.py).
ROUNDING_SIGMAS = 6.0 * 2**0.5
ROUNDING_FACTOR = {
    "forward": ROUNDING_SIGMAS * 2**0.5,
    "central": ROUNDING_SIGMAS * 2**-0.5,
    "richardson": ROUNDING_SIGMAS * 2**-0.5,
    "complex": 0.0,
}

#: The rounding of a one-sided slope in the kink tests (right minus left
#: slope: three points), in units of noise / h.  Kept at the value those tests
#: were tuned with (the zoo's kinks and smooth entries at scaled points).
KINK_ROUNDING = 24.0

#: Truncation estimated by comparing two steps is an asymptotic formula; away
#: from the asymptotic regime the next term of the error series adds to it.
#: The factor was set from the zoo sweep (worst ratio error / estimate 2.6 for
#: forward differences at scaled points; 3 covers it).
TRUNCATION_FACTOR = 3.0

#: Safety multiplies the error bound in the verdict
#: ``|analytic - numerical| <= SAFETY * bound + floor``.  Set from the measured
#: ratio error / bound over the zoo at random points with f scaled by
#: 1e-8..1e8 and x by 1e-4..1e4 (``python benchmarks/bound_coverage.py``):
#: the worst ratio was 1.06 in float64 (forward) and 1.17 in float32
#: (Richardson), most below 0.75, so 4 is a margin of 3.4 in both.  float32 had 8
#: while forward differences undercovered by up to 6x (two rungs agreeing by
#: coincidence, trusted as converged; _select now also judges the smallest
#: rung by the pair above it).  Neither hides a bug of relative size 1e-6
#: (complex-step, float64) or 1e-3 (Richardson, float32 computing in float32).
SAFETY = {np.dtype(np.float64): 4.0, np.dtype(np.float32): 4.0}

#: Floor of the verdict: FLOOR_FACTOR * EPS * (the derivative's scale), so
#: entries that are zero up to rounding are compared at the gradient's scale.
#: The scale is the largest |derivative| entry of the same parameter (leaf),
#: or |f| / max(1, rms |x|) when that is larger (see Tolerance and
#: gradverify._core.problem).  16 ulps: an analytic derivative is a sum of
#: terms of that scale, each rounded; the zoo's correct gradients (the mlp's
#: exact zeros, Rosenbrock at its minimum) showed errors up to ~4 ulps of it.
FLOOR_FACTOR = 16.0

#: Complex-step error per entry, in units of EPS * (|estimate| + largest
#: |estimate|).  The imaginary part is computed without cancellation of the
#: step, so it is as accurate as any other value f computes: a few ulps of the
#: terms it is summed from, and those are at the scale of the largest entry
#: (benchmarks/bound_coverage.py: worst complex-step error / bound 0.10 in
#: float64, 0.11 in float32 at 8, so 8 was 10x above the worst error; 4
#: leaves a margin of about 5 before SAFETY).
COMPLEX_RELATIVE = 4.0

#: Error of a finite-difference derivative along a direction ``u`` from the
#: rounding of the rungs' points: ``fl(x + t u)`` differs from ``x + t u`` by
#: up to an ulp of x per entry, so the direction really taken differs from u
#: by ~EPS / t relative.  In units of EPS / t * |derivative along u|: 4 for the
#: points of a central rung and its Richardson combination, times 16 ulps of
#: accumulated rounding (the vetting of complex-step against Richardson on
#: the zoo's complex-safe problems never came within 1/4 of it).
DIRECTION_ROUNDING = 4.0 * 16.0

#: How many times a ladder may be extended downwards (each time by
#: LADDER_RATIO ** LADDER_LENGTH) when its smallest rung is still the best and
#: truncation still dominates there: 3 more blocks reach 4**-13 of the rule's
#: step, enough for the softmax saturated at x scaled by 1e-4 (the smallest
#: scale of the property tests).
MAX_EXTENSIONS = 3

#: A step below this many ulps of x measures nothing (x + h rounds to one of
#: a few neighbours of x): ladders stop there.
REPRESENTABLE_ULPS = 64.0

#: Complex-step entries this small relative to the derivative's scale get their
#: truncation measured before they are called wrong (x**3 at 0: complex-step's
#: h**2 f'''/6 is all there is; elsewhere it is below 1e-40 relative).
NEAR_ZERO = 1e-6

#: An entry whose ladder did not converge, and whose bound (times safety) and
#: disagreement both exceed this fraction of the derivative's scale, was not
#: resolved by the estimator (a singularity, or a jump inside the step).
UNRESOLVED_FRACTION = 1.0

#: f counts as noisy (or quantised, or jumping near x) when its measured noise
#: is this many ulps of |f(x)| in x's dtype: rounding alone gives 1 to ~30 ulps
#: on the zoo; a float32 computation under float64 x is ~5e8, a float16 one
#: ~4e12, a jump of sign(x) crossed by the noise walk ~1e16.  Such an f makes
#: a check inconclusive, and complex-step is not vetted on it (finite
#: differences that uncertain agree with anything).
NOISY_ULPS = 1e3

#: The analytic derivative's own conditioning.  Where an entry fails by a hair
#: (its error below SENSITIVITY_CAP of its leaf's scale), the derivative is
#: evaluated at x moved by SENSITIVITY_ULPS ulps per entry (random signs,
#: SENSITIVITY_MOVES times): how much it changes is how much the rounding of f's intermediate
#: values moves it (sin(M x) at |M x| ~ 50: cos of an argument known to 50 eps
#: moves J by 1e-14, three times the floor at J's scale - a correct Jacobian
#: failed on it).  Both sides carry such an error, so the bound grows by
#: SENSITIVITY_FACTOR times the change; never by more than SENSITIVITY_CAP of
#: the leaf's scale, so a bug of 1e-6 in float64 or 1e-3 in float32 (or a kink
#: crossed by the move) is never hidden by it.  float32's cap is 1e-4: a
#: stable logsumexp of entries ~100 computes its softmax from x - max(x)
#: known to 100 ulps, 1.4e-5 of the result.
SENSITIVITY_ULPS = 2.0
SENSITIVITY_MOVES = 3
SENSITIVITY_FACTOR = 2.0
SENSITIVITY_CAP = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}

#: A check is *inconclusive* when, in some parameter (leaf), the smallest
#: error it could have detected is above this fraction of that leaf's
#: derivative scale: a bug of 1% would have passed unseen.  Correct float64
#: checks resolve 1e-8 (central) to 1e-15 (complex-step), float32 central
#: differences ~1e-3; an f that is quantised, noisy, computed in a lower
#: precision than x or jumping inside the step resolves 1e-1 or worse (the
#: cases of issue 11 A), so 1e-2 separates them.
RESOLUTION_LIMIT = 1e-2

#: A passing central-difference entry whose one-sided slopes differ by more
#: than this fraction of its parameter's derivative scale is suspected of a
#: kink and refined (np.abs at 0 passes with numerical 0 otherwise, and says
#: nothing).  Smooth: the slopes differ by h f'', about 6e-6 |f''| in float64
#: and 5e-3 |f''| in float32 at |x| <= 1: far below it unless f'' is 20 to 1e4
#: times f' (then only a refinement is spent).
KINK_SUSPECT = 0.1

#: Where f does not change at all over the step, f is evaluated along all such
#: entries at once at the rule's step and at this relative step: flat at the
#: first and changing at the second, f is quantised (an int(), a rounding to a
#: grid) and the check is inconclusive, not failed.  1e-2: above the quantum
#: of a float16 or int-rounded f at unit scale (issue 11 A's cases), below
#: the scale of its shape.
QUANTUM_PROBE = 1e-2

#: ... and f is quantised when, moving all of those entries together by the
#: rule's step, its central difference exceeds this many times its rounding:
#: a slope no single entry has (a smooth f at a stationary point gives 0 up
#: to a few ulps; a grid of 1e-7 |f| gives thousands of ulps).
QUANTUM_SLOPE = 64.0

#: Two directional ratios <analytic, v> / <numerical, v> are "the same" (a
#: global bug: zero, sign, factor) when they agree to this relative precision.
SHARED_RATIO = 1e-6

# The smallest tolerance: never 0, so ratios error / allowed stay finite.
_TINY = float(np.finfo(np.float64).tiny)

# The band of explicit steps an estimator stays accurate in, as (low, high)
# multiples of its base step: below it rounding dominates, above it truncation.
_BAND = {"forward": (1e-2, 1e1), "central": (1e-2, 1e1), "richardson": (1e-2, 1.0), "complex": (1e-6, 1e6)}


def eps(dtype: Any) -> float:
    """Machine epsilon of a float dtype (float64 for anything else)."""
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidArgument(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")


def base_step(method: str, dtype: Any = np.float64) -> float:
    """The relative step of ``method`` in ``dtype`` before scaling by ``max(1, |x|)``.

    Examples
    --------
    >>> round(base_step("central"), 8)
    6.06e-06
    """
    _check_method(method)
    return float(eps(dtype) ** _STEP_EXPONENT[method])


def step_band(method: str, dtype: Any = np.float64) -> tuple[float, float]:
    """The range of relative steps ``h / max(1, |x|)`` where ``method`` is accurate."""
    low, high = _BAND[method]
    base = base_step(method, dtype)
    return base * low, base * high


def steps_for(method: str, x: np.ndarray, h: Any = None) -> np.ndarray:
    """Per-entry steps for the flat point ``x``: the rule, or the user's ``h``.

    ``h`` may be a scalar or an array of ``x``'s size; it must be positive and
    finite.
    """
    _check_method(method)
    if h is None:
        multiplier = 1.0 if method == "complex" else STEP_MULTIPLIER.get(np.dtype(x.dtype), 1.0)
        return multiplier * base_step(method, x.dtype) * np.maximum(1.0, np.abs(x.astype(np.float64)))
    h_arr = np.asarray(h, dtype=np.float64)
    if h_arr.ndim != 0 and h_arr.size != x.size:
        raise InvalidArgument(f"h has {h_arr.size} entries, expected a scalar or one per entry of x ({x.size})")
    if not np.all(np.isfinite(h_arr)) or np.any(h_arr <= 0):
        raise InvalidArgument(f"h={h!r} must be positive and finite")
    return np.broadcast_to(h_arr.reshape(-1) if h_arr.ndim else h_arr, x.shape).astype(np.float64)


def ladder(steps: np.ndarray, length: int = LADDER_LENGTH, ratio: float = LADDER_RATIO) -> np.ndarray:
    """Rungs ``steps * ratio ** (1 - j)`` for ``j = 0 .. length-1``: shape (length, n).

    The first rung is one ratio above the rule and the rest go down from the
    rule, because the rule is usually close to optimal and the failures it
    has (a high-curvature function such as a saturated softmax) need smaller
    steps, not larger ones.
    """
    powers = ratio ** (1.0 - np.arange(length))
    return np.asarray(powers[:, None] * steps[None, :])


class Verdict(NamedTuple):
    """Entry by entry: the error, the tolerance it is held to, and whether it is within it."""

    err: np.ndarray
    allowed: np.ndarray
    within: np.ndarray


@dataclass(frozen=True)
class Tolerance:
    """The verdict's one rule, ``|analytic - numerical| <= safety * bound + floor``.

    Every comparison gradverify makes between a derivative and an estimate of
    it (the full check, the directional test and its confirmation, the
    vetting of complex-step, the kink test, the descent-direction invariant)
    goes through :meth:`verdict`; ``floor(scale)`` is ``FLOOR_FACTOR * EPS *
    scale`` for the derivative's scale at that entry.

    Parameters
    ----------
    safety : float
        Multiplies the estimator's error bound (:data:`SAFETY` per dtype).
    eps : float
        Machine epsilon of the working dtype.

    Examples
    --------
    >>> tol = Tolerance.of(np.float64)
    >>> tol.safety
    4.0
    >>> v = tol.verdict(np.array([1.0, 1.1]), np.array([1.0, 1.0]), np.array([1e-3, 1e-3]), 1.0)
    >>> v.within.tolist()
    [True, False]
    >>> bool(tol.resolution(tol.allowed(1e-9, 1.0), 1.0) < 1e-8)
    True
    """

    safety: float
    eps: float

    @classmethod
    def of(cls, dtype: Any, safety: float | None = None) -> Tolerance:
        """The tolerance of ``dtype`` (its :data:`SAFETY`, unless ``safety`` is given)."""
        dtype = np.dtype(dtype)
        default = SAFETY.get(dtype, SAFETY[np.dtype(np.float64)])
        return cls(float(default if safety is None else safety), eps(dtype))

    def floor(self, scale: Any) -> np.ndarray:
        """``FLOOR_FACTOR * EPS * scale``: the slack at the derivative's scale."""
        return FLOOR_FACTOR * self.eps * np.asarray(scale, dtype=np.float64)

    def allowed(self, bound: Any, scale: Any) -> np.ndarray:
        """``safety * bound + floor(scale)``, never zero."""
        return np.asarray(np.maximum(self.safety * np.asarray(bound, dtype=np.float64) + self.floor(scale), _TINY))

    def verdict(self, analytic: Any, numerical: Any, bound: Any, scale: Any) -> Verdict:
        """The rule, entry by entry.  A NaN estimate is never within its tolerance."""
        err = np.abs(np.asarray(analytic, dtype=np.float64) - np.asarray(numerical, dtype=np.float64))
        allowed = self.allowed(bound, scale)
        return Verdict(err, allowed, err <= allowed)

    def resolution(self, allowed: Any, scale: Any) -> np.ndarray:
        """``allowed / scale``: the smallest relative error this tolerance lets be seen.

        Where the scale is zero (a derivative that is exactly zero), an exact
        comparison (``allowed`` at its minimum) resolves everything (0) and
        any other resolves nothing (inf); a NaN tolerance resolves nothing.
        """
        allowed = np.asarray(allowed, dtype=np.float64)
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), allowed.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = allowed / np.where(scale > 0, scale, 1.0)
        exact = np.where(allowed <= _TINY, 0.0, np.inf)
        return np.where(scale > 0, np.where(np.isnan(ratio), np.inf, ratio), exact)
