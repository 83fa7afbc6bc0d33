"""The mini-batch agreement invariant: batch gradients over a partition combine to the full gradient.

:func:`check_minibatch_agreement` compares the combined batch gradients and
losses of a partition with the full-batch ones, and retraces full-batch
descent with mini-batch descent at ``batch_size = N``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core.batches import valid_batches
from .._core.params import ParamSpec
from .._core.validate import real_scalar, valid_count, valid_positive
from ..descent import estimate_smoothness, gradient_descent, minibatch_gradient_descent
from ..errors import InvalidArgument
from ..steps import eps
from ._helpers import AGREEMENT_ROUNDING, _bind, _flat_grad, _protected, _relative
from ._reports import AgreementReport
from ._wiring import _probe_wiring

__all__ = ["check_minibatch_agreement"]


def check_minibatch_agreement(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    data: Sequence[np.ndarray],
    *,
    batch_size: int,
    reduction: str = "mean",
    retrace_steps: int = 5,
    step_size: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> AgreementReport:
    """Check that mini-batch gradients over a partition combine to the full-batch gradient.

    For a loss that averages over samples (``reduction="mean"``), a partition
    of the N samples into batches ``b`` gives
    ``sum_b (|b| / N) * grad(w, *batch_b) == grad(w, *data)`` exactly, and the
    same for the loss.  For a loss that sums (``reduction="sum"``) the
    convention is ``sum_b grad(w, *batch_b) == grad(w, *data)``, which holds
    when the loss is a plain sum over samples (a regulariser must then be
    spread over the batches, ``|b| / N`` of it in each).  The batches are a
    seeded shuffle of the data cut every ``batch_size`` samples (the last one
    may be shorter).

    It also runs mini-batch descent with ``batch_size = N`` next to
    full-batch descent for ``retrace_steps`` steps and checks that the
    iterates coincide (they are computed the same way, so any difference
    comes from the descent loop or from functions that keep state).

    The partition sums differ from the full sums only by the order of
    additions, and errors are relative to the scale of the values summed, so
    the default tolerance is ``4096 * EPS`` (9e-13 in float64).

    Parameters
    ----------
    loss, grad : callable
        ``loss(w, *batch) -> scalar`` and ``grad(w, *batch) -> like w``.
    w : array or dict/tuple/list of arrays
        Where to compare (and where the retrace starts).
    data : tuple of arrays
        Arrays sharing their first (sample) axis, for example ``(X, y)``.
    batch_size : int
        From 1 to N.
    reduction : {"mean", "sum"}
        How the loss combines samples.
    retrace_steps : int
        Steps of the retrace (0 skips it).
    step_size : float, optional
        Step size of the retrace; default ``1 / L`` estimated at ``w``.
    rtol : float, optional
        Relative tolerance; default ``4096 * EPS``.
    seed : int
        Seeds the partition and the retrace's shuffles.

    Returns
    -------
    AgreementReport
    """
    loss, grad = _protected(loss, grad, "check_minibatch_agreement")  # the data reach them read-only
    arrays, n, batch_size = valid_batches(data, batch_size)
    if reduction not in ("mean", "sum"):
        raise InvalidArgument(f"reduction={reduction!r} is not 'mean' or 'sum'")
    spec = ParamSpec.of(w, argname="w")
    rtol = AGREEMENT_ROUNDING * eps(spec.dtype) if rtol is None else valid_positive("rtol", rtol)
    seed = valid_count("seed", seed, minimum=0)
    order = np.random.default_rng(seed).permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    weights = [len(b) / n if reduction == "mean" else 1.0 for b in batches]
    grad_err, loss_err, worst_name = _partition_errors(loss, grad, w, arrays, spec, batches, weights)
    evaluations = 2 * (len(batches) + 1)

    retrace_steps = valid_count("retrace_steps", retrace_steps, minimum=0)
    retrace_err = 0.0
    if retrace_steps:
        retrace_err, spent = _retrace(loss, grad, w, arrays, retrace_steps, step_size, seed)
        evaluations += spent
    ok = grad_err <= rtol and loss_err <= rtol and retrace_err <= rtol
    diagnosis = pattern = None
    if grad_err > rtol or loss_err > rtol:
        pattern, diagnosis = _probe_wiring(loss, grad, w, arrays, spec, reduction)
        evaluations += 4
    elif retrace_err > rtol:
        pattern, diagnosis = (
            "mismatch",
            (
                "gradients agree but mini-batch descent with batch_size=N leaves full-batch descent: "
                "the functions are not deterministic, or keep state between calls"
            ),
        )
    return AgreementReport(
        ok=ok,
        invariant="mini-batch agreement",
        evaluations=evaluations,
        diagnosis=diagnosis,
        pattern=pattern,
        batch_size=batch_size,
        n_samples=n,
        n_batches=len(batches),
        reduction=reduction,
        grad_rel_error=grad_err,
        loss_rel_error=loss_err,
        retrace_rel_error=retrace_err,
        retrace_steps=retrace_steps,
        rtol=float(rtol),
        worst_name=worst_name,
    )


def _partition_errors(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    arrays: tuple[Any, ...],
    spec: ParamSpec,
    batches: list[np.ndarray],
    weights: list[float],
) -> tuple[float, float, str | None]:
    """Relative errors of the weighted batch gradients and losses against the full-batch ones.

    Errors are relative to the larger of the full value's scale and the
    weighted batch values' scale; the third value names the gradient entry
    that disagrees most.
    """
    full_g = _flat_grad(_bind(grad, arrays), spec, w)
    full_l = real_scalar(loss(spec.unflatten(spec.flatten(w)), *arrays), "loss(w, *data)")
    combined_g = np.zeros_like(full_g)
    combined_l, scale_g, scale_l = 0.0, float(np.max(np.abs(full_g), initial=0.0)), abs(full_l)
    batch_scale_g = batch_scale_l = 0.0
    for index, weight in zip(batches, weights):
        batch = tuple(a[index] for a in arrays)
        g_b = _flat_grad(_bind(grad, batch), spec, w)
        l_b = real_scalar(loss(spec.unflatten(spec.flatten(w)), *batch), "loss(w, *batch)")
        combined_g += weight * g_b
        combined_l += weight * l_b
        batch_scale_g += weight * float(np.max(np.abs(g_b), initial=0.0))
        batch_scale_l += weight * abs(l_b)
    diff = np.abs(combined_g - full_g)
    grad_err = _relative(float(np.max(diff, initial=0.0)), max(scale_g, batch_scale_g))
    loss_err = _relative(abs(combined_l - full_l), max(scale_l, batch_scale_l))
    worst_name = spec.describe(int(np.argmax(diff))) if spec.size else None
    return grad_err, loss_err, worst_name


def _retrace(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    arrays: tuple[Any, ...],
    steps: int,
    step_size: float | None,
    seed: int,
) -> tuple[float, int]:
    """Largest relative distance between batch_size=N mini-batch descent and full-batch descent."""
    spent = 0
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    if step_size is None:
        smooth = estimate_smoothness(g_fn, w)
        spent += smooth.evaluations
        step_size = 1.0 if smooth.L == 0 else smooth.step_size
    n = arrays[0].shape[0]
    full = gradient_descent(f, g_fn, w, step_size=step_size, steps=steps)
    mini = minibatch_gradient_descent(loss, grad, w, arrays, step_size=step_size, batch_size=n, steps=steps, seed=seed)
    spent += 2 * (full.loss_calls + mini.loss_calls)
    spec = ParamSpec.of(w, argname="w")
    worst = 0.0
    for a, b in zip(full.weights, mini.weights):
        fa, fb = spec.flatten(a).astype(np.float64), spec.flatten(b).astype(np.float64)
        worst = max(
            worst, _relative(float(np.max(np.abs(fa - fb), initial=0.0)), float(np.max(np.abs(fa), initial=0.0)))
        )
    losses = _relative(float(np.max(np.abs(full.losses - mini.losses))), float(np.max(np.abs(full.losses))))
    return max(worst, losses), spent
