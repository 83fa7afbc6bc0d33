"""Counted, batched and guarded calls of the user's function.

An :class:`Evaluator` owns one flat work buffer whose views are the
parameters handed to ``f`` (see :meth:`ParamSpec.views`).  A coordinate sweep
writes ``x[i] + h`` into the buffer, calls ``f`` and writes ``x[i]`` back, so
no copy of ``x`` is made per coordinate.  Everything that can go wrong with a
user's function is caught here and turned into one clear error: NaN or inf,
a wrong output shape, a function that modifies its input, a function that is
not deterministic, a function that drops or refuses complex input.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import (
    InputMutated,
    InvalidArgument,
    NonDeterministicFunction,
    NonFiniteValue,
    NotComplexSafe,
)
from .params import ParamSpec
from .validate import show

__all__ = ["Evaluator", "DEFAULT_MEMORY_BUDGET", "OutputRefused"]


class OutputRefused(InvalidArgument):
    """Raised by a transform of f's output (check_vjp's contraction) that refuses it.

    The transform does not know the point; the evaluator that called it does,
    and re-raises the refusal as an :class:`InvalidArgument` naming f and the point.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

#: Bytes a vectorized call may use for its stack of points. f's work per point
#: is the same however many points share a call; what a bigger stack buys is
#: fewer calls, and past ~128 KB that stops paying: every temporary f makes is
#: then as big as the stack, falls out of cache and (glibc's mmap threshold is
#: 128 KB) is served from fresh pages. Measured per point, stacked Rosenbrock
#: (benchmarks/speed.py's f), n = 100 / 1e3 / 1e4: 128 KB stacks 0.27 / 2.3 /
#: 19 us, 2 MB stacks 0.72 / 6.9 / 63 us; one unstacked call 19 us at n = 1e4.
DEFAULT_MEMORY_BUDGET = 128 * 2**10

#: Coordinates per block of an unstacked sweep: the loop's Python lists are
#: made per block, so a sweep's memory beyond ``out`` is O(block), not O(n),
#: while the per-block overhead (a few conversions) stays far below the calls.
SWEEP_BLOCK = 4096

try:
    _ComplexWarning: type[Warning] = np.exceptions.ComplexWarning
except AttributeError:  # numpy < 1.25
    _ComplexWarning = np.ComplexWarning  # type: ignore[attr-defined]


