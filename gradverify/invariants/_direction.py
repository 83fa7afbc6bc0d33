"""The descent-direction invariant: a small step along ``-grad`` lowers the loss by ``step * |grad|**2``.

:func:`check_descent_direction` measures the slope of the loss along
``-grad / |grad|`` with one line search and compares it with ``-|grad|``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core.params import ParamSpec
from .._core.validate import real_scalar, valid_count, valid_positive
from ..errors import InvalidArgument
from ..steps import Tolerance, base_step, eps
from ._helpers import EXPLAINED, LINE_NOISE, _bind, _explain_scale, _optional_data, _protected
from ._reports import DescentDirectionReport

__all__ = ["check_descent_direction"]


def check_descent_direction(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    data: Sequence[np.ndarray] | None = None,
    *,
    h: float | None = None,
    seed: int = 0,
) -> DescentDirectionReport:
    """Check that a small step along ``-grad`` lowers the loss by ``step * |grad|**2``.

    The derivative of the loss along ``u = -grad / |grad|`` is measured by
    central differences at steps ``h`` and ``2h`` and one Richardson
    extrapolation, and compared with ``<grad, u> = -|grad|``, within an error
    bound made of the truncation (the two steps' disagreement) and the
    rounding (the noise of the loss over ``h``).  One line search costs five
    loss calls and one gradient call, whatever the size of ``w``; it catches
    a flipped sign (ratio -1) or a wrong scale (ratio ``1/c``) but not an error
    orthogonal to the gradient (use :func:`gradverify.check_grad` for those).
    At a kink (a hinge) the measured one-sided slopes bracket any subgradient,
    and the check accepts a gradient inside the bracket.

    Parameters
    ----------
    loss, grad : callable
        ``loss(w, *data) -> scalar`` and ``grad(w, *data) -> like w``.
    w : array or dict/tuple/list of arrays
        Where to check.
    data : tuple of arrays, optional
        Passed after ``w``; also names a sum-vs-mean bug by the number of samples.
    h : float, optional
        Step along the unit direction; default ``EPS**(1/3) * max(1, max |w|)``.
    seed : int
        Seeds the random direction used when ``grad(w)`` is exactly zero.

    Returns
    -------
    DescentDirectionReport

    Examples
    --------
    >>> import numpy as np
    >>> loss = lambda w: 0.5 * np.sum(w * w)
    >>> check_descent_direction(loss, lambda w: w, np.ones(3)).ok
    True
    >>> report = check_descent_direction(loss, lambda w: -w, np.ones(3))
    >>> report.ok, report.pattern, round(report.ratio, 6)
    (False, 'sign', -1.0)
    """
    loss, grad = _protected(loss, grad, "check_descent_direction")  # the data reach them read-only
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w, argname="w")
    x = spec.flatten(w, argname="w")
    dtype = spec.dtype
    g = spec.flatten(g_fn(spec.unflatten(x)), argname="grad(w)").astype(np.float64)
    gn = float(np.linalg.norm(g))
    u = _direction(g, gn, seed, spec.size)
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    s = base_step("central", dtype) * scale if h is None else valid_positive("h", h)
    f_at, lin = _along_line(f, spec, x, g, u, s)
    slope, predicted, tolerance, ok, kink = _compare_slopes(f_at, lin, s, dtype, gn)
    ratio = slope / predicted if gn > 0 else None
    step = s / gn if gn > 0 else 0.0
    decrease = float(f_at[2] - f_at[3]) if gn > 0 else 0.0
    diagnosis = pattern = None
    if ok and not kink and gn > 0 and tolerance >= abs(predicted):
        # A flipped sign moves the slope by twice its size; with a tolerance as wide as the slope itself
        # (the loss's rounding over a tiny h) that could pass unseen, so this is no evidence either way.
        ok, pattern = False, "inconclusive"
        diagnosis = (
            f"inconclusive: the loss's rounding over the step (tolerance {tolerance:.3g} on a slope of "
            f"{abs(predicted):.3g}) is too wide to see whether the loss falls along -grad; use the default "
            f"step (h=None) or a larger h"
        )
    elif not ok:
        pattern, diagnosis = _explain_direction(gn, slope, ratio, arrays)
    return DescentDirectionReport(
        ok=bool(ok),
        invariant="descent direction",
        evaluations=len(f_at) + 1,
        diagnosis=diagnosis,
        pattern=pattern,
        grad_norm=gn,
        slope=float(slope),
        predicted_slope=float(predicted),
        ratio=None if ratio is None else float(ratio),
        tolerance=float(tolerance),
        step=float(step),
        decrease=decrease,
        predicted_decrease=float(step * gn * gn),
        kink=bool(kink),
    )


def _direction(g: np.ndarray, gn: float, seed: int, size: int) -> np.ndarray:
    """The unit direction ``-grad / |grad|``, or a seeded random one when ``grad`` is zero."""
    if gn > 0:
        return -g / gn
    u = np.random.default_rng(valid_count("seed", seed, minimum=0)).standard_normal(size)
    u /= np.linalg.norm(u)
    return u


def _along_line(
    f: Callable[[Any], Any], spec: ParamSpec, x: np.ndarray, g: np.ndarray, u: np.ndarray, s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The loss at ``w + t * u`` for ``t`` in ``(-2s, -s, 0, s, 2s)``, and its first-order change from ``grad``."""
    dtype = spec.dtype
    x64 = x.astype(np.float64)

    def phi(t: float) -> tuple[float, float]:
        point = (x64 + t * u).astype(dtype)
        # The analytic change along the displacement actually taken (rounding of
        # w + t*u in float32 bends the line a little; this follows the bend).
        return real_scalar(f(spec.unflatten(point)), "loss(w)"), float(g @ (point.astype(np.float64) - x64))

    ts = (-2 * s, -s, 0.0, s, 2 * s)
    vals = [phi(t) for t in ts]
    f_at = np.array([v[0] for v in vals])
    lin = np.array([v[1] for v in vals])
    if not np.all(np.isfinite(f_at)):
        raise InvalidArgument("loss is NaN or infinite within a step of w along -grad; choose a smaller h or another w")
    return f_at, lin


def _compare_slopes(
    f_at: np.ndarray, lin: np.ndarray, s: float, dtype: Any, gn: float
) -> tuple[float, float, float, bool, bool]:
    """The measured and predicted slopes, the tolerance, the verdict, and whether a kink decided it.

    Central differences at ``s`` and ``2s`` with one Richardson extrapolation;
    the tolerance is their disagreement plus the rounding of the loss over
    ``s``.  Outside it, a prediction between the one-sided slopes is a kink.
    """
    d1 = (f_at[3] - f_at[1]) / (2 * s)
    d2 = (f_at[4] - f_at[0]) / (4 * s)
    p1 = (lin[3] - lin[1]) / (2 * s)
    p2 = (lin[4] - lin[0]) / (4 * s)
    slope, predicted = (4 * d1 - d2) / 3, (4 * p1 - p2) / 3
    e = eps(dtype)
    noise = LINE_NOISE * e * float(np.max(np.abs(f_at)))
    bound = abs(d1 - d2) + 2 * noise / s
    verdict = Tolerance.of(dtype).verdict(slope, predicted, bound, gn)
    tolerance, ok = float(verdict.allowed), bool(verdict.within)
    kink = False
    if not ok:
        one_sided = [
            (f_at[3] - f_at[2]) / s,
            (f_at[2] - f_at[1]) / s,
            (f_at[4] - f_at[2]) / (2 * s),
            (f_at[2] - f_at[0]) / (2 * s),
        ]
        nearest = min(max(predicted, min(one_sided)), max(one_sided))
        ok = kink = bool(Tolerance.of(dtype).verdict(predicted, nearest, 2 * noise / s, 0.0).within)
    return slope, predicted, tolerance, bool(ok), bool(kink)


def _explain_direction(gn: float, slope: float, ratio: float | None, arrays: tuple[Any, ...]) -> tuple[str, str]:
    """Pattern and words for a failed check: a missing gradient, a sign, a scale, or an orthogonal error."""
    if gn == 0:
        return (
            "zero",
            f"grad is zero but the loss changes at rate {slope:.3g} along a random direction: the gradient is missing",
        )
    if ratio is not None and ratio < 0:
        return "sign", "the loss rises along -grad" + (
            " at the rate |grad|: grad has the wrong sign (it is the ascent direction; negate it)"
            if abs(ratio + 1) < EXPLAINED
            else f" (ratio {ratio:.3g}): grad is not a descent direction; a flipped sign on part of it?"
        )
    if ratio is not None and ratio > 0:
        pattern, diagnosis = _explain_scale(1 / ratio, len(arrays[0]) if arrays else None)
        if pattern == "scale" and ratio < EXPLAINED:
            diagnosis += "; or grad is mostly orthogonal to the true gradient (a transposed or permuted layout?)"
        return pattern, diagnosis
    return (
        "mismatch",
        "the loss does not change along -grad: grad is orthogonal to the true gradient (a transposed or permuted layout?)",
    )
