"""Names the pattern of a mismatch between analytic and numerical derivatives.

Each parameter (leaf) with wrong entries is tested against models of the
typical bugs of hand-written derivatives: all zeros, a flipped sign, a
constant factor, a missing term proportional to the parameter (a
regularisation gradient), a factor together with such a term (a sum where the
loss takes the mean, with the regularisation right), a transposed layout, a
shift by one index.  A model *explains* a leaf when it predicts every entry
within a few tolerances of the verdict.  When no model explains the failure,
a handful of wrong entries are named; otherwise the mismatch is reported as
having no simple pattern.
"""

from __future__ import annotations

import numpy as np

from .params import ParamSpec

__all__ = ["diagnose", "leaf_label"]

#: A model explains a leaf when every entry is within this many tolerances of
#: its prediction (fitting a coefficient adds a little error of its own).
EXPLAIN_FACTOR = 8.0

#: At most this many wrong entries are named one by one.
FEW_ENTRIES = 5

#: Leaves smaller than this are not fitted with two-coefficient models, which
#: would explain any two numbers.
MIN_FIT_SIZE = 3


def _fits(A: np.ndarray, model: np.ndarray, tol: np.ndarray) -> bool:
    return bool(np.all(np.abs(A - model) <= EXPLAIN_FACTOR * tol))


def name_factor(c: float) -> str:
    if c == 0 or not np.isfinite(c):
        return f"{c:.6g}"
    for k in range(2, 10_001):
        if abs(c - k) <= 1e-6 * k:
            return f"{k}"
        if abs(c * k - 1) <= 1e-6:
            return f"1/{k}"
        if k > 16 and abs(c) < k and abs(1 / c) < k:
            break
    return f"{c:.6g}"


def _factor_hint(name: str) -> str:
    if name == "2":
        return "a factor of 2 too many (the derivative of 0.5*x**2 is x, not 2x?)"
    if name == "1/2":
        return "a missing factor of 2 (the derivative of x**2 is 2x), or an extra 1/2?"
    if name.startswith("1/"):
        return f"an extra 1/{name[2:]} (divided by the number of samples twice?)"
    if name.isdigit():
        return f"a missing 1/{name}: a sum over {name} samples where the loss takes the mean?"
    return "a constant factor"


def _lstsq(columns: list[np.ndarray], target: np.ndarray) -> np.ndarray | None:
    M = np.stack([c.ravel() for c in columns], axis=1)
    if not np.all(np.isfinite(M)) or np.linalg.matrix_rank(M) < len(columns):
        return None
    return np.asarray(np.linalg.lstsq(M, target.ravel(), rcond=None)[0])


def _explain_leaf(
    A: np.ndarray, N: np.ndarray, tol: np.ndarray, x: np.ndarray, shape: tuple[int, ...], xname: str = "x"
) -> tuple[str, str] | None:
    """(tag, words) for the first model that explains this leaf, or None."""
    if np.all(A == 0) and np.any(np.abs(N) > tol):
        return "zero", "is all zeros (never accumulated, or returned before it is filled?)"
    if _fits(A, -N, tol):
        return "sign", "has the wrong sign (a flipped sign: descent vs ascent, loss vs reward?)"
    coef = _lstsq([N], A)
    # a factor of 1 (to 1e-6) explains nothing: errors at the floor fit it trivially
    if coef is not None and abs(float(coef[0]) - 1.0) > 1e-6 and _fits(A, coef[0] * N, tol):
        name = name_factor(float(coef[0]))
        return "scale", f"is {name} x the numerical one: {_factor_hint(name)}"
    X = np.broadcast_to(x[:, None], N.shape)
    coef = _lstsq([X], N - A)
    if coef is not None and _fits(A, N - coef[0] * X, tol):
        d = float(coef[0])
        kind = "is missing a term" if d > 0 else "has an extra term"
        return "missing_term", (
            f"{kind} {abs(d):.4g} * {xname} (a regularisation gradient such as reg * W left out or counted twice?)"
        )
    if A.size >= MIN_FIT_SIZE:
        coef = _lstsq([N, X], A)
        if coef is not None and abs(float(coef[0]) - 1.0) > 1e-6 and _fits(A, coef[0] * N + coef[1] * X, tol):
            c, d = float(coef[0]), float(coef[1])
            # A = c N + d x: the data part scaled by c and the x-proportional
            # part (regularisation) left at r with r(c - 1) = -d... only c is named.
            name = name_factor(c)
            return "scale", (
                f"is {name} x the numerical one apart from a term proportional to {xname}: the data term has "
                f"{_factor_hint(name)} (the regularisation term looks right)"
            )
    if len(shape) == 2 and shape[0] > 1 and shape[1] > 1:
        T = np.swapaxes(N.reshape(shape + (N.shape[1],)), 0, 1).reshape(N.shape)
        if _fits(A, T, tol):
            return (
                "transpose",
                "matches the numerical one in transposed layout (a .T, or a reshape of a transposed array?)",
            )
    if A.shape[0] > 1:
        for shift in (1, -1):
            if _fits(A, np.roll(N, shift, axis=0), tol):
                return "shift", f"is the numerical one shifted by {shift} index (an off-by-one in indexing?)"
        if len(shape) == 2:
            for axis in (0, 1):
                for shift in (1, -1):
                    rolled = np.roll(N.reshape(shape + (N.shape[1],)), shift, axis=axis).reshape(N.shape)
                    if _fits(A, rolled, tol):
                        return "shift", f"is the numerical one shifted by {shift} along axis {axis} (an off-by-one?)"
    return None


