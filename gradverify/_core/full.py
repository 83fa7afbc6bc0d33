"""The full check: every entry of the derivative against its own numerical estimate.

A first pass estimates every entry at the step rule's step.  Only entries that
fail go further: finite-difference estimates are refined on a ladder of steps
(where kinks show up), complex-step ones have their truncation measured where
the derivative is nearly zero and are cross-checked with finite differences.
Every comparison is the one rule of :class:`gradverify.steps.Tolerance`; the
report says which entries fail, by how much, why that is likely, and what
relative error the check could have seen (its resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import steps as rules
from ..steps import Verdict
from .diagnose import diagnose
from .estimators import Estimate, complex_truncation, first_pass, refine
from .matrices import _unflatten_matrix
from .outcome import Outcome, decide
from .problem import Problem
from .report import Kink, Report, Row

__all__ = ["full_check", "CONFIRM_MAX", "REPORT_ROWS"]

#: Failing complex-step entries cross-checked with finite differences.
CONFIRM_MAX = 4

#: Rows shown in the readable report.
REPORT_ROWS = 5


@dataclass
class _Estimates:
    """The numerical side, entry by entry; the refining passes update it in place."""

    N: np.ndarray  # the estimates, (n, m)
    B: np.ndarray  # their error bounds, (n, m)
    step: np.ndarray  # the step of each entry, (n,)
    not_converged: np.ndarray  # entries whose refinement ladder did not converge, (n,)


def _judge(p: Problem, found: _Estimates) -> Verdict:
    """The rule on every entry: the floor at its leaf's scale (and the derivative's conditioning, once measured)."""
    B = found.B
    if p.sensitivity is not None and p.sensitivity.value is not None:
        B = B + rules.SENSITIVITY_FACTOR * p.sensitivity.value
    return p.tolerance.verdict(p.A, found.N, B, p.floor_scale(found.N))


def _by_a_hair(p: Problem, verdict: Verdict, found: _Estimates) -> bool:
    """Whether a failing entry's error is within SENSITIVITY_CAP of its leaf's scale (and not yet re-judged)."""
    if p.sensitivity is None or p.sensitivity.value is not None:
        return False
    fail = _failing(verdict)
    if not fail.any():
        return False
    cap = rules.SENSITIVITY_CAP[np.dtype(p.dtype_name)]  # the caller's dtype (a float32 derivative, float64 reference)
    hair = verdict.err[fail] <= cap * p.floor_scale(found.N)[fail]
    return bool(np.all(hair | (verdict.err[fail] <= verdict.allowed[fail])))


def _failing(verdict: Verdict) -> np.ndarray:
    return np.asarray(~np.all(verdict.within, axis=1))


def full_check(p: Problem) -> Report:
    """Compare every entry of ``p.A`` with an estimate; refine and explain the failing ones."""
    est = _first_estimates(p)
    n = p.x.size
    found = _Estimates(est.value.copy(), est.bound.copy(), est.step.copy(), np.zeros(n, bool))
    verdict = _judge(p, found)
    kinks: list[Kink] = []
    kink_ok = np.zeros(n, bool)
    kink_allowed = np.zeros(p.A.shape)
    again = _failing(verdict) | _kink_suspects(p, est)
    shrunk = est.shrunk if est.shrunk is not None else np.zeros(n, bool)
    if shrunk.any():
        _note_shrunk(p, shrunk, est.step)
    if not est.complete and again.any():
        kinks, kink_ok, kink_allowed = _refine_failing(p, np.flatnonzero(again), found, shrunk)
        # Refined estimates change the leaf scales the floor is taken at (an
        # estimate that turned out NaN no longer counts): entries accepted by
        # the first pass against the old floor and outside the new one get
        # the ladder too.
        late = _failing(_judge(p, found)) & ~again
        if late.any():
            more = _refine_failing(p, np.flatnonzero(late), found, shrunk)
            kinks = kinks + more[0]
            kink_ok |= more[1]
            kink_allowed = np.where(more[1][:, None], more[2], kink_allowed)
    elif p.method == "complex" and _failing(verdict).any():
        _bound_complex_truncation(p, _failing(verdict), found)
    verdict = _judge(p, found)
    if p.method == "complex" and _failing(verdict).any():
        _cross_check_complex(p, verdict, found)
        verdict = _judge(p, found)
    if _by_a_hair(p, verdict, found):
        assert p.sensitivity is not None
        p.sensitivity.measure()
        verdict = _judge(p, found)
        p.notes.append(
            "an entry failed by a hair, so the analytic derivative was evaluated at the float64 point too: its own "
            f"{p.dtype_name} rounding is in the bound"
            if p.reference is not None
            else f"an entry failed by a hair, so the analytic derivative was evaluated {rules.SENSITIVITY_MOVES} more "
            f"times at x moved by {rules.SENSITIVITY_ULPS:g} ulps: its change (the conditioning of f's intermediate "
            "values) is in the bound"
        )
    non_finite = ~np.all(np.isfinite(found.N), axis=1)
    fail = _failing(verdict) & ~kink_ok & ~non_finite
    # Where f did not change at all over the step (every entry, or a failing
    # one), a larger step tells a quantised f from one that does not use x.
    flat = np.all(found.N == 0, axis=1)
    quantised = _quantised(p, (fail & flat) | (flat if flat.all() else np.zeros_like(flat)))
    fail &= ~quantised
    # What each entry could have seen: its tolerance relative to its leaf's
    # derivative scale (at a kink, where there is no derivative, the floor);
    # nothing where the estimate is not a number.
    allowed = np.where(kink_ok[:, None], kink_allowed, verdict.allowed)
    resolution = np.max(p.tolerance.resolution(allowed, p.resolution_scale(found.N, allowed)), axis=1)
    # A kink whose slopes leave the analytic value outside, at an entry the
    # estimate itself accepts (a quantised f's grid looks like this): the
    # check cannot tell, so it does not pass.
    outside = np.zeros(n, bool)
    outside[[p.spec.flat_index(k.index) for k in kinks if not k.between]] = True
    outside &= ~fail
    resolution[non_finite | quantised | outside] = np.inf
    outcome = decide(
        p,
        fail,
        resolution,
        step=found.step,
        not_converged=found.not_converged,
        quantised=quantised,
        edge=shrunk & non_finite,
        outside=outside,
    )
    if outcome.outcome == "inconclusive":
        _note_unresolved(p, verdict.err, found)
    return _report(p, found, verdict, fail, outcome, kinks)


def _first_estimates(p: Problem) -> Estimate:
    """The first pass: every entry at the rule's step (central for central and Richardson)."""
    if p.method == "complex":
        assert p.ev_c is not None
        return first_pass(p.ev_c, p.x, p.f0, "complex", rules.steps_for("complex", p.x, p.h), np.zeros_like(p.f0))
    first_method = "forward" if p.method == "forward" else "central"
    return first_pass(p.ev, p.x, p.f0, first_method, rules.steps_for(first_method, p.x, p.h), p.noise())


