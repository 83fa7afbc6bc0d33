"""Speed and accuracy of gradverify against its peers, measured side by side.

Peers, each timed in the same run as gradverify on the same function:

* the plain loop of the course notes: per-coordinate forward difference,
  h = 1e-5 (and its central twin);
* scipy.optimize.approx_fprime (forward) and scipy.optimize.check_grad;
* scipy.optimize._numdiff.approx_derivative with '3-point' and 'cs'.

Reported: wall time (best of --repeat runs), calls of f, the ratio of each
peer's time to gradverify's, and the accuracy max|numerical - exact| / max|exact|
of the numerical gradient where the tool produces one.

Run:  python benchmarks/speed.py            (Rosenbrock 1e2..1e4, zoo classifiers 1e2..1e5,
                                             CIFAR-size softmax, 1e6 parameters)
      python benchmarks/speed.py --quick    (smaller sizes; a minute)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from directional_sensitivity import f, grad  # the chained function of the sensitivity benchmark
from scipy.optimize import approx_fprime
from scipy.optimize import check_grad as scipy_check_grad
from scipy.optimize._numdiff import approx_derivative

import gradverify as gv
from gradverify import zoo
from gradverify._core import params as gv_params


class Counted:
    """Wraps f and counts its calls."""

    def __init__(self, f: Callable[[Any], Any]) -> None:
        self.f, self.calls = f, 0

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        return self.f(x)


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def plain_loop(
    f: Callable, x: np.ndarray, h: float = 1e-5, central: bool = False, coords: int | None = None
) -> np.ndarray:
    """The course notes' check: nditer over x, h = 1e-5."""
    grad = np.zeros_like(x)
    fx = f(x)
    it = np.nditer(x, flags=["multi_index"])
    done = 0
    while not it.finished and (coords is None or done < coords):
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        if central:
            x[ix] = old - h
            grad[ix] = (fxph - f(x)) / (2 * h)
        else:
            grad[ix] = (fxph - fx) / h
        x[ix] = old
        it.iternext()
        done += 1
    return grad


def accuracy(estimate: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(estimate).reshape(-1) - exact.reshape(-1))) / np.max(np.abs(exact)))


def row(name: str, seconds: float, calls: int, base: float, acc: str) -> str:
    return f"| {name} | {seconds:.3f} | {calls} | {seconds / base:.2f} | {acc} |"


def interleaved_best(repeat: int, tools: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, Any]]:
    """Best wall time and last result of each tool over ``repeat`` rounds that run every tool once.

    Interleaving puts drift of the machine (other load, clock changes) on
    every tool alike, so the ratios are fair even when absolute times move.
    """
    best: dict[str, tuple[float, Any]] = {name: (np.inf, None) for name in tools}
    for _ in range(repeat):
        for name, fn in tools.items():
            t = time.perf_counter()
            out = fn()
            best[name] = (min(best[name][0], time.perf_counter() - t), out)
    return best


def rosenbrock_table(n: int, repeat: int) -> list[str]:
    rng = np.random.default_rng(n)
    x = rng.uniform(-1.5, 1.5, n)
    exact = zoo.rosenbrock_grad(x)

    def stacked(X: np.ndarray) -> np.ndarray:
        return np.sum(100.0 * (X[..., 1:] - X[..., :-1] ** 2) ** 2 + (1.0 - X[..., :-1]) ** 2, axis=-1)

    f = Counted(zoo.rosenbrock)
    full = "gradverify check_grad, full central"
    tools: dict[str, Callable[[], Any]] = {
        full: lambda: gv.check_grad(f, zoo.rosenbrock_grad, x, method="central", mode="full", seed=0),
        "vectorized": lambda: gv.check_grad(
            stacked, zoo.rosenbrock_grad, x, method="central", mode="full", vectorized=True, seed=0
        ),
        "default": lambda: gv.check_grad(zoo.rosenbrock, zoo.rosenbrock_grad, x, seed=0),
        "plain forward loop, h=1e-5": lambda: plain_loop(f, x.copy()),
        "plain central loop, h=1e-5": lambda: plain_loop(f, x.copy(), central=True),
        "scipy approx_fprime": lambda: approx_fprime(x, f, 1e-8),
        "scipy check_grad": lambda: scipy_check_grad(f, zoo.rosenbrock_grad, x),
        "scipy approx_derivative '3-point'": lambda: approx_derivative(f, x, method="3-point"),
        "scipy approx_derivative 'cs'": lambda: approx_derivative(f, x, method="cs"),
    }
    calls = {}
    for name, fn in tools.items():  # calls of f per run, counted on a run of its own
        f.calls = 0
        out = fn()
        calls[name] = out.evaluations if isinstance(out, gv.Report) else f.calls
    best = interleaved_best(repeat, tools)
    t_gv = best[full][0]
    lines = [
        f"\n### Rosenbrock, n = {n}\n",
        "| tool | seconds | calls of f | time / gradverify full central | accuracy |",
        "|---|---|---|---|---|",
    ]
    for key, (seconds, out) in best.items():
        name = key
        if key == "vectorized":
            name = f"{full}, vectorized=True"
        elif key == "default":
            name = f"gradverify check_grad, default ({out.method}, {out.mode})"
        if isinstance(out, gv.Report):
            acc = f"ok={out.ok}" if out.mode == "directional" else f"{accuracy(out.numerical, exact):.1e} (ok={out.ok})"
        elif name == "scipy check_grad":
            acc = "(one number)"
        else:
            acc = f"{accuracy(out, exact):.1e}"
        lines.append(row(name, seconds, calls[key], t_gv, acc))
    return lines


