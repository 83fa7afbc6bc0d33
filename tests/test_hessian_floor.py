"""The floor of a second-order check takes its scale from the whole Hessian block, not from one row.

A right Hessian entry that cancels to nearly nothing from terms 100x larger
(0.1 - 0.0995 at a point where the gradient cancels too) carries the rounding
of those terms; a tox run found the check failing it when the floor was held
to the entry's own row.  Plain Jacobians keep one scale per output, so a bug in
an output far smaller than the others is still seen.
"""

import numpy as np
import pytest

import gradverify as gv

S = 0.1 * np.eye(3)
SCALE = 10.0**0.5
X = SCALE * (np.linspace(-1, 1, 3) + 0.1)  # x[1] / SCALE = 0.1: H[1, 1] = 0.1 - cos(0.1) / 10 = 5e-4


def f(x):
    return 0.5 * x @ S @ x + np.sum(np.cos(x / SCALE))


def grad(x):
    return S @ x - np.sin(x / SCALE) / SCALE


def hess(x):
    return S - np.diag(np.cos(x / SCALE)) / SCALE**2


def test_a_right_entry_that_cancels_passes_with_or_without_grad():
    for kw in ({"grad": grad}, {}):
        assert gv.check_hessian(f, hess, X, seed=0, **kw).ok
        assert gv.check_hvp(f, lambda x, v: hess(x) @ v, X, seed=0, **kw).ok


@pytest.mark.parametrize("relative", [1e-6, 1e-3])
def test_a_small_bug_in_the_cancelling_entry_is_still_caught(relative):
    H11 = hess(X)[1, 1]
    bump = np.zeros((3, 3))
    bump[1, 1] = relative * H11

    report = gv.check_hessian(f, lambda x: hess(x) + bump, X, seed=0, grad=grad)

    assert report.outcome == "failed" and report.worst_index == (1, 1), str(report)


def test_a_plain_jacobian_keeps_one_scale_per_output():
    # the second output is 1e-20 of the first: its derivative doubled is a bug the check must see
    fj = lambda x: np.array([x[0] ** 2, 1e-20 * np.sin(x[1])])  # noqa: E731
    jac = lambda x: np.array([[2 * x[0], 0.0], [0.0, 1e-20 * np.cos(x[1])]])  # noqa: E731
    x = np.array([1.5, 0.3])
    assert gv.check_jacobian(fj, jac, x, seed=0).ok

    report = gv.check_jacobian(fj, lambda x: jac(x) * np.array([[1.0], [1.0 + 1e-6]]), x, seed=0)

    assert report.outcome == "failed" and report.rows[0].name == "x[1] of out[1]", str(report)
