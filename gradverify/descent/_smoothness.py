"""The smoothness of a gradient near a point: its Lipschitz constant ``L`` and the safe step ``1 / L``.

:func:`estimate_smoothness` measures the Lipschitz constant ``L`` of the
gradient near a point from Hessian-vector products (central differences of
the gradient), which gives the step size ``1 / L`` below which full-batch
descent cannot raise the loss.  Public through :mod:`gradverify.descent`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.params import ParamSpec
from .._core.validate import valid_count, valid_positive
from ..errors import NonFiniteValue
from ..steps import base_step

__all__ = ["DENSE_HESSIAN_MAX", "Smoothness", "estimate_smoothness"]


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
    iterations = valid_count("iterations", iterations, minimum=1)
    rtol = valid_positive("rtol", rtol)
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    step = base_step("central", spec.dtype) * scale if h is None else valid_positive("h", h)
    rng = np.random.default_rng(valid_count("seed", seed, minimum=0))
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
        return np.asarray((grad_at(x + step * vec) - grad_at(x - step * vec)) / (2 * step))

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
