"""Names the pattern of a mismatch between analytic and numerical derivatives.

Each test fits a simple model of a typical hand-written bug to the numbers and
accepts it when the model explains every entry within a loose multiple of the
verdict's tolerance.  The first model that fits wins; the order goes from the
most specific explanation to the most general.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .params import ParamSpec

__all__ = ["diagnose"]

#: A model "explains" the analytic values when every entry is within this many
#: tolerances of the model's prediction (the fit itself adds a little error).
EXPLAIN_FACTOR = 8.0

#: At most this many wrong entries are called "a few wrong entries".
FEW_ENTRIES = 5


def _fits(analytic: np.ndarray, model: np.ndarray, allowed: np.ndarray) -> bool:
    return bool(np.all(np.abs(analytic - model) <= EXPLAIN_FACTOR * allowed))


def _name_factor(c: float) -> str:
    for k in (2, 3, 4):
        if abs(c - k) < 1e-6 * k:
            return f"{k}"
        if abs(c - 1 / k) < 1e-6 / k:
            return f"1/{k}"
    if c > 1 and abs(c - round(c)) < 1e-6 * c:
        return f"{int(round(c))}"
    if 0 < c < 1 and abs(1 / c - round(1 / c)) < 1e-6 / c:
        return f"1/{int(round(1 / c))}"
    return f"{c:.6g}"


def _scale_message(c: float, where: str) -> str:
    name = _name_factor(c)
    hint = ""
    if name == "2":
        hint = ": a factor of 2 too many (d/dx of 0.5*x**2 is x, not 2x?)"
    elif name == "1/2":
        hint = ": a missing factor of 2 (d/dx of x**2 is 2x), or an extra 1/2?"
    elif "/" in name:
        hint = f": an extra 1/{name.split('/')[1]}, such as dividing by the number of samples twice?"
    elif name.isdigit():
        hint = f": a missing 1/{name}, such as a sum over {name} samples where the loss takes the mean?"
    return f"the analytic derivative is {name} x the numerical one{where}{hint}"


def diagnose(
    analytic: np.ndarray,
    numerical: np.ndarray,
    allowed: np.ndarray,
    failing: np.ndarray,
    spec: ParamSpec,
    x: np.ndarray,
) -> tuple[str, str]:
    """Return ``(pattern, message)`` for a failed check.

    Parameters
    ----------
    analytic, numerical, allowed : ndarray, shape (n, m)
        The derivatives and the per-entry tolerance.
    failing : ndarray of bool, shape (n,)
        Entries that fail the verdict.
    spec : ParamSpec
        Names the entries.
    x : ndarray, shape (n,)
        The point (to recognise a missing term proportional to x).
    """
    A, N, tol = analytic, numerical, allowed
    if not np.any(np.abs(N) > tol) and np.any(np.abs(A) > tol):
        return "mismatch", "the numerical derivative is zero here but the analytic one is not"
    if np.all(A == 0):
        return "zero", "the analytic derivative is all zeros: is the gradient never accumulated, or returned before it is filled?"
    if _fits(A, -N, tol):
        return "sign", "the analytic derivative has the wrong sign everywhere: a flipped sign (descent vs ascent, or loss vs reward?)"
    nn = float(np.sum(N * N))
    if nn > 0:
        c = float(np.sum(A * N) / nn)
        if c != 0 and _fits(A, c * N, tol):
            return "scale", _scale_message(c, "")
    transposed = _transposed(N, spec)
    if transposed is not None and _fits(A, transposed, tol):
        return "transpose", "the analytic derivative matches the numerical one in transposed layout: a .T (or a reshape of a transposed array) in the wrong place?"
    for shift in (1, -1):
        rolled = _rolled(N, spec, shift)
        if _fits(A, rolled, tol):
            return "shift", f"the analytic derivative is the numerical one shifted by {shift} index: an off-by-one in indexing?"
    x_col = x.astype(np.float64)[:, None] * np.ones_like(N)
    xx = float(np.sum(x_col * x_col))
    if xx > 0:
        c = float(np.sum((N - A) * x_col) / xx)
        if c != 0 and _fits(A, N - c * x_col, tol):
            kind = "missing" if c > 0 else "extra"
            return "missing_term", (
                f"the analytic derivative differs from the numerical one by {c:.4g} * x: a {kind} term "
                "proportional to x, such as a regularisation gradient reg * W left out or counted twice?"
            )
    leaf_msg = _leaf_scale(A, N, tol, spec)
    if leaf_msg:
        return "scale", leaf_msg
    bad = np.flatnonzero(failing)
    if 0 < len(bad) <= FEW_ENTRIES and len(bad) < max(2, A.shape[0] // 2):
        names = ", ".join(spec.describe(int(i)) for i in bad)
        return "entries", f"only {len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} wrong ({names}); the others agree: an indexing bug or a special case?"
    frac = len(bad) / A.shape[0]
    return "mismatch", f"{len(bad)} of {A.shape[0]} entries ({100 * frac:.0f}%) disagree with no simple pattern (scale, sign, transposition, shift, missing term)"


def _per_leaf(spec: ParamSpec) -> list[slice]:
    off = spec.offsets
    return [slice(int(a), int(b)) for a, b in zip(off[:-1], off[1:])]


def _transposed(N: np.ndarray, spec: ParamSpec) -> Any:
    out = N.copy()
    any2d = False
    for sl, shape in zip(_per_leaf(spec), spec.shapes):
        if len(shape) == 2:
            any2d = True
            block = N[sl].reshape(shape + (N.shape[1],))
            out[sl] = np.swapaxes(block, 0, 1).reshape(-1, N.shape[1])
    return out if any2d else None


def _rolled(N: np.ndarray, spec: ParamSpec, shift: int) -> np.ndarray:
    out = N.copy()
    for sl in _per_leaf(spec):
        out[sl] = np.roll(N[sl], shift, axis=0)
    return out


def _leaf_scale(A: np.ndarray, N: np.ndarray, tol: np.ndarray, spec: ParamSpec) -> str:
    if spec.kind == "array":
        return ""
    model = N.copy()
    notes = []
    for name, sl in zip(spec.names, _per_leaf(spec)):
        nn = float(np.sum(N[sl] * N[sl]))
        if nn == 0:
            continue
        c = float(np.sum(A[sl] * N[sl]) / nn)
        if _fits(A[sl], N[sl], tol[sl]):
            continue
        model[sl] = c * N[sl]
        notes.append((name, c))
    if notes and _fits(A, model, tol):
        parts = "; ".join(_scale_message(c, f" for {name}") for name, c in notes)
        return parts
    return ""