def leaf_label(spec: ParamSpec, leaf: int) -> str:
    """The name the report gives a parameter (leaf): ``x``, ``W1``, ``args[0]``, ... as in its entries' names.

    Examples
    --------
    >>> import numpy as np
    >>> from gradverify._core.params import ParamSpec
    >>> spec = ParamSpec.of((np.zeros(2), np.zeros((2, 2))))
    >>> leaf_label(spec, 1), leaf_label(ParamSpec.of({"W1": np.zeros(3)}), 0)
    ('args[1]', 'W1')
    """
    return spec.label(leaf)  # one naming rule: the spec's (x, a dict key, a given name, or args[i])


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
        Names the entries and the leaves.
    x : ndarray, shape (n,)
        The point (to recognise a term proportional to it).

    Examples
    --------
    >>> import numpy as np
    >>> from gradverify._core.params import ParamSpec
    >>> N = np.array([[1.0], [2.0], [3.0]])
    >>> tag, words = diagnose(2 * N, N, np.full_like(N, 1e-9), np.ones(3, bool),
    ...                       ParamSpec.of(np.zeros(3)), np.zeros(3))
    >>> tag
    'scale'
    """
    A, N, tol = analytic, numerical, allowed
    xs = x.astype(np.float64)
    if not np.any(np.abs(N) > tol) and np.any(np.abs(A) > tol):
        if np.all(N[failing] == 0):
            return "mismatch", (
                "f does not change at all when the failing entries move (the numerical derivative is exactly 0) "
                "but the analytic one is not: f does not use these parameters, or it is flat at floating-point "
                "resolution here (an underflow, or a value clipped or rounded away?)"
            )
        return (
            "mismatch",
            "the numerical derivative is zero here but the analytic one is not (a term that should cancel, or f does not use these parameters?)",
        )
    explained: list[tuple[str, str]] = []
    unexplained = False
    for leaf, shape in enumerate(spec.shapes):
        sl = slice(int(spec.offsets[leaf]), int(spec.offsets[leaf + 1]))
        if not failing[sl].any():
            continue
        leaf_name = leaf_label(spec, leaf)
        found = _explain_leaf(A[sl], N[sl], tol[sl], xs[sl], shape, leaf_name)
        if found is None:
            unexplained = True
            break
        label = "the analytic derivative" if spec.kind == "array" else f"the analytic derivative of {leaf_name}"
        explained.append((found[0], f"{label} {found[1]}"))
    if explained and not unexplained:
        tags = {t for t, _ in explained}
        tag = tags.pop() if len(tags) == 1 else explained[0][0]
        return tag, "; ".join(words for _, words in explained)
    bad = np.flatnonzero(failing)
    if 0 < len(bad) <= FEW_ENTRIES and len(bad) < max(2, A.shape[0] // 2):
        names = ", ".join(spec.describe(int(i)) for i in bad)
        verb = "entry is" if len(bad) == 1 else "entries are"
        return (
            "entries",
            f"only {len(bad)} {verb} wrong ({names}); the others agree: an indexing bug or a special case?",
        )
    frac = len(bad) / A.shape[0]
    return "mismatch", (
        f"{len(bad)} of {A.shape[0]} entries ({100 * frac:.0f}%) disagree with no simple pattern "
        "(scale, sign, transposition, shift, missing term)"
    )
