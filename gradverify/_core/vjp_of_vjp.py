"""The backward of a backward: a VJP checked as a function of (x, cotangent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .check import check_vjp
from .report import Report
from .second_parts import replace_fields
from .validate import valid_seed

__all__ = ["check_vjp_of_vjp"]


def check_vjp_of_vjp(
    f: Callable[[Any], Any],
    vjp: Callable[[Any, Any], Any],
    vjp_of_vjp: Callable[[Any, Any, Any], Any],
    x: np.ndarray,
    *,
    cotangent: Any = None,
    method: str = "auto",
    safety: float | None = None,
    seed: int | None = None,
) -> Report:
    """Check the backward of a backward (what ``torch.autograd.gradgradcheck`` checks).

    A backward ``vjp(x, ct)`` is itself a function of ``(x, ct)``; its own
    VJP, with a cotangent ``w`` like ``x``, is
    ``vjp_of_vjp(x, ct, w) -> (dx, dct)``: ``dx`` is the second-order term
    ``d/dx <w, vjp(x, ct)>`` and ``dct`` is the forward product ``J(x) w``.
    The first-order ``vjp`` is checked first (a wrong backward would make the
    second check meaningless); then :func:`gradverify.check_vjp` checks
    ``vjp_of_vjp`` as the VJP of ``{"x": x, "cotangent": ct} -> vjp(x, ct)``,
    so entries are named ``x[...]`` and ``cotangent[...]``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array``.
    vjp : callable
        ``vjp(x, ct)``, like ``x``.
    vjp_of_vjp : callable
        ``vjp_of_vjp(x, ct, w)`` returning the pair ``(dx, dct)``.
    x : array
    cotangent : array, optional
        ``ct``, like ``f(x)``; seeded standard normal by default.
    method, safety, seed
        As for :func:`gradverify.check_vjp`.

    Examples
    --------
    >>> import numpy as np, gradverify as gv
    >>> f = lambda x: np.sin(x)
    >>> vjp = lambda x, ct: np.cos(x) * ct
    >>> vv = lambda x, ct, w: (-np.sin(x) * ct * w, np.cos(x) * w)
    >>> gv.check_vjp_of_vjp(f, vjp, vv, np.array([0.3, 1.2]), seed=0).ok
    True
    >>> gv.check_vjp_of_vjp(f, vjp, lambda x, ct, w: (np.sin(x) * ct * w, np.cos(x) * w),
    ...                     np.array([0.3, 1.2]), seed=0).ok
    False
    """
    seed = valid_seed(seed)
    x_arr = np.asarray(x)
    first = check_vjp(f, vjp, x_arr, cotangent=cotangent, method=method, safety=safety, seed=seed)
    if not first.ok:
        return replace_fields(
            first, notes=list(first.notes) + ["the first-order vjp is wrong: fix it before its backward"]
        )
    out_shape = np.shape(f(x_arr.copy()))
    ct = (
        np.random.default_rng(seed + 1).standard_normal(out_shape)
        if cotangent is None
        else np.asarray(cotangent, dtype=np.float64)
    )
    point = {"x": x_arr, "cotangent": ct.astype(x_arr.dtype if x_arr.dtype.kind == "f" else np.float64)}

    def backward(p: dict[str, Any]) -> Any:
        return vjp(p["x"], p["cotangent"])

    def backward_vjp(p: dict[str, Any], w: Any) -> dict[str, Any]:
        value = vjp_of_vjp(p["x"], p["cotangent"], w)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise InvalidArgument(
                f"vjp_of_vjp returned {type(value).__name__}; it must return the pair (dx, dcotangent)"
            )
        return {"x": value[0], "cotangent": value[1]}

    second = check_vjp(backward, backward_vjp, point, method=method, safety=safety, seed=seed)
    return replace_fields(
        second,
        kind="vjp_of_vjp",
        evaluations=first.evaluations + second.evaluations,
        notes=list(second.notes) + [f"the first-order vjp passed ({first.evaluations} calls of f)"],
    )
