"""Checks of the invariants of gradient descent, each with a report that explains itself.

A gradient that passes a finite-difference check at one point can still be
wired into training wrongly: summed over the batch where the loss averages,
with its regularisation term scaled per mini-batch, or with the wrong sign.
These checks test what must hold when descent is done right:

- :func:`check_descent_direction`: a small step along ``-grad`` lowers the
  loss by ``step * |grad|**2`` to first order (catches a sign or a scale);
- :func:`check_monotone_decrease`: full-batch descent at ``step <= 1/L``
  never raises the loss beyond rounding;
- :func:`check_minibatch_agreement`: mini-batch gradients over a partition
  average to the full-batch gradient, and mini-batch descent with
  ``batch_size = N`` retraces full-batch descent;
- :func:`check_unbiased`: sampled mini-batch gradients have the full
  gradient as their mean (a statistical test with false-alarm rate ``alpha``);
- :func:`check_step_size_limit`: descent on a quadratic with known ``L`` is
  stable below ``2/L`` and unstable above.

Losses and gradients take the weights first and, where the check has data,
the batch arrays after them: ``loss(w, X, y)``, ``grad(w, X, y)``.  Weights are
one array or a dict/tuple/list of arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import stats

from .descent import (
    _check_batches,
    _check_data,
    _check_sampling,
    _count,
    _positive,
    _sampler,
    _scalar,
    estimate_smoothness,
    gradient_descent,
    minibatch_gradient_descent,
)
from .diagnose import _name_factor
from .errors import InvalidArgument
from .params import ParamSpec
from .report import _jsonable
from .steps import FLOOR_FACTOR, SAFETY, base_step, eps

__all__ = [
    "AgreementReport",
    "DescentDirectionReport",
    "InvariantReport",
    "MonotoneReport",
    "StepSizeLimitReport",
    "UnbiasedReport",
    "check_descent_direction",
    "check_minibatch_agreement",
    "check_monotone_decrease",
    "check_step_size_limit",
    "check_unbiased",
]

# -- the numbers of these checks, in one place ---------------------------------------------
#: Rounding allowance of a loss value, in units of EPS * |loss|: a mean of N
#: terms carries about log2(N) EPS of relative error with pairwise summation,
#: so 64 covers any data set that fits in memory, with room to spare.
LOSS_ROUNDING = 64.0
#: Default relative tolerance of mini-batch/full-batch agreement, in units of
#: EPS (4096 EPS is 9e-13 in float64, 5e-4 in float32): sums over a partition
#: and over the whole data differ only by the order of additions.
AGREEMENT_ROUNDING = 4096.0
#: Noise of one loss value along a line, in units of EPS * |loss| (a mean of
#: N terms has about log2(N) EPS of relative rounding; 8 covers N up to 256
#: at the rounding's typical size, and the verdict's SAFETY factor the rest).
LINE_NOISE = 8.0
#: A fitted explanation (sum vs mean, regularisation) is accepted when it
#: leaves less than this fraction of the discrepancy unexplained.
EXPLAINED = 0.1


# ---------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class InvariantReport:
    """The verdict of an invariant check, with its evidence.

    Attributes
    ----------
    ok : bool
        Whether the invariant holds.
    invariant : str
        Which invariant was checked.
    evaluations : int
        Calls of ``loss`` and ``grad`` spent.
    diagnosis : str or None
        The likely cause of a failure, in words.
    pattern : str or None
        Its short tag: ``"sign"``, ``"scale"``, ``"sum_vs_mean"``,
        ``"regularisation"``, ``"zero"``, ``"step_size"``, ``"diverged"`` or
        ``"mismatch"``.
    """

    ok: bool
    invariant: str
    evaluations: int
    diagnosis: str | None = None
    pattern: str | None = None

    def _evidence(self) -> list[tuple[str, Any]]:
        return []

    def to_dict(self) -> dict:
        """A JSON-safe dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def __str__(self) -> str:
        lines = [f"{self.invariant}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"  {label}: {_fmt(value)}" for label, value in self._evidence()]
        lines.append(f"  evaluations: {self.evaluations}")
        if self.diagnosis:
            lines.append(f"  likely cause: {self.diagnosis}")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True, kw_only=True)
