"""The three kinds of test Hypothesis writes for its own strategies.

For every public strategy of :mod:`gradverify.strategies`:

* everything it draws is valid (with the arguments drawn too, where they vary);
* it shrinks to the obvious minimum (``hypothesis.find`` with a fixed random);
* a table of invalid calls each raises ``InvalidArgument`` naming the argument,
  when drawn from, not when built.
"""

from __future__ import annotations

import math
from random import Random

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from gradverify import steps
from gradverify import strategies as gst
from gradverify.errors import InvalidArgument

FIND_SETTINGS = settings(database=None, max_examples=500, suppress_health_check=list(HealthCheck))


def minimal(strategy, condition=lambda _: True):
    """The minimal example of ``strategy`` satisfying ``condition`` (replayable)."""
    return find(strategy, condition, settings=FIND_SETTINGS, random=Random(0))


def draw_once(strategy):
    """Draw one example inside a real test run, letting any error escape."""
    out = []

    @settings(max_examples=1, database=None, phases=[Phase.generate], deadline=None)
    @given(strategy)
    def run(value):
        out.append(value)

    run()
    return out[0]


# ---------------------------------------------------------------------------
# 1. everything drawn is valid
# ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 4))
def test_shapes_are_within_bounds(data, min_dims, extra_dims, min_side, extra_side):
    max_dims, max_side = min_dims + extra_dims, min_side + extra_side
    max_size = data.draw(st.none() | st.integers(max(min_side, 1) ** min_dims, 200), label="max_size")
    shape = data.draw(
        gst.shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side, max_size=max_size)
    )
    assert isinstance(shape, tuple) and all(isinstance(s, int) for s in shape)
    assert min_dims <= len(shape) <= max_dims
    assert all(min_side <= s <= max_side for s in shape)
    if max_size is not None:
        assert math.prod(shape) <= max_size


@settings(max_examples=50, deadline=None)
@given(
    st.data(),
    st.sampled_from([np.float32, np.float64]),
    st.floats(1.5, 1e3),
    st.booleans(),
    st.lists(st.floats(-5, 5), max_size=2),  # two bands of width <= 1 never cover [-1.5, 1.5]
    st.floats(0, 0.5),
)
def test_weights_are_finite_bounded_and_away_from_kinks(data, dtype, max_magnitude, log_uniform, kinks, margin):
    min_magnitude = data.draw(st.none() | st.floats(1e-6, 1e-3) if log_uniform else st.just(0.0), label="min_magnitude")
    x = data.draw(
        gst.weights(
            shape=gst.shapes(max_dims=2),
            dtype=dtype,
            max_magnitude=max_magnitude,
            min_magnitude=min_magnitude,
            log_uniform=log_uniform,
            kinks=kinks,
            margin=margin,
        )
    )
    assert isinstance(x, np.ndarray) and x.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(x))
    assert np.all(np.abs(x) <= max_magnitude)
    lowest = min_magnitude if min_magnitude is not None else (max_magnitude * 1e-4 if log_uniform else 0.0)
    assert np.all(np.abs(x) >= lowest)
    for k in kinks:
        assert np.all(np.abs(x.astype(np.float64) - k) >= margin)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.integers(1, 3), st.integers(1, 3))
def test_params_share_dimensions(data, d, c):
    p = data.draw(gst.params(dims={"D": d, "C": c}, max_side=3))
    assert set(p) == {"W1", "b1", "W2", "b2"}
    h = p["b1"].shape[0]
    assert p["W1"].shape == (d, h) and p["W2"].shape == (h, c) and p["b2"].shape == (c,)
    assert 1 <= h <= 3
    assert all(v.dtype == np.float64 and np.all(np.isfinite(v)) for v in p.values())


@settings(max_examples=20, deadline=None)
@given(gst.params(layout={"w": ("n",), "A": ("n", "n"), "s": (2,)}, dtype=np.float32))
def test_params_accept_custom_layouts(p):
    n = p["w"].shape[0]
    assert p["A"].shape == (n, n) and p["s"].shape == (2,)
    assert all(v.dtype == np.float32 for v in p.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", gst.METHODS)
def test_step_sizes_lie_in_the_band(method, dtype):
    low, high = steps.step_band(method, dtype)

    @settings(max_examples=30, deadline=None)
    @given(gst.step_sizes(method=method, dtype=dtype))
    def check(h):
        assert isinstance(h, float)
        assert low <= h <= high

    check()


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([np.float32, np.float64]))
def test_directions_are_unit_vectors(data, dtype):
    u = data.draw(gst.directions(shape=gst.shapes(max_dims=2), dtype=dtype))
    assert u.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(u))
    assert abs(np.linalg.norm(u.astype(np.float64)) - 1) < 10 * np.finfo(dtype).eps * math.sqrt(u.size)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.floats(1e-8, 1.0), st.floats(1.0, 1e3))
