"""Bad input gets a clear error that names the problem; never a silent pass."""

from __future__ import annotations

import numpy as np
import pytest

import gradverify as gv

X = np.array([0.5, 1.5, 2.5])


def f(x):
    return np.sum(x**3)


def grad(x):
    return 3 * x**2


def test_all_errors_are_value_errors_in_one_family():
    for cls in (
        gv.InvalidArgument,
        gv.ShapeMismatch,
        gv.NonFiniteValue,
        gv.NotComplexSafe,
        gv.NonDeterministicFunction,
        gv.InputMutated,
    ):
        assert issubclass(cls, gv.GradverifyError) and issubclass(cls, ValueError)
    assert issubclass(gv.GradientMismatch, AssertionError)


def test_nan_from_f_at_x():
    with pytest.raises(gv.NonFiniteValue, match="nan at x"):
        gv.check_grad(lambda x: np.sum(x) * np.nan, grad, X)


@pytest.mark.parametrize("method", ["central", "richardson", "auto"])
def test_x_on_the_edge_of_the_domain_is_inconclusive_and_named(method):
    # sqrt is NaN just left of 0 at every step: the steps are shrunk, the
    # entry stays without a two-sided estimate, and the check says so (issue 12:
    # a verdict, an error only when no step gives a finite value).
    x = np.array([1.0, 0.0, 2.0])
    with np.errstate(invalid="ignore"):
        report = gv.check_grad(
            lambda x: np.sum(np.sqrt(x)), lambda x: 0.5 / np.sqrt(x + 1e-12), x, method=method, seed=0
        )
    assert report.outcome == "inconclusive", str(report)
    assert "x[1]" in report.diagnosis and "domain" in report.diagnosis, str(report)


def test_forward_differences_never_leave_the_domain_but_still_judge():
    x = np.array([1.0, 0.0, 2.0])
    with np.errstate(invalid="ignore"):  # the noise walk meets sqrt's edge before turning round
        report = gv.check_grad(
            lambda x: np.sum(np.sqrt(x)), lambda x: 0.5 / np.sqrt(x + 1e-12), x, method="forward", seed=0
        )
    assert not report.ok and report.worst_index == (1,)


def test_nan_in_the_point_is_refused():
    with pytest.raises(gv.NonFiniteValue, match=r"x\[1\]"):
        gv.check_grad(f, grad, np.array([1.0, np.nan]))


def test_nan_or_inf_in_the_gradient_names_the_entry():
    def bad(x):
        g = grad(x)
        g[2] = np.inf
        return g

    with pytest.raises(gv.NonFiniteValue, match=r"x\[2\]"):
        gv.check_grad(f, bad, X)


def test_nan_never_passes_even_where_a_naive_comparison_would():
    # |nan - y| > tol is False: a naive checker passes this.
    def half_nan(x):
        g = grad(x)
        g[0] = np.nan
        return g

    with pytest.raises(gv.NonFiniteValue):
        gv.check_grad(f, half_nan, X)


def test_wrong_shape_names_both_shapes():
    with pytest.raises(gv.ShapeMismatch, match=r"\(2,\).*\(3,\)"):
        gv.check_grad(f, lambda x: grad(x)[:2], X)


def test_wrong_structure_names_the_keys():
    x = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    loss = lambda p: np.sum(p["W"] ** 2) + np.sum(p["b"])  # noqa: E731
    with pytest.raises(gv.InvalidArgument, match="keys"):
        gv.check_grad(loss, lambda p: {"W": 2 * p["W"]}, x)
    with pytest.raises(gv.ShapeMismatch, match=r"\['b'\].*\(3,\).*\(2,\)"):
        gv.check_grad(loss, lambda p: {"W": 2 * p["W"], "b": np.ones(3)}, x)


def test_integer_input_is_promoted_to_float64():
    report = gv.check_grad(f, grad, np.array([1, 2, 3]), seed=0)
    assert report.ok and report.dtype == "float64"


def test_read_only_arrays_work_and_callers_arrays_are_never_modified():
    x = X.copy()
    x.setflags(write=False)
    params = {"W": np.arange(4.0).reshape(2, 2), "b": np.ones(2)}
    before = {k: v.copy() for k, v in params.items()}
    assert gv.check_grad(f, grad, x, seed=0).ok
    loss = lambda p: np.sum(p["W"] ** 2) + np.sum(p["b"] ** 3)  # noqa: E731
    dloss = lambda p: {"W": 2 * p["W"], "b": 3 * p["b"] ** 2}  # noqa: E731
    for method in ("auto", "central", "forward", "richardson"):
        assert gv.check_grad(loss, dloss, params, method=method, seed=0).ok
    np.testing.assert_array_equal(x, X)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_a_function_that_modifies_its_input_is_refused():
    def mutating(x):
        x *= 2
        return np.sum(x)

    with pytest.raises(gv.InputMutated, match="in place"):
        gv.check_grad(mutating, lambda x: 2 * np.ones_like(x), X)


def test_a_function_that_replaces_a_parameter_is_refused():
    def rebinding(p):
        p["b"] = p["b"] + 1
        return np.sum(p["b"])

    with pytest.raises(gv.InputMutated, match="replaced"):
        gv.check_grad(rebinding, lambda p: {"b": np.ones(2)}, {"b": np.zeros(2)})


def test_a_gradient_that_modifies_its_input_is_refused():
    def mutating_grad(x):
        x[0] = 0.0
        return 3 * x**2

    with pytest.raises(gv.InputMutated, match="grad"):
        gv.check_grad(f, mutating_grad, X)


def test_a_random_function_is_refused_with_a_hint_about_seeding():
    rng = np.random.default_rng(0)

    def dropout(x):
        return np.sum(x * (rng.random(x.shape) > 0.5))

    with pytest.raises(gv.NonDeterministicFunction, match="seed"):
        gv.check_grad(dropout, grad, X)


def test_a_non_scalar_function_points_to_vjp_and_jacobian():
    with pytest.raises(gv.InvalidArgument, match="check_vjp or check_jacobian"):
        gv.check_grad(lambda x: x**2, grad, X)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"method": "five-point"}, "method='five-point'"),
        ({"mode": "sideways"}, "mode='sideways'"),
        ({"safety": -1.0}, "safety=-1.0"),
        ({"budget": 0}, "budget=0"),
        ({"directions": 0}, "directions=0"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_invalid_options_name_the_argument(kwargs, fragment):
    with pytest.raises(gv.InvalidArgument) as info:
        gv.check_grad(f, grad, X, **kwargs)
    assert fragment in str(info.value)


def test_complex_parameters_are_refused():
    with pytest.raises(gv.InvalidArgument, match="complex"):
        gv.check_grad(f, grad, X.astype(complex))


def test_vectorized_function_with_wrong_output_shape():
    with pytest.raises(gv.InvalidArgument, match="vectorized"):
        gv.check_grad(lambda x: np.sum(x), grad, X, vectorized=True, method="central")


def test_an_empty_point_is_refused():
    with pytest.raises(gv.InvalidArgument, match="no entries"):
        gv.check_grad(np.sum, np.ones_like, np.zeros(0))