class DescentDirectionReport(InvariantReport):
    """Evidence of :func:`check_descent_direction`.

    ``slope`` is the measured derivative of the loss along the unit direction
    ``-grad / |grad|`` and ``predicted_slope`` the same from ``grad``
    (``-|grad|``); ``ratio = slope / predicted_slope`` is 1 for a right
    gradient, -1 for a flipped sign and ``1/c`` for a gradient ``c`` times too
    large.  ``decrease`` is ``loss(w) - loss(w - step * grad)`` for the small
    ``step`` used, against ``predicted_decrease = step * |grad|**2``.
    """

    grad_norm: float
    slope: float
    predicted_slope: float
    ratio: float | None
    tolerance: float
    step: float
    decrease: float
    predicted_decrease: float
    kink: bool

    def _evidence(self) -> list[tuple[str, Any]]:
        return [
            ("|grad|", self.grad_norm),
            (
                "slope along -grad/|grad|",
                f"{self.slope:.6g} (predicted {self.predicted_slope:.6g}, tolerance {self.tolerance:.3g})",
            ),
            ("ratio measured/predicted", "n/a (zero gradient)" if self.ratio is None else f"{self.ratio:.6g}"),
            (
                "decrease for a step of",
                f"{self.step:.3g}: {self.decrease:.6g} (first order predicts {self.predicted_decrease:.6g})",
            ),
        ] + ([("kink", "the loss has a kink within the step; the slope was judged one-sided")] if self.kink else [])


@dataclass(frozen=True, kw_only=True)
class MonotoneReport(InvariantReport):
    """Evidence of :func:`check_monotone_decrease`.

    ``losses`` are the full-batch losses of the run; ``largest_increase`` is
    the largest ``losses[t+1] - losses[t]`` and ``allowance`` the rounding it
    may reach at that step; ``first_increase`` is the first step that went up
    beyond rounding, or None.
    """

    step_size: float
    L: float | None
    steps: int
    losses: np.ndarray
    largest_increase: float
    allowance: float
    first_increase: int | None

    def _evidence(self) -> list[tuple[str, Any]]:
        where = "never" if self.first_increase is None else f"first at step {self.first_increase}"
        return [
            (
                "step size",
                self.step_size if self.L is None else f"{self.step_size:.6g} (1/L, L estimated as {self.L:.6g})",
            ),
            ("steps", self.steps),
            ("loss", f"{self.losses[0]:.6g} -> {self.losses[-1]:.6g}"),
            ("largest rise", f"{self.largest_increase:.3g} (rounding allows {self.allowance:.3g}); {where}"),
        ]


@dataclass(frozen=True, kw_only=True)
class AgreementReport(InvariantReport):
    """Evidence of :func:`check_minibatch_agreement`.

    ``grad_rel_error`` is ``max |mean of batch gradients - full gradient|``
    over the scale of the gradients, ``loss_rel_error`` the same for the loss,
    ``retrace_rel_error`` the largest relative distance between the iterates of
    mini-batch descent with ``batch_size = N`` and full-batch descent.
    ``worst_name`` names the entry of the gradient that disagrees most.
    """

    batch_size: int
    n_samples: int
    n_batches: int
    reduction: str
    grad_rel_error: float
    loss_rel_error: float
    retrace_rel_error: float
    retrace_steps: int
    rtol: float
    worst_name: str | None

    def _evidence(self) -> list[tuple[str, Any]]:
        return [
            (
                "partition",
                f"{self.n_batches} batches of <= {self.batch_size} of {self.n_samples} samples ({self.reduction})",
            ),
            (
                "gradient",
                f"relative error {self.grad_rel_error:.3g} (tolerance {self.rtol:.3g}), worst at {self.worst_name}",
            ),
            ("loss", f"relative error {self.loss_rel_error:.3g}"),
            (
                "retrace",
                f"batch_size=N vs full batch over {self.retrace_steps} steps: relative error {self.retrace_rel_error:.3g}",
            ),
        ]


@dataclass(frozen=True, kw_only=True)
class UnbiasedReport(InvariantReport):
    """Evidence of :func:`check_unbiased`.

    ``statistic`` is the largest skewness-corrected ``|t|`` over the tested
    coordinates (the gradient's entries and the loss), ``critical`` the
    Bonferroni threshold it is compared with, ``p_value`` the Bonferroni-adjusted p-value of the worst
    coordinate (the check fails when ``p_value < ALPHA_MARGIN * alpha``).  ``relative_difference`` is
    ``|mean batch gradient - full gradient| / |full gradient|``, sampling noise included.
    """

    alpha: float
    samples: int
    batch_size: int
    sampling: str
    tested: int
    statistic: float
    critical: float
    p_value: float
    relative_difference: float
    worst_name: str | None

    def _evidence(self) -> list[tuple[str, Any]]:
        return [
            ("sampled", f"{self.samples} batches of {self.batch_size} ({self.sampling})"),
            (
                "test",
                f"largest |t| (skewness-corrected) = {self.statistic:.3g} over {self.tested} coordinates, Bonferroni critical value {self.critical:.3g}",
            ),
            ("p-value", f"{self.p_value:.3g} (adjusted; alpha = {self.alpha:g}), worst at {self.worst_name}"),
            ("mean batch - full", f"{self.relative_difference:.3g} of |full gradient| (sampling noise included)"),
        ]


