"""Sparse Jacobians: grouped columns, entries inside the pattern, and the pattern itself checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import gradverify as gv
from gradverify._core.sparse import group_columns


def banded(n: int, bandwidth: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = np.zeros((n, n))
    for k in range(-bandwidth, bandwidth + 1):
        A += np.diag(rng.uniform(1.0, 2.0, n - abs(k)), k)
    return A


def problem(A: np.ndarray) -> tuple:
    """f(x) = tanh(A x) + x**3, with its exact Jacobian diag(1 - tanh**2) A + diag(3 x**2)."""

    def f(x: np.ndarray) -> np.ndarray:
        return np.tanh(A @ x) + x**3

    def jac(x: np.ndarray) -> np.ndarray:
        return (1 - np.tanh(A @ x) ** 2)[:, None] * A + np.diag(3 * x**2)

    return f, jac


def tridiagonal_residual(calls: list) -> tuple:
    """A vectorized tridiagonal residual (one point or a stack), counting its calls, with a sparse Jacobian."""

    def f(X: np.ndarray) -> np.ndarray:
        calls[0] += 1
        X = np.asarray(X)
        Y = 2 * X**2
        Y[..., 1:] += X[..., :-1]
        Y[..., :-1] -= X[..., 1:]
        return np.sin(Y)

    def jac(x: np.ndarray) -> Any:
        y = 2 * x**2
        y[1:] += x[:-1]
        y[:-1] -= x[1:]
        c = np.cos(y)
        return sp.diags([c[1:], 4 * x * c, -c[:-1]], [-1, 0, 1], format="csr")

    return f, jac


# -- colouring ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bandwidth", [0, 1, 2, 5])
def test_banded_patterns_get_2b_plus_1_groups_that_never_share_a_row(bandwidth: int) -> None:
    P = banded(40, bandwidth) != 0
    groups = group_columns(P)
    assert groups.max() + 1 == 2 * bandwidth + 1
    for g in range(groups.max() + 1):
        assert P[:, groups == g].sum(axis=1).max() <= 1


def test_random_patterns_groups_are_valid() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        P = rng.random((30, 25)) < 0.1
        groups = group_columns(P)
        for g in range(groups.max() + 1):
            assert P[:, groups == g].sum(axis=1).max(initial=0) <= 1


# -- the must-shows ----------------------------------------------------------------------------------


def test_tridiagonal_n1000_in_at_most_10_calls_with_the_default_options() -> None:
    calls = [0]
    f, jac = tridiagonal_residual(calls)
    x = np.random.default_rng(0).uniform(-1, 1, 1000)
    report = gv.check_jacobian(f, jac, x, seed=0)  # method="auto", one point per call
    assert report.ok, str(report)
    assert calls[0] <= 10 and report.evaluations == calls[0], (calls, report.evaluations)
    assert report.entries == 3 * 1000 - 2
    assert report.method == "complex" and report.resolution < 1e-10, str(report)
    # vectorized, and with forward differences: no more calls
    for options in (dict(vectorized=True), dict(method="forward", vectorized=True)):
        calls[0] = 0
        assert gv.check_jacobian(f, jac, x, seed=0, **options).ok
        assert calls[0] <= 10, (options, calls)
    # the cost does not grow with n, whatever the seed
    for n, seed in ((100, 1), (1000, 2), (3000, 3)):
        calls[0] = 0
        assert gv.check_jacobian(f, jac, np.random.default_rng(seed).uniform(-1, 1, n), seed=seed).ok
        assert calls[0] <= 10, (n, calls)


def test_tridiagonal_n1000_with_defaults_names_a_nonzero_left_out_and_a_wrong_entry() -> None:
    calls = [0]
    f, jac = tridiagonal_residual(calls)
    x = np.random.default_rng(0).uniform(-1, 1, 1000)

    def omitted(x: np.ndarray) -> Any:
        J = jac(x).tolil()
        J[500, 501] = 0.0
        return J.tocsr()  # its pattern (the stored entries) no longer has (500, 501)

    report = gv.check_jacobian(f, lambda x: sp.csr_matrix(omitted(x).toarray()), x, seed=0)
    assert not report.ok and report.worst_index == (500, 501), str(report)
    assert "J[500, 501] is left out of the pattern" in report.diagnosis

    def wrong(x: np.ndarray) -> Any:
        J = jac(x).tolil()
        J[300, 299] *= 1 + 1e-6
        return J.tocsr()

    report = gv.check_jacobian(f, wrong, x, seed=0)
    assert not report.ok and report.worst_index == (300, 299), str(report)
    assert "inside the pattern is wrong" in report.diagnosis


@pytest.mark.parametrize("size, dtype", [(1e-6, np.float64), (1.0, np.float64), (1e-2, np.float32)])
def test_a_term_complex_step_cannot_see_is_not_passed_by_the_quick_check(size: float, dtype: Any) -> None:
    # abs of a complex number is its modulus: complex-step sees no derivative of
    # size * |x|, so a Jacobian that forgets that term agrees with every
    # complex-step product; the vetting along the groups' sum must refuse it.
    # (float32 runs the engine: the quick vetting's modelled noise would be too coarse there)
    A = banded(40, 1).astype(dtype)
    g, gjac = problem(A)
    x = np.random.default_rng(2).uniform(-1, 1, 40).astype(dtype)

    def f(x: np.ndarray) -> np.ndarray:
        return g(x) + dtype(size) * np.abs(x)

    def right(x: np.ndarray) -> np.ndarray:
        return gjac(x) + size * np.diag(np.sign(x))

    report = gv.check_jacobian(f, gjac, x, sparsity=A != 0, seed=0)
    assert not report.ok and report.method == "richardson", str(report)
    assert report.worst_index[0] == report.worst_index[1], str(report)  # a diagonal entry, named
    report = gv.check_jacobian(f, right, x, sparsity=A != 0, seed=0)
    assert report.ok and report.method == "richardson", str(report)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correct_banded_jacobian_passes(dtype: Any) -> None:
    A = banded(30, 2).astype(dtype)
    f, jac = problem(A)
    x = np.random.default_rng(1).uniform(-1, 1, 30).astype(dtype)
    report = gv.check_jacobian(f, jac, x, sparsity=A != 0, seed=0)
    assert report.ok, str(report)
    assert "5 column groups" in report.notes[0]
    assert gv.check_jacobian(f, lambda x: sp.csr_matrix(jac(x)), x, seed=0).ok


def test_a_nonzero_left_out_of_the_pattern_fails_and_is_named() -> None:
    A = banded(30, 2)
    f, jac = problem(A)
    x = np.random.default_rng(1).uniform(-1, 1, 30)
    P = A != 0
    P[7, 9] = False

    def hand_written(x: np.ndarray) -> np.ndarray:
        J = jac(x)
        J[7, 9] = 0.0  # the hand-written Jacobian omits the entry its pattern omits
        return J

    for claimed, pattern in ((hand_written, P), (lambda x: sp.csr_matrix(hand_written(x)), None)):
        report = gv.check_jacobian(f, claimed, x, sparsity=pattern, seed=0)
        assert not report.ok, str(report)
        assert report.worst_index == (7, 9) and report.pattern == "pattern", str(report)
        assert "J[7, 9] is left out of the pattern" in report.diagnosis
        assert report.rows[0].note == "not in pattern"


def test_a_wrong_entry_inside_the_pattern_fails_and_is_named() -> None:
    A = banded(30, 1)
    f, jac = problem(A)
    x = np.random.default_rng(1).uniform(-1, 1, 30)

    def wrong(x: np.ndarray) -> np.ndarray:
        J = jac(x)
        J[12, 13] *= 1 + 1e-6
        return J

    report = gv.check_jacobian(f, wrong, x, sparsity=A != 0, seed=0)
    assert not report.ok and report.worst_index == (12, 13), str(report)
    assert "inside the pattern is wrong" in report.diagnosis


# -- bad input ------------------------------------------------------------------------------------------


def test_a_pattern_of_the_wrong_shape_is_a_clear_error() -> None:
    A = banded(10, 1)
    f, jac = problem(A)
    x = np.zeros(10)
    with pytest.raises(gv.ShapeMismatch, match=r"sparsity has shape \(10, 9\).*must be \(10, 10\)"):
        gv.check_jacobian(f, jac, x, sparsity=np.ones((10, 9), bool))
    with pytest.raises(gv.ShapeMismatch, match=r"sparsity has shape \(9, 10\)"):
        gv.check_jacobian(f, jac, x, sparsity=sp.eye(9, 10))


def test_a_jacobian_with_nonzeros_outside_its_pattern_is_refused() -> None:
    A = banded(10, 1)
    f, jac = problem(A)
    with pytest.raises(gv.InvalidArgument, match=r"outside sparsity"):
        gv.check_jacobian(f, jac, np.full(10, 0.1), sparsity=np.eye(10, dtype=bool))


def test_sparsity_options_that_do_not_apply_are_refused() -> None:
    A = banded(10, 1)
    f, jac = problem(A)
    with pytest.raises(gv.InvalidArgument, match="mode and directions"):
        gv.check_jacobian(f, jac, np.zeros(10), sparsity=A != 0, mode="directional")
    with pytest.raises(gv.InvalidArgument, match="one array x"):
        gv.check_jacobian(lambda p: p["a"], lambda p: {"a": np.eye(2)}, {"a": np.zeros(2)}, sparsity=np.eye(2))


# -- counts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("method", ["auto", "complex", "forward", "central"])
@pytest.mark.parametrize("claim", ["right", "wrong entry", "omitted nonzero", "abs term"])
def test_report_evaluations_are_the_points_f_was_called_at(vectorized: bool, method: str, claim: str) -> None:
    # the quick path (it passes), the quick path then the engine (it refuses), and the engine alone
    A = banded(20, 1)
    g, gjac = problem(A)
    points = [0]
    size = 1e-3 if claim == "abs term" else 0.0

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        points[0] += x.shape[0] if x.ndim == 2 else 1
        y = np.tanh(x @ A.T) + x**3
        return y + size * np.abs(x) if size else y

    def jac(x: np.ndarray) -> np.ndarray:
        J = gjac(x)
        if claim == "wrong entry":
            J[4, 5] *= 1.01
        if claim == "omitted nonzero":
            J[4, 5] = 0.0
        return J + size * np.diag(np.sign(x))

    pattern = A != 0
    if claim == "omitted nonzero":
        pattern[4, 5] = False
    x = np.random.default_rng(0).uniform(-1, 1, 20)
    if method == "complex" and claim == "abs term":
        with pytest.raises(gv.NotComplexSafe):  # complex-step cannot see abs: refused, not judged
            gv.check_jacobian(f, jac, x, sparsity=pattern, method=method, vectorized=vectorized, seed=0)
        return
    report = gv.check_jacobian(f, jac, x, sparsity=pattern, method=method, vectorized=vectorized, seed=0)
    assert report.evaluations == points[0], (report.evaluations, points[0])
    assert report.ok == (claim in ("right", "abs term")), str(report)


@pytest.mark.parametrize("seed", [24, 46, 52])
def test_no_false_alarm_where_complex_tanh_loses_digits(seed: int) -> None:
    # tanh(A x) at |A x| ~ 10: numpy's complex tanh loses EPS / sech**2 in its
    # imaginary part (1e-7 relative); the dense check's floor covers it, and the
    # grouped products are held to the same floor and bound per entry (they were
    # held to their own scale, and these three points failed)
    A = banded(60, 2, seed)
    f, jac = problem(A)
    x = np.random.default_rng(seed).uniform(-2, 2, 60) * 10.0
    assert gv.check_jacobian(f, jac, x, seed=seed).ok
    report = gv.check_jacobian(f, jac, x, sparsity=A != 0, seed=seed)
    assert report.ok, str(report)

    # and a 1e-6 error is seen where the dense check sees it, beside a large diagonal too (the products'
    # tolerance at their own scale once let J[30, 31] of seed 52, 3e-5 beside 1e3, pass)
    for entry in ((30, 30), (30, 31)):

        def wrong(x: np.ndarray, entry: tuple[int, int] = entry) -> np.ndarray:
            J = jac(x)
            J[entry] *= 1 + 1e-6
            return J

        dense = gv.check_jacobian(f, wrong, x, seed=seed)
        report = gv.check_jacobian(f, wrong, x, sparsity=A != 0, seed=seed)
        assert report.ok == dense.ok, (entry, str(report), str(dense))
        if not report.ok:
            assert report.worst_index == entry, str(report)
    assert not dense.ok or seed != 52  # seed 52's J[30, 31] is seen (by both)


def test_zero_derivatives_at_zero_pass_as_in_the_dense_check() -> None:
    # x**3 at 0: complex-step's estimate is -h**2 (its truncation, all there is), the claim exactly 0
    def f(x: np.ndarray) -> np.ndarray:
        return x**3 + np.roll(x, 1) ** 2

    def jac(x: np.ndarray) -> np.ndarray:
        return np.diag(3 * x**2) + np.roll(np.diag(2 * np.roll(x, 1)), -1, axis=1)  # J[i, i - 1] = 2 x[i - 1]

    pattern = (np.eye(10) + np.roll(np.eye(10), -1, axis=1)) != 0
    cube = gv.check_jacobian(lambda x: x**3, lambda x: sp.diags(3 * x**2), np.zeros(10), seed=0)
    assert cube.ok, str(cube)
    for x in (np.array([0.0, 1, 2, 0, 0, 1, 2, 3, 0, 1]), np.array([0.0, 0, 0, 0, 0, 0, 1e-3, 0, 0, 0])):
        assert gv.check_jacobian(f, jac, x, seed=0).ok
        report = gv.check_jacobian(f, jac, x, sparsity=pattern, seed=0)
        assert report.ok, str(report)
        assert gv.check_jacobian(f, lambda x: sp.csr_matrix(jac(x)), x, seed=0).ok  # zeros dropped from the pattern

        def wrong(x: np.ndarray) -> np.ndarray:
            J = jac(x)
            J[6, 6] *= 1 + 1e-6
            return J

        if x[6] != 0:
            report = gv.check_jacobian(f, wrong, x, sparsity=pattern, seed=0)
            assert not report.ok and report.worst_index == (6, 6), str(report)
