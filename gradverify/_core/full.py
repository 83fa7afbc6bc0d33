"""The full check: every entry of the derivative against its own numerical estimate.

A first pass estimates every entry at the step rule's step.  Only entries that
fail go further: finite-difference estimates are refined on a ladder of steps
(where kinks show up), complex-step ones have their truncation measured where
the derivative is nearly zero and are cross-checked with finite differences.
An entry passes when ``|analytic - numerical| <= safety * bound + floor``; the
report says which entries fail, by how much, and why that is likely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import steps as rules
from .diagnose import diagnose
from .estimators import Estimate, complex_truncation, first_pass, refine
from .evaluate import Evaluator
from .matrices import _unflatten_matrix
from .params import ParamSpec
from .report import Report, Row

__all__ = ["_full_check", "NEAR_ZERO", "CONFIRM_MAX", "UNRESOLVED_FRACTION", "REPORT_ROWS"]

#: Complex-step entries this small relative to the derivative's scale get their
#: truncation measured before they are called wrong.
NEAR_ZERO = 1e-6

#: Failing complex-step entries cross-checked with finite differences.
CONFIRM_MAX = 4

#: An entry whose ladder did not converge, and whose bound (times safety) and
#: disagreement both exceed this fraction of the largest derivative, was not
#: resolved by the estimator and is not judged a pass.
UNRESOLVED_FRACTION = 1.0

#: Rows shown in the readable report.
REPORT_ROWS = 5


@dataclass
class _Estimates:
    """The numerical side, entry by entry; the refining passes update it in place."""

    N: np.ndarray  # the estimates, (n, m)
    B: np.ndarray  # their error bounds, (n, m)
    step: np.ndarray  # the step of each entry, (n,)
    not_converged: np.ndarray  # entries whose refinement ladder did not converge, (n,)


class _Verdict(NamedTuple):
    """Entry by entry: the error, the tolerance it is held to, whether it fails."""

    err: np.ndarray
    allowed: np.ndarray
    fail: np.ndarray


@dataclass(frozen=True)
class _Judge:
    """Holds the analytic derivative ``A`` to ``safety * bound + floor``, entry by entry."""

    A: np.ndarray
    natural: np.ndarray
    safety: float
    eps: float

    @classmethod
    def at(cls, x: np.ndarray, f0: np.ndarray, A: np.ndarray, safety: float) -> _Judge:
        # The floor's scale: the largest derivative, or |f| / max(1, |x|) when that
        # is larger (|x| the root mean square of x, the convention of the step
        # rule).  A derivative is a sum of terms of about that size, and where they
        # cancel to a small result, any evaluation of it (the analytic one, or
        # complex-step) is only accurate to EPS times the terms, not the result.
        x_rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0
        natural = np.abs(f0)[None, :] / max(1.0, x_rms)
        return cls(A, natural, safety, rules.eps(x.dtype))

    def floor(self, N: np.ndarray) -> np.ndarray:
        return rules.FLOOR_FACTOR * self.eps * np.maximum(np.max(np.abs(N), axis=0, keepdims=True), self.natural)

    def verdict(self, found: _Estimates) -> _Verdict:
        floor = self.floor(found.N)
        allowed = np.maximum(self.safety * found.B + floor, np.finfo(np.float64).tiny)  # never 0: ratios stay finite
        err = np.abs(self.A - found.N)
        return _Verdict(err, allowed, np.any(err > allowed, axis=1))


def _full_check(
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
    h: Any,
) -> Report:
    """Compare every entry of ``A`` with an estimate; refine and explain the failing ones."""
    est = _first_estimates(method, ev, ev_c, x, f0, h, noise)
    found = _Estimates(est.value.copy(), est.bound.copy(), est.step.copy(), np.zeros(x.size, bool))
    judge = _Judge.at(x, f0, A, safety)
    verdict = judge.verdict(found)
    kinks: list = []
    kink_ok = np.zeros(x.size, bool)
    if not est.complete and verdict.fail.any():
        kinks, kink_ok = _refine_failing(np.flatnonzero(verdict.fail), found, judge, spec, ev, x, f0, method, h, noise)
    elif method == "complex" and verdict.fail.any():
        _bound_complex_truncation(verdict.fail, found, judge, ev_c, x)
    verdict = judge.verdict(found)
    if method == "complex" and verdict.fail.any():
        _cross_check_complex(verdict, found, judge, spec, ev, x, f0, noise, notes)
        verdict = judge.verdict(found)
    fail = verdict.fail & ~kink_ok
    unresolved = _unresolved(verdict.err, fail, kink_ok, found, safety, spec, notes)
    fail = fail | unresolved
    return _report(
        kind=kind,
        method=method,
        spec=spec,
        x=x,
        found=found,
        judge=judge,
        verdict=verdict,
        fail=fail,
        unresolved=unresolved,
        kinks=kinks,
        notes=notes,
        seed=seed,
        counter=counter,
        out_shape=out_shape,
    )


def _first_estimates(
    method: str,
    ev: Evaluator,
    ev_c: Evaluator | None,
    x: np.ndarray,
    f0: np.ndarray,
    h: Any,
    noise: Callable[[], np.ndarray],
) -> Estimate:
    """The first pass: every entry at the rule's step (central for central and Richardson)."""
    if method == "complex":
        assert ev_c is not None
        return first_pass(ev_c, x, f0, "complex", rules.steps_for("complex", x, h), np.zeros_like(f0))
    first_method = "forward" if method == "forward" else "central"
    return first_pass(ev, x, f0, first_method, rules.steps_for(first_method, x, h), noise())