@dataclass(frozen=True, kw_only=True)
class StepSizeLimitReport(InvariantReport):
    """Evidence of :func:`check_step_size_limit`.

    ``predicted_limit`` is ``2 / L``; the search brackets the stability limit
    of descent between ``largest_stable`` and ``smallest_unstable`` (0 and inf
    mark a side it never found).
    """

    L: float
    L_given: bool
    predicted_limit: float
    largest_stable: float
    smallest_unstable: float
    rtol: float
    runs: int

    def _evidence(self) -> list[tuple[str, Any]]:
        source = "given" if self.L_given else "estimated"
        return [
            ("L", f"{self.L:.6g} ({source}); predicted limit 2/L = {self.predicted_limit:.6g}"),
            (
                "stable up to",
                f"{self.largest_stable:.6g}, unstable from {self.smallest_unstable:.6g} ({self.runs} runs)",
            ),
            ("ratio found/predicted", f"{self.largest_stable / self.predicted_limit:.4g} (tolerance {self.rtol:g})"),
        ]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _bind(fn: Callable[..., Any], arrays: tuple) -> Callable[[Any], Any]:
    return lambda w: fn(w, *arrays)


def _flat_grad(grad: Callable[[Any], Any], spec: ParamSpec, w: Any) -> np.ndarray:
    return spec.flatten(grad(spec.unflatten(spec.flatten(w))), argname="grad(w)").astype(np.float64)


def _optional_data(data: Any) -> tuple:
    return () if data is None else _check_data(data)


def _explain_scale(c: float, n_samples: int | None) -> tuple[str, str]:
    """Pattern and words for a gradient ``c`` times too large along its own direction."""
    if n_samples is not None and n_samples > 1 and abs(c / n_samples - 1) < EXPLAINED:
        return "sum_vs_mean", (
            f"grad is about {c:.4g} times too large, close to the {n_samples} samples in the batch: "
            "it sums the per-sample gradients where the loss takes their mean (divide by the batch size)"
        )
    name = _name_factor(c) if c > 0 else f"{c:.4g}"
    hint = " (a sum over samples where the loss averages gives a factor equal to the batch size)" if c > 1.5 else ""
    return "scale", f"grad is about {name} times the gradient of the loss along its own direction{hint}"


def _leaf_name(spec: ParamSpec, flat_index: int) -> str:
    if spec.kind == "array":
        return "w"
    name = spec.names[spec.leaf_of(flat_index)]
    return str(name) if spec.kind == "dict" else f"w[{name}]"


