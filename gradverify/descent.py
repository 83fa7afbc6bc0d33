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

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .errors import InvalidArgument, NonFiniteValue, ShapeMismatch
from .params import ParamSpec
from .steps import base_step

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

#: Learning-rate policies, named as in Caffe's ``SGDSolver::GetLearningRate``.
POLICIES = ("fixed", "step", "exp", "inv")

#: Sampling schemes of mini-batch descent.
SAMPLINGS = ("shuffle", "replacement")


# ---------------------------------------------------------------------------
# step-size schedules
# ---------------------------------------------------------------------------
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
        return self.base_lr * (1.0 + self.gamma * t) ** (-self.power)


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
    base_lr = _positive("base_lr", base_lr)
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
        g = _finite("gamma", gamma)
        p = _finite("power", power)
        if g < 0 or p < 0:
            raise InvalidArgument(f"inv needs gamma >= 0 and power >= 0, got gamma={gamma!r}, power={power!r}")
        return Schedule(policy, base_lr, gamma=g, power=p)
    g = _positive("gamma", gamma)
    if policy == "exp":
        return Schedule(policy, base_lr, gamma=g)
    if isinstance(stepsize, bool) or not isinstance(stepsize, (int, np.integer)) or stepsize < 1:
        raise InvalidArgument(f"stepsize={stepsize!r} must be a positive int (a number of steps)")
    return Schedule(policy, base_lr, gamma=g, stepsize=int(stepsize))


StepSize = Union[float, Callable[[int], float]]  # noqa: UP007 (a runtime alias: X | Y needs 3.10 objects)


def _finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name}={value!r} must be a real number") from exc
    if not math.isfinite(out):
        raise InvalidArgument(f"{name}={value!r} must be finite")
    return out


def _positive(name: str, value: Any) -> float:
    out = _finite(name, value)
    if out <= 0:
        raise InvalidArgument(f"{name}={value!r} must be positive")
    return out


def _step_size_fn(step_size: StepSize) -> Callable[[int], float]:
    """``t -> step size``, checking every value as it is used."""
    if callable(step_size):

        def at(t: int) -> float:
            return _positive(f"step_size({t})", step_size(t))

        return at
    value = _positive("step_size", step_size)
    return lambda t: value


def _count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an int >= {minimum}")
    return int(value)


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
    weights: tuple
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

    def to_dict(self) -> dict:
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
def _scalar(value: Any, what: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"{what} must return a real scalar, got {type(value).__name__} of shape {arr.shape}")
    return float(arr.reshape(()))


def _descend(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    w0: Any,
    *,
    steps: int,
    step_size: StepSize,
    batch_for: Callable[[int], tuple],
    full: tuple,
    callback: Callable[..., Any] | None,
    record_every: int,
    seed: int | None,
) -> Trajectory:
    spec = ParamSpec.of(w0, argname="w0")
    w = spec.flatten(w0, argname="w0")
    lr_at = _step_size_fn(step_size)
    steps = _count("steps", steps, minimum=0)
    record_every = _count("record_every", record_every, minimum=1)
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
        current = spec.unflatten(w)  # a fresh copy: the user's functions may do what they like with it
        value = _scalar(loss(current, *args), "loss(w, *batch)")
        g = spec.flatten(grad(current, *args), argname="grad(w, *batch)")
        calls += 1
        losses.append(value)
        norms.append(float(np.linalg.norm(g)))
        finite = math.isfinite(value) and bool(np.all(np.isfinite(g)))
        stop = not finite or (callback is not None and bool(callback(t, spec.unflatten(w), value, spec.unflatten(g))))
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
        returning True stops the run at that iterate.
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


def _check_data(data: Any) -> tuple:
    """``data`` as a tuple of arrays sharing a first axis of length N >= 1."""
    if isinstance(data, np.ndarray):
        data = (data,)
    if not isinstance(data, (tuple, list)) or not data:
        raise InvalidArgument(f"data must be a non-empty tuple of arrays such as (X, y), got {type(data).__name__}")
    arrays = tuple(np.asarray(a) for a in data)
    if any(a.ndim == 0 for a in arrays):
        raise ShapeMismatch("every array in data needs a first (sample) axis; got a scalar")
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) != 1:
        raise ShapeMismatch(f"the arrays in data must share their first axis, got lengths {lengths}")
    if lengths[0] == 0:
        raise InvalidArgument("data holds no samples (first axis of length 0)")
    return arrays