def _kink_suspects(p: Problem, est: Estimate) -> np.ndarray:
    """Entries whose first-pass one-sided slopes are far apart: refined, so a kink is named."""
    if est.right is None or est.left is None:
        return np.zeros(p.x.size, bool)
    gap = np.abs(est.right - est.left)
    scale = p.resolution_scale(est.value)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_round = rules.KINK_ROUNDING * p.noise() / est.step[:, None]
        return np.asarray(np.any((gap > rules.KINK_SUSPECT * scale) & (gap > 4 * slope_round), axis=1))


def _quantised(p: Problem, flat: np.ndarray) -> np.ndarray:
    """The entries of ``flat`` (f did not change over their step) if f is quantised there.

    Quantised (rounded to a grid), f has a slope along all these entries
    together, at the rule's step, that none of them has alone; or, on a
    coarser grid, it is flat there and changes over a step of
    :data:`~gradverify.steps.QUANTUM_PROBE`.  A smooth f at a stationary point
    has no such slope (its central difference along them is zero too), and an
    f that does not use these entries changes at neither step: an analytic
    derivative that is not zero there is then wrong, and judged so.
    """
    if not flat.any():
        return flat
    idx = np.flatnonzero(flat)
    x64 = p.x.astype(np.float64)
    # All entries moved alike (+1), on purpose: a hinge loss or a dead ReLU
    # in a flat region is invariant along it and stays flat (a wrong nonzero
    # gradient there fails), where random signs leave the region at the
    # probe's distance and would call it quantised.  The price: a quantised
    # f invariant along all-ones (softmax of W x) looks flat too, and a zero
    # gradient claimed for it passes (it is the derivative of that f).
    scale = np.maximum(1.0, np.abs(x64[idx]))

    def moved(step: float) -> np.ndarray:
        point = x64.copy()
        point[idx] += step * scale
        what = f"x + {step:.3g} (relative) on the entries where f is flat"
        return p.ev.at(point.astype(p.x.dtype), what=what)

    s = rules.base_step("central", p.x.dtype)
    fp, fm = moved(s), moved(-s)
    if not (np.array_equal(fp, p.f0) and np.array_equal(fm, p.f0)):
        # the rounding of f, in ulps of f(x) or its measured noise
        rounding = np.maximum(p.noise(), p.tolerance.eps * np.abs(p.f0))
        sloped = np.any(np.abs(fp - fm) > rules.QUANTUM_SLOPE * rounding)
        return flat if sloped else np.zeros_like(flat)
    return flat if not np.array_equal(moved(rules.QUANTUM_PROBE), p.f0) else np.zeros_like(flat)


