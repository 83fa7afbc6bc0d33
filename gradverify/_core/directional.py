"""Directional checks: compare derivatives along random directions, then localise.

For ``n`` inputs a full check costs ``n`` to ``2n`` calls of ``f``; a
directional check costs one call per direction with complex-step (a handful
with finite differences) whatever ``n`` is.  The analytic side of a direction
``u`` is ``A^T u``; a wrong entry ``i`` shows up as a residual
``(A - g)_i u_i``.  Each entry of a direction is a random sign times a
magnitude drawn uniformly from [1, 2]: never small (a Gaussian entry near zero
hides the wrong entry it weighs), and continuous, so two wrong entries never
cancel exactly (a transposition makes errors ``+e`` and ``-e``, which a
Rademacher direction cancels half the time).

When a direction fails, the wrong entries are found by group testing: a
direction supported on one half of the remaining entries tells which half
holds an error, so a single wrong entry among ``n`` costs about
``1.5 log2(n)`` further directional checks (the other half is tested only
when the first half fails, since both may hold errors).  Each entry so found
is confirmed with a coordinate estimate before it is reported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import steps as rules
from .diagnose import _factor_hint, name_factor
from .estimators import _complex_estimate, directional, refine
from .evaluate import Evaluator
from .full import _Judge
from .matrices import _unflatten_matrix
from .params import ParamSpec
from .report import Report, Row

__all__ = ["directional_check", "MAX_LOCALISED"]

#: Wrong entries localised one by one before the search stops.
MAX_LOCALISED = 8


def directional_check(
    *,
    kind: str,
    spec: ParamSpec,
    x: np.ndarray,
    f0: np.ndarray,
    A: np.ndarray,
    method: str,
    ev: Evaluator,
    ev_c: Evaluator | None,
    noise: Callable[[], np.ndarray],
    safety: float,
    notes: list,
    seed: int,
    counter: list,
    out_shape: tuple,
    rng: np.random.Generator,
    directions: int,
) -> Report:
    """Check ``A`` along ``directions`` random directions; localise failures by bisection."""
    eps_w = rules.eps(x.dtype)
    est_ev = ev_c if method == "complex" else ev
    assert est_ev is not None
    nz = np.zeros_like(f0) if method == "complex" else noise()
    scale = np.maximum(1.0, np.abs(x.astype(np.float64)))
    absA = np.abs(A)

    def test(v: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
        residual, bound, _ = directional(est_ev, x, f0, v, method, nz, project=lambda u: A.T @ u)
        u = v * scale
        floor = rules.FLOOR_FACTOR * eps_w * (absA.T @ np.abs(u))
        allowed = safety * bound + floor
        return bool(np.any(np.abs(residual) > allowed)), residual, allowed, A.T @ u

    def draw(size: int) -> np.ndarray:
        return rng.choice(np.array([-1.0, 1.0]), size=size) * rng.uniform(1.0, 2.0, size=size)

    checks = [test(draw(x.size)) for _ in range(directions)]
    failed_dirs = [c for c in checks if c[0]]
    found: list[int] = []
    searched = 0
    if failed_dirs:
        stack = [np.arange(x.size)]
        while stack and len(found) < MAX_LOCALISED:
            group = stack.pop()
            if len(group) == 1:
                found.append(int(group[0]))
                continue
            half = len(group) // 2
            first, second = group[:half], group[half:]
            v = np.zeros(x.size)
            v[first] = draw(len(first))
            searched += 1
            if test(v)[0]:
                v2 = np.zeros(x.size)
                v2[second] = draw(len(second))
                searched += 1
                if test(v2)[0]:
                    stack.append(second)
                stack.append(first)
            else:
                # The group fails and its first half does not: the second half
                # holds an error (confirmed at the end by a coordinate check).
                stack.append(second)
        if stack:
            notes.append(f"localisation stopped after {MAX_LOCALISED} wrong entries; more may be wrong")
    # Confirm localised entries with coordinate estimates.
    idx = np.array(sorted(set(found)), dtype=np.int64)
    N_found = np.zeros((0, A.shape[1]))
    allowed_found = np.zeros((0, A.shape[1]))
    if len(idx):
        if method == "complex":
            est = _complex_estimate(est_ev, x, idx, rules.steps_for("complex", x)[idx])
        else:
            est = refine(ev, x, f0, idx, method, rules.steps_for(method, x)[idx], nz)
        N_found = est.value
        # The full check's floor (with its |f| / max(1, |x|) term), scaled by
        # the larger of the found entries' estimates and analytic values.
        floor = _Judge.at(x, f0, A, safety).floor(np.concatenate([N_found, A[idx]]))
        allowed_found = safety * est.bound + floor
    err_found = np.abs(A[idx] - N_found)
    wrong = np.any(err_found > allowed_found, axis=1) if len(idx) else np.zeros(0, bool)
    ok = not failed_dirs
    diagnosis = pattern = None
    if failed_dirs:
        ratios = []
        for _, residual, _, proj in failed_dirs:
            numerical_dir = proj - residual
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios.append(float(proj[0] / numerical_dir[0]) if numerical_dir[0] != 0 else np.nan)
        entries_named = ", ".join(spec.describe(int(i)) for i in idx[wrong])
        # One ratio <analytic, v> / <numerical, v> shared by every failed
        # direction is a global bug (zero, sign, factor); a few wrong entries
        # give a different ratio per random direction.
        c = ratios[0] if ratios else np.nan
        shared = len(ratios) >= 2 and np.all(np.isfinite(ratios)) and np.ptp(ratios) <= 1e-6 * max(abs(c), 1e-300)
        if shared and abs(c) <= 1e-6:
            pattern, diagnosis = (
                "zero",
                "the analytic derivative is zero along every direction checked: is the gradient all zeros "
                "(never accumulated, or returned before it is filled?)",
            )
        elif shared and abs(c + 1) <= 1e-6:
            pattern, diagnosis = (
                "sign",
                "the analytic derivative has the wrong sign (along every direction checked)",
            )
        elif shared:
            name = name_factor(c)
            pattern = "scale"
            diagnosis = f"the analytic derivative is {name} x the numerical one along every direction checked: {_factor_hint(name)}"
        elif wrong.any() and not any("stopped" in n for n in notes):
            pattern = "entries"
            verb = "entry is" if wrong.sum() == 1 else "entries are"
            diagnosis = (
                f"only {int(wrong.sum())} {verb} wrong ({entries_named}), found by bisection over random "
                "directions; the others agree: an indexing bug or a special case?"
            )
        else:
            pattern = "mismatch"
            diagnosis = (
                f"{len(failed_dirs)} of {directions} random directions disagree"
                + (f"; wrong entries include {entries_named}" if entries_named else "")
                + "; run with mode='full' for an entry-by-entry comparison"
            )
    numerical = np.full(A.shape, np.nan)
    numerical[idx] = N_found
    tol = np.full(A.shape, np.nan)
    tol[idx] = allowed_found
    rows = []
    order: np.ndarray = (
        np.argsort(-np.max(err_found / np.maximum(allowed_found, 1e-300), axis=1))
        if len(idx)
        else np.zeros(0, np.int64)
    )
    for k in order[:5]:
        i = int(idx[k])
        rows.append(
            Row(
                spec.describe(i),
                float(A[i, 0]),
                float(N_found[k, 0]),
                float(err_found[k, 0]),
                float(allowed_found[k, 0]),
                "wrong" if wrong[k] else "",
            )
        )
    if len(idx) and wrong.any():
        worst_k = int(order[0])
        worst = int(idx[worst_k])
        max_abs = float(err_found.max())
        max_rel = float(np.max(err_found / np.maximum(np.maximum(np.abs(A[idx]), np.abs(N_found)), allowed_found)))
    else:
        worst = None
        res = [np.abs(c[1]) for c in checks]
        max_abs = float(np.max(res))
        max_rel = float(max(np.max(np.abs(c[1]) / np.maximum(np.abs(c[3] - c[1]), c[2])) for c in checks))
    if searched:
        notes.append(f"{searched} further directional checks localised the error")
    return Report(
        ok=ok,
        kind=kind,
        method=method,
        mode="directional",
        h=float(np.median(rules.steps_for(method, x))),
        evaluations=counter[0],
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        worst_index=spec.locate(worst) if worst is not None else None,
        worst_name=spec.describe(worst) if worst is not None else None,
        safety=safety,
        floor=float(rules.FLOOR_FACTOR * eps_w),
        diagnosis=diagnosis,
        pattern=pattern,
        numerical=_unflatten_matrix(numerical, spec, out_shape),
        analytic=_unflatten_matrix(A, spec, out_shape),
        tolerance=_unflatten_matrix(tol, spec, out_shape),
        failures=len(failed_dirs),
        entries=directions,
        notes=notes,
        seed=seed,
        dtype=str(x.dtype),
        rows=rows,
    )