def _sampler(n: int, batch_size: int, sampling: str, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index arrays of successive mini-batches.

    ``shuffle``: epochs of a fresh permutation, cut into batches of
    ``batch_size`` (the last one shorter when ``batch_size`` does not divide
    ``n``), so each sample is used once per epoch; with ``batch_size == n``
    every batch is the whole data set in its own order (shuffling within one
    batch changes nothing but the order of additions, and at a kink of a
    nonsmooth loss that order could flip a tie).  ``replacement``: every batch
    draws ``batch_size`` indices independently and uniformly.
    """
    if sampling == "shuffle" and batch_size == n:
        everything = np.arange(n)
        while True:
            yield everything
    if sampling == "shuffle":
        while True:
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                yield order[start : start + batch_size]
    while True:
        yield rng.integers(0, n, size=batch_size)


def _check_batches(data: Any, batch_size: Any) -> tuple[tuple, int, int]:
    """The data arrays, their sample count N, and batch_size checked to lie in 1..N."""
    arrays = _check_data(data)
    n = arrays[0].shape[0]
    batch_size = _count("batch_size", batch_size, minimum=1)
    if batch_size > n:
        raise InvalidArgument(f"batch_size={batch_size} is larger than the {n} samples in data")
    return arrays, n, batch_size


def _check_sampling(sampling: Any) -> str:
    if sampling not in SAMPLINGS:
        raise InvalidArgument(f"sampling={sampling!r} is not one of {', '.join(map(repr, SAMPLINGS))}")
    return sampling


def _seed(seed: Any) -> int:
    """An explicit int seed; None draws one from fresh entropy (recorded, so runs replay)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return _count("seed", seed, minimum=0)


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
        Arrays sharing their first (sample) axis, for example ``(X, y)``.
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
    arrays, n, batch_size = _check_batches(data, batch_size)
    sampling = _check_sampling(sampling)
    seed = _seed(seed)
    batches = _sampler(n, batch_size, sampling, np.random.default_rng(seed))

    def batch_for(t: int) -> tuple:
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


# ---------------------------------------------------------------------------
# smoothness
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Smoothness:
    """An estimate of the Lipschitz constant of a gradient near a point.

    Attributes
    ----------
    L : float
        Largest ``|eigenvalue|`` of the Hessian found by power iteration (a
        lower estimate of the local Lipschitz constant that rises as it converges).
    step_size : float
        ``1 / L``, the step below which full-batch descent cannot raise the
        loss while ``L`` holds (``inf`` when ``L == 0``).
    evaluations : int
        Calls of ``grad`` spent.
    iterations : int
        Power iterations done.
    converged : bool
        Whether successive estimates agreed to ``rtol``.
    """

    L: float
    step_size: float
    evaluations: int
    iterations: int
    converged: bool


#: Up to this many parameters, smoothness comes from the whole Hessian.
DENSE_HESSIAN_MAX = 64


def estimate_smoothness(
    grad: Callable[[Any], Any],
    w: Any,
    *,
    iterations: int = 100,
    rtol: float = 1e-6,
    h: float | None = None,
    seed: int = 0,
) -> Smoothness:
    """Estimate ``L``, the Lipschitz constant of ``grad`` near ``w``, and the safe step ``1 / L``.

    The largest ``|eigenvalue|`` of the Hessian, from Hessian-vector products,
    each a central difference of the gradient:
    ``H v ~ (grad(w + h v) - grad(w - h v)) / (2 h)``.  Up to
    ``DENSE_HESSIAN_MAX`` parameters the whole Hessian is built from ``n``
    products; above, Lanczos iteration (ARPACK's ``eigsh``) finds the top
    eigenvalue, which, unlike power iteration, does not stall when the top
    eigenvalues are close together.  A step of ``1 / L`` leaves a factor of
    two to the descent limit ``2 / L``.

    Parameters
    ----------
    grad : callable
        ``grad(w) -> like w``.
    w : array or dict/tuple/list of arrays
        Where to measure.
    iterations : int
        Most Lanczos restarts (each a few Hessian-vector products, two
        gradient calls per product).
    rtol : float
        Stop when two successive estimates agree to this relative tolerance.
    h : float, optional
        Length of the finite-difference step; default ``EPS ** (1/3) * max(1, max |w|)``
        (the central-difference rule of :mod:`gradverify.steps`).
    seed : int
        Seeds the starting vector.

    Examples
    --------
    >>> import numpy as np
    >>> s = estimate_smoothness(lambda w: np.array([1.0, 4.0]) * w, np.zeros(2))
    >>> round(s.L, 4), round(s.step_size, 4)
    (4.0, 0.25)
    """
    spec = ParamSpec.of(w, argname="w")
    x = spec.flatten(w, argname="w")
    iterations = _count("iterations", iterations, minimum=1)
    rtol = _positive("rtol", rtol)
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    step = base_step("central", spec.dtype) * scale if h is None else _positive("h", h)
    rng = np.random.default_rng(_count("seed", seed, minimum=0))
    v = rng.standard_normal(spec.size)
    v /= np.linalg.norm(v)

    def grad_at(point: np.ndarray) -> np.ndarray:
        g = spec.flatten(grad(spec.unflatten(point.astype(spec.dtype))), argname="grad(w)")
        if not np.all(np.isfinite(g)):
            raise NonFiniteValue("grad returned NaN or inf near w while estimating smoothness")
        return g.astype(np.float64)

    calls = [0]

    def hvp(vec: np.ndarray) -> np.ndarray:
        calls[0] += 1
        vec = np.asarray(vec, dtype=np.float64).reshape(-1)
        return (grad_at(x + step * vec) - grad_at(x - step * vec)) / (2 * step)

    if spec.size <= DENSE_HESSIAN_MAX:
        # Small problems: the whole (symmetrised) Hessian from n products; its
        # eigenvalues are exact up to the finite differences, clustered or not.
        H = np.stack([hvp(e) for e in np.eye(spec.size)], axis=1)
        L = float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (H + H.T)))))
        converged, done = True, spec.size
    else:
        # Lanczos (ARPACK) on Hessian-vector products: unlike plain power
        # iteration it does not stall when the top eigenvalues are close.
        from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

        operator = LinearOperator((spec.size, spec.size), matvec=hvp, dtype=np.float64)
        try:
            values = eigsh(operator, k=1, which="LM", v0=v, maxiter=iterations, tol=rtol, return_eigenvectors=False)
            L, converged = float(np.max(np.abs(values))), True
        except ArpackNoConvergence as exc:
            L = float(np.max(np.abs(exc.eigenvalues))) if len(exc.eigenvalues) else float(np.linalg.norm(hvp(v)))
            converged = False
        done = calls[0]
    return Smoothness(
        L=L,
        step_size=math.inf if L == 0.0 else 1.0 / L,
        evaluations=2 * calls[0],
        iterations=done,
        converged=converged,
    )
