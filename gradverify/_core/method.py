"""Which estimator a check uses: resolve ``method="auto"`` and vet ``method="complex"``.

Complex-step is exact to rounding when ``f`` is analytic, and silently wrong
when it is not (``abs``, ``max``, ``np.real``, a cast to float).  So
complex-safety is measured, never assumed: the complex-step derivative along a
random direction must agree with a Richardson estimate within both bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import steps as rules
from ..errors import NotComplexSafe
from .estimators import directional
from .evaluate import Evaluator

__all__ = ["_resolve_method"]


def _resolve_method(
    method: str,
    ev: Evaluator,
    x: np.ndarray,
    f0: np.ndarray,
    rng: np.random.Generator,
    noise: Callable[[], np.ndarray],
    safety: float,
    make_complex: Callable[[], Evaluator],
) -> tuple[str, str | None, Evaluator | None]:
    """Resolve ``auto`` and vet ``complex``: complex-safety is checked, never assumed.

    The complex-step derivative along a random direction must agree with a
    Richardson estimate within both bounds.  Returns the method, a note, and
    the complex evaluator when complex-step is used.
    """
    if method not in ("auto", "complex"):
        return method, None, None
    v = rng.standard_normal(x.size)
    reason = None
    try:
        ev_c = make_complex()
        d_cs, b_cs, _ = directional(ev_c, x, f0, v, "complex", noise=np.zeros_like(f0))
    except NotComplexSafe as exc:
        reason = str(exc)
        ev_c = None
    if ev_c is not None:
        d_fd, b_fd, _ = directional(ev, x, f0, v, "richardson", noise())
        # The rung directions fl(x + t u) differ from u by ~EPS/t relative.
        b_dir = 4 * rules.eps(x.dtype) / rules.base_step("richardson", x.dtype) * 16 * np.abs(d_fd)
        floor = rules.FLOOR_FACTOR * rules.eps(x.dtype) * np.abs(d_fd)
        gap = np.abs(d_cs - d_fd)
        if np.all(gap <= safety * (b_fd + b_cs + b_dir) + floor):
            return (
                "complex",
                (
                    "complex-step chosen: f accepted complex input and its complex-step derivative "
                    "agreed with finite differences along a random direction"
                )
                if method == "auto"
                else None,
                ev_c,
            )
        reason = (
            f"its complex-step derivative along a random direction ({d_cs[0]:.12g}) disagrees with finite differences "
            f"({d_fd[0]:.12g} +- {b_fd[0]:.2g}): f is not analytic (abs, max/min, comparisons, np.real, a cast to "
            "float, or a special function that loses the imaginary part?)"
        )
    if method == "complex":
        raise NotComplexSafe(f"method='complex' cannot be used: {reason}; use method='central' or 'richardson'")
    return "richardson", f"complex-step not used ({reason}); Richardson-extrapolated central differences instead", None
