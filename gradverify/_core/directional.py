"""Directional checks: compare derivatives along random directions, then localise.

For ``n`` inputs a full check costs ``n`` to ``2n`` calls of ``f``; a
directional check costs one call per direction with complex-step (a handful
with finite differences) whatever ``n`` is.  The analytic side of a direction
``u`` is ``A^T u``, one value per output row; a wrong entry ``i`` shows up as
a residual ``(A - g)_i u_i`` in the rows it touches.  Each entry of a
direction is a random sign times a magnitude drawn uniformly from [1, 2]:
never small (a Gaussian entry near zero hides the wrong entry it weighs), and
continuous, so two wrong entries never cancel exactly (a transposition makes
errors ``+e`` and ``-e``, which a Rademacher direction cancels half the time).

Each output row of each direction is judged by the one rule of
:class:`gradverify.steps.Tolerance`, with the floor of the full check applied
along the direction.  A direction whose one-sided slopes stay apart as the
step shrinks crosses a kink: it is accepted when the analytic value lies
between them, as at a kink of the full check, and the width between them is
counted against the check's resolution.

When a direction fails (or crosses a kink), the entries responsible are found
by group testing: a direction supported on one half of the remaining entries
tells which half holds an error, so a single wrong entry among ``n`` costs
about ``1.5 log2(n)`` further directional checks.  Each entry so found is
confirmed with a coordinate estimate (with the full check's kink test) before
it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import steps as rules
from ..errors import NonFiniteValue
from .diagnose import diagnose
from .estimators import _complex_estimate, directional, refine
from .full import judge_kinks
from .matrices import _unflatten_matrix
from .outcome import decide
from .params import ParamSpec
from .problem import Problem
from .report import Kink, Report, Row

__all__ = ["directional_check", "MAX_LOCALISED"]

#: Entries localised one by one before the search stops.
MAX_LOCALISED = 8

#: Rows shown in the readable report.
REPORT_ROWS = 5


@dataclass(frozen=True)
class DirectionTest:
    """One direction, judged per output row."""

    v: np.ndarray  # the drawn direction (zero outside a group), (n,)
    residual: np.ndarray  # numerical minus analytic along it, (m,)
    allowed: np.ndarray  # the rule's tolerance, (m,)
    within: np.ndarray  # the rule's verdict per output row, (m,)
    projected: np.ndarray  # the analytic derivative along it, A^T u, (m,)
    failed: bool  # some row outside its tolerance, and not a kink
    kink: bool  # the one-sided slopes stay apart and bracket the analytic value
    resolution: float  # the smallest relative error this direction could see

    @property
    def speaks(self) -> bool:
        """The direction holds something to localise: an error, or a kink."""
        return self.failed or self.kink


@dataclass(frozen=True)
class _Confirmed:
    """Coordinate estimates of the localised entries."""

    idx: np.ndarray
    N: np.ndarray
    allowed: np.ndarray
    wrong: np.ndarray
    kinks: list[Kink]


def directional_check(p: Problem, directions: int) -> Report:
    """Check ``p.A`` along ``directions`` random directions; localise failures by bisection."""
    est_ev = p.ev_c if p.method == "complex" else p.ev
    assert est_ev is not None
    nz = np.zeros_like(p.f0) if p.method == "complex" else p.noise()
    x_scale = np.maximum(1.0, np.abs(p.x.astype(np.float64)))
    leaf_max = p.leaf_max(p.A)  # (n, m): each entry's leaf scale, as in the full check's floor

    def floor_along(u: np.ndarray) -> np.ndarray:
        # The floor along u: the leaf scales summed along u, or the natural
        # scale |f| / max(1, |x|) of a derivative of f (along u, of
        # t -> f(x + t u), whose step moves each entry by up to max |u|).  The
        # full check's per-entry floor summed over u would count |f| once per
        # entry: for an f summed over 10^6 terms, a floor 10^6 times too wide.
        return np.asarray(np.maximum(leaf_max.T @ u, p.natural[0] * (float(np.max(u)) if u.size else 0.0)))

    leaf_scale = p.resolution_scale(p.A)
    # leaves with entries (a leaf of shape (0,) holds no part of a direction)
    starts = np.array([int(o) for o, n in zip(p.spec.offsets[:-1], p.spec.sizes) if n > 0], dtype=np.int64)
    A = p.A

    def test(v: np.ndarray) -> DirectionTest:
        est = directional(est_ev, p.x, p.f0, v, p.method, nz, project=lambda u: A.T @ u)
        u = np.abs(v * x_scale)
        verdict = p.tolerance.verdict(est.value, 0.0, est.bound, floor_along(u))
        # per parameter (leaf): what part of the derivative along u each holds
        scale = np.add.reduceat(leaf_scale * u[:, None], starts, axis=0)  # (leaves, m)
        failed, kink, width = not bool(np.all(verdict.within)), False, np.zeros_like(est.value)
        if failed and est.kink and est.right is not None and est.left is not None and est.slope_bound is not None:
            lo, hi = np.minimum(est.right, est.left), np.maximum(est.right, est.left)
            between = p.tolerance.verdict(0.0, np.clip(0.0, lo, hi), est.slope_bound + est.bound, floor_along(u))
            kink = bool(np.all(between.within))
            failed, width = not kink, hi - lo
        res = p.tolerance.resolution(np.broadcast_to(verdict.allowed + width, scale.shape), scale)
        return DirectionTest(
            v, est.value, verdict.allowed, verdict.within, A.T @ (v * x_scale), failed, kink, float(np.max(res))
        )

    def draw(size: int) -> np.ndarray:
        return p.rng.choice(np.array([-1.0, 1.0]), size=size) * p.rng.uniform(1.0, 2.0, size=size)

    checks: list[DirectionTest] = []
    for _ in range(directions):
        checks.append(test(draw(p.x.size)))
        # A failed direction is the verdict; with finite differences (each
        # direction costs a ladder of calls) the rest would add nothing to it.
        if checks[-1].failed and p.method != "complex":
            break
    searched: list[DirectionTest] = []
    found: list[int] = []
    stopped = False
    failed_first = next((c for c in checks if c.failed), None)
    ramped = None
    if failed_first is not None and p.method != "complex":
        ramped = _by_ramps(p, failed_first, x_scale)
    if ramped is not None:
        found = [ramped[0]]
        p.notes.append(f"{ramped[1]} calls of f along ramps of the failed direction localised the error")
    elif any(c.speaks for c in checks):
        found, stopped = _localise(p.x.size, test, draw, searched)
        if stopped:
            if any(c.kink for c in checks):
                p.notes.append(
                    f"localisation stopped after {MAX_LOCALISED} entries (wrong or at kinks); more may be wrong or at kinks"
                )
            else:
                p.notes.append(f"localisation stopped after {MAX_LOCALISED} wrong entries; more may be wrong")
        if searched:
            p.notes.append(f"{len(searched)} further directional checks localised the error")
    confirmed = _confirm(p, np.array(sorted(set(found)), dtype=np.int64), nz)
    if ramped is not None and not _explains(p, failed_first, confirmed, x_scale):
        # The entry the ramps pointed to does not account for the failed
        # direction (more than one wrong entry, or kinks): search by halves.
        p.notes.pop()
        found, stopped = _localise(p.x.size, test, draw, searched)
        if stopped:
            p.notes.append(f"localisation stopped after {MAX_LOCALISED} entries; more may be wrong or at kinks")
        if searched:
            p.notes.append(f"{len(searched)} further directional checks localised the error")
        confirmed = _confirm(p, np.array(sorted(set(found)), dtype=np.int64), nz)
    failed_dirs = [c for c in checks if c.failed]
    kink_dirs = [c for c in checks if c.kink]
    if kink_dirs:
        named = ", ".join(k.name for k in confirmed.kinks[:3]) or "entries not localised"
        p.notes.append(
            f"{len(kink_dirs)} of {directions} directions cross a kink (f is not differentiable here: {named}); "
            "the analytic value lies between the one-sided slopes along them"
        )
    # A direction that fails, or an entry confirmed wrong by its coordinate
    # estimate (a group test that crossed kinks may still hold one), fails the check.
    failing = np.array([c.failed for c in checks]) | bool(confirmed.wrong.any())
    outcome = decide(p, failing, np.array([c.resolution for c in checks]), what="direction")
    if outcome.outcome == "inconclusive" and kink_dirs:
        reason = (
            f"f is not differentiable at x (kinks at {named}): along {len(kink_dirs)} of {directions} random "
            "directions the one-sided slopes are far apart, and any error between them passes unseen"
        )
        outcome = type(outcome)(
            outcome.outcome,
            outcome.resolution,
            outcome.entry_resolution,
            reason,
            "check at a point away from the kinks, or use mode='full' (every entry, kinks named one by one)",
        )
    pattern = diagnosis = None
    if outcome.outcome == "failed":
        pattern, diagnosis = _explain(
            p, failed_dirs + [s for s in searched if s.failed], confirmed, stopped, len(failed_dirs), directions
        )
    elif outcome.outcome == "inconclusive":
        pattern, diagnosis = "inconclusive", outcome.reason
    return _report(p, checks, confirmed, outcome, pattern, diagnosis, directions)


#: Ramps tried per localisation before falling back to bisection.
MAX_RAMPS = 8


def _ramp_residual(p: Problem, w: np.ndarray, x_scale: np.ndarray) -> np.ndarray:
    """``D_w - A^T w`` along ``w * max(1, |x|)``, per output: four calls.

    Central differences at ``t`` and ``t / 2`` (``t`` twice Richardson's base
    step), extrapolated: the ``t**2`` term cancels, and the steps are large
    enough that f's rounding (which grows with the number of entries f sums
    over) stays far below a 1e-3 error of one entry.  Each rung's residual is
    taken against the direction it really took, ``fl(x + t u)``.
    """
    x64 = p.x.astype(np.float64)
    u = w * x_scale
    t = 2.0 * rules.base_step("richardson", p.x.dtype)
    rungs = []
    for step in (t, t / 2):
        plus, minus = (x64 + step * u).astype(p.x.dtype), (x64 - step * u).astype(p.x.dtype)
        fp = p.ev.at(plus, what=f"x + {step:.3g}*w (a ramp localising a wrong entry)")
        fm = p.ev.at(minus, what=f"x - {step:.3g}*w (a ramp localising a wrong entry)")
        taken = (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * step)
        rungs.append((fp - fm) / (2 * step) - p.A.T @ taken)
    return np.asarray((4.0 * rungs[1] - rungs[0]) / 3.0)


def _by_ramps(p: Problem, failed: DirectionTest, x_scale: np.ndarray) -> tuple[int, int] | None:
    """The one entry that carries a failed direction's residual, found by ramps; (entry, probes) or None.

    A single wrong entry ``i`` makes the residual along ``v`` about
    ``e_i v_i``; along the ramp ``w_j = v_j (rank_j + 1) / k`` over a window
    of ``k`` entries it is ``e_i v_i (rank_i + 1) / k``, so the ratio of the
    two residuals says where ``i`` sits, to within the residuals' relative
    precision.  Each ramp narrows the window by about that precision (one
    wrong entry among 10^6 off by 1e-3 takes two to five ramps of four calls,
    against 20 halvings of eight).  The candidate is confirmed by a coordinate estimate and must
    account for the whole failed residual; otherwise the caller bisects.
    """
    v = failed.v
    window = np.flatnonzero(v)
    residual = failed.residual  # the residual of the window's direction (the entry's share of it)
    # What the residuals are uncertain by: the failed direction's bound (its
    # tolerance without the safety factor, floor included).
    noise_scale = float(np.max(failed.allowed)) / p.tolerance.safety
    probes = 0
    for _ in range(MAX_RAMPS):
        if len(window) <= 1:
            break
        out = int(np.argmax(np.abs(residual)))
        size = abs(float(residual[out]))
        if not np.isfinite(size) or size <= 2 * noise_scale:
            return None
        k = len(window)
        ramp = np.zeros_like(v)
        ramp[window] = v[window] * (np.arange(k) + 1.0) / k
        try:
            along = _ramp_residual(p, ramp, x_scale)
        except NonFiniteValue:
            return None  # the ramp's steps leave f's domain: bisection (whose ladders shrink) instead
        probes += 4
        position = float(along[out]) / float(residual[out]) * k - 1.0
        # Both residuals are uncertain by about that bound: the ranks within
        # twice that relative distance of the estimate.
        spread = 2.0 * noise_scale / size * k + 0.5
        lo, hi = max(int(np.ceil(position - spread)), 0), min(int(np.floor(position + spread)) + 1, k)
        if hi <= lo or hi - lo == k:
            return None  # outside the window, or no progress: the residual is not one entry's
        # The entry's share of the residual (e_i v_i) is the same in the
        # narrowed window: the residual is kept, not measured again.
        window = window[lo:hi]
    return (int(window[0]), probes) if len(window) == 1 else None


def _explains(p: Problem, failed: DirectionTest | None, confirmed: _Confirmed, x_scale: np.ndarray) -> bool:
    """Whether the confirmed wrong entries account for the failed direction's residual (within its tolerance)."""
    if failed is None or not confirmed.wrong.any():
        return False
    idx = confirmed.idx
    u = failed.v[idx] * x_scale[idx]
    predicted = (confirmed.N - p.A[idx]).T @ u
    slack = failed.allowed + np.abs(confirmed.allowed.T @ np.abs(u))
    return bool(np.all(np.abs(failed.residual - predicted) <= slack))


