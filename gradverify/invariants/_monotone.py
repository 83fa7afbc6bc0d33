"""The monotone-decrease invariant: full-batch descent at ``step <= 1/L`` never raises the loss.

:func:`check_monotone_decrease` runs full-batch descent, adapting ``L`` to the
path, and explains the first rise beyond rounding (a flipped sign, a step
beyond ``2/L``, or a gradient that does not belong to the loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core.params import ParamSpec
from .._core.validate import valid_positive
from ..descent import estimate_smoothness, gradient_descent
from ..errors import InvalidArgument
from ..steps import eps
from ._helpers import LOSS_ROUNDING, _bind, _optional_data, _protected
from ._reports import MonotoneReport

__all__ = ["check_monotone_decrease"]


def check_monotone_decrease(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    data: Sequence[np.ndarray] | None = None,
    *,
    step_size: float | None = None,
    steps: int = 20,
    rtol: float | None = None,
) -> MonotoneReport:
    """Check that full-batch descent at ``step_size <= 1/L`` never raises the loss beyond rounding.

    By the descent lemma, a step ``eta <= 2/L`` along the exact gradient of an
    ``L``-smooth loss cannot raise it, so a rise means the gradient does not
    belong to the loss, or the loss is not smooth at that scale (a kink, or
    curvature that grows along the path).  When ``step_size`` is not given it
    is ``1/L`` with ``L`` from :func:`gradverify.descent.estimate_smoothness`
    at ``w0``, which leaves a factor of two to the limit; where the loss then
    rises, the curvature that rise implies on that step (the descent lemma
    solved for ``L``) replaces ``L`` and the run starts again (at most three
    times), so ``L`` is the smoothness along the path.  A gradient that points
    uphill rises at every step size and still fails.  The losses of a
    nonsmooth loss (the multiclass SVM) may rise at any step size: this
    invariant needs a Lipschitz gradient.

    Parameters
    ----------
    loss, grad : callable
        ``loss(w, *data) -> scalar`` and ``grad(w, *data) -> like w``.
    w0 : array or dict/tuple/list of arrays
        Starting weights.
    data : tuple of arrays, optional
        Passed after ``w`` (the whole data set: this is full-batch descent).
    step_size : float, optional
        Default ``1 / L`` (1 when ``L`` is 0: no curvature near ``w0``).
    steps : int
        Updates to take.
    rtol : float, optional
        A rise counts when it exceeds ``rtol * |loss|``; default ``64 * EPS``.

    Returns
    -------
    MonotoneReport
    """
    loss, grad = _protected(loss, grad, "check_monotone_decrease")  # the data reach them read-only
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w0, argname="w0")
    e = eps(spec.dtype)
    rtol = LOSS_ROUNDING * e if rtol is None else valid_positive("rtol", rtol)
    evaluations = 0
    L = None
    adapt = step_size is None
    step = 1.0
    if adapt:
        smooth = estimate_smoothness(g_fn, w0)
        evaluations += smooth.evaluations
        L = smooth.L
    else:
        step = valid_positive("step_size", step_size)
    for _ in range(4):
        if adapt:
            # L = 0: no curvature near w0 (a linear or constant loss), where any step is safe.
            step = 1.0 if not L else 1.0 / L
        run = gradient_descent(f, g_fn, w0, step_size=step, steps=steps, record_every=1)
        evaluations += run.loss_calls + run.grad_calls
        rises, allowance, over = _rises(run, rtol)
        if not adapt or not over.size or run.status == "diverged":
            break
        # L is local: start again with the curvature the first rise implies (the
        # descent lemma solved for L).  A gradient that points uphill keeps rising
        # however small the step, and fails below.
        L_path = _curvature_of_rise(run, rises, int(over[0]), step)
        if not math.isfinite(L_path):
            break
        L = max(L_path, L or 0.0)
    if run.status == "diverged" and not adapt:
        _refuse_absurd_step(g_fn, w0, step, spec.dtype)
    losses = run.losses
    first = int(over[0]) if over.size else None
    with np.errstate(invalid="ignore"):  # inf - inf on a run that overflowed
        excess = rises - allowance
    worst = int(np.nanargmax(excess)) if excess.size and not np.all(np.isnan(excess)) else 0
    ok = first is None and run.status == "completed"
    diagnosis = pattern = None
    if run.status == "diverged":
        pattern, diagnosis = (
            "diverged",
            f"the loss became NaN or infinite after {run.steps} steps: the step size is far too large or grad is wrong in scale",
        )
    elif first is not None:
        pattern, spent, diagnosis = _explain_rise(g_fn, run, first, step)
        evaluations += spent
    return MonotoneReport(
        ok=ok,
        invariant="monotone decrease",
        evaluations=evaluations,
        diagnosis=diagnosis,
        pattern=pattern,
        step_size=step,
        L=L,
        steps=run.steps,
        losses=losses,
        largest_increase=float(rises[worst]) if rises.size else 0.0,
        allowance=float(allowance[worst]) if rises.size else 0.0,
        first_increase=first,
    )


def _refuse_absurd_step(g_fn: Callable[[Any], Any], w0: Any, step: float, dtype: Any) -> None:
    """A run that diverged at a step size beyond ``2/L`` by more than the float's resolution is a bad argument.

    The invariant is about ``step <= 2/L``; a step ``1/EPS`` times past that
    limit (``step_size=1e200``) cannot tell anything about grad, so it gets a
    clear error instead of a report of the overflow.
    """
    L = estimate_smoothness(g_fn, w0).L
    limit = 2 / L if L > 0 else math.inf
    if step > limit / eps(dtype):
        raise InvalidArgument(
            f"step_size={step!r} is {step / limit:.3g} times the stable limit 2/L = {limit:.3g} (L = {L:.3g} at w0): "
            "descent at that step can only overflow; give a step size up to 2/L (or leave step_size out to use 1/L)"
        )


def _rises(run: Any, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rise of the loss at each step, the rounding it may reach there, and the steps that rose beyond it."""
    rises = np.diff(run.losses)
    allowance = rtol * np.maximum(np.abs(run.losses[:-1]), np.abs(run.losses[1:]))
    over = np.flatnonzero(~(rises <= allowance))  # NaN counts as a rise
    return rises, allowance, over


