"""The framework-neutral part of a framework check: one verdict per differentiable output.

An adapter describes the function it checks with plain numpy callables (the
forward at a point, and the framework's own derivative there) and
:func:`check_outputs` runs gradverify's verdict engine on each output:
:func:`~gradverify.check_jacobian` when the output is small enough for its
full Jacobian (one backward pass per output entry, every entry compared), and
:func:`~gradverify.check_vjp` with a seeded random cotangent otherwise.  The
tolerance rule is the engine's; nothing here compares numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.check import check_jacobian, check_vjp
from .._core.report import Report
from .._core.validate import valid_seed
from .outputs import CallCache, combine, name_output

__all__ = ["JACOBIAN_MAX", "Derivative", "check_outputs"]

#: Outputs with at most this many entries are checked through their full
#: Jacobian (one backward pass per entry, as torch's gradcheck does); larger
#: ones through one vector-Jacobian product with a seeded random cotangent,
#: which costs one backward pass and compares every input entry.
JACOBIAN_MAX = 64


@dataclass
class Derivative:
    """The framework's derivative of output ``k``, as numpy.

    ``jacobian(k, leaves)`` returns one array per leaf of shape
    ``out_shape + leaf.shape``; ``vjp(k, leaves, cotangent)`` one array per
    leaf of the leaf's shape.  ``passes`` counts the backward (or forward-mode)
    passes spent, for the report.
    """

    jacobian: Callable[[int, list[Any], tuple[Any, ...]], list[Any]]
    vjp: Callable[[int, list[Any], np.ndarray], list[Any]]
    passes: list[Any]


def check_outputs(
    forward: Callable[[Sequence[np.ndarray]], tuple[Any, ...]],
    derivative: Derivative,
    names: Sequence[str],
    point: Sequence[np.ndarray],
    outputs: Sequence[tuple[int, str | None, tuple[Any, ...]]],
    *,
    notes: Sequence[str],
    options: dict[str, Any],
    full_jacobian: bool | None = None,
) -> Report:
    """Check every differentiable output of ``forward`` at ``point`` and fold the reports into one.

    ``outputs`` lists ``(index, label, shape)``: the position of the output in
    ``forward``'s tuple, its name in the report (None for a lone output), and
    its shape.  ``options`` are passed to the engine (method, h, safety, mode,
    directions, budget, seed).
    """
    cache = CallCache(forward)
    seed = valid_seed(options.get("seed"))
    options = dict(options, seed=seed)
    reports: list[tuple[str, Report]] = []
    x = {name: np.array(leaf, copy=True) for name, leaf in zip(names, point)}
    used = []
    for n, (k, label, shape) in enumerate(outputs):
        cache.reading = n > 0

        def f(tree: dict[str, Any], k: int = k) -> np.ndarray:
            return np.asarray(cache([tree[name] for name in names])[k])

        size = int(np.prod(shape, dtype=np.int64))
        jac = full_jacobian if full_jacobian is not None else size <= JACOBIAN_MAX
        if jac:

            def jacobian(tree: dict[str, Any], k: int = k, shape: tuple[Any, ...] = shape) -> dict[str, Any]:
                return dict(zip(names, derivative.jacobian(k, [tree[name] for name in names], shape)))

            report = check_jacobian(f, jacobian, x, **_engine(options))
            used.append("full Jacobian")
        else:
            ct = np.random.default_rng([seed, k]).standard_normal(shape)

            def vjp(tree: dict[str, Any], cotangent: np.ndarray, k: int = k) -> dict[str, Any]:
                return dict(zip(names, derivative.vjp(k, [tree[name] for name in names], cotangent)))

            report = check_vjp(f, vjp, x, cotangent=ct, **_engine(options))
            used.append("vector-Jacobian product with a seeded random cotangent")
        reports.append((label or "output", name_output(report, label)))
    how = sorted(set(used))
    done = [f"analytic side: the framework's own derivative ({', '.join(how)}; {_passes(derivative.passes[0])})"]
    return combine(reports, calls=cache.calls, notes=list(notes) + done)


def _passes(count: int) -> str:
    return f"{count} pass" if count == 1 else f"{count} passes"


def _engine(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("method", "h", "safety", "mode", "directions", "budget", "seed")
    return {k: options[k] for k in keys if k in options}
