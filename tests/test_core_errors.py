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


# -- what the attacks of issue 11 (D) found ---------------------------------------------------------

X30 = np.linspace(1.0, 2.0, 30)


def _returns_at_entry(value, entry=5, out=None):
    """f = sum(x**3) (or x**2 when ``out``), except at points that move entry ``entry`` alone."""

    def f(x):
        moved = np.flatnonzero(x != X30)
        if len(moved) == 1 and moved[0] == entry:
            return value
        return x**2 if out else np.sum(x**3)

    return f


@pytest.mark.parametrize(
    "value, fragment",
    [("abc", "str 'abc'"), ({"a": 1}, "dict {'a': 1}"), (10**400, "401 digits"), (None, "None")],
)
@pytest.mark.parametrize("method", ["central", "forward", "richardson"])
def test_f_returning_a_non_number_mid_sweep_is_named_at_its_point(value, fragment, method):
    with pytest.raises(gv.InvalidArgument) as info:
        gv.check_grad(_returns_at_entry(value), lambda x: 3 * x**2, X30, method=method, seed=0)
    message = str(info.value)
    assert type(info.value) is gv.InvalidArgument  # not NonFiniteValue: None is not "nan"
    assert message.startswith("f returned") and fragment in message and "x[5]" in message, message


def test_f_returning_a_non_number_mid_sweep_of_a_vectorized_f_is_named():
    def stacked(x):
        out = np.sum(x**3, axis=-1).astype(object)
        out[np.flatnonzero(np.sum(x != X30, axis=-1) == 1)[:1]] = "abc"
        return out

    with pytest.raises(gv.InvalidArgument, match="str 'abc'"):
        gv.check_grad(stacked, lambda x: 3 * x**2, X30, method="central", vectorized=True, seed=0)


def test_a_wrong_output_shape_is_reported_where_it_happens():
    with pytest.raises(gv.InvalidArgument, match=r"shape \(2,\) at x \+ h\*e\[x\[5\]\]"):
        gv.check_grad(_returns_at_entry(np.ones(2)), lambda x: 3 * x**2, X30, method="central", seed=0)
    with pytest.raises(gv.InvalidArgument, match=r"shape \(2,\) at x \+ h\*e\[x\[5\]\]"):
        gv.check_jacobian(_returns_at_entry(np.ones(2), out=True), lambda x: np.diag(2 * x), X30, method="central")


def test_a_size_one_output_is_not_broadcast_over_a_wrong_shape():
    # out[k] = value would broadcast an array of one entry over a row silently.
    with pytest.raises(gv.InvalidArgument, match=r"shape \(1,\)"):
        gv.check_jacobian(_returns_at_entry(np.ones(1), out=True), lambda x: np.diag(2 * x), X30, method="central")


@pytest.mark.parametrize("message", ["mine", "my shape is wrong", "setting an array element"])
def test_the_users_own_error_propagates_as_theirs(message):
    def f(x):
        moved = np.flatnonzero(x != X30)
        if len(moved) == 1 and moved[0] == 5:  # mid-sweep, not at its first point
            raise ValueError(message)
        return np.sum(x**3)

    calls = [
        lambda: gv.check_grad(f, lambda x: 3 * x**2, X30, method="central", seed=0),
        lambda: gv.check_jacobian(lambda x: np.atleast_1d(f(x)), lambda x: (3 * x**2)[None], X30, method="central"),
    ]
    for call in calls[:2]:
        with pytest.raises(ValueError) as info:
            call()
        assert not isinstance(info.value, gv.GradverifyError) and str(info.value) == message


