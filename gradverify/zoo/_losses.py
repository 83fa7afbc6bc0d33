"""Reference problems with exact gradients, and deliberately broken twins.

The losses follow the course notes they come from: a data loss averaged over
the ``N`` samples plus ``0.5 * reg * sum(W * W)``.  Every loss is written to be
complex-safe where the mathematics allows (so complex-step can check it): the
softmax shift uses the real part of the row maximum, a constant, and softplus
branches on the real part only.  The multiclass SVM loss has hinges, so it is
neither complex-safe nor differentiable everywhere: it is the zoo's kink case.

Examples
--------
>>> from gradverify import zoo
>>> problem = zoo.make_problem("softmax", seed=0)
>>> bool(problem.f(problem.x0) > 0)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "PROBLEM_NAMES",
    "Problem",
    "logistic_grad",
    "logistic_loss",
    "make_dataset",
    "make_problem",
    "mlp_grad",
    "mlp_loss",
    "mutants",
    "rosenbrock",
    "rosenbrock_grad",
    "softmax_grad",
    "softmax_loss",
    "svm_grad",
    "svm_loss",
]


# -- softmax (linear classifier, cross-entropy) -------------------------------------


def _softmax_probs(scores: np.ndarray) -> np.ndarray:
    # The shift only guards exp against overflow; using its real part keeps it a
    # constant for complex-step, which leaves the loss analytic.
    shifted = scores - scores.real.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _cross_entropy(scores: np.ndarray, y: np.ndarray) -> Any:
    shifted = scores - scores.real.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    picked = np.take_along_axis(shifted, y[:, None], axis=-1)[:, 0]
    return np.mean(log_norm - picked)


def softmax_loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> Any:
    """Mean cross-entropy of a linear softmax classifier plus L2 regularisation.

    Parameters
    ----------
    W : ndarray, shape (D, C)
    X : ndarray, shape (N, D)
    y : ndarray of int, shape (N,)
    reg : float
        Regularisation strength; the penalty is ``0.5 * reg * sum(W * W)``.
    """
    return _cross_entropy(X @ W, y) + 0.5 * reg * np.sum(W * W)


def softmax_grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> np.ndarray:
    """Exact gradient of :func:`softmax_loss` with respect to ``W``."""
    probs = _softmax_probs(X @ W)
    probs[np.arange(len(y)), y] -= 1.0
    return np.asarray(X.T @ probs / len(y) + reg * W)


# -- multiclass SVM (hinge, has kinks) ------------------------------------------------


def svm_loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0, delta: float = 1.0) -> Any:
    """Mean multiclass hinge loss ``sum_j max(0, s_j - s_y + delta)`` plus L2."""
    scores = X @ W
    correct = np.take_along_axis(scores, y[:, None], axis=1)
    margins = np.maximum(0.0, scores - correct + delta)
    margins[np.arange(len(y)), y] = 0.0
    return np.sum(margins) / len(y) + 0.5 * reg * np.sum(W * W)


def svm_grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0, delta: float = 1.0) -> np.ndarray:
    """Gradient of :func:`svm_loss` (a subgradient at the hinges)."""
    scores = X @ W
    correct = np.take_along_axis(scores, y[:, None], axis=1)
    active = (scores - correct + delta > 0).astype(W.dtype)
    active[np.arange(len(y)), y] = 0.0
    active[np.arange(len(y)), y] = -active.sum(axis=1)
    return np.asarray(X.T @ active / len(y) + reg * W)


# -- logistic regression --------------------------------------------------------------


def _softplus(z: np.ndarray) -> np.ndarray:
    # log(1 + exp(z)) without overflow; the branch looks at the real part only,
    # so complex-step sees an analytic function on each side.
    pos = z.real > 0
    return np.where(pos, z + np.log1p(np.exp(-np.where(pos, z, 0))), np.log1p(np.exp(np.where(pos, 0, z))))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logistic_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> Any:
    """Mean logistic loss for labels ``y`` in {0, 1}, plus L2 on ``w``."""
    z = X @ w
    return np.mean(_softplus(z) - y * z) + 0.5 * reg * np.sum(w * w)


def logistic_grad(w: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> np.ndarray:
    """Exact gradient of :func:`logistic_loss`."""
    return np.asarray(X.T @ (_sigmoid(X @ w) - y) / len(y) + reg * w)


# -- two-layer MLP ----------------------------------------------------------------------


def mlp_loss(params: dict[str, Any], X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> Any:
    """Softmax loss of ``tanh(X W1 + b1) W2 + b2``, plus L2 on W1 and W2.

    ``params`` holds ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``.
    """
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    scores = hidden @ params["W2"] + params["b2"]
    penalty = 0.5 * reg * (np.sum(params["W1"] * params["W1"]) + np.sum(params["W2"] * params["W2"]))
    return _cross_entropy(scores, y) + penalty


def mlp_grad(params: dict[str, Any], X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> dict[str, Any]:
    """Exact gradient of :func:`mlp_loss` (backpropagation by hand)."""
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    dscores = _softmax_probs(hidden @ params["W2"] + params["b2"])
    dscores[np.arange(len(y)), y] -= 1.0
    dscores /= len(y)
    dhidden = (dscores @ params["W2"].T) * (1.0 - hidden * hidden)
    return {
        "W1": X.T @ dhidden + reg * params["W1"],
        "b1": dhidden.sum(axis=0),
        "W2": hidden.T @ dscores + reg * params["W2"],
        "b2": dscores.sum(axis=0),
    }


# -- Rosenbrock ----------------------------------------------------------------------------


def rosenbrock(x: np.ndarray) -> Any:
    """The chained Rosenbrock function ``sum(100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2)``."""
    x = np.asarray(x)
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """Exact gradient of :func:`rosenbrock`."""
    x = np.asarray(x)
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


# -- problems and their broken twins -------------------------------------------------------


def make_dataset(
    n_samples: int, n_features: int, n_classes: int, *, seed: int = 0, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """A small classification data set ``(X, y)`` from a seeded generator.

    Every class appears at least once when ``n_samples >= n_classes``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    y = rng.integers(0, n_classes, size=n_samples)
    y[: min(n_samples, n_classes)] = np.arange(min(n_samples, n_classes))
    return X, y


