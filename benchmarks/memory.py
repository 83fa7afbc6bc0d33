"""Peak memory of a check per parameter: the evidence behind ``_core.memory.BYTES_PER_PARAMETER``.

For float64 x of n entries it runs ``check_grad`` under ``tracemalloc``
(numpy reports its allocations to it) and prints the peak in bytes per
parameter, for the default mode (directional above the budget, complex-step)
and for full mode with complex-step and with central differences.  f costs
O(1) (it reads two entries) so that a full check of 10^6 entries takes seconds,
and its own temporaries do not hide the check's.

Run:  python benchmarks/memory.py [n]        (default n = 10^6; full mode ~1 min)
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

import gradverify as gv


def cheap(x: np.ndarray) -> float:
    return 3.0 * x[0] + x[1] ** 2


def cheap_grad(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    g[0], g[1] = 3.0, 2 * x[1]
    return g


def peak(n: int, **options: object) -> tuple[float, gv.Report, float]:
    """Peak traced bytes per parameter of one check_grad, its report and its time."""
    x = np.linspace(0.5, 1.5, n)
    tracemalloc.start()
    start = time.perf_counter()
    report = gv.check_grad(cheap, cheap_grad, x, seed=0, **options)
    seconds = time.perf_counter() - start
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / n, report, seconds


def main(n: int) -> None:
    print(f"n = {n}, float64 x ({8 * n / 2**20:.1f} MiB)")
    for label, options in (
        ("default (auto)", {}),
        ("full, complex-step", {"mode": "full", "method": "complex"}),
        ("full, central", {"mode": "full", "method": "central"}),
    ):
        per, report, seconds = peak(n, **options)
        print(
            f"  {label:20s} {per:6.1f} B/parameter ({per / 8:4.1f} x x)  "
            f"mode={report.mode} method={report.method} calls={report.evaluations} ({seconds:.1f} s)"
        )


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6)