def _curvature_of_rise(run: Any, rises: np.ndarray, t: int, step: float) -> float:
    """The curvature that the rise at step ``t`` implies (inf when the step did not move).

    Were grad right, a rise at step t would need curvature of at least
    2 (rise + step |g|^2) / (step |g|)^2 on that step (the descent lemma solved for L).
    """
    moved = (step * run.grad_norms[t]) ** 2
    return 2 * (rises[t] + step * run.grad_norms[t] ** 2) / moved if moved > 0 else math.inf


def _explain_rise(g_fn: Callable[[Any], Any], run: Any, t: int, step_size: float) -> tuple[str, int, str]:
    """Why the loss rose at step ``t``: the sign of the gradient, or a step beyond 2/L there."""
    w_t = run.weights[list(run.recorded_steps).index(t)]
    gn = run.grad_norms[t]
    rise = run.losses[t + 1] - run.losses[t]
    first_order = step_size * gn * gn
    rel = rise / first_order if first_order > 0 else math.inf
    local = estimate_smoothness(g_fn, w_t)
    if local.L > 0 and step_size > 2 / local.L:
        return (
            "step_size",
            local.evaluations,
            (
                f"at step {t} the step size {step_size:.3g} exceeds 2/L = {2 / local.L:.3g} (L = {local.L:.3g} there): "
                "the curvature grew along the path; a smaller step size, not the gradient, is the likely fix"
            ),
        )
    if 0.25 < rel < 4:
        return (
            "sign",
            local.evaluations,
            (
                f"at step {t} the loss rose by {rel:.3g} * step * |grad|**2, about the first-order decrease with the "
                "opposite sign: grad points uphill (a flipped sign)"
            ),
        )
    return (
        "mismatch",
        local.evaluations,
        (
            f"at step {t} the loss rose by {rise:.3g} although the step is within 2/L: grad does not match the loss "
            "there (or the loss has a kink); run check_descent_direction or check_grad at those weights"
        ),
    )
