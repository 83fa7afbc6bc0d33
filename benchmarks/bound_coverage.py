"""Does every estimator's stated bound cover its real error?  And no false alarms?

Measures, over the zoo at random points, with f scaled by 1e-8..1e8 and x by
1e-4..1e4, in float64 and float32:

* the worst ratio |estimate - exact| / bound for each method (a ratio above 1
  means a bound that lies; the verdict's SAFETY factor must exceed the worst);
* how tight the bounds are: max bound / max |error| per estimate, worst and
  median (the verdict allows SAFETY times the bound);
* the relative accuracy max|error| / max|gradient| in float64;
* false alarms of check_grad on the correct gradients (must be zero).

Run:  python benchmarks/bound_coverage.py [--points 20]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import gradverify as gv
from gradverify import zoo
from gradverify._core.params import ParamSpec
from gradverify.steps import SAFETY


def scaled(problem: zoo.Problem, f_scale: float, x_scale: float, dtype):
    """f_s(x) = f_scale * f(x / x_scale), at x = x_scale * x0: the same landscape, rescaled."""
    spec = ParamSpec.of(problem.x0)

    def f(x):
        leaves = spec.leaves(x)
        return dtype(f_scale) * problem.f(spec.build([leaf / dtype(x_scale) for leaf in leaves]))

    def g(x):
        leaves = spec.leaves(x)
        gr = problem.grad(spec.build([leaf / dtype(x_scale) for leaf in leaves]))
        return spec.build([dtype(f_scale / x_scale) * leaf for leaf in spec.leaves(gr)])

    x = spec.build([(leaf * dtype(x_scale)).astype(dtype) for leaf in spec.leaves(problem.x0)])
    return f, g, x, spec


def zoo_accuracy(seeds: int = 5) -> None:
    """max |error| / max |gradient| per method on the unscaled zoo, float64."""
    print(f"{'problem':11} " + " ".join(f"{m:>11}" for m in ("complex", "richardson", "central", "forward")))
    for name in zoo.PROBLEM_NAMES:
        worst = {}
        for seed in range(seeds):
            problem = zoo.make_problem(name, seed=seed)
            spec = ParamSpec.of(problem.x0)
            exact = spec.flatten(problem.grad(problem.x0), dtype=np.float64)
            for method in ("complex", "richardson", "central", "forward"):
                if method == "complex" and name == "svm":
                    continue
                est = spec.flatten(gv.estimate_gradient(problem.f, problem.x0, method=method, seed=seed).value)
                worst[method] = max(worst.get(method, 0.0), float(np.max(np.abs(est - exact)) / np.max(np.abs(exact))))
        print(
            f"{name:11} "
            + " ".join(
                f"{worst[m]:11.1e}" if m in worst else f"{'-':>11}"
                for m in ("complex", "richardson", "central", "forward")
            )
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=12)
    args = parser.parse_args(argv)
    zoo_accuracy()
    rng = np.random.default_rng(12345)
    worst = {}
    accuracy = {}
    tightness: dict[tuple[str, str], list[float]] = {}
    refused = 0
    alarms = []
    checks = 0
    for dtype in (np.float64, np.float32):
        for name in zoo.PROBLEM_NAMES:
            for k in range(args.points):
                f_scale = 10.0 ** rng.uniform(-8, 8)
                x_scale = 10.0 ** rng.uniform(-4, 4)
                problem = zoo.make_problem(name, seed=int(rng.integers(1 << 30)), dtype=dtype)
                f, g, x, spec = scaled(problem, f_scale, x_scale, dtype)
                exact = spec.flatten(g(x), dtype=np.float64)
                gmax = np.max(np.abs(exact))
                for method in ("forward", "central", "richardson", "complex"):
                    if name == "svm":
                        # Hinges: where a kink lies within h of x, no estimate
                        # converges to the subgradient; kinks are tested apart.
                        continue
                    try:
                        est = gv.estimate_gradient(f, x, method=method, seed=k)
                    except gv.NotComplexSafe:
                        refused += 1  # the vetting refused complex-step (it never passes a wrong one)
                        continue
                    value = spec.flatten(est.value, dtype=np.float64)
                    bound = spec.flatten(est.bound, dtype=np.float64)
                    err = np.abs(value - exact)
                    # The verdict's floor also applies to estimates.
                    floor = 16 * np.finfo(dtype).eps * np.max(np.abs(value))
                    ratio = float(np.max(err / (bound + floor)))
                    key = (np.dtype(dtype).name, method)
                    worst[key] = max(worst.get(key, 0.0), ratio)
                    accuracy[key] = max(accuracy.get(key, 0.0), float(np.max(err) / gmax))
                    tightness.setdefault(key, []).append(float(np.max(bound + floor) / max(np.max(err), 1e-300)))
                references = ("auto", "same") if dtype == np.float32 else ("auto",)
                for method, reference in [(m, r) for m in ("auto", "central") for r in references]:
                    report = gv.check_grad(f, g, x, method=method, seed=k, reference=reference)
                    checks += 1
                    # A false alarm is a failed verdict; in float32 a check may honestly be
                    # inconclusive (its resolution over the limit), never failed.
                    if report.outcome == "failed" or (dtype == np.float64 and not report.ok):
                        alarms.append(
                            (
                                np.dtype(dtype).name,
                                name,
                                method,
                                reference,
                                f_scale,
                                x_scale,
                                report.worst_name,
                                report.max_rel_error,
                            )
                        )
    print(
        f"{'dtype':8} {'method':11} {'worst err/bound':>16} {'max|err|/max|g|':>16} {'bound/err worst':>16} {'median':>8}"
    )
    for key in sorted(worst):
        t = tightness[key]
        print(
            f"{key[0]:8} {key[1]:11} {worst[key]:16.3g} {accuracy[key]:16.3g} {max(t):16.3g} {float(np.median(t)):8.3g}"
        )
    print(f"complex-step refused by its vetting in {refused} estimates")
    print(f"check_grad on correct gradients: {checks} checks, {len(alarms)} false alarms")
    for a in alarms[:10]:
        print("  false alarm:", a)
    # The verdict's SAFETY must keep a margin of 2 over the worst raw ratio.
    lying = [k for k, r in worst.items() if r > SAFETY[np.dtype(k[0])] / 2]
    print(f"SAFETY factors: {', '.join(f'{d.name} {v:g}' for d, v in SAFETY.items())}; uncovered: {lying or 'none'}")
    return 1 if alarms or lying else 0


if __name__ == "__main__":
    sys.exit(main())
