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

The products are judged entry by entry as the dense check judges ``J``
(:func:`_dense_scales`), and a verdict is given only once complex-step is
vetted: when f refuses complex input, the vetting disagrees (a non-analytic
f, or noise above the model: an underestimated noise only refuses), or a
passing check's resolution is too coarse, the caller runs the ordinary
engine, which measures the noise, vets complex-step its own way, judges and
localises.  A vetted failure is localised by :func:`quick_products`, one
complex call per product, with the same tolerances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import NonFiniteValue, NotComplexSafe
from .estimators import complex_truncation, first_pass
from .evaluate import Evaluator
from .matrices import _flat_point

__all__ = ["NOISE_ULPS", "Quick", "quick_grouped", "quick_products"]

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
    """A quick check whose complex-step products were vetted: the estimates, their tolerances, what it could see."""

    ok: bool  # every product within its tolerance (and the resolution fine)
    numerical: np.ndarray  # (m, G): the complex-step group products
    analytic: np.ndarray  # (m, G): the claimed ones
    allowed: np.ndarray  # (m, G): safety * bound + floor
    err: np.ndarray  # (m, G): |claim - estimate|
    floor: float  # the largest floor of the verdict
    resolution: float
    h: float
    vetting: str
    row_max: np.ndarray  # (m,): each row's largest |J| estimated, the dense check's scale
    natural: np.ndarray  # (m,): |f(x)| / max(1, rms |x|)


def quick_grouped(
    along: Callable[[Any], Any],
    claim: np.ndarray,
    dtype: np.dtype,
    *,
    vectorized: bool,
    safety: float | None,
    rng: np.random.Generator,
    column_weights: np.ndarray,
    x_rms: float,
) -> Quick | None:
    """The quick check of the products ``claim`` (m, G) of ``along(t)`` at ``t = 0``; None to run the engine.

    ``column_weights`` (m, G) is the weight, in group g's direction, of the
    pattern's column of row i in that group (the group's smallest weight
    where row i has none); ``x_rms`` the rms of x, which with ``|f(x)|``
    gives the dense check's scale of f's terms.  Together they put the
    verdict's bound and floor where the dense check of ``J`` puts them, in
    the products' units (:func:`_dense_scales`).  A product that fails is
    trusted only once complex-step is vetted too (``Quick.ok`` False: the
    caller localises it with :func:`quick_products`); None when complex-step
    is refused or not vetted, or a passing check's resolution is too coarse.
    """
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
    N, A = est.value, claim.T  # (G, m)
    if N.shape != A.shape or not np.all(np.isfinite(N)):
        return None
    tolerance = rules.Tolerance.of(dtype, safety)
    f_abs = np.abs(f0.astype(np.float64))
    natural = f_abs / max(1.0, x_rms)
    row_max = _row_max(N, column_weights)
    floor_scale, B = _dense_scales(N, column_weights, row_max, natural, dtype)
    verdict = tolerance.verdict(A, N, B, floor_scale)
    if not np.all(verdict.within):
        B = _with_truncation(ev_c, t0, N, B, est.step, ~np.all(verdict.within, axis=1))
        verdict = tolerance.verdict(A, N, B, floor_scale)
    ok = bool(np.all(verdict.within))
    resolution = _resolution(A, N, verdict.allowed, natural, tolerance)
    if ok and not resolution <= rules.RESOLUTION_LIMIT:
        return None
    terms = np.maximum(f_abs, np.sum(np.abs(N), axis=0))
    vetted = _vet(ev, t0, N, B, tolerance, rules.eps(dtype) * NOISE_ULPS * terms, rng)
    if vetted is None:
        return None
    floor = float(np.max(tolerance.floor(floor_scale), initial=0.0))
    step = float(np.median(np.abs(est.step)))
    return Quick(
        ok, N.T, claim, verdict.allowed.T, verdict.err.T, floor, resolution, step, vetted, row_max, natural
    )  # fmt: skip


