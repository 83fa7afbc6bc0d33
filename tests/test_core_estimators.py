"""Estimators: accuracy against exact gradients, and bounds that cover the real error."""

from __future__ import annotations

import numpy as np
import pytest

import gradverify as gv
from gradverify import steps, zoo
from gradverify._core.estimators import exact_steps, measure_noise
from gradverify._core.evaluate import Evaluator
from gradverify._core.params import ParamSpec

# max |error| / max |gradient| each method must reach on the zoo in float64.
ACCURACY = {"complex": 1e-13, "richardson": 1e-10, "central": 1e-8, "forward": 1e-6}
SMOOTH = [n for n in zoo.PROBLEM_NAMES if n != "svm"]


def flat(tree):
    return ParamSpec.of(tree).flatten(tree, dtype=np.float64)


@pytest.mark.parametrize("method", list(ACCURACY))
@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("seed", [0, 1])
def test_accuracy_and_bound_cover_the_real_error(name, method, seed):
    problem = zoo.make_problem(name, seed=seed)
    est = gv.estimate_gradient(problem.f, problem.x0, method=method, seed=seed)
    exact = flat(problem.grad(problem.x0))
    error = np.abs(flat(est.value) - exact)
    assert error.max() / np.abs(exact).max() <= ACCURACY[method]
    floor = steps.FLOOR_FACTOR * steps.eps(np.float64) * np.abs(exact).max()
    assert np.all(error <= flat(est.bound) + floor), "a stated bound is smaller than the real error"


@pytest.mark.parametrize("method", ["central", "richardson", "forward"])
def test_float32_bounds_cover_the_real_error(method):
    for name in SMOOTH:
        problem = zoo.make_problem(name, seed=3, dtype=np.float32)
        est = gv.estimate_gradient(problem.f, problem.x0, method=method, seed=3)
        exact = flat(problem.grad(problem.x0))
        error = np.abs(flat(est.value) - exact)
        floor = steps.FLOOR_FACTOR * steps.eps(np.float32) * np.abs(exact).max()
        assert np.all(error <= flat(est.bound) + floor), name


def test_numerical_gradient_keeps_the_structure_of_x():
    problem = zoo.make_problem("mlp", seed=0)
    g = gv.numerical_gradient(problem.f, problem.x0)
    assert set(g) == set(problem.x0)
    for key in g:
        assert g[key].shape == problem.x0[key].shape
        np.testing.assert_allclose(g[key], problem.grad(problem.x0)[key], rtol=1e-6, atol=1e-9)


def test_explicit_h_is_the_step_used():
    f = lambda x: np.sum(np.exp(x))  # noqa: E731
    x = np.array([0.25, -1.0])
    g = gv.numerical_gradient(f, x, method="central", h=1e-2)
    manual = (np.exp(x + 1e-2) - np.exp(x - 1e-2)) / 2e-2
    np.testing.assert_allclose(g, manual, rtol=1e-13)
    # and truncation at that step is visible: not the exact derivative
    assert np.all(np.abs(g - np.exp(x)) > 1e-7)


def test_numerical_jacobian_shape_and_values():
    f = lambda x: np.array([[x[0] * x[1], np.sin(x[2])], [x[0] ** 2, 1.0]])  # noqa: E731
    x = np.array([1.0, 2.0, 0.5])
    J = gv.numerical_jacobian(f, x)
    assert J.shape == (2, 2, 3)
    expected = np.zeros((2, 2, 3))
    expected[0, 0] = [2.0, 1.0, 0.0]
    expected[0, 1, 2] = np.cos(0.5)
    expected[1, 0, 0] = 2.0
    np.testing.assert_allclose(J, expected, atol=1e-9)


def test_exact_steps_make_x_plus_h_representable():
    x = np.array([0.1, 1.0 / 3.0, 12345.678, 0.0])
    h = np.full(4, 1e-5)
    for sign in (1.0, -1.0):
        taken = exact_steps(x, h, sign)
        assert np.all((x + taken) - x == taken)
        assert np.all(np.sign(taken) == sign)


