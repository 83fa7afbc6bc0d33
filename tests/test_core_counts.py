"""``report.evaluations`` is the true number of calls of f, for every public check.

A counting f records every call (a vectorized call of k points counts k) and
the report must say exactly that: right and wrong derivatives (a wrong one
costs refinement and localisation), every method, full and directional mode,
vectorized and not.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradverify as gv

X = np.array([0.3, -1.2, 0.7, 2.0, -0.4])
A = np.array([[1.0, 2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 3.0, 1.0, -2.0], [2.0, 0.0, 1.0, 0.0, 1.0]])


class Counting:
    """Wraps f; ``calls`` counts the points f was evaluated at."""

    def __init__(self, f, vectorized=False):
        self.f, self.vectorized, self.calls = f, vectorized, 0

    def __call__(self, x):
        self.calls += np.shape(x)[0] if self.vectorized else 1
        return self.f(x)


def scalar_f(x):
    return np.sum(np.sin(x) * x, axis=-1)


def scalar_grad(x):
    return np.sin(x) + x * np.cos(x)


def array_f(x):
    return np.tanh(x @ A.T)


def array_jac(x):
    return (1 - np.tanh(A @ x) ** 2)[:, None] * A


def wrong_grad(x):
    g = scalar_grad(x)
    g[2] *= 2
    return g


MODES = [
    {"mode": "full"},
    {"mode": "directional"},
    {"directions": 3},
    {"mode": "auto", "budget": 2},  # auto chooses directional
]
METHODS = ["auto", "complex", "central", "forward", "richardson"]


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(f"{k}={v}" for k, v in m.items()))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("derivative", [scalar_grad, wrong_grad], ids=["right", "wrong"])
def test_check_grad_counts_every_call(vectorized, mode, method, derivative):
    f = Counting(scalar_f, vectorized)
    report = gv.check_grad(f, derivative, X, method=method, vectorized=vectorized, seed=1, **mode)
    assert report.ok == (derivative is scalar_grad)
    assert f.calls > 0 and report.evaluations == f.calls


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("mode", MODES[:2], ids=["full", "directional"])
@pytest.mark.parametrize("method", ["auto", "central", "richardson"])
@pytest.mark.parametrize("broken", [False, True])
def test_check_vjp_counts_every_call(vectorized, mode, method, broken):
    f = Counting(array_f, vectorized)

    def vjp(x, ct):
        g = array_jac(x).T @ ct
        return g * (1.5 if broken else 1.0)

    report = gv.check_vjp(f, vjp, X, method=method, vectorized=vectorized, seed=2, **mode)
    assert report.ok != broken
    assert report.evaluations == f.calls


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("mode", MODES[:2], ids=["full", "directional"])
@pytest.mark.parametrize("method", ["auto", "central", "forward"])
@pytest.mark.parametrize("broken", [False, True])
def test_check_jacobian_counts_every_call(vectorized, mode, method, broken):
    f = Counting(array_f, vectorized)

    def jac(x):
        J = array_jac(x)
        if broken:
            J[1, 3] *= 2
        return J

    report = gv.check_jacobian(f, jac, X, method=method, vectorized=vectorized, seed=3, **mode)
    if mode["mode"] == "full":  # the directional Jacobian verdict is issue 11 B's (false alarms), not counted here
        assert report.ok != broken
    assert report.evaluations == f.calls


def test_a_dict_of_parameters_and_a_kink_are_counted():
    f = Counting(lambda p: np.sum(np.abs(p["w"])) + np.sum(p["b"] ** 2))
    x = {"w": np.array([0.0, 1.0, -2.0]), "b": np.array([0.5, 1.5])}
    report = gv.check_grad(f, lambda p: {"w": np.sign(p["w"]), "b": 2 * p["b"]}, x, seed=0)
    assert report.evaluations == f.calls


@pytest.mark.parametrize("method", ["central", "forward", "richardson", "complex"])
def test_estimate_gradient_counts_every_call(method):
    f = Counting(scalar_f)
    est = gv.estimate_gradient(f, X, method=method)
    assert est.evaluations == f.calls
    g = Counting(array_f)
    assert gv.estimate_gradient(g, X, method=method, scalar=False).evaluations == g.calls


def test_taylor_test_counts_every_call():
    f = Counting(scalar_f)
    result = gv.taylor_test(f, scalar_grad, X)
    assert result.ok and result.evaluations == f.calls