def cifar_table(repeat: int, loop_coords: int) -> list[str]:
    D, C, N = 3073, 10, 500
    X, y = zoo.make_dataset(N, D, C, seed=0)
    W = 1e-3 * np.random.default_rng(1).standard_normal((D, C))
    f = Counted(lambda W: zoo.softmax_loss(W, X, y, 1e-3))
    grad = lambda W: zoo.softmax_grad(W, X, y, 1e-3)  # noqa: E731
    entry = (1234, 7)

    def one_off(W: np.ndarray) -> np.ndarray:
        g = grad(W)
        g[entry] *= 1 + 1e-3
        return g

    lines = [
        f"\n### Linear softmax classifier, W {D}x{C}, X {N}x{D} (n = {D * C})\n",
        "| tool | seconds | calls of f | time / gradverify default | result |",
        "|---|---|---|---|---|",
    ]
    t_gv, good = best_of(repeat, lambda: gv.check_grad(f, grad, W, seed=0))
    lines.append(
        row(
            f"gradverify check_grad, default ({good.method}, {good.mode})",
            t_gv,
            good.evaluations,
            t_gv,
            f"ok={good.ok}",
        )
    )
    t, bad = best_of(repeat, lambda: gv.check_grad(f, one_off, W, seed=0))
    lines.append(
        row(
            "gradverify check_grad, one entry off by 1e-3",
            t,
            bad.evaluations,
            t_gv,
            f"ok={bad.ok}, worst {bad.worst_name}",
        )
    )
    f.calls = 0
    t, _ = best_of(1, lambda: plain_loop(f, W.copy(), coords=loop_coords))
    per_call = t / max(1, f.calls)
    full = per_call * (D * C + 1)
    what = "all coordinates" if loop_coords >= D * C else f"timed on {loop_coords} coordinates, scaled to {D * C}"
    lines.append(row(f"plain forward loop, h=1e-5 ({what})", full, D * C + 1, t_gv, "(no verdict)"))
    return lines


