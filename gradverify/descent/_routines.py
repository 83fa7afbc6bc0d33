"""The three descent routines and the record of a run (see :mod:`gradverify.descent`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.batches import batch_sampler, valid_batches, valid_sampling
from .._core.params import ParamSpec
from .._core.protect import protect
from .._core.validate import real_scalar, valid_count, valid_seed
from ..errors import InvalidArgument
from ._schedules import StepSize, _step_size_fn

__all__ = ["Trajectory", "gradient_descent", "minibatch_gradient_descent", "sgd"]


# ---------------------------------------------------------------------------
# the record of a run
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Trajectory:
    """What a descent run went through.

    Attributes
    ----------
    losses : ndarray, shape (steps + 1,)
        ``losses[t]`` for ``t < steps`` is the loss at the iterate ``w_t`` on the
        data step ``t`` used (all of it for :func:`gradient_descent`, the
        mini-batch otherwise); ``losses[steps]`` is the loss at the final
        weights on all the data (unless the run diverged: then it is the
        non-finite value that stopped it).
    grad_norms : ndarray, shape (steps + 1,)
        Euclidean norms of the matching gradients.
    step_sizes : ndarray, shape (steps,)
        The step size each update used.
    weights : tuple
        Recorded iterates, in the structure of ``w0``: every ``record_every``-th
        and always the first and the last.
    recorded_steps : ndarray of int
        The iteration index of each entry of ``weights``.
    steps : int
        Updates taken (fewer than asked when the run diverged or was stopped).
    loss_calls, grad_calls : int
        Calls of ``loss`` and ``grad``.
    status : str
        ``"completed"``, ``"diverged"`` (a loss or gradient became NaN or
        infinite) or ``"stopped"`` (the callback returned True).
    seed : int or None
        The seed of the mini-batch sampler (replays the run), None for full batch.
    """

    losses: np.ndarray
    grad_norms: np.ndarray
    step_sizes: np.ndarray
    weights: tuple[Any, ...]
    recorded_steps: np.ndarray
    steps: int
    loss_calls: int
    grad_calls: int
    status: str
    seed: int | None = None

    @property
    def w(self) -> Any:
        """The final weights."""
        return self.weights[-1]

    @property
    def final_loss(self) -> float:
        """The loss at the final weights (on all the data)."""
        return float(self.losses[-1])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (the weights are left out)."""
        return {
            "losses": [float(v) for v in self.losses],
            "grad_norms": [float(v) for v in self.grad_norms],
            "step_sizes": [float(v) for v in self.step_sizes],
            "recorded_steps": [int(v) for v in self.recorded_steps],
            "steps": self.steps,
            "loss_calls": self.loss_calls,
            "grad_calls": self.grad_calls,
            "status": self.status,
            "seed": self.seed,
        }

    def __str__(self) -> str:
        return (
            f"Trajectory: {self.steps} steps, {self.status}; loss {self.losses[0]:.6g} -> {self.losses[-1]:.6g}, "
            f"|grad| {self.grad_norms[0]:.3g} -> {self.grad_norms[-1]:.3g}; "
            f"{self.loss_calls} loss calls, {self.grad_calls} grad calls"
        )


# ---------------------------------------------------------------------------
# the loop shared by every variant
# ---------------------------------------------------------------------------
def _descend(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    *,
    steps: int,
    step_size: StepSize,
    batch_for: Callable[[int], tuple[Any, ...]],
    full: tuple[Any, ...],
    callback: Callable[..., Any] | None,
    record_every: int,
    seed: int | None,
) -> Trajectory:
    spec = ParamSpec.of(w0, argname="w0")
    w = spec.flatten(w0, argname="w0")
    lr_at = _step_size_fn(step_size)
    steps = valid_count("steps", steps, minimum=0)
    record_every = valid_count("record_every", record_every, minimum=1)
    losses: list[float] = []
    norms: list[float] = []
    lrs: list[float] = []
    kept: list[Any] = []
    kept_at: list[int] = []
    calls = 0
    status = "completed"
    t = 0
    while True:
        last = t == steps
        args = full if last else batch_for(t)
        # Fresh copies, one each: what loss does to its w cannot reach grad or the run.
        value = real_scalar(loss(spec.unflatten(w), *args), "loss(w, *batch)")
        g = spec.flatten(grad(spec.unflatten(w), *args), argname="grad(w, *batch)")
        calls += 1
        losses.append(value)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows: status says so
            norms.append(float(np.linalg.norm(g)))
        finite = math.isfinite(value) and bool(np.all(np.isfinite(g)))
        stop = not finite or (callback is not None and _stop(callback(t, spec.unflatten(w), value, spec.unflatten(g))))
        if last or stop or t % record_every == 0:
            kept.append(spec.unflatten(w))
            kept_at.append(t)
        if not finite:
            status = "diverged"
        elif stop and not last:
            status = "stopped"
        if last or stop:
            break
        lr = lr_at(t)
        lrs.append(lr)
        with np.errstate(over="ignore", invalid="ignore"):
            w = w - lr * g
        t += 1
    return Trajectory(
        losses=np.array(losses),
        grad_norms=np.array(norms),
        step_sizes=np.array(lrs),
        weights=tuple(kept),
        recorded_steps=np.array(kept_at, dtype=np.int64),
        steps=t,
        loss_calls=calls,
        grad_calls=calls,
        status=status,
        seed=seed,
    )