def _note_shrunk(p: Problem, shrunk: np.ndarray, step: np.ndarray) -> None:
    """A note on entries whose step was shrunk to keep f finite (x near the edge of f's domain)."""
    first = int(np.flatnonzero(shrunk)[0])
    count = int(shrunk.sum())
    p.notes.append(
        f"f is NaN or inf at the rule's step at {count} entr{'y' if count == 1 else 'ies'} (e.g. {p.spec.describe(first)}: "
        f"x is near the edge of f's domain); the step was shrunk there (to {abs(float(step[first])):.3g}) and rungs "
        "that leave the domain were dropped"
    )


def _refine_failing(
    p: Problem, idx: np.ndarray, found: _Estimates, shrunk: np.ndarray | None = None
) -> tuple[list[Kink], np.ndarray, np.ndarray]:
    """Re-estimate the failing finite-difference entries ``idx`` on a ladder of steps.

    Entries whose first-pass step was ``shrunk`` (f not finite at the rule's
    step) start their ladder from that step.  Returns the kinks found there,
    the entries they excuse, and the kink test's tolerance of those entries.
    """
    steps = rules.steps_for(p.method, p.x, p.h)[idx]
    if shrunk is not None:
        steps = np.where(shrunk[idx], np.minimum(steps, np.abs(found.step[idx])), steps)
    ref = refine(p.ev, p.x, p.f0, idx, p.method, steps, p.noise(), explicit=p.h is not None)
    found.N[idx], found.B[idx], found.step[idx] = ref.value, ref.bound, ref.step
    if ref.converged is not None:
        found.not_converged[idx] = ~ref.converged
    if not ref.kink.any():
        return [], np.zeros(p.x.size, bool), np.zeros(p.A.shape)
    return judge_kinks(p, ref, idx, found.B, p.floor_scale(found.N))


def judge_kinks(
    p: Problem, ref: Estimate, idx: np.ndarray, B: np.ndarray, scale: np.ndarray
) -> tuple[list[Kink], np.ndarray, np.ndarray]:
    """At a kink any value between the one-sided slopes (within their bounds) is right.

    ``B`` and ``scale`` are the entries' own bounds and floor scales (rows of
    the whole derivative).  The rule is the verdict's, with the analytic
    value compared to the nearest point of the interval between the slopes
    and the slopes' bound added to the estimate's.  Returns one record per
    kink, the entries that pass so, and the tolerance their resolution counts.
    """
    assert ref.left is not None and ref.right is not None and ref.slope_bound is not None
    kinks: list[Kink] = []
    kink_ok = np.zeros(p.A.shape[0], bool)
    kink_allowed = np.zeros(p.A.shape)
    for k in np.flatnonzero(ref.kink):
        i = int(idx[k])
        lo = np.minimum(ref.left[k], ref.right[k])
        hi = np.maximum(ref.left[k], ref.right[k])
        nearest = np.clip(p.A[i], lo, hi)
        v = p.tolerance.verdict(p.A[i], nearest, ref.slope_bound[k] + B[i], scale[i])
        between = bool(np.all(v.within))
        kink_ok[i] = between
        # An entry at a kink has no derivative to resolve: the kink test
        # names it, and only the floor is counted against the resolution.
        kink_allowed[i] = p.tolerance.allowed(0.0, scale[i])
        kinks.append(
            Kink(
                index=p.spec.locate(i),
                name=p.spec.describe(i),
                left=float(ref.left[k][0]),
                right=float(ref.right[k][0]),
                analytic=float(p.A[i][0]),
                between=between,
            )
        )
    return kinks, kink_ok, kink_allowed


