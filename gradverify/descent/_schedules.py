"""Step sizes of the descent routines: Caffe's learning-rate policies and their checks.

A step size is a positive number, a callable ``t -> step size``, or a
:class:`Schedule` built by :func:`schedule` with one of the policies of
Caffe's solvers (``fixed``, ``step``, ``exp``, ``inv``).
:func:`_step_size_fn` turns any of them into ``t -> step size`` that checks
every value as it is used.  Public through :mod:`gradverify.descent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import numpy as np

from .._core.validate import valid_finite, valid_positive
from ..errors import InvalidArgument

__all__ = ["POLICIES", "Schedule", "StepSize", "_step_size_fn", "schedule"]

#: Learning-rate policies, named as in Caffe's ``SGDSolver::GetLearningRate``.
POLICIES = ("fixed", "step", "exp", "inv")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate policy: ``schedule(t)`` is the step size of step ``t``.

    ``fixed``: ``base_lr``; ``step``: ``base_lr * gamma ** (t // stepsize)``;
    ``exp``: ``base_lr * gamma ** t``; ``inv``: ``base_lr * (1 + gamma * t) ** -power``.
    Build one with :func:`schedule`, which checks the arguments.
    """

    policy: str
    base_lr: float
    gamma: float = 1.0
    power: float = 0.0
    stepsize: int = 1

    def __call__(self, t: int) -> float:
        if self.policy == "fixed":
            return self.base_lr
        if self.policy == "step":
            return self.base_lr * self.gamma ** (t // self.stepsize)
        if self.policy == "exp":
            return self.base_lr * self.gamma**t
        return float(self.base_lr * (1.0 + self.gamma * t) ** (-self.power))


def schedule(
    policy: str,
    base_lr: float,
    *,
    gamma: float | None = None,
    power: float | None = None,
    stepsize: int | None = None,
) -> Schedule:
    """A step-size schedule with Caffe's learning-rate policies.

    Parameters
    ----------
    policy : {"fixed", "step", "exp", "inv"}
        ``fixed`` keeps ``base_lr``; ``step`` multiplies it by ``gamma`` every
        ``stepsize`` steps; ``exp`` by ``gamma`` every step; ``inv`` gives
        ``base_lr * (1 + gamma * t) ** -power``.
    base_lr : float
        The step size at ``t = 0``; positive.
    gamma : float
        Required by ``step`` and ``exp`` (positive) and ``inv`` (non-negative).
    power : float
        Required by ``inv``; non-negative.
    stepsize : int
        Required by ``step``; a positive number of steps.

    Examples
    --------
    >>> s = schedule("step", 0.1, gamma=0.5, stepsize=10)
    >>> [s(0), s(9), s(10), s(25)]
    [0.1, 0.1, 0.05, 0.025]
    """
    if policy not in POLICIES:
        raise InvalidArgument(f"policy={policy!r} is not one of {', '.join(map(repr, POLICIES))}")
    base_lr = valid_positive("base_lr", base_lr)
    needs = {"fixed": (), "step": ("gamma", "stepsize"), "exp": ("gamma",), "inv": ("gamma", "power")}[policy]
    given = {"gamma": gamma, "power": power, "stepsize": stepsize}
    for name in needs:
        if given[name] is None:
            raise InvalidArgument(f"policy={policy!r} needs {', '.join(needs)}; {name} is missing")
    for name, value in given.items():
        if value is not None and name not in needs:
            raise InvalidArgument(f"{name}={value!r} has no effect with policy={policy!r}; drop it")
    if policy == "fixed":
        return Schedule(policy, base_lr)
    if policy == "inv":
        g = valid_finite("gamma", gamma)
        p = valid_finite("power", power)
        if g < 0 or p < 0:
            raise InvalidArgument(f"inv needs gamma >= 0 and power >= 0, got gamma={gamma!r}, power={power!r}")
        return Schedule(policy, base_lr, gamma=g, power=p)
    g = valid_positive("gamma", gamma)
    if policy == "exp":
        return Schedule(policy, base_lr, gamma=g)
    if isinstance(stepsize, bool) or not isinstance(stepsize, (int, np.integer)) or stepsize < 1:
        raise InvalidArgument(f"stepsize={stepsize!r} must be a positive int (a number of steps)")
    return Schedule(policy, base_lr, gamma=g, stepsize=int(stepsize))


StepSize = Union[float, Callable[[int], float]]  # noqa: UP007 (a runtime alias: X | Y needs 3.10 objects)


def _step_size_fn(step_size: StepSize) -> Callable[[int], float]:
    """``t -> step size``, checking every value as it is used."""
    if callable(step_size):

        def at(t: int) -> float:
            return valid_positive(f"step_size({t})", step_size(t))

        return at
    value = valid_positive("step_size", step_size)
    return lambda t: value