def _stop(answer: Any) -> bool:
    """The callback's answer: True stops the run; None or False goes on; anything else is a mistake."""
    if answer is None or isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    raise InvalidArgument(
        f"callback returned {type(answer).__name__} {_short(answer)}; it must return True to stop the run, "
        "or None or False to go on"
    )


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def gradient_descent(
    loss: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    w0: Any,
    *,
    step_size: StepSize,
    steps: int,
    callback: Callable[[int, Any, float, Any], Any] | None = None,
    record_every: int = 1,
) -> Trajectory:
    """Full-batch gradient descent: ``w <- w - step_size * grad(w)``.

    Parameters
    ----------
    loss, grad : callable
        ``loss(w) -> scalar`` and ``grad(w) -> like w``.
    w0 : array or dict/tuple/list of arrays
        The starting weights (not modified).
    step_size : float, callable or Schedule
        A positive number, or ``t -> step size`` (see :func:`schedule`).
    steps : int
        Number of updates.
    callback : callable, optional
        ``callback(t, w_t, loss_t, grad_t)`` at every iterate ``t = 0 .. steps``;
        returning True stops the run at that iterate (None or False goes on;
        any other value is an ``InvalidArgument``).
    record_every : int
        Keep every k-th iterate in ``Trajectory.weights`` (and the last).

    Returns
    -------
    Trajectory
        ``steps + 1`` losses and gradient norms; one loss and one gradient call per iterate.
        A NaN or infinite loss or gradient stops the run with status ``"diverged"``.
    """
    return _descend(
        lambda w: loss(w),
        lambda w: grad(w),
        w0,
        steps=steps,
        step_size=step_size,
        batch_for=lambda t: (),
        full=(),
        callback=callback,
        record_every=record_every,
        seed=None,
    )


def minibatch_gradient_descent(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    data: Sequence[np.ndarray],
    *,
    step_size: StepSize,
    batch_size: int,
    steps: int,
    sampling: str = "shuffle",
    seed: int | None = None,
    callback: Callable[[int, Any, float, Any], Any] | None = None,
    record_every: int = 1,
) -> Trajectory:
    """Mini-batch gradient descent: ``w <- w - step_size * grad(w, *batch)``.

    Parameters
    ----------
    loss, grad : callable
        ``loss(w, *batch) -> scalar`` and ``grad(w, *batch) -> like w``, where
        ``batch`` holds the rows of each array in ``data`` for the sampled indices.
    w0 : array or dict/tuple/list of arrays
        The starting weights (not modified).
    data : tuple of arrays
        Arrays sharing their first (sample) axis, for example ``(X, y)``.  They
        reach ``loss`` and ``grad`` read-only (never modified): a function that
        writes into them raises ``InputMutated`` naming it and the argument.
    step_size : float, callable or Schedule
        See :func:`gradient_descent`.
    batch_size : int
        Samples per batch, from 1 (SGD) to N (full batch).
    steps : int
        Number of updates (batches), not epochs.
    sampling : {"shuffle", "replacement"}
        ``shuffle``: epochs without replacement, each a fresh permutation cut
        into batches (the last batch of an epoch is short when ``batch_size``
        does not divide N; ``batch_size = N`` is full-batch descent exactly);
        ``replacement``: indices drawn independently.
    seed : int, optional
        Seeds the sampler; None draws a seed, which ``Trajectory.seed`` records.
    callback, record_every
        See :func:`gradient_descent`.

    Returns
    -------
    Trajectory
        ``losses[t]`` is the loss on the batch of step ``t``; the last entry is
        the loss at the final weights on all the data (one extra full call).
    """
    arrays, n, batch_size = valid_batches(data, batch_size)
    sampling = valid_sampling(sampling)
    seed = valid_seed(seed)
    # The data reach loss and grad read-only: a loss that normalises X in place is
    # an InputMutated naming it, never a change to the caller's arrays.
    loss = protect(loss, "loss", where="minibatch_gradient_descent")
    grad = protect(grad, "grad", where="minibatch_gradient_descent")
    batches = batch_sampler(n, batch_size, sampling, np.random.default_rng(seed))

    def batch_for(t: int) -> tuple[Any, ...]:
        index = next(batches)
        return tuple(a[index] for a in arrays)

    return _descend(
        loss,
        grad,
        w0,
        steps=steps,
        step_size=step_size,
        batch_for=batch_for,
        full=arrays,
        callback=callback,
        record_every=record_every,
        seed=seed,
    )


def sgd(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    data: Sequence[np.ndarray],
    *,
    step_size: StepSize,
    steps: int,
    sampling: str = "shuffle",
    seed: int | None = None,
    callback: Callable[[int, Any, float, Any], Any] | None = None,
    record_every: int = 1,
) -> Trajectory:
    """Stochastic gradient descent: :func:`minibatch_gradient_descent` with ``batch_size=1``."""
    return minibatch_gradient_descent(
        loss,
        grad,
        w0,
        data,
        step_size=step_size,
        batch_size=1,
        steps=steps,
        sampling=sampling,
        seed=seed,
        callback=callback,
        record_every=record_every,
    )
