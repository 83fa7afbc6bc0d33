"""Property tests: no false alarms at any scale or dtype; bugs caught at every scale.

f is rescaled to ``f_scale * f(x / x_scale)`` at ``x = x_scale * x0``: the same
landscape with f scaled by 1e-8..1e8 and x by 1e-4..1e4, which is where fixed
steps and fixed tolerances raise false alarms.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradverify as gv
from gradverify import zoo
from gradverify._core.params import ParamSpec

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rescaled(problem, f_scale, x_scale, dtype):
    spec = ParamSpec.of(problem.x0)

    def f(x):
        return dtype(f_scale) * problem.f(spec.build([leaf / dtype(x_scale) for leaf in spec.leaves(x)]))

    def grad(x):
        g = problem.grad(spec.build([leaf / dtype(x_scale) for leaf in spec.leaves(x)]))
        return spec.build([dtype(f_scale / x_scale) * leaf for leaf in spec.leaves(g)])

    x = spec.build([(leaf * dtype(x_scale)).astype(dtype) for leaf in spec.leaves(problem.x0)])
    return f, grad, x


problems = st.sampled_from(zoo.PROBLEM_NAMES)
seeds = st.integers(0, 2**31 - 1)
f_scales = st.floats(-8, 8).map(lambda e: 10.0**e)
x_scales = st.floats(-4, 4).map(lambda e: 10.0**e)


@PROPERTY
@given(
    name=problems,
    seed=seeds,
    f_scale=f_scales,
    x_scale=x_scales,
    dtype=st.sampled_from([np.float64, np.float32]),
    method=st.sampled_from(["auto", "central"]),
)
def test_no_false_alarm_at_any_scale(name, seed, f_scale, x_scale, dtype, method):
    problem = zoo.make_problem(name, seed=seed % 10_000, dtype=dtype)
    f, grad, x = rescaled(problem, f_scale, x_scale, dtype)
    report = gv.check_grad(f, grad, x, method=method, seed=seed)
    # A false alarm is a correct gradient called wrong.  In float64 every
    # check also resolves its derivative (passed); float32 central
    # differences may honestly not resolve a 1% error where the gradient is
    # small against |f| / |x| (inconclusive, never failed).
    if dtype is np.float64:
        assert report.ok, str(report)
    else:
        assert report.outcome != "failed", str(report)
        assert report.ok or report.resolution > gv.steps.RESOLUTION_LIMIT, str(report)


@PROPERTY
@given(
    name=st.sampled_from(["softmax", "logistic", "mlp", "rosenbrock"]),
    seed=seeds,
    f_scale=f_scales,
    x_scale=st.floats(-2, 2).map(lambda e: 10.0**e),
)
def test_a_relative_error_of_1e_6_is_caught_at_any_scale(name, seed, f_scale, x_scale):
    problem = zoo.make_problem(name, seed=seed % 10_000)
    f, grad, x = rescaled(problem, f_scale, x_scale, np.float64)
    spec = ParamSpec.of(x)

    def slightly_wrong(p):
        return spec.build([leaf * (1 + 1e-6) for leaf in spec.leaves(grad(p))])

    assert gv.check_grad(f, grad, x, seed=seed).ok
    report = gv.check_grad(f, slightly_wrong, x, seed=seed)
    assert not report.ok, str(report)


@PROPERTY
@given(seed=seeds, entry=st.integers(0, 23), rel=st.sampled_from([1e-3, -1e-3, 1e-2]))
def test_one_wrong_entry_is_named_with_central_differences(seed, entry, rel):
    problem = zoo.make_problem("softmax", seed=seed % 10_000)
    wrong = zoo.mutants(problem.grad, entry=entry, rel=rel)["one_entry"]
    report = gv.check_grad(problem.f, wrong, problem.x0, method="central", seed=seed)
    assert not report.ok
    assert report.worst_index == tuple(int(i) for i in np.unravel_index(entry, problem.x0.shape))


@PROPERTY
@given(seed=seeds, reg=st.floats(0.0, 1.0), method=st.sampled_from(["auto", "richardson"]))
def test_dict_parameters_pass_and_never_change(seed, reg, method):
    problem = zoo.make_problem("mlp", seed=seed % 10_000, reg=reg)
    before = {k: v.copy() for k, v in problem.x0.items()}
    assert gv.check_grad(problem.f, problem.grad, problem.x0, method=method, seed=seed).ok
    for k in before:
        np.testing.assert_array_equal(problem.x0[k], before[k])


# f made blind at a drawn scale: rounded to a grid, jumping, or noisy (noise
# seeded by the point, so f stays deterministic).
def _hash_noise(x):
    return np.random.default_rng(abs(hash(np.asarray(x, np.float64).tobytes())) % 2**32).standard_normal()


BLINDERS = {
    "quantised": lambda g, q: lambda x: np.round(g(x) / q) * q,
    "jumpy": lambda g, q: lambda x: g(x) + q * np.floor(np.sum(ParamSpec.of(x).flatten(x)) / 1e-6),
    "noisy": lambda g, q: lambda x: g(x) + q * _hash_noise(ParamSpec.of(x).flatten(x)),
}


@PROPERTY
@given(
    name=st.sampled_from(["softmax", "logistic", "rosenbrock", "mlp"]),
    seed=seeds,
    blinder=st.sampled_from(sorted(BLINDERS)),
    # up to 1e-4 of |f|: a coarser grid makes f constant over every step a
    # check takes (its derivative is then 0, and a zero gradient is right)
    q=st.floats(-14, -4).map(lambda e: 10.0**e),
    rel=st.floats(-2, 1).map(lambda e: 10.0**e),
    kind=st.sampled_from(["scale", "sign", "zero"]),
    method=st.sampled_from(["auto", "central", "forward"]),
)
def test_a_blind_check_never_passes_a_bug_bigger_than_its_resolution(name, seed, blinder, q, rel, kind, method):
    problem = zoo.make_problem(name, seed=seed % 10_000)
    spec = ParamSpec.of(problem.x0)
    f0 = abs(float(problem.f(problem.x0)))
    if kind == "zero" and blinder == "quantised":
        # A grid above ~1e-6 of |f| makes f constant over each entry's step (the zoo's gradients
        # move f by ~1e-6 |f| over a step of 6e-6), and moving all entries alike leaves softmax
        # unchanged: f is then flat at every scale a check probes without leaving x's
        # neighbourhood, so a zero gradient is its derivative there (as at a hinge's flat region).
        q = min(q, 1e-7)
    f = BLINDERS[blinder](problem.f, q * max(f0, 1e-3))
    factor = {"scale": 1 + rel, "sign": -1.0, "zero": 0.0}[kind]
    bug = {"scale": rel, "sign": 2.0, "zero": 1.0}[kind]  # the bug's size relative to the gradient

    def wrong(p):
        return spec.build([factor * leaf for leaf in spec.leaves(problem.grad(p))])

    report = gv.check_grad(f, wrong, problem.x0, method=method, seed=seed)
    assert report.outcome != "passed" or report.resolution < bug, str(report)
    # and a bug bigger than the resolution is never missed: "passed" means it would be seen
    assert report.outcome != "passed", str(report)
