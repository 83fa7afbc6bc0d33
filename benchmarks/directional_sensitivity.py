"""How small a single wrong entry a directional check sees.

One entry of a correct gradient is scaled by (1 + rel); the check runs in
directional mode (2 random directions, then the search for the entry) with
complex-step, with Richardson differences, and by default on an f that calls
float() (not complex-safe, so finite differences, the failed direction
searched by ramps and bisection where ramps do not settle it), for
n = 10^3 .. 10^6.  For each: the smallest rel caught *and named*, its calls,
and the calls at rel = 1e-3.  The old rule of thumb (a
relative error of 1e-5..1e-7 between ⟨grad, v⟩ and a forward difference) sees
nothing below about 1e-5 * sqrt(n) relative in one entry.

Run:  python benchmarks/directional_sensitivity.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse

import numpy as np

import gradverify as gv


def f(x: np.ndarray) -> float:
    return np.sum(np.log1p(x * x)) + 0.5 * np.sum(x[1:] * x[:-1])


def grad(x: np.ndarray) -> np.ndarray:
    g = 2 * x / (1 + x * x)
    g[1:] += 0.5 * x[:-1]
    g[:-1] += 0.5 * x[1:]
    return g


def f_float(x: np.ndarray) -> float:
    """The same f through float(): complex input raises, so complex-step is refused."""
    return float(f(x))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10**3, 10**4, 10**5, 10**6])
    args = parser.parse_args(argv)
    print(
        "| n | method | smallest rel. error of one entry caught and named (of 1e-2 .. 1e-12) | calls there | calls at 1e-3 |"
    )
    print("|---|---|---|---|---|")
    variants = {
        "complex": (f, {"method": "complex", "mode": "directional"}),
        "richardson": (f, {"method": "richardson", "mode": "directional"}),
        "default, f calls float()": (f_float, {}),
    }
    for n in args.sizes:
        x = np.random.default_rng(n).standard_normal(n)
        entry = n // 3
        for label, (fn, kw) in variants.items():
            smallest, calls, at_1e3 = None, None, None
            for rel in [10.0**-k for k in range(2, 13)]:

                def wrong(x: np.ndarray, rel: float = rel, entry: int = entry) -> np.ndarray:
                    g = grad(x)
                    g[entry] *= 1 + rel
                    return g

                report = gv.check_grad(fn, wrong, x, seed=0, **kw)
                if report.ok or report.worst_index != (entry,):
                    break
                smallest, calls = rel, report.evaluations
                if rel == 1e-3:
                    at_1e3 = report.evaluations
            shown = f"{smallest:.0e} | {calls}" if smallest else "none | -"
            print(f"| {n} | {label} | {shown} | {at_1e3 if at_1e3 is not None else '-'} |")


if __name__ == "__main__":
    main()