def _localise(
    n: int,
    test: object,
    draw: object,
    searched: list[DirectionTest],
) -> tuple[list[int], bool]:
    """Group testing over halves: the entries whose directions speak (at most MAX_LOCALISED)."""
    assert callable(test) and callable(draw)
    stack = [np.arange(n)]
    found: list[int] = []
    while stack and len(found) < MAX_LOCALISED:
        group = stack.pop()
        if len(group) == 1:
            found.append(int(group[0]))
            continue
        half = len(group) // 2
        first, second = group[:half], group[half:]
        v = np.zeros(n)
        v[first] = draw(len(first))
        t1 = test(v)
        searched.append(t1)
        if t1.speaks:
            v2 = np.zeros(n)
            v2[second] = draw(len(second))
            t2 = test(v2)
            searched.append(t2)
            if t2.speaks:
                stack.append(second)
            stack.append(first)
        else:
            # The group speaks and its first half does not: the second half
            # holds an error or a kink (confirmed at the end by a coordinate check).
            stack.append(second)
    return found, bool(stack)


def _confirm(p: Problem, idx: np.ndarray, nz: np.ndarray) -> _Confirmed:
    """Coordinate estimates of the localised entries, held to the full check's rule and kink test."""
    m = p.A.shape[1]
    if not len(idx):
        return _Confirmed(idx, np.zeros((0, m)), np.zeros((0, m)), np.zeros(0, bool), [])
    if p.method == "complex":
        assert p.ev_c is not None
        est = _complex_estimate(p.ev_c, p.x, idx, rules.steps_for("complex", p.x)[idx])
    else:
        est = refine(p.ev, p.x, p.f0, idx, p.method, rules.steps_for(p.method, p.x)[idx], nz)
    # The floor of the full check, at each leaf's scale (the estimates of the
    # found entries and the analytic values of all).
    M = np.abs(p.A).copy()
    M[idx] = np.maximum(M[idx], np.abs(est.value))
    scale = p.floor_scale(M)[idx]
    verdict = p.tolerance.verdict(p.A[idx], est.value, est.bound, scale)
    wrong = ~np.all(verdict.within, axis=1)
    allowed = verdict.allowed
    kinks: list[Kink] = []
    if est.kink.any():
        B = np.zeros(p.A.shape)
        B[idx] = est.bound
        S = np.zeros(p.A.shape)
        S[idx] = scale
        kinks, kink_ok, kink_allowed = judge_kinks(p, est, idx, B, S)
        wrong &= ~kink_ok[idx]
        allowed = np.where(kink_ok[idx][:, None], kink_allowed[idx], allowed)
    return _Confirmed(idx, est.value, allowed, wrong, kinks)


