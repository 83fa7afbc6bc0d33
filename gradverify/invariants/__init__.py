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

This module is the public entry point; the code lives in one module per job:
the reports in :mod:`gradverify.invariants._reports`, the checks in
:mod:`gradverify.invariants._direction`, :mod:`gradverify.invariants._monotone`,
:mod:`gradverify.invariants._step_size`, :mod:`gradverify.invariants._agreement` and
:mod:`gradverify.invariants._unbiased` (with its statistics), the diagnosis of how a
gradient is wired over its batch in :mod:`gradverify.invariants._wiring`, and the
shared numbers and helpers in :mod:`gradverify.invariants._helpers`.
"""

from __future__ import annotations

from ._agreement import check_minibatch_agreement
from ._direction import check_descent_direction
from ._monotone import check_monotone_decrease
from ._reports import (
    AgreementReport,
    DescentDirectionReport,
    InvariantReport,
    MonotoneReport,
    StepSizeLimitReport,
    UnbiasedReport,
)
from ._step_size import check_step_size_limit
from ._unbiased import check_unbiased

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
