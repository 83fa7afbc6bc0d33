"""Calls of f, accuracy and wall time, side by side with the plain loop, scipy and numdifftools.

Everything in one run, on the same zoo problems (float64, about n = 100 and
1000 parameters, seeded):

1. numerical gradients: gradverify's ``numerical_gradient`` (central and
   forward) against the course's plain loop (h = 1e-5), scipy's
   ``approx_fprime`` and ``approx_derivative`` ('2-point', '3-point', 'cs'),
   and numdifftools' ``Gradient`` where it is installed.  Calls of f counted
   by f, accuracy max|estimate - exact| / max|exact|, wall time (best of
   --repeat) as a ratio to gradverify central;
2. full checks of a correct gradient: gradverify's ``check_grad`` (auto,
   central, complex) against scipy's ``check_grad``: calls, outcome and
   resolution, and wall time as a ratio;
3. float32 sensitivity: the smallest relative error (gradient scaled by
   1 + rel) that ``check_grad`` catches on every seed, by method and problem,
   with the correct gradient passing on every seed.

Run:  python benchmarks/calls.py              (n = 100 and 1000; a few minutes)
      python benchmarks/calls.py --quick      (n = 100 only, fewer seeds)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import approx_fprime
from scipy.optimize import check_grad as scipy_check_grad
from scipy.optimize._numdiff import approx_derivative

import gradverify as gv
from gradverify import zoo
from gradverify._core.params import ParamSpec

try:
    import numdifftools as nd
except ImportError:  # optional peer
    nd = None


class Counted:
    """f that counts its own calls."""

    def __init__(self, f: Callable[[Any], Any]) -> None:
        self.f, self.calls = f, 0

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        return self.f(x)


def sized(name: str, n: int, seed: int = 0, dtype: Any = np.float64) -> zoo.Problem:
    """A zoo problem with about n parameters."""
    if name == "rosenbrock":
        return zoo.make_problem(name, n=n, seed=seed, dtype=dtype)
    if name == "logistic":
        return zoo.make_problem(name, n_features=n, seed=seed, dtype=dtype)
    if name == "mlp":
        return zoo.make_problem(name, n_features=int(np.sqrt(2 * n)), seed=seed, dtype=dtype)
    return zoo.make_problem(name, n_features=n // 4, n_classes=4, seed=seed, dtype=dtype)


def timed(repeat: int, make: Callable[[], tuple[Counted, Callable[[Counted], Any]]]) -> tuple[float, int, Any]:
    """Best wall time over ``repeat`` runs, the calls of one run, and its result."""
    best, calls, out = np.inf, 0, None
    for _ in range(repeat):
        f, run = make()
        start = time.perf_counter()
        out = run(f)
        best = min(best, time.perf_counter() - start)
        calls = f.calls
    return best, calls, out


def plain_loop(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The course notes' forward-difference loop."""
    x = x.copy()
    fx = f(x)
    grad = np.zeros_like(x)
    for i in range(x.size):
        old = x[i]
        x[i] = old + h
        grad[i] = (f(x) - fx) / h
        x[i] = old
    return grad


def numerical_table(sizes: list[int], repeat: int) -> None:
    tools: dict[str, Callable[[Counted, np.ndarray], np.ndarray]] = {
        "gradverify central": lambda f, x: gv.numerical_gradient(f, x, method="central"),
        "gradverify forward": lambda f, x: gv.numerical_gradient(f, x, method="forward"),
        "plain loop (forward, h=1e-5)": plain_loop,
        "scipy approx_fprime": lambda f, x: approx_fprime(x, f),
        "scipy 2-point": lambda f, x: approx_derivative(f, x, method="2-point"),
        "scipy 3-point": lambda f, x: approx_derivative(f, x, method="3-point"),
        "scipy cs": lambda f, x: approx_derivative(f, x, method="cs"),
    }
    if nd is not None:
        tools["numdifftools Gradient"] = lambda f, x: nd.Gradient(f)(x)
    print("### Numerical gradients, float64: calls of f / max|error| / max|gradient|\n")
    print("| problem | n | " + " | ".join(tools) + " |")
    print("|---|---|" + "---|" * len(tools))
    seconds = {t: 0.0 for t in tools}
    for n in sizes:
        for name in zoo.PROBLEM_NAMES:
            problem = sized(name, n, seed=3)
            spec = ParamSpec.of(problem.x0)
            x = spec.flatten(problem.x0, dtype=np.float64)
            exact = spec.flatten(problem.grad(problem.x0), dtype=np.float64)

            def flat_f(z: np.ndarray, problem: zoo.Problem = problem, spec: ParamSpec = spec) -> Any:
                return problem.f(spec.unflatten(z))

            cells = []
            for tool, run in tools.items():
                if tool == "scipy cs" and not problem.complex_safe:
                    cells.append("-")
                    continue
                t, calls, est = timed(
                    repeat, lambda run=run, flat_f=flat_f, x=x: (Counted(flat_f), lambda f: run(f, x.copy()))
                )
                seconds[tool] += t
                err = float(
                    np.max(np.abs(np.asarray(est, dtype=np.float64).reshape(-1) - exact)) / np.max(np.abs(exact))
                )
                cells.append(f"{calls} / {err:.1e}")
            print(f"| {name} | {x.size} | " + " | ".join(cells) + " |")
    base = seconds["gradverify central"]
    print(
        "\nWall time over all rows, as a ratio to gradverify central: "
        + ", ".join(f"{t} {s / base:.2g}x" for t, s in seconds.items())
    )


