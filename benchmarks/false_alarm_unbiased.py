"""Measure the false-alarm rate of ``check_unbiased`` on correct gradients, and its power on biased ones.

For each seed, one zoo classifier (softmax, logistic, mlp, svm in turn) gets
fresh data, weights, a batch size in [1, N] and a sampling scheme, all drawn
from that seed; ``check_unbiased`` runs on the exact gradient.  A false alarm is
a correct gradient declared biased.  Every check's Bonferroni-adjusted p-value
is kept, so one pass gives the rate at several alphas (a check at ``alpha``
rejects below ``ALPHA_MARGIN * alpha``, as check_unbiased does).  The same draws with a
gradient that sums over the batch (where the loss averages) measure power.

Rates come with Wilson 95% intervals.  ``--first-seed`` starts at another seed,
for a measurement independent of an earlier one.

Run:  python benchmarks/false_alarm_unbiased.py [--seeds 400] [--first-seed 0] [--samples 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from scipy import stats

from gradverify import zoo
from gradverify.invariants import check_unbiased
from gradverify.invariants._unbiased import ALPHA_MARGIN

ALPHAS = (0.05, 0.01, 0.001)
PROBLEMS = ("softmax", "logistic", "mlp", "svm")


def _problem(name: str, rng: np.random.Generator):
    n = int(rng.integers(8, 65))
    d = int(rng.integers(1, 7))
    c = 2 if name == "logistic" else int(rng.integers(2, 5))
    X, y = zoo.make_dataset(n, d, c, seed=int(rng.integers(2**31)))
    reg = float(rng.choice([0.0, 0.01, 0.1, 1.0]))
    if name == "logistic":
        w = rng.standard_normal(d)
        y = (y % 2).astype(float)
        return zoo.logistic_loss, zoo.logistic_grad, w, (X, y), reg
    if name == "mlp":
        h = int(rng.integers(2, 5))
        w = {
            "W1": rng.standard_normal((d, h)),
            "b1": 0.1 * rng.standard_normal(h),
            "W2": rng.standard_normal((h, c)),
            "b2": 0.1 * rng.standard_normal(c),
        }
        return zoo.mlp_loss, zoo.mlp_grad, w, (X, y), reg
    loss, grad = (zoo.softmax_loss, zoo.softmax_grad) if name == "softmax" else (zoo.svm_loss, zoo.svm_grad)
    return loss, grad, 0.5 * rng.standard_normal((d, c)), (X, y), reg


def _summed(grad, reg):
    # The wiring bug: per-sample data gradients summed where the loss averages.
    def wrong(w, X, y):
        data = grad(w, X, y, 0.0)
        full = grad(w, X, y, reg)
        if isinstance(data, dict):
            return {k: full[k] + (len(X) - 1) * data[k] for k in full}
        return full + (len(X) - 1) * data

    return wrong


def _interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate."""
    z = float(stats.norm.isf((1 - level) / 2))
    rate = k / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here")
    parser.add_argument("--samples", type=int, default=200, help="mini-batches per check")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    null_p: dict[str, list[float]] = {name: [] for name in PROBLEMS}
    bug_p: dict[str, list[float]] = {name: [] for name in PROBLEMS}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        name = PROBLEMS[seed % len(PROBLEMS)]
        rng = np.random.default_rng(seed)
        loss, grad, w, data, reg = _problem(name, rng)
        n = len(data[0])
        batch_size = int(rng.integers(1, n + 1))
        sampling = "shuffle" if rng.random() < 0.5 else "replacement"

        def f(w_, *b, loss=loss, reg=reg):
            return loss(w_, *b, reg)

        def g(w_, *b, grad=grad, reg=reg):
            return grad(w_, *b, reg)

        kw = dict(batch_size=batch_size, samples=args.samples, sampling=sampling, seed=seed)
        null_p[name].append(check_unbiased(f, g, w, data, alpha=0.5, **kw).p_value)
        bug_p[name].append(check_unbiased(f, _summed(grad, reg), w, data, alpha=0.5, **kw).p_value)
    elapsed = time.perf_counter() - start

    result: dict = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "samples": args.samples,
        "seconds": round(elapsed, 1),
        "alphas": {},
    }
    print(
        f"check_unbiased over {args.seeds} seeds from {args.first_seed} ({args.samples} mini-batches each), {elapsed:.1f} s"
    )
    print(
        f"{'alpha':>7}  {'false alarms (correct gradient)':<44}  {'detected (summed gradient)':<28}  per problem (false alarms)"
    )
    everything = np.concatenate([np.array(v) for v in null_p.values()])
    bugs = np.concatenate([np.array(v) for v in bug_p.values()])
    for alpha in ALPHAS:
        # check_unbiased(alpha=a) rejects when the adjusted p-value is below
        # ALPHA_MARGIN * a (its stated margin); the rate is measured for that rule.
        level = ALPHA_MARGIN * alpha
        k = int(np.sum(everything < level))
        lo, hi = _interval(k, everything.size)
        power = float(np.mean(bugs < level))
        per = {name: int(np.sum(np.array(v) < level)) for name, v in null_p.items()}
        print(
            f"{alpha:>7g}  {k:>4}/{everything.size} = {k / everything.size:.4f} (Wilson 95% {lo:.4f}-{hi:.4f})"
            f"{'':>6}  {power:.3f}{'':>23}  {per}"
        )
        result["alphas"][str(alpha)] = {
            "false_alarms": k,
            "checks": int(everything.size),
            "rate": k / everything.size,
            "ci95": [lo, hi],
            "power_summed_gradient": power,
            "per_problem": per,
        }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