def _probe_wiring(
    loss: Callable[..., Any], grad: Callable[..., Any], w: Any, arrays: tuple, spec: ParamSpec, reduction: str
) -> tuple[str, str]:
    """Tell a sum from a mean, and a misplaced regulariser, by doubling the data.

    For a loss that averages over samples, the data set repeated twice has
    the same loss and gradient as the data set.  A gradient that sums changes
    by its data term (the gradient minus ``reg * w``); one whose regulariser
    depends on the batch changes by a multiple of ``w``.  Fitting the change
    to ``a * grad + b * w`` tells which.
    """
    doubled = tuple(np.concatenate([a, a]) for a in arrays)
    g1 = _flat_grad(_bind(grad, arrays), spec, w)
    g2 = _flat_grad(_bind(grad, doubled), spec, w)
    l1 = _scalar(loss(spec.unflatten(spec.flatten(w)), *arrays), "loss")
    l2 = _scalar(loss(spec.unflatten(spec.flatten(w)), *doubled), "loss")
    expected_g = np.zeros_like(g1)
    wflat = spec.flatten(w).astype(np.float64)
    delta = g2 - g1
    if reduction == "sum":
        # Doubling the data doubles a sum's data term; the regulariser (if any) is unknown,
        # so only the pure-sum case is modelled: the change should equal the gradient.
        expected_g = g1
    residual = delta - expected_g
    size = float(np.linalg.norm(residual))
    loss_ratio = l2 / l1 if l1 != 0 else math.nan
    if size <= LOSS_ROUNDING * eps(spec.dtype) * max(np.linalg.norm(g1), np.linalg.norm(g2)):
        if reduction == "mean" and abs(loss_ratio - 2) < EXPLAINED:
            return (
                "sum_vs_mean",
                "the loss doubles when the data is repeated twice: it sums over samples where the checks expect a mean (pass reduction='sum' if that is intended)",
            )
        return (
            "mismatch",
            "grad combines over samples like an average, yet mini-batches disagree with the full batch: does grad keep state between calls or depend on the batch's order?",
        )
    # One column of w per leaf: regularisation strengths may differ per leaf
    # (biases usually have none).  Try the simplest explanations first, so a
    # gradient parallel to w (one parameter) is read as a scale of the gradient
    # before a term in w.
    w_columns = [
        np.where((np.arange(spec.size) >= lo) & (np.arange(spec.size) < hi), wflat, 0.0)
        for lo, hi in zip(spec.offsets[:-1], spec.offsets[1:])
    ]
    w_columns = [c for c in w_columns if np.any(c)]
    a, b, fitted = 0.0, np.zeros(len(w_columns)), False
    # An exact fit (to rounding) wins over a loose one, then the simpler one.
    for within in (1e-6, EXPLAINED):
        for columns in ([g1], w_columns, [g1, *w_columns]):
            if fitted or not columns:
                continue
            basis = np.column_stack(columns)
            coef, *_ = np.linalg.lstsq(basis, residual, rcond=None)
            if np.linalg.norm(residual - basis @ coef) <= within * size:
                if columns[0] is g1:
                    a, b = float(coef[0]), (coef[1:] if len(columns) > 1 else b)
                else:
                    b = coef
                fitted = True
    terms = ", ".join(
        f"{c:.3g} * {_leaf_name(spec, int(np.flatnonzero(col)[0]))}" for c, col in zip(b, w_columns) if abs(c) > 0
    )
    parallel = False
    if w_columns and np.linalg.norm(g1) > 0:
        basis = np.column_stack(w_columns)
        coef, *_ = np.linalg.lstsq(basis, g1, rcond=None)
        parallel = bool(np.linalg.norm(g1 - basis @ coef) <= 1e-6 * np.linalg.norm(g1))
    if fitted and parallel:
        return "mismatch", (
            "repeating the data twice changes grad, and grad is a multiple of the weights here, so either grad "
            "sums over samples where the loss averages, or its regularisation term is scaled with the mini-batch"
        )
    if not fitted:
        return "mismatch", (
            "mini-batch gradients do not combine like a per-sample "
            + ("average" if reduction == "mean" else "sum")
            + ": grad depends on the batch in another way (global state, a fixed batch size, data closed over?)"
        )
    if reduction == "mean" and abs(a - 1) < EXPLAINED:
        return "sum_vs_mean", (
            "repeating the data twice doubles the data term of grad: grad sums the per-sample gradients "
            "where the loss takes their mean (divide the data term by the batch size)"
        )
    if reduction == "sum" and abs(a + 1) < EXPLAINED:
        return (
            "sum_vs_mean",
            "repeating the data twice leaves grad unchanged: grad averages over samples where the loss sums",
        )
    if a == 0.0 or abs(a) * np.linalg.norm(g1) < EXPLAINED * size:
        return "regularisation", (
            f"repeating the data twice changes grad by {terms or 'a multiple of the weights'}, a term proportional to the weights: "
            "the regularisation gradient is scaled with the mini-batch (multiplied or divided by the batch size, "
            "or added once per batch and summed); it should be the same reg * w for every batch"
        )
    return (
        "mismatch",
        f"repeating the data twice changes grad by {a:.3g} * grad{' + ' + terms if terms else ''}, which no per-sample average does",
    )