class Evaluator:
    """Calls ``f`` at ``x`` and at perturbations of it, counting every call.

    Parameters
    ----------
    f : callable
        The user's function of the parameters.
    spec : ParamSpec
        The structure of the parameters.
    x : ndarray
        The base point, flat, in the working dtype (not modified).
    complex_step : bool
        Work in the complex dtype matching ``x`` (for complex-step).
    vectorized : bool
        ``f`` takes a stack of points (leading axis) and returns one value each.
    scalar : bool
        ``f`` must return a scalar (``check_grad``); otherwise any fixed shape.
    name : str
        How to call ``f`` in messages.
    """

    def __init__(
        self,
        f: Callable[[Any], Any],
        spec: ParamSpec,
        x: np.ndarray,
        *,
        complex_step: bool = False,
        vectorized: bool = False,
        scalar: bool = True,
        name: str = "f",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        counter: list[Any] | None = None,
    ) -> None:
        self.f = f
        self.spec = spec
        self.base = x
        self.complex_step = complex_step
        self.vectorized = vectorized
        self.scalar = scalar
        self.name = name
        self._lenient = False  # shifted(finite=False): non-finite values are returned, not raised
        self.call_seconds = float("inf")
        self.memory_budget = memory_budget
        # A shared one-element list, so real and complex evaluators of one
        # check add up to one count.
        self._counter = counter if counter is not None else [0]
        work_dtype = np.result_type(x.dtype, np.complex64) if complex_step else x.dtype
        self.dtype = np.dtype(work_dtype)
        self._buffer = x.astype(self.dtype, copy=True)
        self._tree = spec.views(self._buffer)
        self._leaves = self._leaf_ids(self._tree)
        self.out_shape: tuple[Any, ...] | None = None
        self.out_dtype: np.dtype | None = None

    # -- bookkeeping ---------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Calls of ``f`` made so far (a vectorized call of k points counts k)."""
        return self._counter[0]

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape)) if self.out_shape is not None else 1

    def _leaf_ids(self, tree: Any) -> list[Any]:
        if self.spec.kind == "array":
            return [id(tree)]
        items = tree.values() if isinstance(tree, dict) else tree
        return [id(leaf) for leaf in items]

    # -- single calls ------------------------------------------------------------------
    def at(self, point: np.ndarray, *, what: str = "the point") -> np.ndarray:
        """``f`` at a flat ``point``: a flat 1-D array of the outputs."""
        self._buffer[...] = point
        if self.vectorized:
            # A stack of one, in the evaluator's own buffer: f never sees (and
            # cannot write into) the caller's point.
            return np.asarray(self._batch(self._buffer[None, :], what=lambda _: what)[0])
        start = time.perf_counter()
        try:
            value = self._call(self._tree)
        except OutputRefused as exc:
            raise self._refusal(exc, what) from None
        # The fastest single call seen: what a call of f costs (method="auto"
        # weighs complex calls against real ones with it).
        self.call_seconds = min(self.call_seconds, time.perf_counter() - start)
        out = self._validate(value, what=what)
        self._check_untouched(point, what)
        return out

    def at_points(self, points: np.ndarray, *, what: Callable[[int], str]) -> np.ndarray:
        """``f`` at each row of ``points`` (flat points): shape ``(len(points), out_size)``.

        A vectorized ``f`` gets the rows as stacks (as many calls as the memory
        budget needs); any other ``f`` one call per row.  ``what(k)`` names row k.
        """
        if not self.vectorized:
            return np.array([self.at(point, what=what(k)) for k, point in enumerate(points)])
        rows = self._rows_per_stack(len(points))
        chunks = [
            self._batch(np.asarray(points[start : start + rows], dtype=self.dtype), what=_offset(what, start))
            for start in range(0, len(points), rows)
        ]
        return np.concatenate(chunks)

    def along(self, origin: np.ndarray, step: np.ndarray, count: int, *, what: Callable[[int], str]) -> np.ndarray:
        """``f(origin + k * step)`` for k = 1 .. count (float64 arithmetic, then the working dtype).

        Shape ``(count, out_size)``.  The points are made as they are needed, a
        stack's worth at a time for a vectorized ``f`` and one at a time
        otherwise, so a walk costs a few copies of x whatever its length.
        ``what(k)`` names point k + 1.
        """
        rows = self._rows_per_stack(count) if self.vectorized else 1
        chunks = []
        for start in range(1, count + 1, rows):
            ks = np.arange(start, min(count, start + rows - 1) + 1, dtype=np.float64)[:, None]
            points = ks * step[None, :]
            np.add(origin[None, :], points, out=points)  # origin + k * step, with one temporary, not two
            points = points.astype(self.base.dtype, copy=False)
            chunks.append(self.at_points(points, what=_offset(what, start - 1)))
        return np.concatenate(chunks)

    def base_value(self) -> np.ndarray:
        """``f(x)``, evaluated twice to make sure ``f`` is deterministic."""
        first = self.at(self.base, what="x")
        second = self.at(self.base, what="x")
        if not np.array_equal(first, second):
            diff = np.max(np.abs(first - second))
            raise NonDeterministicFunction(
                f"{self.name} returned two different values at the same point x "
                f"(they differ by {diff:.3g}): it is not deterministic. Randomness such as dropout, "
                "data sampling or noise injection must be seeded inside the function (or turned off) "
                "before its derivative can be checked."
            )
        return first

    # -- coordinate sweeps ----------------------------------------------------------------
    def shifted(self, index: np.ndarray, step: np.ndarray, *, sign_label: str = "+", finite: bool = True) -> np.ndarray:
        """``f(x + step[k] * e_index[k])`` for each k: shape ``(len(index), out_size)``.

        ``step`` is real (a real shift) or, for complex-step, the imaginary step.
        With ``finite=False`` a NaN or inf value is returned as NaN instead of
        raising (the estimators then shrink a step that left f's domain).
        """
        if finite:
            return self._shifted(index, step, sign_label)
        self._lenient = True
        try:
            out = self._shifted(index, step, sign_label)
        finally:
            self._lenient = False
        return np.where(np.isfinite(out), out, np.nan)

    def _shifted(self, index: np.ndarray, step: np.ndarray, sign_label: str) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        count = len(index)
        out_dtype = np.complex128 if self.complex_step else np.float64
        out = np.empty((count, self.out_size), dtype=out_dtype)
        if count == 0:
            return out
        step = np.asarray(step)

        def moved(a: int, b: int) -> np.ndarray:
            """The values entries ``index[a:b]`` take: made per block, never for the whole sweep."""
            shift = 1j * step[a:b] if self.complex_step else step[a:b]
            return np.asarray(self.base[index[a:b]].astype(self.dtype) + shift.astype(self.dtype))

        def label(k: int) -> str:
            unit = "i*" if self.complex_step else ""
            return (
                f"x + {unit}h*e[{self.spec.describe(int(index[k]))}] with h={float(np.abs(step[k])):.3g}"
                if sign_label == "+"
                else f"x - h*e[{self.spec.describe(int(index[k]))}]"
            )

        if self.vectorized and self._rows_per_stack(count) > 1:
            return self._shifted_stacked(index, moved, out, label)

        buffer, base = self._buffer, self.base
        buffer[...] = base
        # The first call is validated; the hot loop after it is one write, one
        # call, one store and one restore per coordinate, with everything else
        # (validation, finiteness, mutation, counting) hoisted out of it.
        buffer[index[0]] = moved(0, 1)[0]
        if self.vectorized:
            # Only one point fits the memory budget: a stack of one buys nothing
            # over this loop, whose overhead per call is far below a chunk's.
            out[0] = self._batch(buffer[None, :], what=label)[0]
            tree, stacked_f = self.spec.views(buffer[None, :]), self.f

            def first_row(points: Any) -> Any:
                return stacked_f(points)[0]

            f: Callable[[Any], Any] = first_row
        else:
            tree, f = self._tree, self.f
            try:
                first_value = self._call(tree)
            except OutputRefused as exc:
                raise self._refusal(exc, label(0)) from None
            out[0] = self._validate(first_value, what=label(0))
        buffer[index[0]] = base[index[0]]
        scalar = self.out_shape == ()
        kinds = "c" if self.complex_step else "fiub"
        shape = self.out_shape
        k = first = j = 0
        pending = False  # inside a block's loop of calls, not yet counted
        validating = False  # an error now is ours (a value of f refused), not f's
        try:
            with self._complex_guard():
                # Blocks of SWEEP_BLOCK coordinates: the Python lists the loop
                # runs on cost ~150 bytes per entry, so they are made per block
                # (memory O(block), not O(n)) at no cost per call.
                for first in range(1, count, SWEEP_BLOCK):
                    stop = min(count, first + SWEEP_BLOCK)
                    k, pending = first, True
                    if scalar:
                        # Python ints and floats index and store faster than
                        # numpy scalars; this loop is the cost of a check beyond f.
                        positions = index[first:stop].tolist()
                        targets = moved(first, stop).tolist()
                        restored = base[index[first:stop]].tolist()
                        values: list[Any] = [0.0] * (stop - first)
                        for j in range(stop - first):
                            i = positions[j]
                            buffer[i] = targets[j]
                            values[j] = f(tree)
                            buffer[i] = restored[j]
                        pending = False
                        self._counter[0] += stop - first
                        out[first:stop, 0] = self._collect(values, label, first)
                    else:
                        targets_block = moved(first, stop)
                        for k in range(first, stop):
                            i = index[k]
                            buffer[i] = targets_block[k - first]
                            value = f(tree)
                            buffer[i] = base[i]
                            arr = _as_array(value)
                            if arr is None or arr.shape != shape or arr.dtype.kind not in kinds:
                                validating = True
                                arr = self._validate(value, what=label(k))
                                validating = False
                            out[k] = arr.reshape(-1)
                        pending = False
                        self._counter[0] += stop - first
        except BaseException as exc:
            if pending:
                if scalar:
                    k = first + j  # the call that raised, within the block
                buffer[index[k]] = base[index[k]]
                self._counter[0] += k - first + 1  # the calls of this block, the one that raised included
            if isinstance(exc, OutputRefused):
                raise self._refusal(exc, label(k)) from None
            raised_by_f = pending and not validating
            if not raised_by_f or isinstance(exc, (NotComplexSafe, _ComplexWarning)) or not isinstance(exc, Exception):
                raise
            # The user's own error propagates as theirs (complex-step aside,
            # where an error on complex input means f is not complex-safe).
            if self.complex_step:
                raise self._refused_complex(exc) from exc
            raise
        self._check_untouched(base, "x plus a step along one coordinate")
        if not self._lenient:
            self._check_finite(out, label)
        return out

    def _collect(self, values: list[Any], label: Callable[[int], str], first: int) -> np.ndarray:
        """The scalar outputs ``values`` (of points ``first``, ``first + 1``, ...) as one column, each checked.

        One conversion of the whole list when every value is a number of the
        right kind (the rule); otherwise each value is validated in order, so
        the first bad one is reported at its own point.
        """
        kinds = "c" if self.complex_step else "fiub"
        column = _as_array(values)
        if column is not None and column.ndim == 1 and column.dtype.kind in kinds:
            return column
        return np.array(
            [self._validate(v, what=_bind(label, first + j))[0] for j, v in enumerate(values)],
            dtype=np.complex128 if self.complex_step else np.float64,
        )

    def _shifted_stacked(
        self,
        index: np.ndarray,
        moved: Callable[[int, int], np.ndarray],
        out: np.ndarray,
        label: Callable[[int], str],
    ) -> np.ndarray:
        """Coordinate sweep for a vectorized f: chunks of a reused stack of points."""
        count = len(index)
        rows = self._rows_per_stack(count)
        stack = np.empty((rows, self.spec.size), dtype=self.dtype)
        stack[...] = self.base
        row = np.arange(rows)
        # The first chunk goes through _batch, which validates what f returns.
        # The chunks after it cost one call each plus four array operations:
        # the views of the stack are built once, and finiteness is checked
        # once for the whole sweep, as in the unstacked sweep.
        first = min(count, rows)
        stack[row[:first], index[:first]] = moved(0, first)
        out[:first] = self._batch(stack[:first], what=label)
        stack[row[:first], index[:first]] = self.base[index[:first]]
        whole = self.spec.views(stack)
        for start in range(first, count, rows):
            stop = min(count, start + rows)
            k = stop - start
            cols = index[start:stop]
            targets = moved(start, stop)
            stack[row[:k], cols] = targets
            self._counter[0] += k - 1
            try:
                value = self._call(whole if k == rows else self.spec.views(stack[:k]))
            except OutputRefused as exc:
                raise self._refusal(exc, f"the stack of points starting at {label(start)}") from None
            if not np.array_equal(stack[row[:k], cols], targets):
                raise InputMutated(
                    f"{self.name} modified the stack of points it was given (at {label(start)} and after); "
                    "a vectorized f must not modify its input: build new arrays instead"
                )
            out[start:stop] = self._per_point(value, k, _offset(label, start))
            stack[row[:k], cols] = self.base[cols]
        if not np.array_equal(stack, np.broadcast_to(self.base.astype(self.dtype, copy=False), stack.shape)):
            raise InputMutated(
                f"{self.name} modified the stack of points it was given (in a coordinate sweep); "
                "a vectorized f must not modify its input: build new arrays instead"
            )
        if not self._lenient:
            self._check_finite(out, label)
        return out

    # -- internals ---------------------------------------------------------------------
    def _rows_per_stack(self, count: int) -> int:
        """Points per call of a vectorized f: ``count``, or fewer to stay in the memory budget."""
        return int(max(1, min(count, self.memory_budget // max(1, self.spec.size * self.dtype.itemsize))))

    def _call(self, tree: Any) -> Any:
        self._counter[0] += 1
        with self._complex_guard():
            try:
                return self.f(tree)
            except (NotComplexSafe, OutputRefused, _ComplexWarning):
                raise
            except Exception as exc:
                # The user's own error propagates as theirs, except under
                # complex-step, where it says f is not complex-safe.
                if self.complex_step:
                    raise self._refused_complex(exc) from exc
                raise

    def _refusal(self, exc: OutputRefused, what: str) -> InvalidArgument:
        return InvalidArgument(f"{self.name} returned {exc.problem} at {what}")

    def _complex_guard(self) -> _Guard:
        return _Guard(self.complex_step)

    def _refused_complex(self, exc: Exception) -> NotComplexSafe:
        return NotComplexSafe(
            f"{self.name} raised {type(exc).__name__} on complex input ({exc}); complex-step needs a "
            "function that accepts complex arrays; use method='central'"
        )

    def _batch(self, stack: np.ndarray, *, what: Callable[[int], str]) -> np.ndarray:
        tree = self.spec.views(stack)
        k = stack.shape[0]
        self._counter[0] += k - 1
        # A vectorized f gets the stack itself; that it leaves it alone is
        # checked as for an unstacked f (and the stack restored for the caller).
        snapshot = stack.copy()
        try:
            raw = self._call(tree)
        except OutputRefused as exc:
            raise self._refusal(exc, what(0) if k == 1 else f"the stack of {k} points starting at {what(0)}") from None
        if not np.array_equal(stack, snapshot):
            row, col = (int(i) for i in np.argwhere(stack != snapshot)[0])
            stack[...] = snapshot
            raise InputMutated(
                f"{self.name} modified the stack of points it was given (entry {self.spec.describe(col)} of "
                f"point {row}, at {what(row)}); a vectorized f must not modify its input: build new arrays instead"
            )
        value = _as_array(raw)
        if value is not None and value.shape[:1] == (k,) and self.out_shape is None:
            self._validate(value[0], what=lambda: what(0))  # the first point's output sets and checks the shape
        out = self._per_point(raw if value is None else value, k, what)
        self._check_finite(out, what)
        if self.complex_step:
            return out.astype(np.complex128)
        return out.astype(np.float64)

    def _per_point(self, value: Any, k: int, what: Callable[[int], str]) -> np.ndarray:
        """A vectorized f's result for a stack of k points as a (k, out_size) array, checked."""
        arr = _as_array(value)
        if arr is None or arr.shape[:1] != (k,):
            got = f"shape {arr.shape}" if arr is not None else show(value)
            raise InvalidArgument(
                f"{self.name} is declared vectorized=True but returned {got} for a stack of "
                f"{k} points (at {what(0)}); it must return one value per point (shape ({k}, ...))"
            )
        kinds = "c" if self.complex_step else "fiub"
        if arr.shape[1:] != self.out_shape or arr.dtype.kind not in kinds:
            # Each point's output validated in order: the first bad one is named.
            rows = [self._validate(arr[j], what=_bind(what, j)) for j in range(k)]
            return np.array(rows)
        return arr.reshape(k, -1)

    def _validate(self, value: Any, *, what: str | Callable[[], str]) -> np.ndarray:
        # ``what`` names the point in an error; a callable defers building that
        # name (it locates an entry) to the rare call that fails.
        def at() -> str:
            return what() if callable(what) else what

        arr = _as_array(value)
        if arr is not None and arr.dtype == object and isinstance(value, int) and not isinstance(value, bool):
            # A Python int beyond int64 is still a number when a float can hold it.
            try:
                arr = np.asarray(float(value))
            except OverflowError:
                pass
        if arr is None or arr.dtype == object or arr.dtype.kind not in "fiucb":
            raise InvalidArgument(
                f"{self.name} returned {_show_value(value)} at {at()}; it must return a number or a numeric array"
            )
        if self.scalar and arr.ndim != 0:
            raise InvalidArgument(
                f"{self.name} returned an array of shape {arr.shape} at {at()}, but check_grad needs a scalar "
                "function; use check_vjp or check_jacobian for functions with array outputs"
            )
        if not self.complex_step and arr.dtype.kind == "c":
            if np.any(arr.imag != 0):
                imag = arr.reshape(-1)[np.flatnonzero(arr.reshape(-1).imag != 0)[0]]
                raise InvalidArgument(
                    f"{self.name} returned the complex value {imag} at {at()}, for real input: gradverify checks "
                    "derivatives of real-valued functions, and would have to drop the imaginary part; return a real "
                    "value (np.real(...) if the imaginary part is meant to be dropped)"
                )
            arr = arr.real
        if self.complex_step and arr.dtype.kind != "c":
            raise NotComplexSafe(
                f"{self.name} returned a real {arr.dtype} value for complex input at {at()}: it drops the imaginary "
                "part (np.real, float(), abs, or an assignment into a real array), so complex-step cannot see its "
                "derivative; use method='central'"
            )
        if self.out_shape is None:
            self.out_shape = arr.shape
            self.out_dtype = arr.real.dtype if arr.dtype.kind in "fc" else np.dtype(np.float64)
        elif arr.shape != self.out_shape:
            raise InvalidArgument(f"{self.name} returned shape {arr.shape} at {at()} but shape {self.out_shape} at x")
        flat = arr.reshape(-1).astype(np.complex128 if self.complex_step else np.float64)
        if not self._lenient and not np.all(np.isfinite(flat)):
            bad = int(np.flatnonzero(~np.isfinite(flat))[0])
            where = "" if arr.ndim == 0 else f" (output entry {tuple(int(k) for k in np.unravel_index(bad, arr.shape))})"
            raise NonFiniteValue(
                f"{self.name} returned {flat[bad]}{where} at {at()}; a derivative cannot be checked through NaN or inf"
            )
        return flat

    def _check_finite(self, out: np.ndarray, label: Callable[[int], str]) -> None:
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            k = int(np.flatnonzero(~finite)[0])
            raise NonFiniteValue(
                f"{self.name} returned {out[k].ravel()[~np.isfinite(out[k].ravel())][0]} at {label(k)}; "
                "a derivative cannot be checked through NaN or inf (is x near a singularity, or is h too large?)"
            )

    def _check_untouched(self, expected: np.ndarray, what: str) -> None:
        if self._leaf_ids(self._tree) != self._leaves:
            raise InputMutated(
                f"{self.name} replaced an entry of the parameter {self.spec.kind} it was given (at {what}); "
                "it must not modify its input: build new arrays instead"
            )
        if not np.array_equal(self._buffer, expected.astype(self.dtype, copy=False)):
            changed = int(np.flatnonzero(self._buffer != expected.astype(self.dtype))[0])
            self._buffer[...] = expected
            raise InputMutated(
                f"{self.name} modified its input in place (entry {self.spec.describe(changed)} changed at {what}); "
                "it must not modify its input: copy before writing (x = x.copy()) or use out-of-place operations"
            )


def _as_array(value: Any) -> np.ndarray | None:
    """``np.asarray(value)``, or None where numpy refuses it (ragged sequences, huge ints)."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _show_value(value: Any) -> str:
    """What f returned, for a message: its type and (shortened) value."""
    if value is None:
        return "None"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{show(value)} (an int too large for a float64)"
    return f"{type(value).__name__} {show(value)}"


def _bind(label: Callable[[int], str], k: int) -> Callable[[], str]:
    """``label(k)``, built only when a message needs it."""
    return lambda: label(k)


def _offset(label: Callable[[int], str], first: int) -> Callable[[int], str]:
    """Labels for rows of a chunk that starts at entry ``first``."""
    return lambda row: label(first + row)


class _Guard:
    """Turns numpy's ComplexWarning into an error while complex-step runs."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self._catcher: Any = None

    def __enter__(self) -> None:
        if self.active:
            self._catcher = warnings.catch_warnings()
            self._catcher.__enter__()
            warnings.simplefilter("error", _ComplexWarning)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._catcher is not None:
            self._catcher.__exit__(exc_type, exc, tb)
            self._catcher = None
        if exc_type is not None and self.active and issubclass(exc_type, _ComplexWarning):
            raise NotComplexSafe(
                "the function discards the imaginary part of its input (numpy raised ComplexWarning: a complex "
                "value was cast to real), so complex-step cannot see its derivative; use method='central'"
            ) from exc
