"""The quick grouped check: complex-step group products, vetted along their own sum, in a few calls.

A sparse check's products ``J d_g`` are ``G`` numbers per row (``G`` column
groups: 3 for a tridiagonal Jacobian of any size).  Through
:func:`~gradverify.check_jacobian` each costs one complex call, but the
check around them costs a fixed ~12 calls (f's noise walk and the vetting of
complex-step against central differences), four times the products
themselves.  This path spends instead, for ``method="auto"`` or
``"complex"`` and float64 x (in float32 the modelled noise would make the
vetting's differences too coarse: a term complex-step cannot see, 1e-2 of
the derivative, passed it, where the engine's measured noise sees it):

* ``f(x)`` twice (the determinism check every check makes);
* one complex call per group: the complex-step products, judged by the one
  rule of :class:`gradverify.steps.Tolerance` at complex-step's bounds;
* four real calls vetting complex-step, only once every product passed:
  Richardson-extrapolated central differences along a random combination
  ``w`` of the groups, against ``sum_g w_g J d_g`` from the complex calls
  (linearity of the derivative).  Their rounding is bounded by a *model* of
  f's noise (:data:`NOISE_ULPS` ulps of the size of f's terms) instead of a
  measured noise walk.

Nothing here decides a failure: when a product fails, f refuses complex
input, the vetting disagrees (a non-analytic f, or noise above the model:
an underestimated noise only refuses), or the resolution is too coarse, the
caller runs the ordinary engine, which measures the noise, vets complex-step
its own way, judges and localises.  So this path can only say "passed", and
only when complex-step (accurate to ~1e-15) agreed with the claim and with
real finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import NonFiniteValue, NotComplexSafe
from .estimators import first_pass
from .evaluate import Evaluator
from .matrices import _flat_point

__all__ = ["NOISE_ULPS", "Quick", "quick_grouped"]

#: The noise model of the vetting: f's rounding at x is taken as this many
#: ulps of the size of its terms (the larger of |f(x)| and the sum of |J d_g|
#: over the groups: a row of f moves by that much over a unit step of every
#: group).  A noisier f makes the vetting refuse, and the ordinary check (which
#: measures the noise) runs.  On banded tanh(A x) + x**3 and the tridiagonal
#: residual of tests/test_sparse.py (float64, 90 cases) the vetting's residual
#: stayed below 0.006 of its tolerance at 8 ulps; it sees a term complex-step is
#: blind to (``1e-8 * abs(x)``) from about 1e-8 of the derivative, as the
#: engine's vetting does with the measured noise.
NOISE_ULPS = 8.0


class Quick(NamedTuple):
    """A quick check that passed: the estimates, their tolerances, and what it could see."""

    numerical: np.ndarray  # (m, G): the complex-step group products
    analytic: np.ndarray  # (m, G): the claimed ones
    allowed: np.ndarray  # (m, G): safety * bound + floor
    err: np.ndarray  # (m, G): |claim - estimate|
    floor: float  # the largest floor of the verdict
    resolution: float
    h: float
    vetting: str


def quick_grouped(
    along: Callable[[Any], Any],
    claim: np.ndarray,
    dtype: np.dtype,
    *,
    vectorized: bool,
    safety: float | None,
    rng: np.random.Generator,
) -> Quick | None:
    """The quick check of the products ``claim`` (m, G) of ``along(t)`` at ``t = 0``; None to run the engine."""
    m, G = claim.shape
    spec, t0 = _flat_point(np.zeros(G, dtype=dtype))
    ev = Evaluator(along, spec, t0, vectorized=vectorized, scalar=False, name="f")
    f0 = ev.base_value()
    ev_c = Evaluator(along, spec, t0, complex_step=True, vectorized=vectorized, scalar=False, name="f")
    ev_c.out_shape, ev_c.out_dtype = ev.out_shape, ev.out_dtype  # f(x) is known: its shape is not asked again
    try:
        est = first_pass(ev_c, t0, f0, "complex", rules.steps_for("complex", t0), np.zeros_like(f0))
    except (NotComplexSafe, NonFiniteValue):  # the engine decides what to make of it
        return None
    N, B, A = est.value, est.bound, claim.T  # (G, m)
    if N.shape != A.shape or not np.all(np.isfinite(N)):
        return None
    tolerance = rules.Tolerance.of(dtype, safety)
    f_abs = np.abs(f0.astype(np.float64))
    floor_scale = np.maximum(np.max(np.abs(N), axis=0), f_abs)[None, :]  # the engine's: the leaf's max |N|, or |f|
    verdict = tolerance.verdict(A, N, B, floor_scale)
    if not np.all(verdict.within):
        return None
    size = np.max(np.maximum(np.abs(A), np.abs(N)), axis=0)
    fallback = max(float(np.max(size)) if size.size else 0.0, float(np.max(f_abs)) if f_abs.size else 0.0, 1.0)
    res_scale = np.where(size > 0, size, fallback)[None, :]
    resolution = float(np.max(tolerance.resolution(verdict.allowed, res_scale))) if verdict.allowed.size else 0.0
    if not resolution <= rules.RESOLUTION_LIMIT:
        return None
    terms = np.maximum(f_abs, np.sum(np.abs(N), axis=0))
    vetted = _vet(ev, t0, N, B, tolerance, rules.eps(dtype) * NOISE_ULPS * terms, rng)
    if vetted is None:
        return None
    floor = float(np.max(tolerance.floor(floor_scale), initial=0.0))
    step = float(np.median(np.abs(est.step)))
    return Quick(N.T, claim, verdict.allowed.T, verdict.err.T, floor, resolution, step, vetted)


def _vet(
    ev: Evaluator,
    t0: np.ndarray,
    N: np.ndarray,
    B: np.ndarray,
    tolerance: rules.Tolerance,
    sigma: np.ndarray,
    rng: np.random.Generator,
) -> str | None:
    """Central differences along a random ``w`` (two rungs, extrapolated) against ``N^T w``; a note, or None.

    With ``rho(t) = D(t) - N^T w_t`` (``w_t`` the direction each rung really
    took), an f whose complex-step products are right has
    ``rho(t) = c t**2 + rounding``, so ``(16 rho(t/4) - rho(t)) / 15`` is
    rounding alone, bounded from ``sigma`` (the noise model) and the products'
    own bounds; a complex-step error ``delta`` along ``w`` stays in it.
    """
    w = rng.standard_normal(t0.size)
    gain = rules.LADDER_RATIO**2
    t = rules.base_step("central", t0.dtype) * rules.LADDER_RATIO
    rho, rounding = [], []
    for _ in range(2):
        plus, minus = (t * w).astype(t0.dtype), (-t * w).astype(t0.dtype)
        try:
            fp = ev.at(plus, what=f"t + {t:.3g}*w (vetting complex-step along the groups)")
            fm = ev.at(minus, what=f"t - {t:.3g}*w (vetting complex-step along the groups)")
        except NonFiniteValue:
            return None
        taken = (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * t)
        rho.append((fp.astype(np.float64) - fm.astype(np.float64)) / (2 * t) - N.T @ taken)
        rounding.append(rules.ROUNDING_FACTOR["central"] * sigma / t)
        t /= rules.LADDER_RATIO
    value = (gain * rho[1] - rho[0]) / (gain - 1)
    bound = (gain * rounding[1] + rounding[0]) / (gain - 1) + B.T @ np.abs(w)
    scale = np.maximum(np.abs(N.T @ w), np.max(np.abs(N), axis=0))
    if not np.all(tolerance.verdict(value, 0.0, bound, scale).within):
        return None
    return (
        "complex-step vetted along a random combination of the groups: Richardson-extrapolated central differences "
        f"agreed with it (4 calls; their rounding bounded by a model of f's noise, {NOISE_ULPS:g} ulps of its terms, "
        "not a measured noise walk)"
    )