def quick_products(
    along: Callable[[Any], Any],
    claim: np.ndarray,
    dtype: np.dtype,
    *,
    vectorized: bool,
    safety: float | None,
    column_weights: np.ndarray,
    first: Quick,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complex-step products of some columns (m, k), judged as :func:`quick_grouped` judged all of them.

    For the localisation of a failing quick check (complex-step already
    vetted): one complex call per product, no base value; the scales are the
    whole rows' (``first``), so an entry is held to the same tolerance
    whatever columns share its probe.  Returns (claimed, estimated, allowed).
    """
    m, k = claim.shape
    spec, t0 = _flat_point(np.zeros(k, dtype=dtype))
    ev_c = Evaluator(along, spec, t0, complex_step=True, vectorized=vectorized, scalar=False, name="f")
    ev_c.out_shape, ev_c.out_dtype = first.natural.shape, np.dtype(np.float64)
    est = first_pass(ev_c, t0, np.zeros(m), "complex", rules.steps_for("complex", t0), np.zeros(m))
    floor_scale, B = _dense_scales(est.value, column_weights, first.row_max, first.natural, dtype)
    tolerance = rules.Tolerance.of(dtype, safety)
    verdict = tolerance.verdict(claim.T, est.value, B, floor_scale)
    if not np.all(verdict.within):
        B = _with_truncation(ev_c, t0, est.value, B, est.step, ~np.all(verdict.within, axis=1))
        verdict = tolerance.verdict(claim.T, est.value, B, floor_scale)
    return claim, np.asarray(est.value.T), np.asarray(verdict.allowed.T)


def _with_truncation(
    ev_c: Evaluator, t0: np.ndarray, N: np.ndarray, B: np.ndarray, step: np.ndarray, failing: np.ndarray
) -> np.ndarray:
    """``B`` with complex-step's truncation added for the ``failing`` products (one complex call each).

    Complex-step's ``h**2 f''' / 6`` is far below rounding unless a product
    is (nearly) zero, as for ``x**3`` at 0, where it is all there is; as the
    dense check does, it is measured (a second step) only where a product fails.
    """
    idx = np.flatnonzero(failing)
    out = B.copy()
    out[idx] += complex_truncation(ev_c, t0, idx, step[idx], N[idx])
    return np.asarray(out)


def _resolution(A: np.ndarray, N: np.ndarray, allowed: np.ndarray, natural: np.ndarray, tolerance: Any) -> float:
    """The smallest relative error the products could show, per row against its own scale (as the engine's).

    A row the claim or the estimate calls exactly zero, and that is zero
    within its tolerance on the other side too (``x**3`` at 0), is measured
    against the whole Jacobian's scale, or 1 where that is within tolerance.
    """
    if not allowed.size:
        return 0.0
    size = np.max(np.maximum(np.abs(A), np.abs(N)), axis=0)
    exact_zero = (np.max(np.abs(A), axis=0) == 0) | (np.max(np.abs(N), axis=0) == 0)
    zero = (size == 0) | (exact_zero & (size <= np.max(allowed, axis=0)))
    overall = max(float(np.max(size)), float(np.max(natural, initial=0.0)))
    fallback = overall if overall > float(np.max(allowed)) else max(overall, 1.0)
    scale = np.where(zero, fallback, size)[None, :]
    return float(np.max(tolerance.resolution(allowed, scale)))


def _row_max(N: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row's largest |J| (m,), from the products (G, m) over their entries' weights (m, G)."""
    return np.asarray(np.max(np.abs(N) / weights.T, axis=0))


def _dense_scales(
    N: np.ndarray, weights: np.ndarray, row_max: np.ndarray, natural: np.ndarray, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """The floor's scale and the bound of each product (G, m): the dense check's, for the entry of J it weighs.

    The dense check of ``J`` bounds the complex-step estimate of entry
    ``(i, k)`` by ``COMPLEX_RELATIVE * EPS * (|J_ik| + max_k' |J_ik'|)`` and
    floors it at ``FLOOR_FACTOR * EPS * max(max_k' |J_ik'|, natural[i])``.  A
    product carries its entry ``J_ik`` times the weight ``w_k`` (about
    ``max(1, |x_k|)``), and with it that entry's evaluation error, so both are
    ``w_k`` times the dense ones; row i's entries are estimated as the
    products over their weights.  When the pattern is right, row i of
    ``f(x + i h d_g)`` is exactly ``f_i(x + i h w_k e_k)``: the dense check's
    evaluation of that entry, so its error is the dense one, times ``w_k``.
    (The engine, judging the products at their own scale, takes ``max_g`` of
    the products and ``|f(x)|`` instead: several times tighter where the
    entry's weight is large and the row's largest product's small, where
    numpy's complex tanh of a large argument, losing ``EPS / sech**2`` in its
    imaginary part, failed a right Jacobian; several times looser the other
    way round, where a 1e-6 error of a small entry beside a large diagonal
    passed.)
    """
    W = weights.T  # (G, m)
    dense_bound = rules.COMPLEX_RELATIVE * rules.eps(dtype) * (np.abs(N) + W * row_max[None, :])
    return np.asarray(W * np.maximum(row_max, natural)[None, :]), np.asarray(dense_bound)


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
        # the model's noise at the points themselves too: where f(x) and its products are 0 (x**3 at 0) the
        # moved values are not, and their rounding is what the differences carry
        moved = NOISE_ULPS * rules.eps(t0.dtype) * np.maximum(np.abs(fp), np.abs(fm))
        rounding.append(rules.ROUNDING_FACTOR["central"] * np.maximum(sigma, moved) / t)
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
