"""How small a single wrong entry a directional check sees.

One entry of a correct gradient is scaled by (1 + rel); the check runs in
directional mode (2 random directions, then bisection) with complex-step and
with Richardson differences, for n = 10^3 .. 10^6.  The old rule of thumb (a
relative error of 1e-5..1e-7 between ⟨grad, v⟩ and a forward difference) sees
nothing below about 1e-5 * sqrt(n) relative in one entry.

Run:  python benchmarks/directional_sensitivity.py
"""

from __future__ import annotations

import numpy as np

import gradverify as gv


def f(x: np.ndarray) -> float:
    return np.sum(np.log1p(x * x)) + 0.5 * np.sum(x[1:] * x[:-1])


def grad(x: np.ndarray) -> np.ndarray:
    g = 2 * x / (1 + x * x)
    g[1:] += 0.5 * x[:-1]
    g[:-1] += 0.5 * x[1:]
    return g


def main() -> None:
    print("| n | method | smallest rel. error of one entry caught (of 1e-2 .. 1e-12) | calls at that size |")
    print("|---|---|---|---|")
    for n in (10**3, 10**4, 10**5, 10**6):
        x = np.random.default_rng(n).standard_normal(n)
        entry = n // 3
        for method in ("complex", "richardson"):
            smallest, calls = None, None
            for rel in [10.0**-k for k in range(2, 13)]:

                def wrong(x: np.ndarray, rel: float = rel, entry: int = entry) -> np.ndarray:
                    g = grad(x)
                    g[entry] *= 1 + rel
                    return g

                report = gv.check_grad(f, wrong, x, method=method, mode="directional", seed=0)
                if report.ok or report.worst_index != (entry,):
                    break
                smallest, calls = rel, report.evaluations
            print(f"| {n} | {method} | {smallest:.0e} | {calls} |" if smallest else f"| {n} | {method} | none | - |")


if __name__ == "__main__":
    main()