def _zoo_at_size(name: str, n: int) -> zoo.Problem:
    """A zoo classifier with about ``n`` parameters (100 samples, 10 classes)."""
    if name == "logistic":
        features = n
    elif name == "mlp":  # d*(d//2) + d//2 + (d//2)*10 + 10 parameters
        features = max(2, int(round(-5 + np.sqrt(25 + 2 * n))))
    else:
        features = max(1, n // 10)
    return zoo.make_problem(name, seed=0, n_samples=100, n_features=features, n_classes=10)


def _one_entry_off(problem: zoo.Problem) -> tuple[Callable[[Any], Any], str]:
    """The gradient with its largest entry off by 1e-3 relative, and that entry's name."""
    spec = gv_params.ParamSpec.of(problem.x0)
    k = int(np.argmax(np.abs(spec.flatten(problem.grad(problem.x0)))))

    def wrong(x: Any) -> Any:
        g = spec.flatten(problem.grad(x))
        g[k] *= 1 + 1e-3
        return spec.unflatten(g)

    return wrong, spec.describe(k)


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _zoo_row(name: str, target: int, loop_coords: int) -> str:
    problem = _zoo_at_size(name, target)
    spec = gv_params.ParamSpec.of(problem.x0)
    n = spec.size
    t_gv, good = best_of(2, lambda: gv.check_grad(problem.f, problem.grad, problem.x0, seed=0))
    wrong, entry = _one_entry_off(problem)
    bad = gv.check_grad(problem.f, wrong, problem.x0, seed=0)
    caught = "caught, named" if (not bad.ok and bad.worst_name == entry) else f"ok={bad.ok}, {bad.worst_name}"
    # Peers cost one call of f per coordinate: timed on up to loop_coords
    # coordinates and scaled to n (exact when n <= loop_coords).
    flat = spec.flatten(problem.x0)
    flat_f = lambda v: problem.f(spec.views(v))  # noqa: E731  (scipy wants a 1-D x)
    coords = min(n, loop_coords)
    if isinstance(problem.x0, np.ndarray):  # the course-notes loop works on x's own shape
        t_loop, _ = best_of(1, lambda: plain_loop(problem.f, problem.x0.copy(), coords=coords))
    else:  # a dict of arrays (mlp): the loop sees one flat vector
        t_loop, _ = best_of(1, lambda: plain_loop(flat_f, flat.copy(), coords=coords))
    t_loop *= (n + 1) / (coords + 1)
    scipy_cell = "as the loop (n + 1 calls)"
    if n <= loop_coords:
        t_scipy, _ = best_of(1, lambda: approx_fprime(flat, flat_f, 1e-8))
        scipy_cell = f"{t_scipy:.3g} s ({_times(t_scipy / t_gv)})"
    return (
        f"| {name} | {n} | {t_gv:.3g} s ({good.method}, {good.mode}, ok={good.ok}) | {good.evaluations} | "
        f"{caught} ({bad.evaluations} calls) | {t_loop:.3g} s ({_times(t_loop / t_gv)}) | {scipy_cell} |"
    )


def zoo_table(sizes: tuple[int, ...], loop_coords: int) -> list[str]:
    """Default check_grad against the plain forward loop and approx_fprime on the zoo's classifiers.

    Ratios in parentheses are the peer's time over gradverify's default; below
    1 the peer is faster (and gives no verdict).
    """
    lines = [
        "\n### Zoo classifiers (100 samples, 10 classes), default check_grad\n",
        "| problem | n | gradverify default | calls | one entry off by 1e-3 | plain forward loop | scipy approx_fprime |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("softmax", "svm", "logistic", "mlp"):
        lines += [_zoo_row(name, target, loop_coords) for target in sizes]
    return lines


def million_table() -> list[str]:
    n = 10**6
    x = np.random.default_rng(0).standard_normal(n)

    def one_off(x: np.ndarray) -> np.ndarray:
        g = grad(x)
        g[654_321] *= 1 + 1e-3
        return g

    t, good = best_of(1, lambda: gv.check_grad(f, grad, x, seed=0))
    t2, bad = best_of(1, lambda: gv.check_grad(f, one_off, x, seed=0))
    return [
        f"\n### n = {n}, one entry off by 1e-3 relative\n",
        "| check | seconds | calls of f | result |",
        "|---|---|---|---|",
        f"| correct gradient | {t:.2f} | {good.evaluations} | ok={good.ok} ({good.method}, {good.mode}) |",
        f"| x[654321] off by 1e-3 | {t2:.2f} | {bad.evaluations} | ok={bad.ok}, worst {bad.worst_name} |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop-coords", type=int, default=2000, help="coordinates the CIFAR plain loop is timed on")
    args = parser.parse_args(argv)
    sizes = (100, 1000) if args.quick else (100, 1000, 10_000)
    lines = ["## gradverify speed benchmark", f"numpy {np.__version__}"]
    for n in sizes:
        lines += rosenbrock_table(n, args.repeat)
    lines += zoo_table((100, 1000) if args.quick else (100, 1000, 10_000, 100_000), 300 if args.quick else 1000)
    lines += cifar_table(1, 300 if args.quick else args.loop_coords)
    if not args.quick:
        lines += million_table()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
