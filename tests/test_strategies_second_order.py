"""Strategies for second derivatives and sparse Jacobians, in test_strategies.py's three kinds.

Plus properties of the checks they feed: a quadratic's Hessian (the drawn
matrix itself is the reference) passes and a bumped entry fails; a linear map
on a drawn pattern passes, and one entry left out of the pattern fails, named.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_strategies import draw_once, minimal

import gradverify as gv
from gradverify import strategies as gst
from gradverify._core.sparse import group_columns
from gradverify.errors import InvalidArgument

# -- 1. everything drawn is valid ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([np.float32, np.float64]), st.floats(1e-3, 1e2))
def test_symmetric_and_positive_definite_draws_are_valid(data, dtype, magnitude):
    S = data.draw(gst.symmetric_matrices(dtype=dtype, max_magnitude=magnitude))
    assert S.dtype == dtype and S.ndim == 2 and S.shape[0] == S.shape[1]
    assert np.array_equal(S, S.T) and np.all(np.abs(S) <= magnitude)
    P = data.draw(gst.positive_definite_matrices(n=st.integers(1, 5), dtype=dtype, min_eigenvalue=0.5))
    assert P.dtype == dtype and np.array_equal(P, P.T)
    # B B^T / n + 0.5 I: every eigenvalue at least 0.5, up to the dtype's rounding
    assert np.linalg.eigvalsh(P.astype(np.float64)).min() >= 0.5 * (1 - 1e-4)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(0, 2), st.integers(0, 3))
def test_banded_patterns_are_bands(data, lo, extra):
    P = data.draw(gst.banded_patterns(n=st.integers(lo + 1, 9), min_bandwidth=lo, max_bandwidth=lo + extra))
    n = P.shape[0]
    i, j = np.nonzero(P)
    lower, upper = int(np.max(i - j)), int(np.max(j - i))
    assert lo <= lower <= lo + extra and lo <= upper <= lo + extra
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]
    assert np.array_equal(P, (offset >= -lower) & (offset <= upper))
    assert group_columns(P).max() + 1 == min(n, lower + upper + 1)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.floats(0.05, 1.0), st.integers(0, 2))
def test_sparsity_patterns_are_boolean_with_the_forced_rows(data, density, per_row):
    P = data.draw(gst.sparsity_patterns(shape=gst.shapes(min_dims=2, max_dims=2, min_side=2, max_side=7),
                                        density=density, min_per_row=per_row))  # fmt: skip
    assert P.dtype == bool and P.ndim == 2
    assert np.all(P.sum(axis=1) >= per_row)


# -- 2. it shrinks to the obvious minimum ------------------------------------------------------------


def test_shrinking():
    assert np.array_equal(minimal(gst.symmetric_matrices()), np.zeros((1, 1)))
    assert np.array_equal(minimal(gst.positive_definite_matrices(n=3, min_eigenvalue=0.2)), 0.2 * np.eye(3))
    assert np.array_equal(minimal(gst.banded_patterns(n=4)), np.eye(4, dtype=bool))
    forced = minimal(gst.sparsity_patterns(shape=(3, 4), min_per_row=1))
    assert np.array_equal(forced, np.eye(3, 4, dtype=bool))
    assert not minimal(gst.sparsity_patterns(shape=(2, 2))).any()


# -- 3. invalid arguments give clear errors, when drawn from ---------------------------------------------


@pytest.mark.parametrize(
    "strategy, match",
    [
        (gst.symmetric_matrices(n=0), "n=0 must be at least 1"),
        (gst.symmetric_matrices(dtype=np.int32), "dtype"),
        (gst.symmetric_matrices(max_magnitude=-1.0), "max_magnitude=-1.0 must be positive"),
        (gst.positive_definite_matrices(min_eigenvalue=0.0), "min_eigenvalue=0.0 must be positive"),
        (gst.banded_patterns(min_bandwidth=3, max_bandwidth=1), "min_bandwidth=3 is larger than max_bandwidth=1"),
        (gst.banded_patterns(n=2, min_bandwidth=2), "min_bandwidth=2 does not fit"),
        (gst.banded_patterns(min_bandwidth=-1), "min_bandwidth=-1 must be at least 0"),
        (gst.sparsity_patterns(density=0.0), "density=0.0 must be positive"),
        (gst.sparsity_patterns(density=2.0), "density=2.0 must be at most 1"),
        (gst.sparsity_patterns(shape=(3,)), r"shape=\(3,\) must be \(m, n\)"),
        (gst.sparsity_patterns(shape=(2, 2), min_per_row=3), "min_per_row=3 is larger"),
    ],
)
def test_invalid_arguments(strategy, match):
    gst.symmetric_matrices(n=0)  # building never raises
    with pytest.raises(InvalidArgument, match=match):
        draw_once(strategy)


# -- properties of the checks over drawn matrices and patterns ----------------------------------------------


@settings(max_examples=25, deadline=None)
@given(gst.symmetric_matrices(n=st.integers(2, 5), max_magnitude=10.0), st.data())
def test_quadratic_hessians_pass_and_a_bumped_pair_fails(S, data):
    n = S.shape[0]
    x = np.linspace(-1, 1, n)
    f = lambda x: 0.5 * x @ S @ x + np.sum(np.cos(x))  # noqa: E731
    grad = lambda x: S @ x - np.sin(x)  # noqa: E731
    hess = lambda x: S - np.diag(np.cos(x))  # noqa: E731
    assert gv.check_hessian(f, hess, x, grad=grad, seed=0).ok
    i = data.draw(st.integers(0, n - 2), label="i")
    bump = np.zeros((n, n))
    bump[i, i + 1] = bump[i + 1, i] = 1e-6 * max(1.0, float(np.max(np.abs(S))))
    bad = gv.check_hessian(f, lambda x: hess(x) + bump, x, grad=grad, seed=0)
    assert not bad.ok and bad.worst_index in ((i, i + 1), (i + 1, i)), str(bad)


@settings(max_examples=25, deadline=None)
@given(gst.sparsity_patterns(shape=gst.shapes(min_dims=2, max_dims=2, min_side=2, max_side=8), min_per_row=1),
       st.data())  # fmt: skip
def test_linear_maps_on_drawn_patterns(P, data):
    m, n = P.shape
    A = np.where(P, np.linspace(1.0, 2.0, P.size).reshape(m, n), 0.0)
    f = lambda x: A @ x + 0.1 * np.sin(A @ x)  # noqa: E731
    jac = lambda x: (1 + 0.1 * np.cos(A @ x))[:, None] * A  # noqa: E731
    x = np.linspace(-0.5, 0.5, n)
    assert gv.check_jacobian(f, jac, x, sparsity=P, seed=0).ok
    i, j = data.draw(st.sampled_from([tuple(map(int, ij)) for ij in np.argwhere(P)]), label="dropped")
    Q = P.copy()
    Q[i, j] = False

    def dropped(x):
        J = jac(x)
        J[i, j] = 0.0
        return J

    bad = gv.check_jacobian(f, dropped, x, sparsity=Q, seed=0)
    assert not bad.ok and bad.worst_index == (i, j) and bad.pattern == "pattern", str(bad)


@settings(max_examples=30, deadline=None)
@given(
    gst.positive_definite_matrices(n=st.integers(1, 4), max_magnitude=10.0),
    st.floats(-8, 8),
    st.floats(-3, 3),
    st.sampled_from([np.float64, np.float32]),
    st.booleans(),
    st.booleans(),
)
def test_no_false_alarm_on_right_second_derivatives_at_any_scale(S, log_c, log_x, dtype, with_grad, analytic):
    # f = c (x.S.x / 2 + sum cos(x / s)): right Hessians and HVPs are never failed, with grad or from f
    # alone, complex-safe or not (np.real drops the imaginary part); they pass in float64 except from a
    # non-analytic f alone, whose gradient is estimated by finite differences: that gradient is noisy at
    # about 1e-13 relative, and the engine may honestly find an entry too small to resolve (inconclusive)
    c, s = 10.0**log_c, 10.0**log_x
    x = (s * (np.linspace(-1, 1, S.shape[0]) + 0.1)).astype(dtype)
    S = S.astype(dtype)
    part = (lambda z: z) if analytic else np.real
    f = lambda x: c * (0.5 * x @ S @ x + np.sum(np.cos(part(x) / s)))  # noqa: E731
    grad = lambda x: c * (S @ x - np.sin(x / s) / s)  # noqa: E731
    hess = lambda x: c * (S - np.diag(np.cos(x / s)) / s**2)  # noqa: E731
    kw = {"grad": grad} if with_grad else {}
    for report in (
        gv.check_hessian(f, hess, x, seed=0, **kw),
        gv.check_hvp(f, lambda x, v: hess(x) @ v, x, seed=0, **kw),
    ):
        outcome = getattr(report, "outcome", "passed" if report.ok else "failed")
        must_pass = dtype == np.float64 and (with_grad or analytic)
        assert report.ok if must_pass else outcome != "failed", str(report)
