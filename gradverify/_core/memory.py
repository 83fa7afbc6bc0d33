"""How much memory a check needs, and what a user is told when it is not there.

A check keeps a few arrays of the size of x alive at once: the flat point,
f's work buffer (complex for complex-step), the analytic derivative, the
estimates, their bounds and the verdict's arrays.  The constants below are the
peaks measured with ``tracemalloc`` (numpy's allocations included, the
caller's x and f's own temporaries too), per parameter of float64 x:

``python benchmarks/memory.py`` at n = 1e6, check_grad of a function whose
own cost is O(1): default mode (directional, complex-step) 114 B; full mode
142 B (complex-step and central alike).  Before the sweep ran in blocks and the
noise walk made its points one at a time, the same runs at n = 1e5 took 192 B
(default) and 280 B (full).  What remains in full mode is mostly the
verdict's arrays (estimates, bounds, errors, tolerances, ratios: a dozen
arrays of n float64 alive while the report is built).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ..errors import InsufficientMemory

__all__ = ["BYTES_PER_PARAMETER", "converts_memory_errors", "out_of_memory"]

F = TypeVar("F", bound=Callable[..., Any])

#: Peak bytes per parameter of a float64 check, by mode (see the module docstring).
BYTES_PER_PARAMETER = {"full": 200, "directional": 140}


def _size(x: Any) -> int | None:
    """The number of parameters in x, or None when it cannot be told cheaply."""
    try:
        from .params import ParamSpec

        return ParamSpec.of(x).size
    except Exception:  # the check failed before x was understood: no estimate
        return None


def _bytes(n: float) -> str:
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def out_of_memory(exc: MemoryError, x: Any, mode: str, what: str) -> InsufficientMemory:
    """The error that replaces a ``MemoryError`` raised while ``what`` ran on ``x``.

    >>> import numpy as np
    >>> x = np.broadcast_to(0.0, (10**8,))  # 10^8 parameters, no memory
    >>> print(out_of_memory(MemoryError(), x, "full", "check_grad"))  # doctest: +ELLIPSIS
    check_grad ran out of memory: a full check of 100000000 parameters needs about 18.6 GiB ...
    """
    n = _size(x)
    failed = getattr(exc, "_total_size", None)  # numpy's _ArrayMemoryError knows the allocation that failed
    parts = [f"{what} ran out of memory"]
    if n is not None:
        # "auto" is directional for any x large enough to run out of memory.
        chosen = "full" if mode == "full" else "directional"
        need = BYTES_PER_PARAMETER[chosen] * n
        parts.append(
            f": a {chosen} check of {n} parameters needs about {_bytes(need)} "
            f"(~{BYTES_PER_PARAMETER[chosen]} bytes per float64 parameter, beside f's own memory)"
        )
    if failed:
        parts.append(f"; an allocation of {_bytes(float(failed))} failed")
    directional = (
        f"mode='directional' (a few random directions: ~{BYTES_PER_PARAMETER['directional']} bytes per parameter "
        "and a few dozen calls of f)"
    )
    if what.startswith("check"):
        parts.append(f". Try {directional}, or check a subset of the parameters")
    else:
        parts.append(
            f". {what} estimates every entry; to check a derivative of this size use check_grad(..., {directional})"
        )
    return InsufficientMemory("".join(parts))


def converts_memory_errors(what: str, x_position: int, mode: str | None = None) -> Callable[[F], F]:
    """Decorate a public entry point: a ``MemoryError`` inside becomes :class:`InsufficientMemory`.

    ``x_position`` is where the point sits among the positional arguments;
    ``mode`` the mode it always runs in (else read from its ``mode=``).
    The original error is chained (``raise ... from``), so nothing is lost.
    """

    def decorate(fn: F) -> F:
        declared = inspect.signature(fn).parameters.get("mode")
        default = mode or (str(declared.default) if declared is not None else "full")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except InsufficientMemory:
                raise
            except MemoryError as exc:
                x = args[x_position] if len(args) > x_position else kwargs.get("x")
                used = mode or kwargs.get("mode", "directional" if kwargs.get("directions") else default)
                raise out_of_memory(exc, x, used, what) from exc

        return cast(F, wrapper)

    return decorate
