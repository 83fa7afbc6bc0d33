"""Sparse Jacobians: columns grouped by colouring, and the claimed pattern checked, not trusted.

Two columns of a Jacobian whose nonzeros never share a row can be estimated
from one perturbation along their sum: each row of the product sees at most
one of them.  A greedy colouring of the column intersection graph (columns
are vertices, an edge joins two columns that share a row of the pattern;
Curtis, Powell and Reid 1974) puts the columns in groups, so a check costs
about (groups) or twice that calls instead of (columns).  Each group's
product ``J d_g`` (``d_g`` the group's columns with seeded random weights in
``[0.5, 1.5]``, scaled like the step rule) is one input of an ordinary
:func:`~gradverify.check_jacobian` of ``t -> f(x + D t)``: the same
estimators, bounds and verdict.

The pattern itself is checked by the same products: a nonzero the pattern
leaves out at ``(i, k)`` adds ``J[i, k] w_k`` to row ``i`` of the product of
``k``'s group, where the claim predicts nothing (or only the pattern's own
entry of that row), so every group product is a random probe of the
pattern's complement in every row, and a missing nonzero fails like a wrong
entry.  A failing product is localised by bisection over its group's columns
(a few extra calls per level), down to the entries, which are named: inside
the pattern (a wrong value) or outside it (a nonzero the pattern leaves out).

With ``method="auto"`` or ``"complex"`` and float64 x, the products are
first judged by :mod:`gradverify._core.sparse_quick` (complex-step products
vetted along a random combination of the groups: ``G + 6`` calls, 9 for a
tridiagonal Jacobian of any size, each product held to the dense check's
tolerance of the entry it carries); a vetted failure is localised by
complex-step products of the parts, and whatever it cannot judge runs the
grouped check above.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument, ShapeMismatch
from .matrices import _call_derivative, _flat_point
from .report import Report, Row
from .second_parts import replace_fields
from .sparse_quick import Quick, quick_grouped, quick_products

__all__ = ["group_columns", "sparse_route", "check_sparse_jacobian"]

#: Entries named one by one when the check fails (bisection stops after them).
MAX_NAMED = 5

#: Parts a failing group is split into at each level of the localisation.
SPLIT = 8


def _issparse(value: Any) -> bool:
    if "scipy.sparse" not in sys.modules:  # no scipy.sparse object can exist: skip the import
        return False
    try:
        from scipy.sparse import issparse
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return bool(issparse(value))


def group_columns(pattern: np.ndarray) -> np.ndarray:
    """Greedy colouring of the columns of a boolean ``(m, n)`` pattern.

    Columns are taken in order; each gets the smallest group none of whose
    columns shares a row with it.  A banded pattern of bandwidth ``b`` gets
    ``b`` groups.

    Examples
    --------
    >>> P = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool) | np.eye(5, k=-1, dtype=bool)
    >>> group_columns(P).tolist()
    [0, 1, 2, 0, 1]
    """
    m, n = pattern.shape
    row_groups: list[set[Any]] = [set() for _ in range(m)]
    groups = np.empty(n, dtype=np.int64)
    cols = [np.flatnonzero(pattern[:, j]) for j in range(n)]
    for j in range(n):
        used: set[Any] = set()
        for r in cols[j]:
            used |= row_groups[r]
        g = 0
        while g in used:
            g += 1
        groups[j] = g
        for r in cols[j]:
            row_groups[r].add(g)
    return groups


def _pattern_matrix(sparsity: Any, m: int, n: int, out_shape: tuple[Any, ...], x_shape: tuple[Any, ...]) -> np.ndarray:
    """The pattern as a dense boolean (m, n), refused if misshapen."""
    if _issparse(sparsity):
        coo = sparsity.tocoo()
        if coo.shape != (m, n):
            raise ShapeMismatch(
                f"sparsity has shape {coo.shape}, but f(x) has {m} entries and x has {n}: it must be ({m}, {n})"
            )
        P = np.zeros((m, n), dtype=bool)
        P[coo.row, coo.col] = True
        return P
    arr = np.asarray(sparsity)
    if arr.dtype.kind not in "biuf":
        raise InvalidArgument(f"sparsity has dtype {arr.dtype}; a boolean array or a scipy.sparse matrix is expected")
    allowed = list(dict.fromkeys([(m, n), tuple(out_shape) + tuple(x_shape)]))
    if arr.shape not in allowed:
        raise ShapeMismatch(
            f"sparsity has shape {arr.shape}, but f(x) has shape {tuple(out_shape)} and x has shape {tuple(x_shape)}: "
            f"it must be {' or '.join(map(str, allowed))}"
        )
    return np.asarray(arr.reshape(m, n) != 0)


def _claimed_matrix(value: Any, m: int, n: int, out_shape: tuple[Any, ...], x_shape: tuple[Any, ...]) -> Any:
    """The claimed Jacobian as (m, n): dense float64, or scipy.sparse CSR."""
    if _issparse(value):
        if value.shape != (m, n):
            raise ShapeMismatch(f"jac(x) is a sparse matrix of shape {value.shape}; it must be ({m}, {n})")
        J = value.tocsr().astype(np.float64)
        if not np.all(np.isfinite(J.data)):
            raise InvalidArgument("jac(x) contains NaN or inf; the analytic derivative must be finite")
        return J
    arr = np.asarray(value)
    if arr.shape not in ((m, n), tuple(out_shape) + tuple(x_shape)):
        raise ShapeMismatch(
            f"jac(x) has shape {arr.shape}, but f(x) has shape {tuple(out_shape)} and x has shape {tuple(x_shape)}: "
            f"it must be {tuple(out_shape) + tuple(x_shape)}"
        )
    if arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"jac(x) has dtype {arr.dtype}; a real numeric array is expected")
    J = arr.astype(np.float64).reshape(m, n)
    if not np.all(np.isfinite(J)):
        raise InvalidArgument("jac(x) contains NaN or inf; the analytic derivative must be finite")
    return J


def _output_shape(claimed: Any, x_shape: tuple[Any, ...]) -> tuple[Any, ...]:
    """The shape of f(x), read off the claimed Jacobian (no call of f needed)."""
    shape = tuple(claimed.shape) if _issparse(claimed) else np.shape(claimed)
    if _issparse(claimed) or len(shape) == 2 and len(x_shape) <= 1:
        return shape[:1]
    if len(shape) < len(x_shape) or shape[len(shape) - len(x_shape) :] != tuple(x_shape):
        raise ShapeMismatch(f"jac(x) has shape {shape}; it must be f(x).shape + x.shape (x has shape {tuple(x_shape)})")
    return shape[: len(shape) - len(x_shape)]


def sparse_route(
    f: Callable[[Any], Any], jac: Callable[[Any], Any], x: Any, sparsity: Any, options: dict[str, Any]
) -> tuple[Report | None, Callable[[Any], Any]]:
    """For check_jacobian: the sparse check's report when it applies, else None and ``jac``.

    It applies when ``sparsity`` is given or ``jac(x)`` is a scipy.sparse
    matrix; in the second case ``jac`` was called once here and the returned
    ``jac`` hands back that value instead of calling it again.
    """
    if sparsity is None and isinstance(x, (dict, tuple, list)):
        return None, jac
    spec, flat = _flat_point(x)
    value = _call_derivative(jac, spec, flat, (), "jac")
    if sparsity is None and not _issparse(value):
        return None, lambda p: value
    if spec.kind != "array":
        raise InvalidArgument("sparsity= applies to one array x; flatten dict/tuple/list parameters into one array")
    return check_sparse_jacobian(f, value, flat, np.shape(x), sparsity, **options), jac


def check_sparse_jacobian(
    f: Callable[[Any], Any],
    claimed: Any,
    flat: np.ndarray,
    x_shape: tuple[Any, ...],
    sparsity: Any,
    *,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    seed: int | None = None,
    vectorized: bool = False,
    **ignored: Any,
) -> Report:
    """The grouped check of a claimed sparse Jacobian (see the module notes)."""
    from .check import check_jacobian
    from .validate import valid_seed

    if ignored.get("mode") not in (None, "full") or ignored.get("directions") is not None:
        raise InvalidArgument("sparsity= uses its own grouped check; mode and directions do not apply")
    seed = valid_seed(seed)
    calls = [0]

    def at(point: np.ndarray) -> np.ndarray:
        calls[0] += point.shape[0] if point.ndim == 2 else 1
        value = np.asarray(
            f(point.reshape((point.shape[0],) + tuple(x_shape)) if point.ndim == 2 else point.reshape(x_shape))
        )
        return value.reshape(point.shape[0], -1) if point.ndim == 2 else value.reshape(-1)

    out_shape, m, n = _output_shape(claimed, x_shape), 0, flat.size
    m = int(np.prod(out_shape, dtype=np.int64))
    P = _pattern_matrix(claimed if sparsity is None else sparsity, m, n, out_shape, x_shape)
    J = _claimed_matrix(claimed, m, n, out_shape, x_shape)
    Jd = J.toarray() if _issparse(J) else J
    outside = (Jd != 0) & ~P
    if outside.any():
        i, j = np.argwhere(outside)[0]
        raise InvalidArgument(
            f"jac(x) is {Jd[i, j]:.6g} at ({i}, {j}), outside sparsity: the pattern must contain every nonzero of jac(x)"
        )
    groups = group_columns(P)
    G = int(groups.max()) + 1
    rng = np.random.default_rng(seed + 4)
    weights = rng.uniform(0.5, 1.5, n) * np.maximum(1.0, np.abs(flat.astype(np.float64)))
    xs = flat.astype(np.float64)

    def reduced(columns: list[np.ndarray]) -> tuple[Callable[[Any], Any], np.ndarray]:
        """``t -> f(x + D t)`` for the columns' weighted sums ``D``, and the claimed ``J D``."""
        D = np.zeros((n, len(columns)))
        for q, cols in enumerate(columns):
            D[cols, q] = weights[cols]

        def along(t: np.ndarray) -> np.ndarray:
            t = np.asarray(t)
            moved = xs + t @ D.T if t.ndim == 2 else xs + D @ t
            # complex t (complex-step) stays complex; real points are worked in x's dtype
            return at(moved if np.iscomplexobj(moved) else moved.astype(flat.dtype))

        return along, np.asarray(J @ D)

    def probe(columns: list[np.ndarray], how: str = method) -> Report:
        along, claim = reduced(columns)
        return check_jacobian(
            along, lambda t: claim, np.zeros(len(columns), dtype=flat.dtype), method=how, h=h,
            safety=safety, seed=seed, mode="full", vectorized=vectorized,
        )  # fmt: skip

    members = [np.flatnonzero(groups == g) for g in range(G)]
    lead = f"{G} column groups (greedy colouring of the column intersection graph) for {n} columns: "
    complement = (
        "the pattern is checked by the same products: every group product also probes the pattern's complement "
        "in every row (a nonzero the pattern leaves out fails like a wrong entry)"
    )
    quick = None
    # float64 only: in float32 the modelled noise makes the vetting's differences too coarse (a term that
    # complex-step cannot see, 1e-2 of the derivative, would pass it) where the engine's measured noise sees it
    if method in ("auto", "complex") and h is None and flat.dtype == np.float64:
        quick = quick_grouped(
            *reduced(members), flat.dtype, vectorized=vectorized, safety=safety, rng=np.random.default_rng(seed + 5),
            column_weights=_column_weights(P, members, weights), x_rms=float(np.sqrt(np.mean(xs**2))) if n else 0.0,
        )  # fmt: skip
    cost = f"{lead}the group products took {calls[0]} calls of f (a dense central check takes about {2 * n + 1})"
    products: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]
    if quick is not None:
        if quick.ok:
            return _quick_report(quick, Jd, P, calls[0], [cost, complement, quick.vetting], seed, flat.dtype, safety)
        first = _quick_report(quick, Jd, P, calls[0], [], seed, flat.dtype, safety)
        notes = [cost, complement, quick.vetting, "failing products localised by complex-step products of their parts"]
        found = quick

        def products(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            along, claim = reduced(columns)
            return quick_products(
                along, claim, flat.dtype, vectorized=vectorized, safety=safety,
                column_weights=_column_weights(P, columns, weights), first=found,
            )  # fmt: skip

        A0, N0, T0 = quick.analytic, quick.numerical, quick.allowed
    else:
        before = calls[0]
        first = probe(members)
        notes = [
            f"{lead}the group products took {calls[0]} calls of f (a dense central check takes about {2 * n + 1})",
            complement,
        ]
        notes += list(first.notes)
        if before:
            notes.append(
                f"the quick check ({before} calls: complex-step products vetted along a combination of the groups) "
                "gave no verdict, so the products were checked by the full engine"
            )

        def products(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return _matrices(probe(columns), m, len(columns))

        A0, N0, T0 = _matrices(first, m, G) if not first.ok else (Jd, Jd, Jd)  # (not used when it passed)
    named: list[Any] = []
    if not first.ok:
        for g in range(G):
            rows = np.flatnonzero(np.abs(A0[:, g] - N0[:, g]) > T0[:, g])
            if len(rows) and len(named) < MAX_NAMED:
                _bisect(products, members[g], rows, m, named, Jd, weights)
    if quick is not None and not quick.ok:
        # As the dense check cross-checks failing complex-step entries with finite differences: an entry
        # whose complex-step estimate a Richardson one contradicts (beyond both bounds) is judged by the latter.
        kept = [entry for entry in named if _confirmed(entry, lambda cols: probe(cols, "richardson"), m, weights)]
        if len(kept) < len(named):
            notes.append(
                f"{len(named) - len(kept)} entr{'y' if len(named) - len(kept) == 1 else 'ies'} failing by complex-step "
                "passed by Richardson differences that contradict complex-step there"
            )
        if named and not kept and len(named) < MAX_NAMED:
            first = replace_fields(first, ok=True, outcome="passed", diagnosis=None, pattern=None, failures=0)
        named = kept
    return _sparse_report(first, named, P, Jd, out_shape, x_shape, calls[0], notes, seed)


def _confirmed(
    entry: tuple[int, int, float, float, float],
    probe: Callable[[list[np.ndarray]], Report],
    m: int,
    weights: np.ndarray,
) -> bool:
    """Whether an entry failing by complex-step still fails once Richardson differences have their say."""
    i, j, analytic, estimate, allowed = entry
    A, N, T = _matrices(probe([np.array([j])]), m, 1)
    fd, fd_allowed = float(N[i, 0] / weights[j]), float(T[i, 0] / weights[j])
    if abs(fd - estimate) > fd_allowed + allowed:  # they disagree: the finite differences decide
        return abs(analytic - fd) > fd_allowed
    return True


def _column_weights(P: np.ndarray, members: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """(m, G): the weight of row i's pattern column in group g (the group's smallest weight where it has none)."""
    m = P.shape[0]
    out = np.empty((m, len(members)))
    for g, cols in enumerate(members):
        sub = P[:, cols]
        has = sub.any(axis=1)
        out[:, g] = np.where(has, weights[cols][np.argmax(sub, axis=1)], np.min(weights[cols]))
    return out


def _matrices(report: Report, m: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(
        np.asarray(getattr(report, key), dtype=np.float64).reshape(m, k)
        for key in ("analytic", "numerical", "tolerance")
    )  # type: ignore[return-value]


def _bisect(
    products: Callable[[list[Any]], tuple[np.ndarray, np.ndarray, np.ndarray]],
    cols: np.ndarray,
    rows: np.ndarray,
    m: int,
    named: list[Any],
    Jd: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Split the columns ``cols`` whose product fails at ``rows`` until single entries are found."""
    if len(named) >= MAX_NAMED:
        return
    if len(cols) == 1:
        j = int(cols[0])
        A, N, T = products([cols])
        for i in rows:
            if abs(A[i, 0] - N[i, 0]) > T[i, 0] and len(named) < MAX_NAMED:
                named.append((int(i), j, float(Jd[i, j]), float(N[i, 0] / weights[j]), float(T[i, 0] / weights[j])))
        return
    # Eight parts per level: each probe pays the estimator's fixed cost once
    # (base value, noise walk, method vetting), so fewer, wider levels are cheaper.
    parts = [part for part in np.array_split(cols, min(SPLIT, len(cols))) if len(part)]
    A, N, T = products(parts)
    for q, part in enumerate(parts):
        bad = rows[np.abs(A[rows, q] - N[rows, q]) > T[rows, q]]
        if len(bad):
            _bisect(products, part, bad, m, named, Jd, weights)


def _quick_report(
    quick: Quick,
    Jd: np.ndarray,
    P: np.ndarray,
    calls: int,
    notes: list[str],
    seed: int,
    dtype: Any,
    safety: float | None,
) -> Report:
    """The report of a quick check (complex-step group products, vetted); a failed one is then localised."""
    from .. import steps as rules

    with np.errstate(invalid="ignore", divide="ignore"):
        rel = quick.err / np.maximum(np.maximum(np.abs(quick.analytic), np.abs(quick.numerical)), quick.allowed)
    tolerance = rules.Tolerance.of(dtype, safety)
    failing = int(np.sum(quick.err > quick.allowed))
    diagnosis = None if quick.ok else f"{failing} group products disagree with the claimed Jacobian's"
    return Report(
        ok=quick.ok, outcome="passed" if quick.ok else "failed", resolution=quick.resolution, kind="jacobian",
        method="complex", mode="full", diagnosis=diagnosis, pattern=None if quick.ok else "entries",
        failures=failing,
        h=quick.h, evaluations=calls, max_abs_error=float(np.max(quick.err, initial=0.0)),
        max_rel_error=float(np.max(rel, initial=0.0)), worst_index=None, worst_name=None, safety=tolerance.safety,
        floor=quick.floor, entries=int(P.sum()), notes=notes, seed=seed,
        dtype=str(np.dtype(dtype)), analytic=Jd,
    )  # fmt: skip


def _entry(i: int, j: int, out_shape: tuple[Any, ...], x_shape: tuple[Any, ...]) -> str:
    oi = ", ".join(map(str, np.unravel_index(i, out_shape))) if out_shape else ""
    xj = ", ".join(map(str, np.unravel_index(j, x_shape))) if x_shape else ""
    return f"J[{oi}; {xj}]" if len(out_shape) > 1 or len(x_shape) > 1 else f"J[{i}, {j}]"


def _sparse_report(
    first: Report,
    named: list[Any],
    P: np.ndarray,
    Jd: np.ndarray,
    out_shape: tuple[Any, ...],
    x_shape: tuple[Any, ...],
    calls: int,
    notes: list[Any],
    seed: int,
) -> Report:

    entries = int(P.sum())
    if first.ok:
        return replace_fields(
            first, evaluations=calls, entries=entries, notes=notes, worst_index=None, worst_name=None,
            analytic=Jd, numerical=None, tolerance=None, rows=[],
        )  # fmt: skip
    rows, words = [], []
    pattern: str | None
    diagnosis: str | None
    for i, j, a, num, tol in named:
        inside = bool(P[i, j])
        note = "wrong" if inside else "not in pattern"
        rows.append(Row(_entry(i, j, out_shape, x_shape), a, num, abs(a - num), tol, note))
        words.append(
            f"{_entry(i, j, out_shape, x_shape)} "
            + (
                "inside the pattern is wrong"
                if inside
                else f"is left out of the pattern but the true Jacobian is {num:.6g} there"
            )
        )
    if named:
        missing = [w for w, (i, j, *_) in zip(words, named) if not P[i, j]]
        pattern = "pattern" if missing and len(missing) == len(named) else "entries"
        diagnosis = "; ".join(words) + (
            " (the claimed sparsity pattern misses a nonzero: scipy's check_derivative, which reuses the pattern, "
            "would not compare it)"
            if missing
            else ""
        )
        i, j = named[0][0], named[0][1]
        worst_index: Any = (i, j)
        worst_name: Any = _entry(i, j, out_shape, x_shape)
    else:
        pattern, diagnosis, worst_index, worst_name = first.pattern, first.diagnosis, None, None
    errors = {}
    if named:  # the errors of the named entries, not of the (weighted) group products
        errors = dict(
            max_abs_error=max(abs(a - num) for _, _, a, num, _ in named),
            max_rel_error=max(abs(a - num) / max(abs(a), abs(num), t) for _, _, a, num, t in named),
        )
    return replace_fields(
        first, evaluations=calls, entries=entries, notes=notes, worst_index=worst_index, worst_name=worst_name,
        pattern=pattern, diagnosis=diagnosis, failures=max(len(named), 1), analytic=Jd, numerical=None,
        tolerance=None, rows=rows, **errors,
    )  # fmt: skip
