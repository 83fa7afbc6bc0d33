"""What a check costs in calls of f, counted by f itself, and what it still sees.

A correct gradient costs a first pass of one step per entry (n calls with
complex-step, 2n with central differences) plus a small fixed number (f(x)
twice, the noise walk, the vetting of complex-step); wrong entries, kinks and
ill-conditioned entries still get the full ladder.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize._numdiff import approx_derivative

import gradverify as gv
from gradverify import zoo
from gradverify._core.params import ParamSpec

FIXED = 16


class Counting:
    """f that counts its own calls (a vectorized call would count its points; none here)."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def sized(name: str, n: int, seed: int = 0, dtype=np.float64) -> zoo.Problem:
    """A zoo problem with about n parameters."""
    if name == "rosenbrock":
        return zoo.make_problem(name, n=n, seed=seed, dtype=dtype)
    if name == "logistic":
        return zoo.make_problem(name, n_features=n, seed=seed, dtype=dtype)
    if name == "mlp":
        return zoo.make_problem(name, n_features=int(np.sqrt(2 * n)), seed=seed, dtype=dtype)
    return zoo.make_problem(name, n_features=n // 4, n_classes=4, seed=seed, dtype=dtype)


def size_of(x) -> int:
    return int(sum(np.size(v) for v in (x.values() if isinstance(x, dict) else [x])))


@pytest.mark.parametrize("n", [100, 1000])
@pytest.mark.parametrize("name", zoo.PROBLEM_NAMES)
def test_a_correct_gradient_costs_one_pass_plus_a_few_calls(name, n):
    problem = sized(name, n)
    size = size_of(problem.x0)
    for method, per_entry in (("complex", 1), ("central", 2)):
        if method == "complex" and not problem.complex_safe:
            continue
        f = Counting(problem.f)
        report = gv.check_grad(f, problem.grad, problem.x0, method=method, mode="full", seed=0)
        assert report.ok, str(report)
        assert f.calls == report.evaluations
        assert f.calls <= per_entry * size + FIXED, (method, f.calls, size)


def test_auto_on_a_complex_safe_function_costs_n_plus_a_few():
    problem = sized("softmax", 400)
    f = Counting(problem.f)
    report = gv.check_grad(f, problem.grad, problem.x0, seed=1)
    assert report.ok and report.method == "complex"
    assert f.calls <= size_of(problem.x0) + FIXED


@pytest.mark.parametrize("method", ["central", "complex"])
def test_a_wrong_entry_still_gets_the_ladder_and_is_caught(method):
    problem = sized("rosenbrock", 100)
    wrong = zoo.mutants(problem.grad, entry=7, rel=1e-6 if method == "complex" else 1e-5)["one_entry"]
    f = Counting(problem.f)
    report = gv.check_grad(f, wrong, problem.x0, method=method, mode="full", seed=0)
    assert report.outcome == "failed" and report.worst_index == (7,), str(report)
    per_entry = 1 if method == "complex" else 2
    # The wrong entry was re-estimated beyond the first pass.
    assert f.calls > per_entry * 100 + 12


def test_a_kink_still_gets_the_ladder_and_is_named():
    # |x0| at 0 among smooth entries: the first pass cannot settle it.
    f = Counting(lambda x: np.abs(x[0]) + np.sum(x[1:] ** 2))
    x = np.concatenate([[0.0], np.linspace(0.5, 2.0, 49)])
    report = gv.check_grad(f, lambda x: np.concatenate([[0.0], 2 * x[1:]]), x, method="central", seed=0)
    assert report.ok and [k.name for k in report.kinks] == ["x[0]"], str(report)
    assert f.calls > 2 * 50 + 12


def test_complex_step_is_still_refused_where_f_is_not_analytic():
    # abs of one term loses its imaginary part: complex-step is wrong there,
    # and the vetting along a random direction must see it.
    f = Counting(lambda x: np.sum(x**2) + np.abs(x[0] - 3.0))
    g = lambda x: 2 * x + np.where(np.arange(x.size) == 0, np.sign(x[0] - 3.0), 0.0)  # noqa: E731
    x = np.linspace(-1.0, 1.0, 30)
    report = gv.check_grad(f, g, x, seed=0)
    assert report.ok and report.method == "richardson", str(report)
    with pytest.raises(gv.NotComplexSafe):
        gv.check_grad(f, g, x, method="complex", seed=0)


@pytest.mark.parametrize("n", [100, 1000])
@pytest.mark.parametrize("name", zoo.PROBLEM_NAMES)
def test_numerical_gradient_costs_2n_and_is_as_accurate_as_scipy_3_point(name, n):
    problem = sized(name, n, seed=3)
    spec = ParamSpec.of(problem.x0)
    x = spec.flatten(problem.x0, dtype=np.float64)
    exact = spec.flatten(problem.grad(problem.x0), dtype=np.float64)
    f = Counting(problem.f)
    ours = spec.flatten(gv.numerical_gradient(f, problem.x0, method="central"), dtype=np.float64)
    assert f.calls <= 2 * x.size + FIXED
    theirs = approx_derivative(lambda z: problem.f(spec.unflatten(z)), x, method="3-point")
    assert np.max(np.abs(ours - exact)) <= np.max(np.abs(theirs - exact))


def test_estimate_gradient_with_and_without_the_ladder():
    f = lambda x: np.sum(np.sin(x))  # noqa: E731
    x = np.linspace(0.1, 2.0, 20)
    full = gv.estimate_gradient(f, x)
    single = gv.estimate_gradient(f, x, refine=False)
    assert full.complete and not single.complete
    assert single.evaluations <= 2 * 20 + 12 < full.evaluations
    for est in (full, single):
        assert np.all(np.abs(est.value - np.cos(x)) <= est.bound + 1e-15)


# -- float32 ---------------------------------------------------------------------------------


def scaled(grad, factor):
    def wrong(x):
        g = grad(x)
        if isinstance(g, dict):
            return {k: (v * factor).astype(v.dtype) for k, v in g.items()}
        return (g * factor).astype(g.dtype)

    return wrong


@pytest.mark.parametrize("method", ["auto", "central", "richardson", "forward"])
@pytest.mark.parametrize("name", zoo.PROBLEM_NAMES)
def test_float32_gradient_scaled_by_1e_3_is_caught(name, method):
    for seed in range(3):
        problem = zoo.make_problem(name, seed=seed, dtype=np.float32)
        right = gv.check_grad(problem.f, problem.grad, problem.x0, method=method, seed=seed)
        assert right.ok, str(right)
        wrong = gv.check_grad(problem.f, scaled(problem.grad, 1 + 1e-3), problem.x0, method=method, seed=seed)
        assert wrong.outcome == "failed", str(wrong)
        if right.method != "complex":
            assert "float64 numerical reference" in " ".join(right.notes) and "float32" in right.dtype


def test_float64_reference_only_where_f_computes_in_float64():
    w = np.linspace(0.5, 1.5, 12).astype(np.float32)

    def in_float32(x):  # casts to float32 inside, returns float64: no float64 reference
        return np.float64(np.sum(np.asarray(x, dtype=np.float32) ** 3))

    def g(x):
        return 3 * x**2

    report = gv.check_grad(in_float32, g, w, method="central", seed=0)
    assert report.ok and "float64 numerical reference" not in " ".join(report.notes), str(report)
    assert report.dtype == "float32"
    with pytest.raises(gv.InvalidArgument, match="reference='float64'"):
        gv.check_grad(in_float32, g, w, method="central", seed=0, reference="float64")
    same = gv.check_grad(lambda x: np.sum(x**3), g, w, method="central", seed=0, reference="same")
    used = gv.check_grad(lambda x: np.sum(x**3), g, w, method="central", seed=0)
    assert same.ok and used.ok and used.resolution < same.resolution / 10
    with pytest.raises(gv.InvalidArgument, match="reference"):
        gv.check_grad(np.sum, np.ones_like, w, reference="double")


# -- directional without complex-step ---------------------------------------------------------


def chain(x):
    # float() makes f not complex-safe: the check must use finite differences.
    return float(np.sum(np.log1p(x * x)) + 0.5 * np.sum(x[1:] * x[:-1]))


def chain_grad(x):
    g = 2 * x / (1 + x * x)
    g[1:] += 0.5 * x[:-1]
    g[:-1] += 0.5 * x[1:]
    return g


def bumped(entries, rel):
    def wrong(x):
        g = chain_grad(x)
        g[list(entries)] *= 1 + rel
        return g

    return wrong


@pytest.mark.parametrize("n", [20_000, 200_000])
def test_one_wrong_entry_without_complex_step_is_named_in_64_calls(n):
    x = np.random.default_rng(n).standard_normal(n)
    entry = n // 3
    f = Counting(chain)
    report = gv.check_grad(f, bumped([entry], 1e-3), x, seed=0)
    assert report.method == "richardson" and report.mode == "directional"
    assert report.outcome == "failed" and report.worst_index == (entry,), str(report)
    assert f.calls == report.evaluations <= 64
    right = gv.check_grad(chain, chain_grad, x, seed=0)
    assert right.ok, str(right)


def test_two_wrong_entries_without_complex_step_fall_back_to_bisection():
    n = 20_000
    x = np.random.default_rng(1).standard_normal(n)
    report = gv.check_grad(chain, bumped([100, 15_000], 1e-2), x, seed=0)
    assert report.outcome == "failed", str(report)
    named = {row.name for row in report.rows if row.note == "wrong"}
    assert named == {"x[100]", "x[15000]"}, str(report)


# -- steps that stay in f's domain -------------------------------------------------------------

ONLY_POSITIVE = {
    "log": (lambda x: np.sum(np.log(x)), lambda x: 1 / x),
    "sqrt": (lambda x: np.sum(np.sqrt(x)), lambda x: 0.5 / np.sqrt(x)),
    "xlogx": (lambda x: np.sum(x * np.log(x)), lambda x: np.log(x) + 1),
}


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["auto", "central", "richardson", "forward"])
@pytest.mark.parametrize("name", sorted(ONLY_POSITIVE))
def test_a_function_defined_for_x_above_0_gets_a_verdict_within_a_few_steps_of_0(name, method, dtype):
    f, g = ONLY_POSITIVE[name]
    h = gv.steps.base_step("central", dtype)
    for k in (0.3, 1.0, 3.0):
        x = np.array([k * h, 1.0, 0.2 * k * h, 2.0], dtype=dtype)
        right = gv.check_grad(f, g, x, method=method, seed=0)
        # numpy 1 too: the probe for an f that rounds x to float32 once moved x by alternating signs, which
        # cancel in sum(log(x)), so near log's edge the check stayed in float32 there
        assert right.ok, str(right)
        wrong = gv.check_grad(f, lambda x: g(x) * (1 + 1e-2), x, method=method, seed=0)
        assert wrong.outcome == "failed", str(wrong)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_shrunk_step_is_reported_and_no_finite_value_at_all_is_an_error():
    f, g = ONLY_POSITIVE["log"]
    x = np.array([2e-6, 1.0])
    report = gv.check_grad(f, g, x, method="central", seed=0)
    assert report.ok and any("shrunk" in note and "x[0]" in note for note in report.notes), str(report)

    def pinned(x):  # finite at x[0] = 1 and NaN at any step away from it
        return np.sum(np.log(1.0 - 1e40 * (x - 1.0) ** 2))

    with pytest.raises(gv.NonFiniteValue, match="NaN or inf"):
        gv.check_grad(pinned, lambda x: np.zeros_like(x), np.array([1.0, 1.0]), method="central", seed=0)