def check_table(sizes: list[int], repeat: int) -> None:
    print("\n### Full check of a correct gradient, float64: calls of f (outcome, resolution)\n")
    print("| problem | n | gradverify auto | gradverify central | gradverify complex | scipy check_grad (its number) |")
    print("|---|---|---|---|---|---|")
    seconds = {"auto": 0.0, "central": 0.0, "complex": 0.0, "scipy": 0.0}
    for n in sizes:
        for name in zoo.PROBLEM_NAMES:
            problem = sized(name, n, seed=3)
            spec = ParamSpec.of(problem.x0)
            x = spec.flatten(problem.x0, dtype=np.float64)
            cells = []
            for method in ("auto", "central", "complex"):
                if method == "complex" and not problem.complex_safe:
                    cells.append("-")
                    continue
                t, calls, report = timed(
                    repeat,
                    lambda method=method, problem=problem: (
                        Counted(problem.f),
                        lambda f: gv.check_grad(f, problem.grad, problem.x0, method=method, mode="full", seed=0),
                    ),
                )
                seconds[method] += t
                cells.append(f"{calls} ({report.outcome}, {report.resolution:.0e})")

            def flat_f(z: np.ndarray, problem: zoo.Problem = problem, spec: ParamSpec = spec) -> Any:
                return problem.f(spec.unflatten(z))

            def flat_g(z: np.ndarray, problem: zoo.Problem = problem, spec: ParamSpec = spec) -> np.ndarray:
                return spec.flatten(problem.grad(spec.unflatten(z)), dtype=np.float64)

            t, calls, number = timed(
                repeat,
                lambda flat_f=flat_f, flat_g=flat_g, x=x: (Counted(flat_f), lambda f: scipy_check_grad(f, flat_g, x)),
            )
            seconds["scipy"] += t
            cells.append(f"{calls} ({number:.1e})")
            print(f"| {name} | {x.size} | " + " | ".join(cells) + " |")
    base = seconds["auto"]
    print(
        "\nWall time over all rows, as a ratio to gradverify auto: "
        + ", ".join(f"{t} {s / base:.2g}x" for t, s in seconds.items())
    )


def scaled(grad: Callable[[Any], Any], factor: float) -> Callable[[Any], Any]:
    def wrong(x: Any) -> Any:
        g = grad(x)
        if isinstance(g, dict):
            return {k: (v * factor).astype(v.dtype) for k, v in g.items()}
        return (g * factor).astype(g.dtype)

    return wrong


def sensitivity_table(seeds: int) -> None:
    variants = {
        "auto": {},
        "central": {"method": "central"},
        "richardson": {"method": "richardson"},
        "forward": {"method": "forward"},
        "auto, float32 only": {"reference": "same"},
        "central, float32 only": {"method": "central", "reference": "same"},
        "richardson, float32 only": {"method": "richardson", "reference": "same"},
        "forward, float32 only": {"method": "forward", "reference": "same"},
    }
    rels = [10.0**-k for k in range(1, 8)]
    print(f"\n### float32: smallest relative error caught on all of {seeds} seeds (gradient scaled by 1 + rel)\n")
    print("| problem | " + " | ".join(variants) + " |")
    print("|---|" + "---|" * len(variants))
    for name in zoo.PROBLEM_NAMES:
        cells = []
        for kw in variants.values():
            problems = [zoo.make_problem(name, seed=s, dtype=np.float32) for s in range(seeds)]
            outcomes = {gv.check_grad(p.f, p.grad, p.x0, seed=s, **kw).outcome for s, p in enumerate(problems)}
            if outcomes != {"passed"}:
                # A correct gradient that fails is a false alarm; one that is
                # inconclusive says the check cannot see a 1e-2 bug there.
                cells.append("FALSE ALARM" if "failed" in outcomes else "inconclusive")
                continue
            smallest = None
            for rel in rels:
                caught = all(
                    gv.check_grad(p.f, scaled(p.grad, 1 + rel), p.x0, seed=s, **kw).outcome == "failed"
                    for s, p in enumerate(problems)
                )
                if not caught:
                    break
                smallest = rel
            cells.append(f"{smallest:.0e}" if smallest else "none of 1e-1")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [100] if args.quick else [100, 1000]
    numerical_table(sizes, args.repeat)
    check_table(sizes, args.repeat)
    sensitivity_table(2 if args.quick else 4)


if __name__ == "__main__":
    main()
