"""Gradient descent, mini-batch gradient descent and SGD, recorded step by step.

The update is the one from the notes, ``weights += -step_size * weights_grad``,
taken on the whole data set (:func:`gradient_descent`), on sampled mini-batches
(:func:`minibatch_gradient_descent`) or on one sample at a time (:func:`sgd`).
Every run returns a :class:`Trajectory` with the losses, gradient norms and
weights it went through, so the invariants in :mod:`gradverify.invariants`
can be checked on it.

Weights are one array or a dict/tuple/list of arrays (a model's parameters);
internally they are one flat vector (:class:`gradverify.params.ParamSpec`),
and the user's functions always receive a fresh copy in the original
structure, so nothing they do to it can disturb the run.

Step sizes are a number, a callable ``t -> step size``, or a
:class:`Schedule` with the learning-rate policies of Caffe's solvers
(``fixed``, ``step``, ``exp``, ``inv``).

:func:`estimate_smoothness` measures the Lipschitz constant ``L`` of the
gradient near a point, which gives the step size ``1 / L`` below which
full-batch descent cannot raise the loss.

Examples
--------
>>> import numpy as np
>>> run = gradient_descent(lambda w: 0.5 * np.sum(w * w), lambda w: w, np.ones(3), step_size=0.5, steps=2)
>>> run.losses.tolist()
[1.5, 0.375, 0.09375]
>>> run.w.tolist()
[0.25, 0.25, 0.25]
"""

from __future__ import annotations

from ._routines import Trajectory, gradient_descent, minibatch_gradient_descent, sgd
from ._schedules import POLICIES, Schedule, schedule
from ._smoothness import Smoothness, estimate_smoothness

__all__ = [
    "POLICIES",
    "Schedule",
    "Smoothness",
    "Trajectory",
    "estimate_smoothness",
    "gradient_descent",
    "minibatch_gradient_descent",
    "schedule",
    "sgd",
]
