"""Which estimator a check uses: resolve ``method="auto"`` and vet ``method="complex"``.

Complex-step is exact to rounding when ``f`` is analytic, and silently wrong
when it is not (``abs``, ``max``, ``np.real``, a cast to float).  So
complex-safety is measured, never assumed: the complex-step derivative along a
random direction must agree with a Richardson estimate within both bounds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import steps as rules
from ..errors import NotComplexSafe
from .estimators import directional
from .evaluate import Evaluator
from .problem import Noise

__all__ = ["MethodChoice", "resolve_method"]


class MethodChoice(NamedTuple):
    """The estimator a check uses, why, and the complex evaluators it made."""

    method: str
    note: str | None
    ev_c: Evaluator | None
    tried: tuple[Evaluator, ...]


def resolve_method(
    method: str,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    rng: np.random.Generator,
    noise: Noise,
    tolerance: rules.Tolerance,
) -> MethodChoice:
    """Resolve ``auto`` and vet ``complex``: complex-safety is checked, never assumed.

    The complex-step derivative along a random direction must agree with a
    Richardson estimate within both bounds (and the rounding of the
    direction the finite differences really took).  Returns the method, a
    note, the complex evaluator when complex-step is used, and every complex
    evaluator made (their calls count).
    """
    if method not in ("auto", "complex"):
        return MethodChoice(method, None, None, ())
    v = rng.standard_normal(x.size)
    reason = None
    made = Evaluator(ev.f, ev.spec, x, complex_step=True, vectorized=ev.vectorized, scalar=ev.scalar, name=ev.name)
    tried = (made,)
    ev_c: Evaluator | None = made
    try:
        cs = directional(made, x, f0, v, "complex", noise=np.zeros_like(f0))
        d_cs, b_cs = cs.value, cs.bound
    except NotComplexSafe as exc:
        reason = str(exc)
        ev_c = None
    if ev_c is not None:
        fd = directional(ev, x, f0, v, "richardson", noise())
        d_fd, b_fd = fd.value, fd.bound
        # The rung directions fl(x + t u) differ from u by ~EPS/t relative.
        b_dir = rules.DIRECTION_ROUNDING * tolerance.eps / rules.base_step("richardson", x.dtype) * np.abs(d_fd)
        if np.all(tolerance.verdict(d_cs, d_fd, b_fd + b_cs + b_dir, np.abs(d_fd)).within):
            note = (
                "complex-step chosen: f accepted complex input and its complex-step derivative "
                "agreed with finite differences along a random direction"
            )
            return MethodChoice("complex", note if method == "auto" else None, ev_c, tried)
        reason = (
            f"its complex-step derivative along a random direction ({d_cs[0]:.12g}) disagrees with finite differences "
            f"({d_fd[0]:.12g} +- {b_fd[0]:.2g}): f is not analytic (abs, max/min, comparisons, np.real, a cast to "
            "float, or a special function that loses the imaginary part?)"
        )
    if method == "complex":
        raise NotComplexSafe(f"method='complex' cannot be used: {reason}; use method='central' or 'richardson'")
    note = f"complex-step not used ({reason}); Richardson-extrapolated central differences instead"
    return MethodChoice("richardson", note, None, tried)