@dataclass(frozen=True)
class Problem:
    """A reference problem: ``f(x)`` and its exact gradient at a default point.

    Attributes
    ----------
    name : str
    f : callable
        Parameters -> scalar loss (the data is closed over).
    grad : callable
        Parameters -> exact gradient, same structure.
    x0 : array or dict of arrays
        A default point.
    complex_safe : bool
        Whether ``f`` is analytic so that complex-step applies.
    broken : dict of str to callable
        Deliberately wrong gradients, keyed by the bug they contain.
    """

    name: str
    f: Callable[[Any], Any]
    grad: Callable[[Any], Any]
    x0: Any
    complex_safe: bool
    broken: dict[str, Any] = field(default_factory=dict)


def mutants(grad: Callable[[Any], Any], *, entry: int = 0, rel: float = 1e-3) -> dict[str, Any]:
    """Generic wrong versions of ``grad`` (applied to every leaf).

    Keys: ``"double"`` (x2), ``"half"``, ``"sign"``, ``"zero"``, ``"transposed"``
    (each 2-D leaf computed in the transposed layout), ``"shift"`` (entries
    rolled by one), ``"one_entry"`` (flat entry ``entry`` of the first leaf off
    by ``rel`` relative).
    """

    def leafwise(op: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], Any]:
        def wrong(x: Any) -> Any:
            g = grad(x)
            if isinstance(g, dict):
                return {k: op(np.array(v, copy=True)) for k, v in g.items()}
            return op(np.array(g, copy=True))

        return wrong

    def first_leaf(op: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], Any]:
        def wrong(x: Any) -> Any:
            g = grad(x)
            if isinstance(g, dict):
                g = {k: np.array(v, copy=True) for k, v in g.items()}
                first = next(iter(g))
                g[first] = op(g[first])
                return g
            return op(np.array(g, copy=True))

        return wrong

    def bump(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(-1)
        flat[entry] = flat[entry] * (1 + rel) if flat[entry] != 0 else rel
        return a

    def transpose(a: np.ndarray) -> np.ndarray:
        return a.T.reshape(a.shape) if a.ndim == 2 else a

    return {
        "double": leafwise(lambda a: 2 * a),
        "half": leafwise(lambda a: 0.5 * a),
        "sign": leafwise(lambda a: -a),
        "zero": leafwise(np.zeros_like),
        "transposed": leafwise(transpose),
        "shift": leafwise(lambda a: np.roll(a, 1)),
        "one_entry": first_leaf(bump),
    }


def _classifier(name: str, seed: int, n: int, d: int, c: int, reg: float, dtype: Any) -> Problem:
    X, y = make_dataset(n, d, c, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x0: Any
    f: Callable[[Any], Any]
    g: Callable[[Any], Any]
    data_only: Callable[[Any], Any]
    if name == "logistic":
        y = (y % 2).astype(dtype)
        x0 = (0.5 * rng.standard_normal(d)).astype(dtype)
        f = lambda w: logistic_loss(w, X, y, reg)  # noqa: E731
        g = lambda w: logistic_grad(w, X, y, reg)  # noqa: E731
        data_only = lambda w: logistic_grad(w, X, y, 0.0)  # noqa: E731
        safe = True
    elif name == "mlp":
        h = max(2, d // 2)
        x0 = {
            "W1": (rng.standard_normal((d, h)) / np.sqrt(d)).astype(dtype),
            "b1": (0.1 * rng.standard_normal(h)).astype(dtype),
            "W2": (rng.standard_normal((h, c)) / np.sqrt(h)).astype(dtype),
            "b2": (0.1 * rng.standard_normal(c)).astype(dtype),
        }
        f = lambda p: mlp_loss(p, X, y, reg)  # noqa: E731
        g = lambda p: mlp_grad(p, X, y, reg)  # noqa: E731
        data_only = lambda p: mlp_grad(p, X, y, 0.0)  # noqa: E731
        safe = True
    else:
        loss, grad = (softmax_loss, softmax_grad) if name == "softmax" else (svm_loss, svm_grad)
        x0 = (0.1 * rng.standard_normal((d, c))).astype(dtype)
        f = lambda W: loss(W, X, y, reg)  # noqa: E731
        g = lambda W: grad(W, X, y, reg)  # noqa: E731
        data_only = lambda W: grad(W, X, y, 0.0)  # noqa: E731
        safe = name == "softmax"

    def forgot_mean(p: Any) -> Any:
        # The data term summed over samples where the loss averages.
        full: Any = g(p)
        data: Any = data_only(p)
        if isinstance(full, dict):
            return {k: full[k] + (n - 1) * data[k] for k in full}
        return full + (n - 1) * data

    def no_reg(p: Any) -> Any:
        # The regularisation gradient left out.
        return data_only(p)

    broken = dict(mutants(g))
    broken.update({"forgot_mean": forgot_mean, "no_reg": no_reg})
    return Problem(name, f, g, x0, safe, broken)


#: Names accepted by :func:`make_problem`.
PROBLEM_NAMES = ("softmax", "svm", "logistic", "mlp", "rosenbrock")


def make_problem(
    name: str,
    *,
    seed: int = 0,
    n_samples: int = 20,
    n_features: int = 6,
    n_classes: int = 4,
    n: int = 8,
    reg: float = 0.1,
    dtype: Any = np.float64,
) -> Problem:
    """Build a reference problem from :data:`PROBLEM_NAMES` with seeded data.

    Parameters
    ----------
    name : str
        One of :data:`PROBLEM_NAMES`.
    seed : int
        Seeds the data and the default point.
    n_samples, n_features, n_classes : int
        Sizes of the classification problems.
    n : int
        Dimension of Rosenbrock.
    reg : float
        L2 regularisation strength of the classifiers.
    dtype : dtype
        float64 or float32; the data, point and computation use it.
    """
    if name == "rosenbrock":
        rng = np.random.default_rng(seed)
        x0 = rng.uniform(-1.5, 1.5, size=n).astype(dtype)
        return Problem(name, rosenbrock, rosenbrock_grad, x0, True, mutants(rosenbrock_grad))
    if name not in PROBLEM_NAMES:
        from .errors import InvalidArgument

        raise InvalidArgument(f"name={name!r} is not a zoo problem; choose one of {', '.join(PROBLEM_NAMES)}")
    return _classifier(name, seed, n_samples, n_features, n_classes, reg, dtype)