def _explain(
    p: Problem, failed: list[DirectionTest], confirmed: _Confirmed, stopped: bool, disagree: int, directions: int
) -> tuple[str, str]:
    """(pattern, diagnosis) of a failed directional check, from :func:`diagnose`.

    When the localisation ran to its end, the confirmed entries are diagnosed
    as the full check would (the other entries agree).  Otherwise the failed
    directions themselves are the evidence: one row per direction, analytic
    ``A^T u`` against numerical, per output row; a factor, a sign or zeros
    shared by every direction is a global bug.
    """
    idx, wrong = confirmed.idx, confirmed.wrong
    if wrong.any() and not stopped:
        # Entries not localised agree (their groups passed): exactly, for the
        # models of diagnose, so that one wrong entry is never read as a
        # pattern of its whole parameter.
        N = p.A.copy()
        N[idx] = confirmed.N
        allowed = np.zeros(p.A.shape)
        allowed[idx] = confirmed.allowed
        failing = np.zeros(p.x.size, bool)
        failing[idx[wrong]] = True
        pattern, said = diagnose(p.A, N, allowed, failing, p.spec, p.x)
        if pattern != "mismatch":
            return pattern, said + " (localised along random directions, confirmed entry by entry)"
    bad_kinks = [k for k in confirmed.kinks if not k.between]
    if bad_kinks and not wrong.any():
        k = bad_kinks[0]
        return "kink", (
            f"f is not differentiable at {k.name} (left slope {k.left:.6g}, right slope {k.right:.6g}) "
            f"and the analytic value {k.analytic:.6g} is not between them"
        )
    if len(failed) >= 2:
        An = np.array([d.projected for d in failed])
        Nn = An + np.array([d.residual for d in failed])
        tol = np.array([d.allowed for d in failed])
        spec = ParamSpec.of(np.zeros(len(failed)))
        words: list[str] = []
        tags: set[str] = set()
        for j in range(An.shape[1]):
            fails = ~np.array([d.within[j] for d in failed])
            if not fails.any():
                continue
            pattern, said = diagnose(
                An[:, j : j + 1], Nn[:, j : j + 1], tol[:, j : j + 1], fails, spec, np.zeros(len(failed))
            )
            if pattern not in ("zero", "sign", "scale") or not fails.all():
                tags = set()
                break
            tags.add(pattern)
            row = f"output {[int(k) for k in np.unravel_index(j, p.out_shape)]}: " if p.out_shape else ""
            words.append(row + said)
        if len(tags) == 1:
            return tags.pop(), "; ".join(words) + " (along every direction checked)"
    named = ", ".join(p.spec.describe(int(i)) for i in idx[wrong])
    return "mismatch", (
        f"{disagree} of {directions} random directions disagree"
        + (f"; wrong entries include {named}" if named else "")
        + "; run with mode='full' for an entry-by-entry comparison"
    )