def _bound_complex_truncation(p: Problem, fail: np.ndarray, found: _Estimates) -> None:
    """Add complex-step's truncation to the bound of failing entries that are nearly zero."""
    # Complex-step's own truncation matters only where the derivative is
    # nearly zero (x**3 at 0): measure it for failing entries of that kind.
    scale = max(float(np.max(np.abs(p.A))), float(np.max(p.natural)))
    small = np.all(np.abs(found.N) <= rules.NEAR_ZERO * scale, axis=1) if scale > 0 else np.ones(p.x.size, bool)
    idx = np.flatnonzero(fail & small)
    if len(idx):
        assert p.ev_c is not None
        found.B[idx] += complex_truncation(p.ev_c, p.x, idx, found.step[idx], found.N[idx])


def _cross_check_complex(p: Problem, verdict: Verdict, found: _Estimates) -> None:
    """Replace failing complex-step entries that finite differences contradict."""
    # Where the two estimators disagree beyond both bounds, complex-step is not
    # reliable for that entry (f is not analytic there) and the finite
    # difference wins.
    idx = np.flatnonzero(_failing(verdict))
    idx = idx[np.argsort(-np.max(verdict.err[idx] / verdict.allowed[idx], axis=1))][:CONFIRM_MAX]
    ref = refine(p.ev, p.x, p.f0, idx, "richardson", rules.steps_for("richardson", p.x)[idx], p.noise())
    agree = p.tolerance.verdict(ref.value, found.N[idx], ref.bound + found.B[idx], p.floor_scale(found.N)[idx])
    disagree = ~np.all(agree.within, axis=1)
    if disagree.any():
        bad = idx[disagree]
        found.N[bad], found.B[bad], found.step[bad] = ref.value[disagree], ref.bound[disagree], ref.step[disagree]
        p.notes.append(
            f"complex-step disagreed with finite differences at {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} "
            f"(e.g. {p.spec.describe(int(bad[0]))}); finite differences were used there"
        )


def _note_unresolved(p: Problem, err: np.ndarray, found: _Estimates) -> None:
    """A note on entries no step resolved (their ladders did not converge)."""
    scale = p.leaf_max(found.N)
    unresolved = found.not_converged & np.any(
        (p.tolerance.allowed(found.B, 0.0) > rules.UNRESOLVED_FRACTION * scale)
        & (err > rules.UNRESOLVED_FRACTION * scale),
        axis=1,
    )
    if unresolved.any():
        first = int(np.flatnonzero(unresolved)[0])
        count = int(unresolved.sum())
        p.notes.append(
            f"{count} entr{'y' if count == 1 else 'ies'} (e.g. {p.spec.describe(first)}) could not be estimated: "
            "the estimates at different steps do not converge (a singularity, or a jump, at x?)"
        )