# ---------------------------------------------------------------------------
# descent direction
# ---------------------------------------------------------------------------
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
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w, argname="w")
    x = spec.flatten(w, argname="w")
    dtype = spec.dtype
    g = spec.flatten(g_fn(spec.unflatten(x)), argname="grad(w)").astype(np.float64)
    gn = float(np.linalg.norm(g))
    if gn > 0:
        u = -g / gn
    else:
        u = np.random.default_rng(_count("seed", seed, minimum=0)).standard_normal(spec.size)
        u /= np.linalg.norm(u)
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    s = base_step("central", dtype) * scale if h is None else _positive("h", h)
    x64 = x.astype(np.float64)

    def phi(t: float) -> tuple[float, float]:
        point = (x64 + t * u).astype(dtype)
        # The analytic change along the displacement actually taken (rounding of
        # w + t*u in float32 bends the line a little; this follows the bend).
        return _scalar(f(spec.unflatten(point)), "loss(w)"), float(g @ (point.astype(np.float64) - x64))

    ts = (-2 * s, -s, 0.0, s, 2 * s)
    vals = [phi(t) for t in ts]
    f_at = np.array([v[0] for v in vals])
    lin = np.array([v[1] for v in vals])
    if not np.all(np.isfinite(f_at)):
        raise InvalidArgument("loss is NaN or infinite within a step of w along -grad; choose a smaller h or another w")
    d1 = (f_at[3] - f_at[1]) / (2 * s)
    d2 = (f_at[4] - f_at[0]) / (4 * s)
    p1 = (lin[3] - lin[1]) / (2 * s)
    p2 = (lin[4] - lin[0]) / (4 * s)
    slope, predicted = (4 * d1 - d2) / 3, (4 * p1 - p2) / 3
    e = eps(dtype)
    noise = LINE_NOISE * e * float(np.max(np.abs(f_at)))
    bound = abs(d1 - d2) + 2 * noise / s
    tolerance = SAFETY[np.dtype(dtype)] * bound + FLOOR_FACTOR * e * gn
    ok = abs(slope - predicted) <= tolerance
    kink = False
    if not ok:
        one_sided = [
            (f_at[3] - f_at[2]) / s,
            (f_at[2] - f_at[1]) / s,
            (f_at[4] - f_at[2]) / (2 * s),
            (f_at[2] - f_at[0]) / (2 * s),
        ]
        slack = SAFETY[np.dtype(dtype)] * 2 * noise / s
        ok = kink = min(one_sided) - slack <= predicted <= max(one_sided) + slack
    ratio = slope / predicted if gn > 0 else None
    step = s / gn if gn > 0 else 0.0
    decrease = float(f_at[2] - f_at[3]) if gn > 0 else 0.0
    diagnosis = pattern = None
    if not ok:
        if gn == 0:
            pattern = "zero"
            diagnosis = f"grad is zero but the loss changes at rate {slope:.3g} along a random direction: the gradient is missing"
        elif ratio is not None and ratio < 0:
            pattern = "sign"
            diagnosis = "the loss rises along -grad" + (
                " at the rate |grad|: grad has the wrong sign (it is the ascent direction; negate it)"
                if abs(ratio + 1) < EXPLAINED
                else f" (ratio {ratio:.3g}): grad is not a descent direction; a flipped sign on part of it?"
            )
        elif ratio is not None and ratio > 0:
            pattern, diagnosis = _explain_scale(1 / ratio, len(arrays[0]) if arrays else None)
            if pattern == "scale" and ratio < EXPLAINED:
                diagnosis += "; or grad is mostly orthogonal to the true gradient (a transposed or permuted layout?)"
        else:
            pattern = "mismatch"
            diagnosis = "the loss does not change along -grad: grad is orthogonal to the true gradient (a transposed or permuted layout?)"
    return DescentDirectionReport(
        ok=bool(ok),
        invariant="descent direction",
        evaluations=len(ts) + 1,
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


# ---------------------------------------------------------------------------
# monotone decrease
# ---------------------------------------------------------------------------
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
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w0, argname="w0")
    e = eps(spec.dtype)
    rtol = LOSS_ROUNDING * e if rtol is None else _positive("rtol", rtol)
    evaluations = 0
    L = None
    adapt = step_size is None
    step = 1.0
    if adapt:
        smooth = estimate_smoothness(g_fn, w0)
        evaluations += smooth.evaluations
        L = smooth.L
    else:
        step = _positive("step_size", step_size)
    for _ in range(4):
        if adapt:
            # L = 0: no curvature near w0 (a linear or constant loss), where any step is safe.
            step = 1.0 if not L else 1.0 / L
        run = gradient_descent(f, g_fn, w0, step_size=step, steps=steps, record_every=1)
        evaluations += run.loss_calls + run.grad_calls
        rises = np.diff(run.losses)
        allowance = rtol * np.maximum(np.abs(run.losses[:-1]), np.abs(run.losses[1:]))
        over = np.flatnonzero(~(rises <= allowance))  # NaN counts as a rise
        if not adapt or not over.size or run.status == "diverged":
            break
        # L is local.  Were grad right, a rise at step t would need curvature of at
        # least 2 (rise + step |g|^2) / (step |g|)^2 on that step (the descent
        # lemma solved for L): start again with that L.  A gradient that points
        # uphill keeps rising however small the step, and fails below.
        t = int(over[0])
        moved = (step * run.grad_norms[t]) ** 2
        L_path = 2 * (rises[t] + step * run.grad_norms[t] ** 2) / moved if moved > 0 else math.inf
        if not math.isfinite(L_path):
            break
        L = max(L_path, L or 0.0)
    losses = run.losses
    first = int(over[0]) if over.size else None
    worst = int(np.nanargmax(rises - allowance)) if rises.size and not np.all(np.isnan(rises)) else 0
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


