"""gradverify.jax.check(order=2): the backward of a backward, custom_vjp rules included; skipped without jax."""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax", reason="gradverify[jax] not installed (pip install jax jaxlib)")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gradverify as gv  # noqa: E402
import gradverify.jax as gvj  # noqa: E402

X = jnp.array([0.3, 1.2, -0.7, 2.0])


def sine_with_rule(second_order: str) -> object:
    """sin with a custom_vjp whose bwd is right at first order; ``second_order`` says how its own derivative is.

    ``"right"``: ``g * cos(x)`` from the residual (JAX differentiates through it);
    ``"saved"``: the residual treated as a constant (stop_gradient), so the
    second-order term ``-g sin(x)`` is lost; ``"small"``: a bwd whose value is
    right but whose derivative in x is off by 1e-3 (it adds ``1e-3 * (x - x0)``
    with ``x0`` the same point held constant).
    """

    @jax.custom_vjp
    def f(x):
        return jnp.sin(x)

    def fwd(x):
        return jnp.sin(x), (jnp.cos(x), x)

    def bwd(res, g):
        c, x = res
        if second_order == "saved":
            return (g * jax.lax.stop_gradient(c),)
        if second_order == "small":
            return (g * (c + 1e-3 * (x - jax.lax.stop_gradient(x))),)
        return (g * c,)

    f.defvjp(fwd, bwd)
    return f


def test_a_right_custom_vjp_passes_at_second_order_with_both_modes_of_its_backward():
    report = gvj.check(sine_with_rule("right"), X, order=2, seed=0)
    assert report.ok, str(report)
    assert report.kind == "vjp_of_vjp"
    assert any("order=2" in n and "first order passed" in n for n in report.notes)
    # the backward is ordinary JAX code: reverse-over-reverse and forward-over-reverse both checked
    assert any("reverse mode (jax.vjp), forward mode (jax.jvp)" in n for n in report.notes), report.notes


@pytest.mark.parametrize("bug", ["saved", "small"])
def test_a_wrong_second_order_rule_fails_naming_the_x_entry_while_first_order_passes(bug):
    f = sine_with_rule(bug)
    assert gvj.check(f, X, seed=0).ok  # first order: right
    report = gvj.check(f, X, order=2, seed=0)
    assert not report.ok, str(report)
    assert report.worst_name.startswith("x["), str(report)
    assert report.diagnosis.startswith("backward of the backward: reverse mode (jax.vjp)"), report.diagnosis
    # the forward product (the cotangent's entries) is right: only x's are wrong
    assert all(row.note != "wrong" for row in report.rows if row.name.startswith("cotangent"))


def test_a_small_second_order_bug_in_float64():
    jax.config.update("jax_enable_x64", True)
    try:

        @jax.custom_vjp
        def f(x):
            return jnp.tanh(x) * x

        def fwd(x):
            return f(x), x

        def bwd(x, g):
            t = jnp.tanh(x)
            right = t + x * (1 - t**2)
            return (g * (right + 1e-6 * (x - jax.lax.stop_gradient(x)) * right),)  # 1e-6 off at second order

        f.defvjp(fwd, bwd)
        x = jnp.array([0.3, -1.1, 0.8], dtype=jnp.float64)
        assert gvj.check(f, x, seed=0).ok
        report = gvj.check(f, x, order=2, seed=0)
        assert not report.ok and report.dtype == "float64", str(report)
        assert report.worst_name.startswith("x[")
    finally:
        jax.config.update("jax_enable_x64", False)


def test_a_wrong_first_order_stops_before_the_second():
    @jax.custom_vjp
    def f(x):
        return jnp.sin(x)

    f.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (g * jnp.sin(x),))
    report = gvj.check(f, X, order=2, seed=0)
    assert not report.ok
    assert any("first-order derivative did not pass" in n for n in report.notes)


def test_pytrees_and_integer_arguments_at_second_order():
    params = {"dense": {"kernel": jnp.full((3, 2), 0.3), "bias": jnp.zeros(2)}}

    def loss(params, x, k):
        return jnp.sum(jnp.tanh(x @ params["dense"]["kernel"] + params["dense"]["bias"]) ** 2) * k

    report = gvj.check(loss, params, jnp.arange(3.0), 2, order=2, seed=0)
    assert report.ok, str(report)
    assert not any("float0" in n for n in report.notes), report.notes  # the integer k has no cotangent
    report = gvj.check(loss, params, jnp.arange(3.0), 2, argnums=0, order=2, seed=0)
    assert report.ok and "params['dense']" in report.worst_name


@pytest.mark.parametrize("order", [0, 3, True, "2"])
def test_an_order_other_than_1_or_2_is_a_clear_error(order):
    with pytest.raises(gv.InvalidArgument, match=r"order=.* must be 1 or 2"):
        gvj.check(jnp.sin, X, order=order)


def test_the_numpy_engine_agrees():
    # the same backward checked by gv.check_vjp_of_vjp (numpy) with hand-written rules
    x = np.asarray(X, dtype=np.float64)
    right = gv.check_vjp_of_vjp(
        np.sin, lambda x, ct: np.cos(x) * ct, lambda x, ct, w: (-np.sin(x) * ct * w, np.cos(x) * w), x, seed=0
    )
    saved = gv.check_vjp_of_vjp(
        np.sin, lambda x, ct: np.cos(x) * ct, lambda x, ct, w: (0 * x, np.cos(x) * w), x, seed=0
    )
    assert right.ok and not saved.ok
    assert gvj.check(sine_with_rule("right"), X, order=2, seed=0).ok
    assert not gvj.check(sine_with_rule("saved"), X, order=2, seed=0).ok


def test_a_function_of_star_args_is_named_args_i_and_cotangent():
    def wrapped(*args):  # a wrapper (a call counter, a decorator) hides the parameter names
        return jnp.sin(args[0]) * args[1]

    report = gvj.check(wrapped, X, jnp.float32(2.0), order=2, seed=0)
    assert report.ok, str(report)
    names = {row.name.split("[")[0].split(" ")[0] for row in report.rows}
    assert names <= {"args", "cotangent"}, names
