"""gradverify.jax: JAX's derivatives (custom_vjp / custom_jvp rules included) against gradverify's estimators."""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax", reason="gradverify[jax] not installed (pip install jax jaxlib)")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gradverify as gv  # noqa: E402
import gradverify.jax as gvj  # noqa: E402


def stable_logsumexp(broken: bool = False):
    """logsumexp with a custom_vjp (the stable rewrite: shift by the max); ``broken`` scales one entry by 1.001."""

    @jax.custom_vjp
    def lse(x):
        m = jnp.max(x)
        return m + jnp.log(jnp.sum(jnp.exp(x - m)))

    def fwd(x):
        y = lse(x)
        return y, (x, y)

    def bwd(res, g):
        x, y = res
        s = jnp.exp(x - y)
        return (g * (s.at[2].multiply(1.001) if broken else s),)

    lse.defvjp(fwd, bwd)
    return lse


EXTREME = jnp.array([1.0, 300.0, 299.5, -4.0, 2.0])  # exp(300) overflows float32: the naive form is inf


def test_a_stable_custom_vjp_passes_in_float32_where_the_naive_form_overflows():
    assert not np.isfinite(np.asarray(jnp.log(jnp.sum(jnp.exp(EXTREME)))))
    report = gvj.check(stable_logsumexp(), EXTREME, seed=0)
    assert report.ok, str(report)
    assert report.dtype == "float32"
    assert any("forward mode (jax.jvp) not checked" in note and "custom_vjp" in note for note in report.notes)


@pytest.mark.parametrize("jit", [False, True])
def test_a_broken_custom_vjp_is_caught_at_its_entry(jit):
    report = gvj.check(stable_logsumexp(broken=True), EXTREME, jit=jit, seed=0)
    assert not report.ok
    assert report.worst_name == "x[2]"
    assert report.diagnosis.startswith("reverse mode (jax.vjp)")


def test_asking_for_forward_mode_of_a_custom_vjp_is_a_clear_error():
    with pytest.raises(gv.InvalidArgument, match=r"modes includes 'fwd'.*does not support forward mode"):
        gvj.check(stable_logsumexp(), EXTREME, modes=("fwd",), seed=0)


def sine_with_rule(factor: float):
    @jax.custom_jvp
    def f(x):
        return jnp.sin(x)

    f.defjvp(lambda primals, tangents: (jnp.sin(primals[0]), factor * jnp.cos(primals[0]) * tangents[0]))
    return f


@pytest.mark.parametrize("modes", ["auto", ("fwd",), ("rev",)])
def test_custom_jvp_rules_in_both_modes(modes):
    x = jnp.array([0.3, -1.2, 2.0])
    good = gvj.check(sine_with_rule(1.0), x, modes=modes, seed=0)
    assert good.ok
    bad = gvj.check(sine_with_rule(1.0 + 1e-3), x, modes=modes, seed=0)
    assert not bad.ok and bad.pattern == "scale"
    if modes == "auto":
        assert "checked: reverse mode (jax.vjp), forward mode (jax.jvp)" in bad.notes


def dense_loss(broken: bool):
    """A dense layer whose kernel gradient is written by hand; ``broken`` adds 1e-2 to entry [2, 1]."""

    @jax.custom_vjp
    def dense(kernel, bias, x):
        return x @ kernel + bias

    def fwd(kernel, bias, x):
        return dense(kernel, bias, x), (kernel, x)

    def bwd(res, g):
        kernel, x = res
        dk = x.T @ g
        if broken:
            dk = dk.at[2, 1].add(1e-2)
        return dk, g.sum(0), g @ kernel.T

    dense.defvjp(fwd, bwd)

    def loss(params, x):
        h = dense(params["dense"]["kernel"], params["dense"]["bias"], x)
        return jnp.mean(jnp.tanh(h) ** 2)

    return loss


def test_pytree_leaves_are_named_by_their_paths():
    key = jax.random.PRNGKey(0)
    params = {"dense": {"kernel": jax.random.normal(key, (4, 3)), "bias": jnp.full(3, 0.1)}}
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    assert gvj.check(dense_loss(False), params, x, seed=0).ok
    report = gvj.check(dense_loss(True), params, x, argnums=0, seed=0)
    assert not report.ok
    assert report.worst_name == "params['dense']['kernel'][2, 1]"
    assert "x held constant (not in argnums)" in report.notes


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: jax.nn.softmax(x),
        lambda x: jax.nn.log_softmax(x) * 3.0,
        lambda x: jnp.cumsum(jnp.sin(x)),
        lambda x: jax.nn.gelu(x),
    ],
    ids=["softmax", "log_softmax", "cumsum", "gelu"],
)
def test_float32_has_no_false_alarms(fn):
    x = jax.random.normal(jax.random.PRNGKey(3), (20,))
    report = gvj.check(fn, x, seed=0)
    assert report.ok, str(report)
    assert report.dtype == "float32"


def test_float64_when_x64_is_on():
    with jax.enable_x64(True):
        x = jnp.array([0.3, -1.2, 2.0])
        assert x.dtype == jnp.float64
        assert gvj.check(sine_with_rule(1.0), x, seed=0).dtype == "float64"
        # float64 sees a bug float32 could not: a missing term of relative size 1e-6
        assert not gvj.check(sine_with_rule(1.0 + 1e-6), x, seed=0).ok


def test_pytree_outputs_are_named():
    x = jnp.array([0.3, -1.2])
    report = gvj.check(lambda x: {"a": jnp.sin(x), "b": sine_with_rule(1.01)(x).sum()}, x, seed=0)
    assert not report.ok and report.worst_name == "x[0] of output['b']"


def test_integer_leaves_are_constants():
    report = gvj.check(lambda x, n: jnp.sum(x**n), jnp.array([1.0, 2.0]), jnp.array(3), seed=0)
    assert report.ok and any("n (int32) held constant" in note for note in report.notes)


def test_bad_input():
    with pytest.raises(gv.InvalidArgument, match="must return an array or a pytree of arrays"):
        gvj.check(lambda x: "loss", jnp.ones(2))
    with pytest.raises(gv.InvalidArgument, match="no floating-point argument"):
        gvj.check(lambda n: n * 2, jnp.array([1, 2]))
    with pytest.raises(gv.InvalidArgument, match="modes="):
        gvj.check(jnp.sin, jnp.ones(2), modes=("backward",))
    with pytest.raises(gv.InvalidArgument, match="argnums=5"):
        gvj.check(jnp.sin, jnp.ones(2), argnums=5)


def test_the_pytest_fixture_checks_jax_functions(gradcheck):
    assert gradcheck.jax(stable_logsumexp(), EXTREME).ok
    with pytest.raises(gv.GradientMismatch, match=r"x\[2\]"):
        gradcheck.jax(stable_logsumexp(broken=True), EXTREME)
