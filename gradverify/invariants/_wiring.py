"""Names how a gradient is wired over its batch, by repeating the data twice.

When mini-batch gradients disagree with the full-batch gradient, or are biased,
:func:`_probe_wiring` tells a gradient that sums where the loss averages from a
regularisation term scaled with the batch, and both from other mismatches, by
how the gradient changes when every sample appears twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.params import ParamSpec
from .._core.validate import real_scalar
from ..steps import eps
from ._helpers import EXPLAINED, LOSS_ROUNDING, _bind, _flat_grad


def _leaf_name(spec: ParamSpec, flat_index: int) -> str:
    if spec.kind == "array":
        return "w"
    name = spec.names[spec.leaf_of(flat_index)]
    return str(name) if spec.kind == "dict" else f"w[{name}]"


def _probe_wiring(
    loss: Callable[..., Any], grad: Callable[..., Any], w: Any, arrays: tuple[Any, ...], spec: ParamSpec, reduction: str
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
    l1 = real_scalar(loss(spec.unflatten(spec.flatten(w)), *arrays), "loss")
    l2 = real_scalar(loss(spec.unflatten(spec.flatten(w)), *doubled), "loss")
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
        return _unchanged_by_doubling(reduction, loss_ratio)
    # One column of w per leaf: regularisation strengths may differ per leaf
    # (biases usually have none).  Try the simplest explanations first, so a
    # gradient parallel to w (one parameter) is read as a scale of the gradient
    # before a term in w.
    w_columns = _leaf_columns(spec, wflat)
    a, b, fitted = _fit_change(residual, size, g1, w_columns)
    terms = ", ".join(
        f"{c:.3g} * {_leaf_name(spec, int(np.flatnonzero(col)[0]))}" for c, col in zip(b, w_columns) if abs(c) > 0
    )
    parallel = False
    if w_columns and np.linalg.norm(g1) > 0:
        basis = np.column_stack(w_columns)
        coef, *_ = np.linalg.lstsq(basis, g1, rcond=None)
        parallel = bool(np.linalg.norm(g1 - basis @ coef) <= 1e-6 * np.linalg.norm(g1))
    return _explain_change(reduction, a, g1, size, terms, fitted=fitted, parallel=parallel)


def _unchanged_by_doubling(reduction: str, loss_ratio: float) -> tuple[str, str]:
    """Pattern and words when grad combines like an average: the loss, or state kept between calls, is to blame."""
    if reduction == "mean" and abs(loss_ratio - 2) < EXPLAINED:
        return (
            "sum_vs_mean",
            "the loss doubles when the data is repeated twice: it sums over samples where the checks expect a mean (pass reduction='sum' if that is intended)",
        )
    return (
        "mismatch",
        "grad combines over samples like an average, yet mini-batches disagree with the full batch: does grad keep state between calls or depend on the batch's order?",
    )


def _leaf_columns(spec: ParamSpec, wflat: np.ndarray) -> list[np.ndarray]:
    """One column per leaf: the flat weights on that leaf's entries and 0 elsewhere; all-zero columns are dropped."""
    w_columns = [
        np.where((np.arange(spec.size) >= lo) & (np.arange(spec.size) < hi), wflat, 0.0)
        for lo, hi in zip(spec.offsets[:-1], spec.offsets[1:])
    ]
    return [c for c in w_columns if np.any(c)]


def _fit_change(
    residual: np.ndarray, size: float, g1: np.ndarray, w_columns: list[np.ndarray]
) -> tuple[float, np.ndarray, bool]:
    """Fit the change of grad to ``a * grad + sum_k b_k * w_k``; return ``a``, ``b`` and whether a fit explains it.

    The candidates are ``a * grad`` alone, the weight columns alone, then both;
    a fit explains the change when it leaves at most ``within * size`` of it.
    """
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
    return a, b, fitted


def _explain_change(
    reduction: str, a: float, g1: np.ndarray, size: float, terms: str, *, fitted: bool, parallel: bool
) -> tuple[str, str]:
    """Pattern and words for the change of grad, ``a * grad`` plus ``terms`` in the weights, on doubled data."""
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
