"""The numbers and small helpers shared by the invariant checks.

The rounding allowances and the threshold of an accepted explanation live
here, in one place (the margin of the unbiasedness test, ``ALPHA_MARGIN``,
lives beside that test in :mod:`gradverify.invariants._unbiased`); the helpers bind
data to a loss or gradient, flatten a gradient, read optional data, measure a
relative error, and name a gradient that is a constant factor off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.batches import valid_data
from .._core.diagnose import name_factor
from .._core.params import ParamSpec
from .._core.protect import protect

__all__ = ["AGREEMENT_ROUNDING", "EXPLAINED", "LINE_NOISE", "LOSS_ROUNDING"]

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


def _protected(loss: Callable[..., Any], grad: Callable[..., Any], where: str) -> tuple[Callable[..., Any], ...]:
    """``loss`` and ``grad`` that see their data read-only (a write is an InputMutated naming them)."""
    return protect(loss, "loss", where=where), protect(grad, "grad", where=where)


def _bind(fn: Callable[..., Any], arrays: tuple[Any, ...]) -> Callable[[Any], Any]:
    return lambda w: fn(w, *arrays)


def _flat_grad(grad: Callable[[Any], Any], spec: ParamSpec, w: Any) -> np.ndarray:
    return spec.flatten(grad(spec.unflatten(spec.flatten(w))), argname="grad(w)").astype(np.float64)


def _optional_data(data: Any) -> tuple[Any, ...]:
    return () if data is None else valid_data(data)


def _explain_scale(c: float, n_samples: int | None) -> tuple[str, str]:
    """Pattern and words for a gradient ``c`` times too large along its own direction."""
    if n_samples is not None and n_samples > 1 and abs(c / n_samples - 1) < EXPLAINED:
        return "sum_vs_mean", (
            f"grad is about {c:.4g} times too large, close to the {n_samples} samples in the batch: "
            "it sums the per-sample gradients where the loss takes their mean (divide by the batch size)"
        )
    name = name_factor(c) if c > 0 else f"{c:.4g}"
    # Without data there is no batch whose size the factor could be: do not speculate.
    batched = n_samples is not None and n_samples > 1 and c > 1.5
    hint = " (a sum over samples where the loss averages gives a factor equal to the batch size)" if batched else ""
    return "scale", f"grad is about {name} times the gradient of the loss along its own direction{hint}"


def _relative(error: float, scale: float) -> float:
    if error == 0:
        return 0.0
    return error / scale if scale > 0 else math.inf
