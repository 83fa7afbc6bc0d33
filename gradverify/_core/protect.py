"""The caller's data, handed to the caller's functions read-only.

The descent routines and the invariant checks call ``loss(w, *data)`` and
``grad(w, *data)`` many times on the caller's arrays (or on batches cut from
them).  A loss that normalises ``X`` in place would change the caller's data
and every later call, silently.  :func:`protect` wraps such a function: each
array after ``w`` reaches it as a read-only view (no copy, so no cost), and a
write into one becomes an :class:`~gradverify.errors.InputMutated` that names
the function and the argument it wrote into.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputMutated

__all__ = ["protect", "read_only"]


def read_only(a: Any) -> Any:
    """A read-only view of the array ``a`` (anything else is returned as it is).

    >>> import numpy as np
    >>> X = np.ones(3)
    >>> read_only(X).flags.writeable, X.flags.writeable
    (False, True)
    """
    if not isinstance(a, np.ndarray):
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def protect(fn: Callable[..., Any], name: str, *, where: str) -> Callable[..., Any]:
    """``fn(w, *data)`` with every data array read-only, and a write into one reported.

    Parameters
    ----------
    fn : callable
        The caller's ``loss`` or ``grad``, called as ``fn(w, *data)``.
    name : str
        How the report names it (``"loss"``, ``"grad"``).
    where : str
        The routine that calls it (``"minibatch_gradient_descent"``), for the message.

    Examples
    --------
    >>> import numpy as np
    >>> def loss(w, X):
    ...     X -= X.mean(axis=0)          # normalises the caller's data in place
    ...     return float(np.sum(X @ w))
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> protect(loss, "loss", where="check_unbiased")(np.ones(2), X)
    Traceback (most recent call last):
    ...
    gradverify.errors.InputMutated: check_unbiased: loss(w, *data) wrote into data[0] in place ...
    >>> X[0].tolist()                   # the caller's data is untouched
    [0.0, 1.0]
    """

    def guarded(w: Any, *data: Any) -> Any:
        try:
            return fn(w, *(read_only(a) for a in data))
        except ValueError as exc:
            if "read-only" not in str(exc) or not any(isinstance(a, np.ndarray) for a in data):
                raise
            culprits, reason = _who_writes(fn, w, data), str(exc)
        written = ", ".join(culprits) if culprits else "its data"
        raise InputMutated(
            f"{where}: {name}(w, *data) wrote into {written} in place ({reason}); the data reach it read-only "
            "so that the caller's arrays are never modified: compute on a copy "
            "(X = X - X.mean(axis=0), not X -= X.mean(axis=0))"
        ) from None

    return guarded


def _who_writes(fn: Callable[..., Any], w: Any, data: tuple[Any, ...]) -> list[str]:
    """Which of ``data`` ``fn`` writes into: call it once more on writable copies and compare."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in data]
    try:
        fn(copy.deepcopy(w), *copies)
    except Exception:  # it may fail further on; what it wrote before is the answer
        pass
    return [f"data[{i}]" for i, (before, after) in enumerate(zip(data, copies, strict=True)) if _changed(before, after)]


def _changed(before: Any, after: Any) -> bool:
    if not isinstance(before, np.ndarray):
        return False
    if before.shape != np.shape(after):
        return True
    try:
        return not np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
    except (TypeError, ValueError):  # an object array that does not compare
        return False