def test_learning_rates_are_positive_and_bounded(data, low, factor):
    lr = data.draw(gst.learning_rates(min_value=low, max_value=low * factor))
    assert low <= lr <= low * factor


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(1, 300))
def test_batch_sizes_fit_the_data(data, n):
    lo = data.draw(st.integers(1, n), label="min_size")
    hi = data.draw(st.integers(lo, n), label="max_size")
    b = data.draw(gst.batch_sizes(n, min_size=lo, max_size=hi))
    assert isinstance(b, int) and lo <= b <= hi


@settings(max_examples=40, deadline=None)
@given(gst.datasets(n_samples=st.integers(1, 6), n_classes=3, dtype=np.float32))
def test_datasets_are_consistent(data):
    X, y = data
    assert X.ndim == 2 and X.dtype == np.float32 and np.all(np.abs(X) <= 1)
    assert y.shape == (X.shape[0],) and y.dtype.kind == "i"
    assert np.all((0 <= y) & (y < 3))


# ---------------------------------------------------------------------------
# 2. shrinks to the obvious minimum
# ---------------------------------------------------------------------------
def test_shapes_shrink_to_a_single_side_of_one():
    assert minimal(gst.shapes()) == (1,)
    assert minimal(gst.shapes(min_dims=2, min_side=3)) == (3, 3)
    assert minimal(gst.shapes(), lambda s: len(s) >= 2) == (1, 1)


