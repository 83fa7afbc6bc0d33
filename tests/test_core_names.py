"""Reports name the leaves of a tuple or list x as the user can map them.

Without ``names=`` a tuple's leaves are ``args[0]``, ``args[1]``, ... (never
``x[2][...]``, which reads as an entry of an array called x); with
``names=`` they are the user's names; a dict's leaves are its keys.  The
wrong leaf is the one named, in the worst entry, the rows and the diagnosis.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

import gradverify as gv

RNG = np.random.default_rng(0)
X_IN, W, B = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 3)), RNG.standard_normal(3)


def affine(p):
    x, w, b = p
    return x @ w + b


def affine_vjp(p, ct, *, bug=None):
    x, w, b = p
    dx, dw, db = ct @ w.T, x.T @ ct, ct.sum(axis=0)
    if bug == "mean":  # db as a mean instead of a sum
        db = ct.mean(axis=0)
    if bug == "transposed":  # dw transposed
        dw = dw.T
    return (dx, dw, db)


@pytest.mark.parametrize("container", [tuple, list])
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_tuple_leaves_are_labelled_args_i_without_names(container, mode):
    report = gv.check_vjp(
        affine, lambda p, ct: affine_vjp(p, ct, bug="mean"), container([X_IN, W, B]), seed=0, mode=mode
    )
    assert not report.ok
    assert report.worst_name.startswith("args[2][") and report.worst_index[0] == 2
    assert report.rows[0].name.startswith("args[2][") and report.rows[0].note == "wrong"
    assert "args[2]" in report.diagnosis
    assert "x[2]" not in str(report) and "of x " not in str(report)


@pytest.mark.parametrize("bug, leaf", [("mean", "db"), ("transposed", "dw")])
def test_names_name_the_wrong_leaf_everywhere(bug, leaf):
    report = gv.check_vjp(
        affine, lambda p, ct: affine_vjp(p, ct, bug=bug), (X_IN, W, B), seed=0, names=["dx", "dw", "db"]
    )
    assert not report.ok
    assert report.worst_index[0] == leaf and report.worst_name.startswith(f"{leaf}[")
    assert all(row.name.startswith(f"{leaf}[") for row in report.rows if row.note == "wrong")
    assert f"of {leaf} " in report.diagnosis
    assert "args[" not in str(report)
    good = gv.check_vjp(affine, affine_vjp, (X_IN, W, B), seed=0, names=["dx", "dw", "db"])
    assert good.ok and {row.name.split("[")[0] for row in good.rows} <= {"dx", "dw", "db"}


def test_names_work_for_gradients_and_jacobians_and_dicts_keep_their_keys():
    def loss(p):
        return np.sum(p[0] ** 2) + np.sum(p[1] ** 3)

    report = gv.check_grad(loss, lambda p: (2 * p[0], 2 * p[1] ** 2), (np.ones(2), np.full(3, 2.0)), names=("a", "c"))
    assert not report.ok and report.worst_name.startswith("c[")

    def jac(p):
        return (np.diag(2 * p[0]), np.zeros((2, 1)))

    jreport = gv.check_jacobian(lambda p: p[0] ** 2 + p[1], jac, [np.ones(2), np.ones(1)], names=["u", "v"], seed=0)
    assert not jreport.ok and jreport.worst_name.startswith("v[")

    dreport = gv.check_grad(lambda p: np.sum(p["W"] ** 2), lambda p: {"W": p["W"]}, {"W": np.ones((2, 2))}, seed=0)
    assert dreport.worst_name.startswith("W[")


def test_a_namedtuple_is_labelled_by_its_fields():
    Layer = collections.namedtuple("Layer", "x w b")
    report = gv.check_vjp(
        lambda p: affine(tuple(p)), lambda p, ct: Layer(*affine_vjp(tuple(p), ct, bug="mean")), Layer(X_IN, W, B)
    )
    assert not report.ok and report.worst_index[0] == "b" and report.worst_name.startswith("b[")


@pytest.mark.parametrize(
    "x, names, fragment",
    [
        ((X_IN, W, B), ["x", "w"], "has 2 names, but x has 3 leaves"),
        ((X_IN, W, B), ["x", "x", "b"], "distinct"),
        ((X_IN, W, B), "xwb", "list of strings"),
        ((X_IN, W, B), ["x", 1, "b"], "distinct non-empty strings"),
        ({"W": W}, ["W"], "x is a dict"),
        (W, ["W"], "x is one array"),
    ],
)
def test_bad_names_are_refused(x, names, fragment):
    with pytest.raises(gv.InvalidArgument) as info:
        gv.check_vjp(affine, affine_vjp, x, names=names)
    assert fragment in str(info.value) and "names=" in str(info.value)
