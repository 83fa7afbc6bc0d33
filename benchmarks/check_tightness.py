"""How far above the real error is a check's tolerance?  And does it see a bug at scaled points?

Over the smooth zoo problems at random scales (f scaled by 1e-8..1e8, x by
1e-4..1e4), every method, float32 with the numerical side in float32 too
(``reference="same"``) and float64:

* ``allowed/err``: max allowed / max |numerical - exact| of ``check_grad`` on
  the correct gradient (the tolerance the verdict held it to, safety and floor
  included, over the estimate's real error), worst and median;
* ``caught``: checks of the gradient scaled by 1 + 1e-3 (float32) or
  1 + 1e-6 (float64) that failed, and the median resolution of the correct
  checks;
* false alarms (a correct gradient failed): must be zero.

Run:  python benchmarks/check_tightness.py [--points 10] [--seed 777]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import gradverify as gv
from gradverify import zoo
from gradverify._core.params import ParamSpec

SMOOTH = ("softmax", "logistic", "mlp", "rosenbrock")


def scaled(problem: zoo.Problem, f_scale: float, x_scale: float, dtype: np.dtype) -> tuple[Any, Any, Any, Any, Any]:
    """f_scale * f(x / x_scale) at x_scale * x0 in ``dtype``, its gradient, and the exact gradient in float64."""
    spec = ParamSpec.of(problem.x0)
    t = dtype.type

    def f(x: Any) -> Any:
        return t(f_scale) * problem.f(spec.build([leaf / t(x_scale) for leaf in spec.leaves(x)]))

    def g(x: Any) -> Any:
        gr = problem.grad(spec.build([leaf / t(x_scale) for leaf in spec.leaves(x)]))
        return spec.build([(t(f_scale / x_scale) * leaf).astype(dtype) for leaf in spec.leaves(gr)])

    def exact(x: Any) -> np.ndarray:
        leaves = [np.asarray(leaf, np.float64) / x_scale for leaf in spec.leaves(x)]
        return spec.flatten(problem.grad(spec.build(leaves)), dtype=np.float64) * (f_scale / x_scale)

    x = spec.build([(leaf * t(x_scale)).astype(dtype) for leaf in spec.leaves(problem.x0)])
    return f, g, x, spec, exact


def times(g: Any, spec: ParamSpec, factor: float) -> Any:
    def wrong(x: Any) -> Any:
        return spec.build([(leaf * factor).astype(leaf.dtype) for leaf in spec.leaves(g(x))])

    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    stats: dict[tuple[str, str], dict[str, list[float]]] = {}
    alarms = []
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        for name in SMOOTH:
            for k in range(args.points):
                f_scale, x_scale = 10.0 ** rng.uniform(-8, 8), 10.0 ** rng.uniform(-4, 4)
                problem = zoo.make_problem(name, seed=int(rng.integers(1 << 30)), dtype=dtype)
                f, g, x, spec, exact_of = scaled(problem, f_scale, x_scale, dtype)
                exact = exact_of(x)
                bug = 1e-3 if dtype == np.float32 else 1e-6
                for method in ("forward", "central", "richardson") + (("complex",) if problem.complex_safe else ()):
                    kw = dict(method=method, mode="full", seed=k, reference="same")
                    try:
                        right = gv.check_grad(f, g, x, **kw)
                        wrong = gv.check_grad(f, times(g, spec, 1 + bug), x, **kw)
                    except gv.NotComplexSafe:
                        continue  # the vetting refused complex-step (never a verdict)
                    err = np.abs(spec.flatten(right.numerical, dtype=np.float64) - exact)
                    allowed = spec.flatten(right.tolerance, dtype=np.float64)
                    s = stats.setdefault((dtype.name, method), {"tight": [], "res": [], "caught": []})
                    s["tight"].append(float(np.max(allowed) / max(float(np.max(err)), 1e-300)))
                    s["res"].append(right.resolution)
                    s["caught"].append(float(wrong.outcome == "failed"))
                    if right.outcome == "failed":
                        alarms.append((dtype.name, name, method, f_scale, x_scale, right.worst_name))
    print(
        f"{'dtype':8} {'method':11} {'allowed/err worst':>18} {'median':>8} {'caught':>8} {'resolution (median)':>20}"
    )
    for key in sorted(stats):
        s = stats[key]
        caught = f"{int(sum(s['caught']))}/{len(s['caught'])}"
        print(
            f"{key[0]:8} {key[1]:11} {max(s['tight']):18.3g} {float(np.median(s['tight'])):8.3g} {caught:>8} "
            f"{float(np.median(s['res'])):20.2g}"
        )
    print(f"false alarms: {len(alarms)}")
    for a in alarms[:10]:
        print("  false alarm:", a)
    return 1 if alarms else 0


if __name__ == "__main__":
    sys.exit(main())