# -- cost-aware method choice -------------------------------------------------------------------


def test_auto_takes_central_differences_when_complex_calls_cost_more():
    import time

    def f(x):
        # A complex call costs ~20 real ones (as when complex weights meet a real data matrix).
        time.sleep(0.02 if np.iscomplexobj(x) else 0.001)
        return np.sum(np.sin(x) * x)

    def g(x):
        return np.cos(x) * x + np.sin(x)

    x = np.linspace(0.2, 1.4, 6)
    counted = Counting(f)
    report = gv.check_grad(counted, g, x, seed=0)
    assert report.ok and report.method == "central", str(report)
    assert any("complex call of f took" in note for note in report.notes), str(report)
    # 2n central calls plus the fixed cost, which here includes the complex call
    # and the vetting that showed complex-step was possible (18 calls).
    assert counted.calls <= 2 * x.size + 18
    wrong = gv.check_grad(f, lambda x: g(x) * (1 + 1e-6), x, seed=0)
    assert wrong.outcome == "failed" and wrong.method == "central", str(wrong)
    # Cheap calls (the zoo): complex-step stays, whatever the ratio.
    problem = zoo.make_problem("softmax", seed=0)
    assert gv.check_grad(problem.f, problem.grad, problem.x0, seed=0).method == "complex"


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_directional_checks_near_the_edge_of_the_domain_give_a_verdict():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, 5000)
    x[17], x[99] = 3e-4, 2e-5  # within a ladder step of log's edge

    def f(x):
        return float(np.sum(np.log(x)))

    def g(x):
        return 1 / x

    def wrong(x):
        out = 1 / x
        out[17] *= 1.001
        return out

    assert gv.check_grad(f, g, x, seed=0, mode="directional").ok
    report = gv.check_grad(f, wrong, x, seed=0, mode="directional")
    assert report.outcome == "failed" and report.worst_index == (17,), str(report)


def test_a_float32_f_returning_float64_is_not_taken_as_a_float64_reference():
    # It casts x to float32 inside: at the float64 point it looks noiseless (its values do not move over the
    # noise walk), yet every float64 difference below float32's resolution is 0. Found with an HVP of a float32
    # gradient, where the reference turned H v into 0.
    def f(x):
        return np.float64(np.sum(np.asarray(x, np.float32) ** 3))

    x = np.linspace(0.5, 2.0, 6).astype(np.float32)
    report = gv.check_grad(f, lambda x: 3 * x**2, x, seed=0)
    assert not any("float64 numerical reference" in n for n in report.notes), str(report)
    assert report.outcome != "failed", str(report)
    with pytest.raises(gv.InvalidArgument, match="rounds x to float32"):
        gv.check_grad(f, lambda x: 3 * x**2, x, seed=0, reference="float64")