# ---------------------------------------------------------------------------
# mini-batch / full-batch agreement
# ---------------------------------------------------------------------------
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
    arrays, n, batch_size = _check_batches(data, batch_size)
    if reduction not in ("mean", "sum"):
        raise InvalidArgument(f"reduction={reduction!r} is not 'mean' or 'sum'")
    spec = ParamSpec.of(w, argname="w")
    rtol = AGREEMENT_ROUNDING * eps(spec.dtype) if rtol is None else _positive("rtol", rtol)
    seed = _count("seed", seed, minimum=0)
    order = np.random.default_rng(seed).permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    weights = [len(b) / n if reduction == "mean" else 1.0 for b in batches]
    full_g = _flat_grad(_bind(grad, arrays), spec, w)
    full_l = _scalar(loss(spec.unflatten(spec.flatten(w)), *arrays), "loss(w, *data)")
    combined_g = np.zeros_like(full_g)
    combined_l, scale_g, scale_l = 0.0, float(np.max(np.abs(full_g), initial=0.0)), abs(full_l)
    batch_scale_g = batch_scale_l = 0.0
    for index, weight in zip(batches, weights):
        batch = tuple(a[index] for a in arrays)
        g_b = _flat_grad(_bind(grad, batch), spec, w)
        l_b = _scalar(loss(spec.unflatten(spec.flatten(w)), *batch), "loss(w, *batch)")
        combined_g += weight * g_b
        combined_l += weight * l_b
        batch_scale_g += weight * float(np.max(np.abs(g_b), initial=0.0))
        batch_scale_l += weight * abs(l_b)
    evaluations = 2 * (len(batches) + 1)
    diff = np.abs(combined_g - full_g)
    grad_err = _relative(float(np.max(diff, initial=0.0)), max(scale_g, batch_scale_g))
    loss_err = _relative(abs(combined_l - full_l), max(scale_l, batch_scale_l))
    worst_name = spec.describe(int(np.argmax(diff))) if spec.size else None

    retrace_steps = _count("retrace_steps", retrace_steps, minimum=0)
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


def _relative(error: float, scale: float) -> float:
    if error == 0:
        return 0.0
    return error / scale if scale > 0 else math.inf


