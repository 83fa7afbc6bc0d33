"""The reports of the invariant checks: each verdict with the evidence that explains it.

:class:`InvariantReport` holds what every check reports (the verdict, the
invariant, the calls spent, the likely cause of a failure) and prints itself;
each check of :mod:`gradverify.invariants` returns its own subclass, which adds
its evidence.  All are frozen dataclasses with ``to_dict`` for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .._core.report import jsonable

__all__ = [
    "AgreementReport",
    "DescentDirectionReport",
    "InvariantReport",
    "MonotoneReport",
    "StepSizeLimitReport",
    "UnbiasedReport",
]


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}

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
