"""What a stack of points buys a vectorized f: time per point against stack size.

The evidence behind ``gradverify.evaluate.DEFAULT_MEMORY_BUDGET`` and behind
what ``vectorized=True`` can and cannot gain.  For the chained Rosenbrock
function written for stacks (the f of benchmarks/speed.py), at n = 10^2, 10^3
and 10^4, it times one ordinary call on one point and stacked calls on stacks
of 8 KB to 2 MB, all in the same run, and prints microseconds per point.

A full coordinate check evaluates f at 2n points (central differences) whatever
the calling convention, so its time is at least 2n times the best per-point
cost in a row: stacking can only remove the per-call overhead, never f's
arithmetic.

Run:  python benchmarks/stack_sizes.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from gradverify import zoo

STACK_KB = (8, 32, 128, 512, 2048)


def stacked(X: np.ndarray) -> np.ndarray:
    return np.sum(100.0 * (X[..., 1:] - X[..., :-1] ** 2) ** 2 + (1.0 - X[..., :-1]) ** 2, axis=-1)


def per_point(fn: Callable[[], object], points: int, budget_s: float = 0.2) -> float:
    """Best of three timings of ``fn`` (which evaluates ``points`` points), in microseconds per point."""
    fn()
    reps = 1
    while True:  # enough repetitions for ~budget_s per timing
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t > budget_s / 3 or reps > 1e6:
            break
        reps *= 4
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps / points)
    return best * 1e6


def main() -> int:
    print("## Time per point of f (microseconds), one call vs stacks of k points\n")
    print("| n | one call (unstacked f) | " + " | ".join(f"{kb} KB stack" for kb in STACK_KB) + " |")
    print("|---" * (len(STACK_KB) + 2) + "|")
    for n in (100, 1_000, 10_000):
        x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
        cells = [f"{per_point(lambda x=x: zoo.rosenbrock(x), 1):.2f}"]
        for kb in STACK_KB:
            k = max(1, kb * 1024 // (8 * n))
            X = np.tile(x, (k, 1))
            cells.append(f"{per_point(lambda X=X: stacked(X), k):.2f} (k={k})")
        print(f"| {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