def _retrace(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    arrays: tuple,
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


# ---------------------------------------------------------------------------
# unbiasedness
# ---------------------------------------------------------------------------
#: check_unbiased tests at this fraction of the stated alpha (see its docstring).
ALPHA_MARGIN = 0.5


def check_unbiased(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w: Any,
    data: Sequence[np.ndarray],
    *,
    batch_size: int,
    alpha: float = 0.01,
    samples: int = 200,
    sampling: str = "shuffle",
    reduction: str = "mean",
    seed: int = 0,
) -> UnbiasedReport:
    """Test that the sampled mini-batch gradient has the full-batch gradient as its mean.

    Draws ``samples`` independent mini-batches (``shuffle``: ``batch_size``
    distinct samples, as one batch of a shuffled epoch; ``replacement``:
    ``batch_size`` independent draws) and tests, for every entry of the
    gradient and for the loss, that the mean of the batch values equals the
    full-batch value: a one-sample t-test per coordinate with Hall's (1992)
    skewness correction, referred to Student's t with ``samples - 1`` degrees
    of freedom, combined by the Bonferroni correction (coordinate ``j`` is
    significant when its two-sided p-value is below ``alpha / m`` for ``m``
    tested coordinates).  The correction matters because Bonferroni reads the
    far tail (``alpha / m``), where a plain t-test of skewed batch values
    (small batches, rare hinge or class terms) rejects several times too
    often; the correction removes the ``samples**-1/2`` skewness term of the
    t statistic's distribution.  The false-alarm rate
    on a correct gradient is therefore at most ``alpha`` up to that
    approximation of the batch means (Bonferroni holds under any dependence
    between coordinates).  To keep the stated rate with a margin for that
    approximation, the adjusted p-value is compared with
    ``ALPHA_MARGIN * alpha`` (half of alpha): measured by
    ``benchmarks/false_alarm_unbiased.py`` over 2000 seeds of correct zoo
    gradients, the false-alarm rate is 0.45% at ``alpha=0.01`` (9/2000),
    2.15% at 0.05 and 0.10% at 0.001, while the summed-gradient bug is still
    caught 91% of the time.
    Differences within rounding (``64 * EPS`` of the values' scale) are never
    significant: a batch mean and a full mean add in different orders.  A
    coordinate whose batch values are all equal (within rounding) but differ
    from the full value is significant outright (p-value 0): there is no
    spread to test against, so a rare nonzero per-sample term that no batch
    happened to contain is reported as a bias.

    For ``reduction="sum"`` each batch value is scaled by ``N / batch_size``
    first (the unbiased estimate of a sum).

    Parameters
    ----------
    loss, grad : callable
        ``loss(w, *batch) -> scalar`` and ``grad(w, *batch) -> like w``.
    w : array or dict/tuple/list of arrays
    data : tuple of arrays
        Arrays sharing their first (sample) axis.
    batch_size : int
        From 1 to N.
    alpha : float
        False-alarm rate of the test, in (0, 1).
    samples : int
        Mini-batches drawn (at least 2).
    sampling : {"shuffle", "replacement"}
    reduction : {"mean", "sum"}
    seed : int
        Seeds the sampling.

    Returns
    -------
    UnbiasedReport
    """
    arrays, n, batch_size = _check_batches(data, batch_size)
    alpha = _positive("alpha", alpha)
    if alpha >= 1:
        raise InvalidArgument(f"alpha={alpha!r} must be below 1 (it is a false-alarm probability)")
    samples = _count("samples", samples, minimum=2)
    sampling = _check_sampling(sampling)
    if reduction not in ("mean", "sum"):
        raise InvalidArgument(f"reduction={reduction!r} is not 'mean' or 'sum'")
    spec = ParamSpec.of(w, argname="w")
    factor = 1.0 if reduction == "mean" else n / batch_size
    w_copy = spec.flatten(w)

    def values(batch: tuple) -> np.ndarray:
        current = spec.unflatten(w_copy)
        g = spec.flatten(grad(current, *batch), argname="grad(w, *batch)").astype(np.float64)
        return np.append(g, _scalar(loss(spec.unflatten(w_copy), *batch), "loss(w, *batch)"))

    if sampling == "shuffle":
        # One batch of a shuffled epoch: batch_size distinct samples, uniformly.  Kept
        # in data order (a batch is a set), so batch_size = N is the full data exactly
        # and rounding of a reordered sum is never mistaken for a bias.
        rng = np.random.default_rng(_count("seed", seed, minimum=0))
        draws: Iterator[np.ndarray] = (np.sort(rng.permutation(n)[:batch_size]) for _ in range(samples))
    else:
        draws = _sampler(n, batch_size, "replacement", np.random.default_rng(_count("seed", seed, minimum=0)))
    full = values(arrays)
    sampled = np.array([factor * values(tuple(a[idx] for a in arrays)) for idx, _ in zip(draws, range(samples))])
    diff = sampled - full
    mean = diff.mean(axis=0)
    sd = diff.std(axis=0, ddof=1)
    scale = np.maximum(np.max(np.abs(sampled), axis=0), np.abs(full))
    rounding = LOSS_ROUNDING * eps(spec.dtype) * scale
    testable = sd > rounding
    t = _skew_corrected_t(diff, testable)
    p = np.where(testable, 2 * stats.t.sf(np.abs(t), df=samples - 1), 1.0)
    # Constant coordinates: any difference beyond rounding is a bias, with certainty.
    p = np.where(~testable & (np.abs(mean) > rounding), 0.0, p)
    p = np.where(np.abs(mean) > rounding, p, 1.0)
    m = max(1, int(np.count_nonzero(testable | (np.abs(mean) > rounding))))
    worst = int(np.argmin(p))
    p_adj = min(1.0, float(p[worst]) * m)
    # Tested at ALPHA_MARGIN * alpha: the t approximation in the far tail that
    # Bonferroni reads is not exact for a few hundred mini-batches, and the
    # measured rate at the full level sat at alpha (1.05-1.15% at 0.01 over
    # 2000 seeds).  At half the level it measures well inside alpha.
    ok = p_adj >= ALPHA_MARGIN * alpha
    g_full = full[:-1]
    denom = float(np.linalg.norm(g_full))
    bias = float(np.linalg.norm(mean[:-1]))
    diagnosis = pattern = None
    evaluations = 2 * (samples + 1)
    if not ok:
        pattern, diagnosis = _probe_wiring(loss, grad, w, arrays, spec, reduction)
        evaluations += 4
    return UnbiasedReport(
        ok=ok,
        invariant="unbiased mini-batch gradient",
        evaluations=evaluations,
        diagnosis=diagnosis,
        pattern=pattern,
        alpha=alpha,
        samples=samples,
        batch_size=batch_size,
        sampling=sampling,
        tested=m,
        statistic=float(np.max(np.abs(t), initial=0.0)),
        critical=float(stats.t.isf(ALPHA_MARGIN * alpha / (2 * m), df=samples - 1)),
        p_value=p_adj,
        relative_difference=_relative(bias, denom),
        worst_name="loss" if worst == spec.size else spec.describe(worst),
    )


def _skew_corrected_t(diff: np.ndarray, testable: np.ndarray) -> np.ndarray:
    """Hall's skewness-corrected t statistic of each column of ``diff`` (mean 0 under the null).

    With ``S = mean / sd`` and ``g`` the sample skewness of a column of ``n``
    values, ``T = sqrt(n) * (S + g S**2 / 3 + g**2 S**3 / 27 + g / (6 n))``
    (Hall 1992, "On the removal of skewness by transformation", JRSS B 54;
    without the cubic term it is Johnson's 1978 modified t, and the cubic term
    makes ``T`` increasing in ``S``).  It removes the ``n**-1/2`` skewness
    term of the t statistic's Edgeworth expansion, so ``T`` is referred to the
    same t distribution; for symmetric columns ``g`` is near 0 and ``T`` is
    the plain t.  Why it is needed: Bonferroni reads the tail at
    ``alpha / m``; there, for 200 values of skewness 2 (exponential), the plain
    t rejects 2.3 times too often at 1e-3 and 5 times at 1e-4 (7 and 27 times
    at skewness 4, gamma(1/4)), the corrected one 0.9 and 0.6 times (0.9 and
    0.8).  Untestable columns get 0.
    """
    n = diff.shape[0]
    mean = diff.mean(axis=0)
    centred = diff - mean
    sd = np.sqrt(np.sum(centred**2, axis=0) / (n - 1))
    safe = np.where(testable, sd, 1.0)
    s = np.where(testable, mean / safe, 0.0)
    skew = np.where(testable, np.mean(centred**3, axis=0) / safe**3, 0.0)
    return math.sqrt(n) * (s + skew * s**2 / 3 + skew**2 * s**3 / 27 + skew / (6 * n))


# ---------------------------------------------------------------------------
# step-size limit
# ---------------------------------------------------------------------------
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
    arrays = _optional_data(data)
    f, g_fn = _bind(loss, arrays), _bind(grad, arrays)
    spec = ParamSpec.of(w0, argname="w0")
    steps = _count("steps", steps, minimum=2)
    rtol = _positive("rtol", rtol)
    evaluations = 0
    L_given = L is not None
    if L is None:
        smooth = estimate_smoothness(g_fn, w0)
        evaluations += smooth.evaluations
        L = smooth.L
    L = _positive("L", L)
    predicted = 2.0 / L
    runs = 0

    def stable(step: float) -> bool:
        nonlocal runs, evaluations
        runs += 1
        start: list[float] = []

        def exploded(t: int, w: Any, value: float, g: Any) -> bool:
            norm = float(np.linalg.norm(spec.flatten(g)))
            start.append(norm) if t == 0 else None
            return norm > 1e6 * max(start[0], 1e-300)

        with np.errstate(over="ignore", invalid="ignore"):
            run = gradient_descent(f, g_fn, w0, step_size=step, steps=steps, callback=exploded)
        evaluations += run.loss_calls + run.grad_calls
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
    ok = abs(lo / predicted - 1) <= rtol
    diagnosis = pattern = None
    if not ok:
        if lo == 0:
            pattern, diagnosis = (
                "sign",
                (f"descent diverges at every step size down to {hi:.3g}: grad points uphill (a flipped sign)"),
            )
        elif math.isinf(hi):
            pattern, diagnosis = (
                "scale",
                f"descent is stable at every step size up to {lo:.3g}: grad is (nearly) zero or far too small",
            )
        else:
            c = predicted / lo
            pattern, text = _explain_scale(c, arrays[0].shape[0] if arrays else None)
            diagnosis = f"descent is stable up to {lo:.3g} instead of 2/L = {predicted:.3g}: {text}" + (
                "" if L_given else " (or L was estimated poorly: pass the known L)"
            )
    return StepSizeLimitReport(
        ok=ok,
        invariant="step-size limit",
        evaluations=evaluations,
        diagnosis=diagnosis,
        pattern=pattern,
        L=float(L),
        L_given=L_given,
        predicted_limit=predicted,
        largest_stable=float(lo),
        smallest_unstable=float(hi),
        rtol=rtol,
        runs=runs,
    )