def test_weights_shrink_to_zeros_or_ones():
    np.testing.assert_array_equal(minimal(gst.weights(shape=(2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(minimal(gst.weights(shape=3, log_uniform=True)), np.ones(3))
    # pushed out of the forbidden band around the kink, to the positive side
    np.testing.assert_array_equal(minimal(gst.weights(shape=2, kinks=[0.0], margin=0.25)), [0.25, 0.25])
    # the shape shrinks too when it is drawn
    assert minimal(gst.weights(shape=gst.shapes())).shape == (1,)


def test_params_shrink_to_unit_dimensions_and_zeros():
    p = minimal(gst.params())
    assert {k: v.shape for k, v in p.items()} == {"W1": (1, 1), "b1": (1,), "W2": (1, 1), "b2": (1,)}
    assert all(np.all(v == 0) for v in p.values())


@pytest.mark.parametrize("method", gst.METHODS)
def test_step_sizes_shrink_to_the_default_step(method):
    assert minimal(gst.step_sizes(method=method)) == pytest.approx(steps.base_step(method), rel=1e-12)


def test_directions_shrink_to_the_first_basis_vector():
    np.testing.assert_array_equal(minimal(gst.directions(shape=3)), [1.0, 0.0, 0.0])


def test_learning_rates_shrink_to_the_smallest():
    assert minimal(gst.learning_rates(min_value=1e-3)) == pytest.approx(1e-3)
    # a "failure" above a threshold shrinks to just above the threshold
    assert 0.1 <= minimal(gst.learning_rates(), lambda lr: lr >= 0.1) < 0.2


def test_batch_sizes_shrink_to_one():
    assert minimal(gst.batch_sizes(100)) == 1
    assert minimal(gst.batch_sizes(100, min_size=8)) == 8


def test_datasets_shrink_to_one_zero_sample():
    X, y = minimal(gst.datasets())
    np.testing.assert_array_equal(X, np.zeros((1, 1)))
    np.testing.assert_array_equal(y, [0])


# ---------------------------------------------------------------------------
# 3. invalid arguments: a clear error naming the argument, raised when drawn
# ---------------------------------------------------------------------------
INVALID = [
    (gst.shapes, dict(min_dims=-1), "min_dims=-1"),
    (gst.shapes, dict(min_dims=3, max_dims=2), "min_dims=3 is larger than max_dims=2"),
    (gst.shapes, dict(min_side=4, max_side=2), "min_side=4 is larger than max_side=2"),
    (gst.shapes, dict(min_side=1.5), "min_side=1.5"),
    (gst.shapes, dict(max_dims=40), "max_dims=40"),
    (gst.shapes, dict(min_dims=3, min_side=3, max_size=8), "max_size=8"),
    (gst.weights, dict(shape=-2), "shape="),
    (gst.weights, dict(shape="3"), "shape='3'"),
    (gst.weights, dict(shape=3, dtype=np.int32), "dtype="),
    (gst.weights, dict(shape=3, dtype=np.complex128), "dtype="),
    (gst.weights, dict(shape=3, max_magnitude=-1.0), "max_magnitude=-1.0"),
    (gst.weights, dict(shape=3, max_magnitude=math.inf), "max_magnitude=inf"),
    (gst.weights, dict(shape=3, max_magnitude=1e300, dtype=np.float32), "max_magnitude=1e+300"),
    (
        gst.weights,
        dict(shape=3, min_magnitude=2.0, max_magnitude=1.0),
        "min_magnitude=2.0 is larger than max_magnitude",
    ),
    (gst.weights, dict(shape=3, log_uniform=True, min_magnitude=0.0), "min_magnitude=0.0"),
    (gst.weights, dict(shape=3, log_uniform="yes"), "log_uniform='yes'"),
    (gst.weights, dict(shape=3, kinks=0.0), "kinks=0.0"),
    (gst.weights, dict(shape=3, kinks=[math.nan]), "kinks=nan"),
    (gst.weights, dict(shape=3, kinks=[0.0], margin=-1.0), "margin=-1.0"),
    (gst.weights, dict(shape=3, kinks=[0.0], margin=20.0, max_magnitude=10.0), "margin=20.0"),
    (gst.params, dict(layout={}), "layout={}"),
    (gst.params, dict(layout={"W": 3.5}), "layout['W']=3.5"),
    (gst.params, dict(layout={"W": ("n", -1)}), "layout['W']"),
    (gst.params, dict(dims={"Q": 3}), "dims has ['Q']"),
    (gst.params, dict(dims={"D": -1}), "dims['D']=-1"),
    (gst.params, dict(min_side=3, max_side=1), "min_side=3 is larger than max_side=1"),
    (gst.step_sizes, dict(method="auto"), "method='auto'"),
    (gst.step_sizes, dict(method="backward"), "method='backward'"),
    (gst.step_sizes, dict(method="central", dtype=np.float16), "dtype="),
    (gst.directions, dict(shape=0), "shape=(0,)"),
    (gst.directions, dict(shape=(2,), dtype="int8"), "dtype='int8'"),
    (gst.learning_rates, dict(min_value=0.0), "min_value=0.0"),
    (gst.learning_rates, dict(min_value=1.0, max_value=0.1), "min_value=1.0 is larger than max_value=0.1"),
    (gst.learning_rates, dict(max_value=math.inf), "max_value=inf"),
    (gst.batch_sizes, dict(n=0), "n=0"),
    (gst.batch_sizes, dict(n=True), "n=True"),
    (gst.batch_sizes, dict(n=10, max_size=11), "max_size=11 is larger than n=10"),
    (gst.batch_sizes, dict(n=10, min_size=5, max_size=4), "min_size=5 is larger than max_size=4"),
    (gst.batch_sizes, dict(n=10, min_size=0), "min_size=0"),
    (gst.datasets, dict(n_samples=0), "n_samples=0"),
    (gst.datasets, dict(n_features=st.just(-1)), "n_features=-1"),
    (gst.datasets, dict(n_classes=2.0), "n_classes=2.0"),
    (gst.datasets, dict(dtype=np.int64), "dtype="),
    (gst.datasets, dict(max_magnitude=0), "max_magnitude=0"),
]


@pytest.mark.parametrize(
    "strategy, kwargs, message", INVALID, ids=[f"{s.__name__}-{'-'.join(k)}" for s, k, _ in INVALID]
)
def test_invalid_arguments_are_named_when_drawn(strategy, kwargs, message):
    built = strategy(**kwargs)  # building never raises: errors surface when drawn
    with pytest.raises(InvalidArgument) as info:
        draw_once(built)
    assert message in str(info.value)
    # one family, that callers can catch as the builtin they expect
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