def _refine_failing(
    idx: np.ndarray,
    found: _Estimates,
    judge: _Judge,
    spec: ParamSpec,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    method: str,
    h: Any,
    noise: Callable[[], np.ndarray],
) -> tuple[list, np.ndarray]:
    """Re-estimate the failing finite-difference entries ``idx`` on a ladder of steps.

    Returns the kinks found there and the entries they excuse.
    """
    steps = rules.steps_for(method, x, h)[idx]
    ref = refine(ev, x, f0, idx, method, steps, noise(), explicit=h is not None)
    found.N[idx], found.B[idx], found.step[idx] = ref.value, ref.bound, ref.step
    if ref.converged is not None:
        found.not_converged[idx] = ~ref.converged
    if not ref.kink.any():
        return [], np.zeros(x.size, bool)
    return _judge_kinks(ref, idx, judge.A, judge.verdict(found).allowed, judge.safety, spec)


def _judge_kinks(
    ref: Estimate, idx: np.ndarray, A: np.ndarray, allowed: np.ndarray, safety: float, spec: ParamSpec
) -> tuple[list, np.ndarray]:
    """At a kink any value between the one-sided slopes (within their bounds) is right.

    Returns one record per kink, for the report, and the entries that pass so.
    """
    assert ref.left is not None and ref.right is not None and ref.slope_bound is not None
    kinks: list = []
    kink_ok = np.zeros(A.shape[0], bool)
    for k in np.flatnonzero(ref.kink):
        i = int(idx[k])
        lo = np.minimum(ref.left[k], ref.right[k])
        hi = np.maximum(ref.left[k], ref.right[k])
        tol = safety * ref.slope_bound[k] + allowed[i]
        between = bool(np.all((A[i] >= lo - tol) & (A[i] <= hi + tol)))
        kink_ok[i] = between
        kinks.append(
            {
                "index": spec.locate(i),
                "name": spec.describe(i),
                "left": float(ref.left[k][0]),
                "right": float(ref.right[k][0]),
                "analytic": float(A[i][0]),
                "between": between,
            }
        )
    return kinks, kink_ok


def _bound_complex_truncation(
    fail: np.ndarray, found: _Estimates, judge: _Judge, ev_c: Evaluator | None, x: np.ndarray
) -> None:
    """Add complex-step's truncation to the bound of failing entries that are nearly zero."""
    # Complex-step's own truncation matters only where the derivative is
    # nearly zero (x**3 at 0): measure it for failing entries of that kind.
    scale = max(float(np.max(np.abs(judge.A))), float(np.max(judge.natural)))
    small = np.all(np.abs(found.N) <= NEAR_ZERO * scale, axis=1) if scale > 0 else np.ones(x.size, bool)
    idx = np.flatnonzero(fail & small)
    if len(idx):
        assert ev_c is not None
        found.B[idx] += complex_truncation(ev_c, x, idx, found.step[idx], found.N[idx])


def _cross_check_complex(
    verdict: _Verdict,
    found: _Estimates,
    judge: _Judge,
    spec: ParamSpec,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    noise: Callable[[], np.ndarray],
    notes: list,
) -> None:
    """Replace failing complex-step entries that finite differences contradict."""
    # Cross-check failing complex-step entries with finite differences:
    # where the two estimators disagree, complex-step is not reliable for
    # that entry (f is not analytic there) and the finite difference wins.
    idx = np.flatnonzero(verdict.fail)
    idx = idx[np.argsort(-np.max(verdict.err[idx] / verdict.allowed[idx], axis=1))][:CONFIRM_MAX]
    ref = refine(ev, x, f0, idx, "richardson", rules.steps_for("richardson", x)[idx], noise())
    floor = judge.floor(found.N)
    disagree = np.any(np.abs(ref.value - found.N[idx]) > judge.safety * (ref.bound + found.B[idx]) + floor, axis=1)
    if disagree.any():
        bad = idx[disagree]
        found.N[bad], found.B[bad], found.step[bad] = ref.value[disagree], ref.bound[disagree], ref.step[disagree]
        notes.append(
            f"complex-step disagreed with finite differences at {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} "
            f"(e.g. {spec.describe(int(bad[0]))}); finite differences were used there"
        )