@pytest.mark.parametrize("h", [1.2345678e-5, 3.3e-6, 7.77e-7])
def test_central_difference_is_exact_for_a_quadratic_when_the_two_steps_round_differently(h):
    # At x = 1, x + h and x - h round to grids an ulp apart, so the steps taken
    # differ by 1.1e-16; (f+ - f-) / (h+ + h-) would then be off by
    # f'' * 1.1e-16 / 2 = 1.1e-14 here, where the true derivative is 0.
    x = np.ones(3)
    assert abs(exact_steps(x, np.full(3, h))[0] + exact_steps(x, np.full(3, h), -1.0)[0]) > 0
    g = gv.numerical_gradient(lambda x: 100 * np.sum((x - 1) ** 2), x, method="central", h=h)
    assert np.max(np.abs(g)) < 1e-17


def test_noise_measurement_sees_injected_noise():
    # A smooth function plus deterministic high-frequency noise of size 1e-9.
    def f(x):
        return np.sum(x**2) + 1e-9 * np.sin(1e12 * np.sum(x))

    x = np.linspace(0.5, 1.5, 5)
    spec = ParamSpec.of(x)
    ev = Evaluator(f, spec, x)
    f0 = ev.base_value()
    sigma = measure_noise(ev, x, f0, np.random.default_rng(0))[0]
    assert 1e-10 < sigma < 1e-8


def test_step_rule_follows_scipy_convention():
    eps = np.finfo(np.float64).eps
    assert steps.base_step("central") == pytest.approx(eps ** (1 / 3))
    assert steps.base_step("forward") == pytest.approx(eps**0.5)
    x = np.array([0.0, 10.0, -1e3])
    np.testing.assert_allclose(steps.steps_for("central", x), eps ** (1 / 3) * np.array([1.0, 10.0, 1e3]))
    eps32 = float(np.finfo(np.float32).eps)
    assert steps.base_step("central", np.float32) == pytest.approx(eps32 ** (1 / 3))
    # float32 coordinate steps start one ladder rung up (steps.STEP_MULTIPLIER); complex-step keeps its own
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(steps.steps_for("central", x32), 4 * eps32 ** (1 / 3) * np.array([1.0, 10.0, 1e3]))
    np.testing.assert_allclose(steps.steps_for("forward", x32), 4 * eps32**0.5 * np.array([1.0, 10.0, 1e3]))
    np.testing.assert_allclose(steps.steps_for("complex", x32), eps32**1.5 * np.array([1.0, 10.0, 1e3]))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_explicit_h_must_be_positive_and_finite(bad):
    with pytest.raises(gv.InvalidArgument, match="h="):
        gv.numerical_gradient(np.sum, np.ones(2), h=bad)


def test_taylor_test_orders():
    problem = zoo.make_problem("softmax", seed=0)
    right = gv.taylor_test(problem.f, problem.grad, problem.x0)
    assert right.ok and 1.8 < right.order < 2.2
    for bug in ("double", "sign", "one_entry", "no_reg"):
        wrong = gv.taylor_test(problem.f, problem.broken[bug], problem.x0)
        assert not wrong.ok, bug
        assert 0.8 < wrong.order < 1.2, (bug, wrong.order)
    assert "order" in str(right)


def test_float32_arithmetic_returned_as_float64_keeps_float32_noise():
    # numpy 1 returns float64 from float32 arithmetic mixed with Python floats;
    # here float() does the same.  The noise is float32's, and the bound must say so.
    problem = zoo.make_problem("softmax", seed=0, n_samples=1, n_features=1, n_classes=3, reg=0.0, dtype=np.float32)
    x = np.zeros((1, 3), np.float32)
    f64 = lambda W: float(problem.f(W))  # noqa: E731
    exact = problem.grad(x).astype(np.float64)
    low, high = steps.step_band("forward", np.float32)
    for h in np.geomspace(low, high, 5):
        est = gv.estimate_gradient(f64, x, method="forward", h=h)
        floor = steps.FLOOR_FACTOR * steps.eps(np.float32) * np.abs(exact).max()
        assert np.all(np.abs(est.value - exact) <= est.bound + floor), h
