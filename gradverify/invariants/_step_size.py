"""The step-size-limit invariant: descent is stable below ``2/L`` and unstable above.

:func:`check_step_size_limit` brackets the largest stable step size by
bisection and compares it with ``2/L``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core.params import ParamSpec
from .._core.validate import valid_count, valid_positive
from ..descent import estimate_smoothness, gradient_descent
from ..steps import eps
from ._helpers import LOSS_ROUNDING, _bind, _explain_scale, _optional_data, _protected
from ._reports import StepSizeLimitReport

__all__ = ["check_step_size_limit"]


def check_step_size_limit(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    data: Sequence[np.ndarray] | None = None,
    *,
    L: float | None = None,
    steps: int = 100,
    rtol: float = 0.05,
) -> StepSizeLimitReport:
    """Check that descent is stable below ``2/L`` and unstable above, and find the limit.

    On a quadratic whose Hessian has largest eigenvalue ``L``, each step
    multiplies the error along the top eigenvector by ``|1 - step * L|``, so
    descent converges for ``step < 2/L`` and diverges for ``step > 2/L``.  The
    check brackets the largest stable step by bisection (in log scale) until
    the bracket is ``rtol / 4`` wide; a run of ``steps`` steps is stable when
    its loss ends no higher than it started and its gradient norm does not
    grow over the second half.  It passes when
    the largest stable step is within ``rtol`` of ``2/L``.

    Give ``L`` when it is known (a quadratic you built): then a gradient
    ``c`` times too large moves the limit to ``2/(c L)`` and is caught.  With
    ``L`` estimated from ``grad`` itself the limit moves with it, and only a
    gradient that points uphill (no stable step at all) is caught.  For
    non-quadratic losses the limit is the local one from ``w0``.

    Returns
    -------
    StepSizeLimitReport
    """
    loss, grad = _protected(loss, grad, "check_step_size_limit")  # the data reach them read-only
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w0, argname="w0")
    steps = valid_count("steps", steps, minimum=2)
    rtol = valid_positive("rtol", rtol)
    evaluations = 0
    L_given = L is not None
    if L is None:
        smooth = estimate_smoothness(g_fn, w0)
        evaluations += smooth.evaluations
        L = smooth.L
    L = valid_positive("L", L)
    predicted = 2.0 / L
    stable = _Stability(f, g_fn, w0, spec, steps)
    lo, hi = _bracket_limit(stable, predicted, rtol)
    ok = abs(lo / predicted - 1) <= rtol
    diagnosis = pattern = None
    if not ok:
        pattern, diagnosis = _explain_limit(lo, hi, predicted, L_given, arrays)
    return StepSizeLimitReport(
        ok=ok,
        invariant="step-size limit",
        evaluations=evaluations + stable.evaluations,
        diagnosis=diagnosis,
        pattern=pattern,
        L=float(L),
        L_given=L_given,
        predicted_limit=predicted,
        largest_stable=float(lo),
        smallest_unstable=float(hi),
        rtol=rtol,
        runs=stable.runs,
    )


class _Stability:
    """Whether descent from ``w0`` is stable at a step size, counting the runs and the calls they spend."""

    def __init__(
        self, f: Callable[[Any], Any], g_fn: Callable[[Any], Any], w0: Any, spec: ParamSpec, steps: int
    ) -> None:
        self.f, self.g_fn, self.w0, self.spec, self.steps = f, g_fn, w0, spec, steps
        self.runs = 0
        self.evaluations = 0

    def __call__(self, step: float) -> bool:
        spec, steps = self.spec, self.steps
        self.runs += 1
        start: list[float] = []

        def exploded(t: int, w: Any, value: float, g: Any) -> bool:
            norm = float(np.linalg.norm(spec.flatten(g)))
            start.append(norm) if t == 0 else None
            return norm > 1e6 * max(start[0], 1e-300)

        with np.errstate(over="ignore", invalid="ignore"):
            run = gradient_descent(self.f, self.g_fn, self.w0, step_size=step, steps=steps, callback=exploded)
        self.evaluations += run.loss_calls + run.grad_calls
        if run.status != "completed":
            return False
        # Stable: the loss ends no higher than it started, and the gradient does not
        # grow over the second half (where the top eigen-direction dominates).
        norms, losses = run.grad_norms, run.losses
        rounding = LOSS_ROUNDING * eps(spec.dtype)
        return bool(
            losses[-1] <= losses[0] + rounding * abs(losses[0])
            and norms[-1] <= norms[steps // 2] * (1 + 1e-3) + rounding * norms[0]
        )


def _bracket_limit(stable: Callable[[float], bool], predicted: float, rtol: float) -> tuple[float, float]:
    """The largest stable step, bracketed to ``1 + rtol/4``: ``(lo, hi)``, 0 or inf for a side never found."""
    # Bracket the limit, at most 30 halvings or doublings away from the prediction.
    lo, hi = predicted / 2, predicted * 2
    for _ in range(30):
        if stable(lo):
            break
        hi, lo = lo, lo / 2
    else:
        lo = 0.0
    if lo > 0:
        for _ in range(30):
            if not stable(hi):
                break
            lo, hi = hi, hi * 2
        else:
            hi = math.inf
    if lo > 0 and math.isfinite(hi):
        while hi / lo > 1 + rtol / 4:
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo, hi


def _explain_limit(lo: float, hi: float, predicted: float, L_given: bool, arrays: tuple[Any, ...]) -> tuple[str, str]:
    """Pattern and words for a limit away from ``2/L``: no stable step, no unstable one, or a scale."""
    if lo == 0:
        return (
            "sign",
            (f"descent diverges at every step size down to {hi:.3g}: grad points uphill (a flipped sign)"),
        )
    if math.isinf(hi):
        return (
            "scale",
            f"descent is stable at every step size up to {lo:.3g}: grad is (nearly) zero or far too small",
        )
    c = predicted / lo
    pattern, text = _explain_scale(c, arrays[0].shape[0] if arrays else None)
    diagnosis = f"descent is stable up to {lo:.3g} instead of 2/L = {predicted:.3g}: {text}" + (
        "" if L_given else " (or L was estimated poorly: pass the known L)"
    )
    return pattern, diagnosis