def _unresolved(
    err: np.ndarray,
    fail: np.ndarray,
    kink_ok: np.ndarray,
    found: _Estimates,
    safety: float,
    spec: ParamSpec,
    notes: list,
) -> np.ndarray:
    """Entries no estimate resolved (noted once); they fail too."""
    # An entry whose bound dwarfs the derivative's scale was not resolved by any
    # step (a singularity, or a kink the ladder could not pin down).  Where the
    # analytic value is also far from the estimate, the check cannot judge,
    # and a check that cannot judge does not pass.
    scale = np.max(np.abs(found.N), axis=0, keepdims=True)
    unresolved = found.not_converged & np.any(
        (safety * found.B > UNRESOLVED_FRACTION * scale) & (err > UNRESOLVED_FRACTION * scale), axis=1
    )
    unresolved &= ~fail & ~kink_ok
    if unresolved.any():
        first = int(np.flatnonzero(unresolved)[0])
        notes.append(
            f"{int(unresolved.sum())} entr{'y' if unresolved.sum() == 1 else 'ies'} (e.g. {spec.describe(first)}) could not be "
            "estimated: the estimates at different steps do not converge (a singularity, or a kink, at x?)"
        )
    return unresolved


def _report(
    *,
    kind: str,
    method: str,
    spec: ParamSpec,
    x: np.ndarray,
    found: _Estimates,
    judge: _Judge,
    verdict: _Verdict,
    fail: np.ndarray,
    unresolved: np.ndarray,
    kinks: list,
    notes: list,
    seed: int,
    counter: list,
    out_shape: tuple,
) -> Report:
    """The report of a full check: verdict, worst entry, explanation and the worst rows."""
    A, N, err, allowed = judge.A, found.N, verdict.err, verdict.allowed
    ratio = np.max(err / allowed, axis=1)
    # The worst entry: the failing one furthest outside its tolerance, or, when
    # all pass, the one closest to it.
    worst = int(np.flatnonzero(fail)[np.argmax(ratio[fail])]) if fail.any() else int(np.argmax(ratio))
    pattern, diagnosis = _explain(fail, unresolved, kinks, notes, A, N, allowed, spec, x)
    rel = err / np.maximum(np.maximum(np.abs(A), np.abs(N)), allowed)
    return Report(
        ok=not bool(fail.any()),
        kind=kind,
        method=method,
        mode="full",
        h=float(np.median(np.abs(found.step))),
        evaluations=counter[0],
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst_index=spec.locate(worst),
        worst_name=spec.describe(worst),
        safety=judge.safety,
        floor=float(np.max(judge.floor(N))),
        diagnosis=diagnosis,
        pattern=pattern,
        numerical=_unflatten_matrix(N, spec, out_shape),
        analytic=_unflatten_matrix(A, spec, out_shape),
        tolerance=_unflatten_matrix(allowed, spec, out_shape),
        failures=int(fail.sum()),
        entries=int(x.size),
        kinks=kinks,
        notes=notes,
        seed=seed,
        dtype=str(x.dtype),
        rows=_rows(spec, A, N, err, allowed, fail, ratio, kinks, out_shape),
    )


def _rows(
    spec: ParamSpec,
    A: np.ndarray,
    N: np.ndarray,
    err: np.ndarray,
    allowed: np.ndarray,
    fail: np.ndarray,
    ratio: np.ndarray,
    kinks: list,
    out_shape: tuple,
) -> list[Row]:
    """The entries closest to (or furthest beyond) their tolerance, worst first."""
    kink_names = {k["name"] for k in kinks}
    rows = []
    for i in np.argsort(-ratio)[:REPORT_ROWS]:
        j = int(np.argmax(err[i] / allowed[i]))
        name = spec.describe(int(i))
        note = "kink" if name in kink_names else ("wrong" if fail[i] else "")
        values = (float(A[i, j]), float(N[i, j]), float(err[i, j]), float(allowed[i, j]))
        rows.append(Row(_entry_name(spec, int(i), j, out_shape), *values, note))
    return rows


def _explain(
    fail: np.ndarray,
    unresolved: np.ndarray,
    kinks: list,
    notes: list,
    A: np.ndarray,
    N: np.ndarray,
    allowed: np.ndarray,
    spec: ParamSpec,
    x: np.ndarray,
) -> tuple[str | None, str | None]:
    """(pattern, diagnosis) of a full check; a note on kinks when it passed."""
    if not fail.any():
        if kinks:
            notes.append(
                f"{len(kinks)} entr{'y' if len(kinks) == 1 else 'ies'} at a kink (not differentiable here); "
                "the analytic value is a valid one-sided slope or between them"
            )
        return None, None
    bad_kinks = [k for k in kinks if not k["between"]]
    if bad_kinks and len(bad_kinks) == int(fail.sum()):
        k = bad_kinks[0]
        return "kink", (
            f"f is not differentiable at {k['name']} (left slope {k['left']:.6g}, right slope {k['right']:.6g}) "
            f"and the analytic value {k['analytic']:.6g} is not between them"
        )
    if unresolved.any() and not (fail & ~unresolved).any():
        return "unresolved", notes[-1]
    return diagnose(A, N, allowed, fail, spec, x)


def _entry_name(spec: ParamSpec, i: int, j: int, out_shape: tuple) -> str:
    base = spec.describe(i)
    if out_shape:
        return f"{base} of out{list(np.unravel_index(j, out_shape))}"
    return base
