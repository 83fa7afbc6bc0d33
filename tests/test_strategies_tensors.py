"""gst.tensors: torch tensors and JAX arrays drawn and shrunk as weights are.

Building the strategy imports no framework; drawing gives tensors of the drawn
shape and dtype (leaves that require grad for torch); a custom op with a wrong
backward is found over drawn tensors and shrunk to the smallest failing one,
and a right backward never fails over them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import gradverify as gv
from gradverify import strategies as gst

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="gradverify[torch] not installed")
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="gradverify[jax] not installed")


def test_building_the_strategy_imports_no_framework():
    code = textwrap.dedent(
        """
        import sys
        from gradverify import strategies as gst
        gst.tensors("torch", shape=3)
        gst.tensors("jax", shape=gst.shapes())
        assert "torch" not in sys.modules and "jax" not in sys.modules, sorted(sys.modules)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"framework": "tensorflow", "shape": 3}, "framework='tensorflow'"),
        ({"framework": "torch", "shape": 3, "requires_grad": "yes"}, "requires_grad='yes'"),
        ({"framework": "torch", "shape": 3, "dtype": np.float16}, "float16"),
        ({"framework": "torch", "shape": -1}, "shape"),
    ],
)
def test_bad_arguments_are_named_when_drawn(kwargs, words):
    if kwargs["framework"] == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("gradverify[torch] not installed")
    framework = kwargs.pop("framework")
    strategy = gst.tensors(framework, **kwargs)  # built without complaint, as Hypothesis' own
    with pytest.raises(gv.errors.InvalidArgument, match=words.replace("(", r"\(").replace("[", r"\[")):
        find(strategy, lambda t: True)


# -- torch ------------------------------------------------------------------------------------


def _torch_op(right: bool):
    """y = x * |x| with a hand-written backward; the wrong one writes 2 x for 2 |x| (wrong where x < 0)."""
    import torch

    class SignedSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x.abs()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * (x.abs() if right else x)

    return SignedSquare.apply


@needs_torch
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_torch_tensors_have_the_drawn_shape_dtype_and_grad(data):
    import torch
    shape = data.draw(gst.shapes(max_dims=3, max_side=4), label="shape")
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64, "float32", np.float64]), label="dtype")
    grad = data.draw(st.booleans(), label="requires_grad")
    t = data.draw(gst.tensors("torch", shape=shape, dtype=dtype, requires_grad=grad, max_magnitude=3.0))
    want = {"float32": torch.float32, np.float64: torch.float64}.get(dtype, dtype)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == shape and t.dtype == want
    assert t.requires_grad == grad and t.is_leaf
    assert bool(torch.all(torch.isfinite(t))) and (t.numel() == 0 or float(t.detach().abs().max()) <= 3.0)


@needs_torch
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gst.tensors("torch", shape=gst.shapes(max_dims=2, max_side=4)))
def test_a_right_torch_backward_passes_over_drawn_tensors(x):
    import gradverify.torch as gvt
    report = gvt.check(_torch_op(right=True), x, seed=0)
    assert report.outcome != "failed", str(report)


@needs_torch
def test_a_wrong_torch_backward_is_found_and_shrunk_to_one_negative_entry():
    import gradverify.torch as gvt
    wrong = _torch_op(right=False)
    x = find(
        gst.tensors("torch", shape=gst.shapes(max_dims=2, max_side=4)),
        lambda x: gvt.check(wrong, x, seed=0).outcome == "failed",
        settings=settings(max_examples=200, deadline=None, database=None),
    )
    assert tuple(x.shape) == (1,) and float(x.detach()[0]) < 0, x
    report = gvt.check(wrong, x, seed=0)
    assert report.pattern == "sign" and report.rows[0].name.startswith("inputs[0][0]"), str(report)


# -- JAX --------------------------------------------------------------------------------------


def _jax_op(right: bool):
    import jax

    @jax.custom_vjp
    def signed_square(x):
        return x * abs(x)

    def fwd(x):
        return signed_square(x), x

    def bwd(x, g):
        return (g * 2 * (abs(x) if right else x),)

    signed_square.defvjp(fwd, bwd)
    return signed_square


@needs_jax
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gst.tensors("jax", shape=gst.shapes(max_dims=1, max_side=4)))
def test_jax_arrays_are_float32_by_default_and_a_right_rule_passes(x):
    import gradverify.jax as gvj
    assert str(x.dtype) == "float32"
    report = gvj.check(_jax_op(right=True), x, seed=0)
    assert report.outcome != "failed", str(report)


@needs_jax
def test_a_wrong_jax_rule_is_found_and_shrunk():
    import gradverify.jax as gvj
    wrong = _jax_op(right=False)
    x = find(
        gst.tensors("jax", shape=gst.shapes(max_dims=1, max_side=4)),
        lambda x: gvj.check(wrong, x, seed=0).outcome == "failed",
        settings=settings(max_examples=200, deadline=None, database=None),
    )
    assert x.shape == (1,) and float(x[0]) < 0, x