def _report(
    p: Problem,
    checks: list[DirectionTest],
    confirmed: _Confirmed,
    outcome: object,
    pattern: str | None,
    diagnosis: str | None,
    directions: int,
) -> Report:
    from .outcome import Outcome

    assert isinstance(outcome, Outcome)
    A, idx = p.A, confirmed.idx
    err = np.abs(A[idx] - confirmed.N)
    numerical = np.full(A.shape, np.nan)
    numerical[idx] = confirmed.N
    tol = np.full(A.shape, np.nan)
    tol[idx] = confirmed.allowed
    order: list[int] = (
        np.argsort(-np.max(err / np.maximum(confirmed.allowed, 1e-300), axis=1)).tolist() if len(idx) else []
    )
    kink_names = {k.name for k in confirmed.kinks}
    rows = []
    for k in order[:REPORT_ROWS]:
        i = int(idx[k])
        j = int(np.argmax(err[k] / confirmed.allowed[k]))
        name = p.spec.describe(i) + (f" of out{[int(k) for k in np.unravel_index(j, p.out_shape)]}" if p.out_shape else "")
        note = "kink" if p.spec.describe(i) in kink_names else ("wrong" if confirmed.wrong[k] else "")
        rows.append(
            Row(name, float(A[i, j]), float(confirmed.N[k, j]), float(err[k, j]), float(confirmed.allowed[k, j]), note)
        )
    if len(idx) and confirmed.wrong.any():
        worst: int | None = int(idx[order[0]])
        max_abs = float(err.max())
        max_rel = float(np.max(err / np.maximum(np.maximum(np.abs(A[idx]), np.abs(confirmed.N)), confirmed.allowed)))
    else:
        worst = None
        max_abs = float(max(np.max(np.abs(c.residual)) for c in checks))
        max_rel = float(
            max(np.max(np.abs(c.residual) / np.maximum(np.abs(c.projected + c.residual), c.allowed)) for c in checks)
        )
    return Report(
        ok=outcome.outcome == "passed",
        outcome=outcome.outcome,
        resolution=outcome.resolution,
        entry_resolution=outcome.entry_resolution,
        suggestion=outcome.suggestion,
        kind=p.kind,
        method=p.method,
        mode="directional",
        h=float(np.median(rules.steps_for(p.method, p.x))),
        evaluations=p.calls,
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        worst_index=p.spec.locate(worst) if worst is not None else None,
        worst_name=p.spec.describe(worst) if worst is not None else None,
        safety=p.tolerance.safety,
        floor=float(np.max(p.tolerance.floor(p.floor_scale(A)))),
        diagnosis=diagnosis,
        pattern=pattern,
        numerical=_unflatten_matrix(numerical, p.spec, p.out_shape),
        analytic=_unflatten_matrix(A, p.spec, p.out_shape),
        tolerance=_unflatten_matrix(tol, p.spec, p.out_shape),
        failures=max(sum(c.failed for c in checks), int(outcome.outcome == "failed")),
        entries=len(checks),
        kinks=confirmed.kinks,
        notes=p.notes,
        seed=p.seed,
        dtype=p.dtype_name,
        reference=p.reference,
        rows=rows,
    )