def _report(
    p: Problem, found: _Estimates, verdict: Verdict, fail: np.ndarray, outcome: Outcome, kinks: list[Kink]
) -> Report:
    """The report of a full check: verdict, worst entry, explanation and the worst rows."""
    A, N, err, allowed = p.A, found.N, verdict.err, verdict.allowed
    with np.errstate(invalid="ignore"):
        ratio = np.max(np.where(np.isnan(err), np.inf, err) / allowed, axis=1)
    # The worst entry: the failing one furthest outside its tolerance, or, when
    # all pass, the one closest to it.
    worst = int(np.flatnonzero(fail)[np.argmax(ratio[fail])]) if fail.any() else int(np.argmax(ratio))
    pattern, diagnosis = _explain(p, fail, kinks, N, allowed)
    if outcome.outcome == "inconclusive":
        at_kink = outcome.reason is not None and "not differentiable" in outcome.reason
        pattern, diagnosis = ("kink" if at_kink else "inconclusive"), outcome.reason
    with np.errstate(invalid="ignore"):
        rel = err / np.maximum(np.maximum(np.abs(A), np.abs(N)), allowed)
    return Report(
        ok=outcome.outcome == "passed",
        outcome=outcome.outcome,
        resolution=outcome.resolution,
        entry_resolution=p.spec.unflatten(outcome.entry_resolution.astype(np.float64)),
        suggestion=outcome.suggestion,
        kind=p.kind,
        method=p.method,
        mode="full",
        h=float(np.median(np.abs(found.step))),
        evaluations=p.calls,
        max_abs_error=_finite_max(err),
        max_rel_error=_finite_max(rel),
        worst_index=p.spec.locate(worst),
        worst_name=p.spec.describe(worst),
        safety=p.tolerance.safety,
        floor=float(np.max(p.tolerance.floor(p.floor_scale(N)))),
        diagnosis=diagnosis,
        pattern=pattern,
        numerical=_unflatten_matrix(N, p.spec, p.out_shape),
        analytic=_unflatten_matrix(A, p.spec, p.out_shape),
        tolerance=_unflatten_matrix(allowed, p.spec, p.out_shape),
        failures=int(fail.sum()),
        entries=int(p.x.size),
        kinks=kinks,
        notes=p.notes,
        seed=p.seed,
        dtype=p.dtype_name,
        reference=p.reference,
        rows=_rows(p, N, err, allowed, fail, ratio, kinks),
    )


def _finite_max(a: np.ndarray) -> float:
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else float("nan")


def _rows(
    p: Problem,
    N: np.ndarray,
    err: np.ndarray,
    allowed: np.ndarray,
    fail: np.ndarray,
    ratio: np.ndarray,
    kinks: list[Kink],
) -> list[Row]:
    """The entries closest to (or furthest beyond) their tolerance, worst first."""
    kink_names = {k.name for k in kinks}
    rows = []
    for i in np.argsort(-ratio)[:REPORT_ROWS]:
        with np.errstate(invalid="ignore"):
            j = int(np.argmax(np.where(np.isnan(err[i]), np.inf, err[i]) / allowed[i]))
        name = p.spec.describe(int(i))
        note = "kink" if name in kink_names else ("wrong" if fail[i] else "")
        values = (float(p.A[i, j]), float(N[i, j]), float(err[i, j]), float(allowed[i, j]))
        rows.append(Row(_entry_name(p, int(i), j), *values, note))
    return rows


def _explain(
    p: Problem, fail: np.ndarray, kinks: list[Kink], N: np.ndarray, allowed: np.ndarray
) -> tuple[str | None, str | None]:
    """(pattern, diagnosis) of a full check; a note on kinks when it passed."""
    if not fail.any():
        if kinks:
            p.notes.append(
                f"{len(kinks)} entr{'y' if len(kinks) == 1 else 'ies'} at a kink (not differentiable here); "
                "the analytic value is a valid one-sided slope or between them"
            )
        return None, None
    bad_kinks = [k for k in kinks if not k.between]
    if bad_kinks and len(bad_kinks) == int(fail.sum()):
        k = bad_kinks[0]
        return "kink", (
            f"f is not differentiable at {k.name} (left slope {k.left:.6g}, right slope {k.right:.6g}) "
            f"and the analytic value {k.analytic:.6g} is not between them"
        )
    return diagnose(p.A, N, allowed, fail, p.spec, p.x)


def _entry_name(p: Problem, i: int, j: int) -> str:
    base = p.spec.describe(i)
    if p.out_shape:
        return f"{base} of out{[int(k) for k in np.unravel_index(j, p.out_shape)]}"
    return base
