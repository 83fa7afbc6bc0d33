"""One check's problem, built once: the point, f(x), the analytic derivative, the evaluators.

:func:`gradverify._core.check._run` builds a :class:`Problem` after it has
chosen the method, and hands it to the full or the directional check.  The
record also knows the scales the verdict is held to, per parameter (leaf):
the floor's scale and the scale a resolution is relative to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import steps as rules
from ..steps import Tolerance
from .estimators import NOISE_WALKS, measure_noise
from .evaluate import Evaluator
from .params import ParamSpec

__all__ = ["Noise", "Problem", "Sensitivity"]


class Noise:
    """f's rounding noise at x (per output), measured on first use and kept.

    :meth:`quick` measures it along one walk (half the calls): enough where an
    underestimate can only cost calls, never a verdict (the vetting of
    complex-step, whose tolerance it sets: too tight a tolerance refuses
    complex-step and the check falls back to finite differences).  Calling
    the object measures along both walks (reusing the quick one), which the
    verdict's rounding bounds need.
    """

    def __init__(self, ev: Evaluator, x: np.ndarray, f0: np.ndarray, rng: np.random.Generator) -> None:
        self._args = (ev, x, f0, rng)
        self._value: np.ndarray | None = None
        self._quick: np.ndarray | None = None

    def quick(self) -> np.ndarray:
        """The noise from the first walk alone (or the full measurement when there is one)."""
        if self._value is not None:
            return self._value
        if self._quick is None:
            self._quick = measure_noise(*self._args, walks=NOISE_WALKS[:1])
        return self._quick

    def __call__(self) -> np.ndarray:
        if self._value is None:
            if self._quick is None:
                self._value = measure_noise(*self._args)
            else:
                self._value = np.maximum(self._quick, measure_noise(*self._args, walks=NOISE_WALKS[1:]))
        return self._value

    @property
    def measured(self) -> np.ndarray | None:
        """The noise if it was measured, else None (complex-step never needs it)."""
        return self._value if self._value is not None else self._quick


class Sensitivity:
    """How much the analytic derivative moves when x moves by a few ulps: measured on demand, kept.

    One more call of the user's derivative, made only when an entry fails by
    a hair (:data:`~gradverify.steps.SENSITIVITY_CAP`); :attr:`value` is the
    change per entry, capped at that fraction of its leaf's scale, or None
    before it is measured.
    """

    def __init__(
        self, analytic_at: Any, x: np.ndarray, A: np.ndarray, scale: np.ndarray, seed: int, promoted: bool = False
    ) -> None:
        self._args = (analytic_at, x, A, scale, seed)
        self._promoted = promoted
        self.value: np.ndarray | None = None

    def measure(self) -> np.ndarray:
        if self.value is None and self._promoted:
            # A float32 derivative against a float64 reference: its own float32
            # rounding is what it may differ by, and where the derivative also
            # computes in float64, the same derivative at the float64 point shows
            # it (db = sum of 5 dout terms cancelling to 5e-3 from terms of 1:
            # 7e-8, seven times the floor at db's scale).  One call.
            analytic_at, x, A, scale, _ = self._args
            delta = np.abs(np.asarray(analytic_at(x.astype(np.float64)), dtype=np.float64) - A)
            self.value = np.minimum(np.where(np.isfinite(delta), delta, 0.0), rules.SENSITIVITY_CAP[x.dtype] * scale)
        if self.value is None:
            analytic_at, x, A, scale, seed = self._args
            rng = np.random.default_rng([seed, 3])
            eps = float(np.finfo(x.dtype).eps)
            change = np.zeros(A.shape)
            # One move can leave a difference of two entries unchanged (x1 - x2 when
            # both move alike), which the rounding of f's intermediate values does
            # not.  The first moves take their signs from the bits of each entry's
            # index (any two neighbours, and all pairs but one in four, move apart
            # in one of them, whatever the seed); the last from the seed.
            index = np.arange(x.size)
            for move in range(rules.SENSITIVITY_MOVES):
                if move < rules.SENSITIVITY_MOVES - 1:
                    signs = np.where((index >> move) & 1, -1.0, 1.0)
                else:
                    signs = rng.choice(np.array([-1.0, 1.0]), size=x.size)
                moved = (x.astype(np.float64) * (1.0 + rules.SENSITIVITY_ULPS * eps * signs)).astype(x.dtype)
                delta = np.abs(np.asarray(analytic_at(moved), dtype=np.float64) - A)
                change = np.maximum(change, np.where(np.isfinite(delta), delta, 0.0))
            self.value = np.minimum(change, rules.SENSITIVITY_CAP[x.dtype] * scale)
        return self.value


@dataclass(frozen=True)
class Problem:
    """Everything one check knows before it estimates anything.

    Attributes
    ----------
    kind : str
        ``"gradient"``, ``"vjp"`` or ``"jacobian"``.
    spec : ParamSpec
        The structure of the parameters.
    x : ndarray, shape (n,)
        The flat point, in the working dtype.
    f0 : ndarray, shape (m,)
        ``f(x)``, flat.
    A : ndarray, shape (n, m)
        The analytic derivative.
    out_shape : tuple
        The shape of ``f(x)``.
    method : str
        The estimator (``"auto"`` resolved).
    ev : Evaluator
        Real evaluations of ``f``.
    ev_c : Evaluator or None
        Complex evaluations, when complex-step is used.
    evaluators : tuple of Evaluator
        Every evaluator the check made (a vetted and refused complex one
        included): ``calls`` is their sum.
    noise : Noise
        f's rounding noise at x, measured once.
    tolerance : Tolerance
        The rule and its numbers.
    seed : int
        Replays the check.
    rng : numpy.random.Generator
        The check's randomness (directions, noise walks).
    h : object
        The user's step, or None.
    notes : list of str
        What was decided on the way.
    extra_calls : int
        Calls of f made before the evaluators (check_vjp's shape probe).
    dtype : str or None
        The dtype the check is about (the caller's x), when the numerical
        side works in another one (a float64 reference for float32 x).
    sensitivity : Sensitivity or None
        The analytic derivative's change under a move of x by a few ulps,
        measured when an entry fails by a hair (None: not available, as for
        a float64 reference of a float32 derivative).
    out_groups : tuple of (start, stop), optional
        Outputs that are parts of one derivative, whose entries share a scale
        (the rows of a Hessian: the outputs of a gradient, grouped by the
        parameter they belong to).  By default every output is its own.
    """

    kind: str
    spec: ParamSpec
    x: np.ndarray
    f0: np.ndarray
    A: np.ndarray
    out_shape: tuple[int, ...]
    method: str
    ev: Evaluator
    ev_c: Evaluator | None
    evaluators: tuple[Evaluator, ...]
    noise: Noise
    tolerance: Tolerance
    seed: int
    rng: np.random.Generator
    h: Any = None
    notes: list[str] = field(default_factory=list)
    extra_calls: int = 0
    dtype: str | None = None
    out_groups: tuple[tuple[int, int], ...] | None = None
    sensitivity: Sensitivity | None = None

    @property
    def dtype_name(self) -> str:
        """The caller's dtype (the report's ``dtype``)."""
        return str(self.x.dtype) if self.dtype is None else self.dtype

    @property
    def reference(self) -> str | None:
        """The dtype the numerical side worked in, when it is not the caller's (a float64 reference)."""
        return None if self.dtype is None or self.dtype == str(self.x.dtype) else str(self.x.dtype)

    @property
    def calls(self) -> int:
        """Calls of f so far, counted by the evaluators."""
        return self.extra_calls + sum(ev.calls for ev in self.evaluators)

    @property
    def natural(self) -> np.ndarray:
        """``|f| / max(1, rms |x|)`` per output, shape (1, m).

        A derivative is a sum of terms of about that size; where they cancel to
        a small result, any evaluation of it (the analytic one, or
        complex-step) is accurate only to EPS times the terms.
        """
        x_rms = float(np.sqrt(np.mean(self.x.astype(np.float64) ** 2))) if self.x.size else 0.0
        return self._grouped(np.abs(self.f0.astype(np.float64))[None, :] / max(1.0, x_rms))

    def _grouped(self, M: np.ndarray) -> np.ndarray:
        """Each column of ``M`` replaced by the largest of its output group's columns."""
        if not self.out_groups:
            return M
        out = M.copy()
        for lo, hi in self.out_groups:
            if hi > lo:
                out[:, lo:hi] = np.max(M[:, lo:hi], axis=1, keepdims=True)
        return np.asarray(out)

    def leaf_max(self, M: np.ndarray) -> np.ndarray:
        """Each entry of ``M`` (n, m) replaced by the largest finite |value| of its leaf, per column.

        Columns of one output group (:attr:`out_groups`) share their largest:
        a Hessian entry is computed from terms of the size of its block's
        largest entry, not of its own row's (at a minimum, the gradient and a
        diagonal entry both cancel to nearly nothing from terms 100x larger).
        """
        out = np.zeros(M.shape)
        absM = np.where(np.isfinite(M), np.abs(M), 0.0)
        offsets = self.spec.offsets
        for leaf in range(len(self.spec.shapes)):
            lo, hi = int(offsets[leaf]), int(offsets[leaf + 1])
            if hi > lo:
                out[lo:hi] = np.max(absM[lo:hi], axis=0, keepdims=True)
        return self._grouped(out)

    def floor_scale(self, N: np.ndarray) -> np.ndarray:
        """The floor's scale per entry: its leaf's largest |N|, or |f| / max(1, |x|) when larger."""
        return np.asarray(np.maximum(self.leaf_max(N), self.natural))

    def resolution_scale(self, N: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """What a resolution is relative to, per entry: the size of its leaf's derivative.

        The larger of |A| and |N| over the leaf (a check that passes has
        ``|A| <= |N| + allowed``, so neither can make a passing check look
        sharper than it is).  A leaf that the analytic derivative or the
        estimate calls exactly zero, and that is zero within its tolerance
        ``allowed`` on the other side too, is measured against the whole derivative's scale (or
        |f| / max(1, |x|)), and where all of that is zero within tolerance,
        against 1 (the unit of the step rule's ``max(1, |x|)``).  A leaf
        whose derivative is small but claimed nonzero is held to its own
        scale: a sign flip of a leaf 1e-16 the size of another is not hidden
        by the other's floor.
        """
        size = np.maximum(np.abs(self.A), np.where(np.isfinite(N), np.abs(N), 0.0))
        leaf = self.leaf_max(size)
        exact_zero = (self.leaf_max(self.A) == 0) | (self.leaf_max(N) == 0)
        within = leaf <= self.leaf_max(allowed) if allowed is not None else np.zeros(leaf.shape, bool)
        zero = (leaf == 0) | (exact_zero & within)
        overall = np.max(np.concatenate([leaf, self.natural]), axis=0, keepdims=True) if leaf.size else self.natural
        widest = float(np.max(allowed)) if allowed is not None and allowed.size else 0.0
        fallback = np.where(overall > widest, overall, np.maximum(overall, 1.0))
        return np.where(zero, np.broadcast_to(fallback, leaf.shape), leaf)