def test_grad_returning_value_and_gradient_is_named_so():
    with pytest.raises(gv.ShapeMismatch) as info:
        gv.check_grad(f, lambda x: (f(x), grad(x)), X, seed=0)
    assert "grad(x)" in str(info.value) and "(value, gradient)" in str(info.value)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: gv.check_grad(3, grad, X), "f=3 is not callable"),
        (lambda: gv.check_grad(f, "grad", X), "grad='grad' is not callable"),
        (lambda: gv.check_vjp(f, None, X), "vjp=None is not callable"),
        (lambda: gv.check_jacobian(f, [1], X), "jac=[1] is not callable"),
        (lambda: gv.check_grad(f, grad, X, h="abc"), "h='abc'"),
        (lambda: gv.check_grad(f, grad, X, h=0.0), "h=0.0"),
        (lambda: gv.check_grad(f, grad, X, h=[1e-3, 1e-3]), "h has 2 entries"),
        (lambda: gv.check_grad(f, grad, X, safety="4"), "safety='4'"),
        (lambda: gv.check_grad(f, grad, X, safety=np.inf), "safety=inf"),
        (lambda: gv.check_grad(f, grad, X, seed=-1), "seed=-1"),
        (lambda: gv.check_grad(f, grad, X, directions=True), "directions=True"),
        (lambda: gv.check_grad(f, grad, X, vectorized="yes"), "vectorized='yes'"),
        (lambda: gv.check_vjp(np.sin, lambda x, c: np.cos(x) * c, X, cotangent="abc"), "cotangent='abc'"),
        (lambda: gv.check_vjp(np.sin, lambda x, c: np.cos(x) * c, X, cotangent=np.ones(2)), "cotangent has shape"),
        (lambda: gv.estimate_gradient(f, X, method="fast"), "method='fast'"),
        (lambda: gv.estimate_gradient(f, X, h="abc"), "h='abc'"),
        (lambda: gv.estimate_gradient(f, X, seed=-1), "seed=-1"),
        (lambda: gv.numerical_gradient("f", X), "f='f' is not callable"),
        (lambda: gv.taylor_test(f, grad, X, seed=-1), "seed=-1"),
        (lambda: gv.taylor_test(f, grad, X, steps=1), "steps=1"),
        (lambda: gv.taylor_test(f, 2, X), "grad=2 is not callable"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_value_before_f_runs(call, fragment):
    with pytest.raises(gv.InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


def test_bad_options_are_refused_before_any_user_function_is_called():
    calls = []

    def counting(x):
        calls.append(1)
        return np.sum(x**3)

    for bad in ({"h": "abc"}, {"safety": "4"}, {"seed": -1}, {"method": "x"}, {"names": ["a"]}):
        with pytest.raises(gv.InvalidArgument):
            gv.check_grad(counting, grad, X, **bad)
    assert calls == []


def test_an_output_shape_that_changes_in_check_vjp_is_named():
    def f(x):
        return np.concatenate([x**2, [1.0]]) if np.count_nonzero(x != X30) == 1 else x**2

    with pytest.raises(gv.InvalidArgument, match=r"shape \(31,\) \(it had shape \(30,\) at x\) at x \+ h"):
        gv.check_vjp(f, lambda x, c: 2 * x * c, X30, method="central", seed=0)
    # Of size 1: broadcasting against the cotangent would have hidden it.
    g = lambda x: np.ones(1) if np.count_nonzero(x != X30) == 1 else x**2  # noqa: E731
    with pytest.raises(gv.InvalidArgument, match=r"shape \(1,\)"):
        gv.check_vjp(g, lambda x, c: 2 * x * c, X30, method="central", seed=0)


@pytest.mark.parametrize("method", ["central", "forward", "richardson", "auto"])
def test_f_returning_complex_for_real_input_is_refused_not_truncated(method):
    with pytest.raises(gv.InvalidArgument, match="complex value"):
        gv.check_grad(lambda x: np.sum(x**2) + 1j * np.sum(x), lambda x: 2 * x, X, method=method, seed=0)
    # complex only away from x: found in the sweep
    g = lambda x: np.sum(x**2) + 1j * np.sum(x - X)  # noqa: E731
    with pytest.raises(gv.InvalidArgument, match="complex value"):
        gv.check_grad(g, lambda x: 2 * x, X, method=method, seed=0)


def test_f_returning_complex_with_no_imaginary_part_is_a_real_function():
    report = gv.check_grad(lambda x: np.sum(x**2).astype(complex), lambda x: 2 * x, X, method="central", seed=0)
    assert report.ok


def test_taylor_test_refuses_a_zero_direction_and_judges_a_short_sweep():
    wrong = lambda x: 0 * x  # noqa: E731
    with pytest.raises(gv.InvalidArgument, match="direction is zero"):
        gv.taylor_test(f, wrong, X, direction=np.zeros(3))
    with pytest.raises(gv.NonFiniteValue, match="direction"):
        gv.taylor_test(f, wrong, X, direction=np.array([1.0, np.nan, 0.0]))
    assert gv.taylor_test(f, grad, X, steps=2).ok
    assert not gv.taylor_test(f, lambda x: 2 * x**2, X, steps=2).ok


def test_complex_step_on_a_function_that_is_not_analytic_is_refused():
    # x * conj(x) takes complex input, and its complex step is exactly 0.
    with pytest.raises(gv.NotComplexSafe):
        gv.estimate_gradient(lambda x: np.sum(x * np.conj(x)), X, method="complex")
    est = gv.estimate_gradient(lambda x: np.sum(x**2), X, method="complex")
    np.testing.assert_allclose(est.value, 2 * X, rtol=1e-14)


def test_namedtuple_parameters_reach_f_and_grad_as_themselves():
    import collections

    Params = collections.namedtuple("Params", "w b")
    seen = set()

    def loss(p):
        seen.add(type(p))
        return np.sum(p.w**2) + np.sum(p.b)

    def dloss(p):
        seen.add(type(p))
        return Params(2 * p.w, np.ones_like(p.b))

    report = gv.check_grad(loss, dloss, Params(np.ones(2), np.zeros(3)), seed=0)
    assert report.ok and seen == {Params}
    broken = gv.check_grad(loss, lambda p: Params(2 * p.w, 2 * np.ones_like(p.b)), Params(np.ones(2), np.zeros(3)))
    assert not broken.ok and broken.worst_name.startswith("b[")


# -- one structure check, one error type ---------------------------------------------------------------


def _mlp_like_loss(p):
    return np.sum(p["W"] ** 2) + np.sum(np.sin(p["b"]))


def _mlp_like_grad(p):
    return {"W": 2 * p["W"], "b": np.cos(p["b"])}


@pytest.mark.parametrize(
    "broken, fragment",
    [
        (lambda p: {"W": 2 * p["W"], "bias": np.cos(p["b"])}, "unexpected ['bias']"),
        (lambda p: {"W": 2 * p["W"]}, "missing ['b']"),
        (lambda p: {"W": 2 * p["W"], "b": np.cos(p["b"])[:1]}, "grad(x)['b'] has shape (1,)"),
        (lambda p: [2 * p["W"], np.cos(p["b"])], "is a list of length 2, expected a dict"),
        (lambda p: {"W": 2 * p["W"], "b": None}, "grad(x)['b'] is None"),
    ],
)
def test_every_structure_fault_of_a_derivative_is_one_shape_mismatch(broken, fragment):
    x = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    with pytest.raises(gv.ShapeMismatch) as info:
        gv.check_grad(_mlp_like_loss, broken, x, seed=0)
    assert fragment in str(info.value)


def test_verify_handles_a_wrong_dict_key_like_a_wrong_shape():
    from gradverify import strategies as gst

    inputs = gst.params(layout={"W": ("D", "D"), "b": ("D",)}, max_side=3, max_magnitude=2.0)

    def renamed_when_wide(p):
        g = _mlp_like_grad(p)
        if p["b"].size >= 2:
            g["bias"] = g.pop("b")
        return g

    def short_when_wide(p):
        g = _mlp_like_grad(p)
        if p["b"].size >= 2:
            g["b"] = g["b"][:1]
        return g

    for broken in (renamed_when_wide, short_when_wide):
        result = gv.verify(_mlp_like_loss, broken, inputs, max_examples=30, seed=0)
        assert not result.ok and isinstance(result.error, gv.ShapeMismatch), str(result)
        assert result.counterexample["b"].shape == (2,)  # shrunk to the smallest input that breaks it


# -- a vectorized f that writes into its stack ------------------------------------------------------


def _writes_into_stack(when):
    def stacked(x):
        value = np.sum(x**3, axis=-1)
        if when(x):
            x[..., -1] += 1.0  # e.g. an in-place normalisation of the batch
        return value

    return stacked


@pytest.mark.parametrize(
    "when",
    [
        lambda x: True,  # at every call, the first one at x included
        lambda x: x.shape[0] > 1,  # only in stacks of several points (the coordinate sweep, the noise walk)
        lambda x: x.shape[0] > 1 and np.count_nonzero(x[:, -1] != X30[-1]) > 0,  # only where the last entry moves
    ],
    ids=["always", "stacks", "one-row"],
)
@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("method", ["central", "auto"])
def test_a_vectorized_f_that_writes_into_its_stack_is_refused(when, mode, method):
    x = X30.copy()
    with pytest.raises(gv.InputMutated) as info:
        gv.check_grad(
            _writes_into_stack(when), lambda x: 3 * x**2, x, vectorized=True, mode=mode, method=method, seed=0
        )
    assert str(info.value).startswith("f modified the stack of points")
    np.testing.assert_array_equal(x, X30)  # and the caller's point is untouched


@pytest.mark.parametrize("column", [150, 0], ids=["the-moved-entry", "another-entry"])
def test_a_vectorized_f_that_writes_into_a_later_chunk_of_its_sweep_is_refused(column):
    # 200 entries: the 128 KB budget holds 81 points, so the sweep runs in chunks,
    # and only a later chunk (where entry 150 moves) is written into.
    x = np.linspace(1.0, 2.0, 200)

    def stacked(p):
        value = np.sum(p**3, axis=-1)
        if p.shape[0] > 1 and np.any(p[:, 150] != x[150]) and np.count_nonzero(p != x) < p.shape[0] + 1:
            p[:, column] += 1.0
        return value

    with pytest.raises(gv.InputMutated, match="stack of points"):
        gv.check_grad(stacked, lambda p: 3 * p**2, x, vectorized=True, mode="full", method="central", seed=0)


# -- memory ----------------------------------------------------------------------------------------


def _allocates_too_much(*args, **kwargs):
    return np.empty(2**50)  # 8 PiB: numpy raises its _ArrayMemoryError


@pytest.mark.parametrize(
    "target, call, fragment",
    [
        ("shifted", lambda: gv.check_grad(f, grad, X, mode="full", method="central", seed=0), "a full check of 3 "),
        ("at_points", lambda: gv.check_grad(f, grad, X, mode="directional", seed=0), "a directional check of 3 "),
        ("shifted", lambda: gv.check_vjp(np.sin, lambda x, c: np.cos(x) * c, X, mode="full", seed=0), "full check"),
        ("shifted", lambda: gv.check_jacobian(np.sin, lambda x: np.diag(np.cos(x)), X, seed=0), "full check"),
        ("shifted", lambda: gv.estimate_gradient(f, X), "estimates every entry"),
    ],
)
def test_running_out_of_memory_says_how_much_was_needed_and_what_to_try(monkeypatch, target, call, fragment):
    from gradverify._core import evaluate

    monkeypatch.setattr(evaluate.Evaluator, target, _allocates_too_much)
    with pytest.raises(gv.InsufficientMemory) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, MemoryError) and isinstance(info.value.__cause__, MemoryError)
    assert fragment in message and "needs about" in message and "an allocation of 8 PiB failed" in message
    assert "mode='directional'" in message


def test_a_check_needs_memory_linear_in_n_with_the_stated_constant():
    import tracemalloc

    from gradverify._core.memory import BYTES_PER_PARAMETER

    def cheap(x):
        return 3.0 * x[0] + x[1] ** 2

    def cheap_grad(x):
        g = np.zeros_like(x)
        g[0], g[1] = 3.0, 2 * x[1]
        return g

    gv.check_grad(cheap, cheap_grad, np.ones(3), seed=0)  # modules imported before memory is traced
    for mode, n in (("full", 40_000), ("directional", 100_000)):
        x = np.linspace(0.5, 1.5, n)
        tracemalloc.start()
        report = gv.check_grad(cheap, cheap_grad, x, mode=mode, seed=0)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.ok
        # The sweep's blocks add a constant (~0.6 MB), a few bytes per parameter at this n.
        assert top / n <= BYTES_PER_PARAMETER[mode] + 2**20 / n, (mode, top / n)


def test_an_error_of_ours_raised_inside_f_on_complex_input_means_not_complex_safe():
    # f may call gradverify itself (ParamSpec.of refuses complex arrays); under
    # complex-step that is f refusing complex input, as any other exception.
    from gradverify._core.params import ParamSpec

    def f(x):
        return np.sum(ParamSpec.of(x).flatten(x) ** 3)

    report = gv.check_grad(f, grad, X, seed=0)
    assert report.ok and report.method == "richardson" and "complex-step not used" in " ".join(report.notes)
    with pytest.raises(gv.NotComplexSafe):
        gv.check_grad(f, grad, X, method="complex", seed=0)
    # Without complex numbers, the same error inside f is f's own and reaches the caller unchanged.
    with pytest.raises(gv.InvalidArgument, match="complex parameters"):
        gv.check_grad(lambda x: f(x.astype(complex)), grad, X, method="central", seed=0)
