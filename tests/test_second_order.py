"""Second derivatives: check_hessian, check_hvp and the backward of a backward.

The zoo's Hessians are derived here (softmax, logistic, Rosenbrock in closed
form; the MLP's by complex-step differentiation of its exact hand-written
gradient, exact to rounding), independently of the code under test, which
estimates them by finite differences of the gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradverify as gv
from gradverify import zoo

# -- exact Hessians of the zoo ---------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def zoo_hessian(name: str, dtype: Any = np.float64, reg: float = 0.1) -> dict:
    """f, grad, hess (over the flat parameters), x0 and the regulariser's diagonal of a zoo problem."""
    kw: dict = dict(dtype=dtype, reg=reg)
    if name == "mlp":
        kw.update(n_features=8)  # hidden = classes = 4: the (b1, b2) block is square
    if name == "rosenbrock":
        kw = dict(dtype=dtype, n=6)
    p = zoo.make_problem(name, seed=1, **kw)
    if name == "rosenbrock":

        def hess(x: np.ndarray) -> np.ndarray:
            x = x.astype(np.float64)
            n = x.size
            H = np.zeros((n, n))
            i = np.arange(n - 1)
            H[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
            H[i + 1, i + 1] += 200.0
            H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
            return H.astype(dtype)

        return dict(f=p.f, grad=p.grad, hess=hess, x0=p.x0, reg_diag=np.zeros(p.x0.size))
    X, y = zoo.make_dataset(20, kw.get("n_features", 6), 4, seed=1, dtype=dtype)
    if name == "logistic":
        y = (y % 2).astype(dtype)

        def hess(w: np.ndarray) -> np.ndarray:
            z = (X @ w).astype(np.float64)
            s = _sigmoid(z)
            Xd = X.astype(np.float64)
            return (Xd.T @ (Xd * (s * (1 - s))[:, None]) / len(y) + reg * np.eye(w.size)).astype(dtype)

        return dict(f=p.f, grad=p.grad, hess=hess, x0=p.x0, reg_diag=np.full(p.x0.size, reg))
    if name == "softmax":

        def hess(W: np.ndarray) -> np.ndarray:
            Xd = X.astype(np.float64)
            P = _softmax(Xd @ W.astype(np.float64))
            M = np.einsum("nc,ck->nck", P, np.eye(P.shape[1])) - np.einsum("nc,nk->nck", P, P)
            H = np.einsum("nd,ne,nck->dcek", Xd, Xd, M) / len(y)
            n = W.size
            return (H.reshape(n, n) + reg * np.eye(n)).astype(dtype)

        return dict(f=p.f, grad=p.grad, hess=hess, x0=p.x0, reg_diag=np.full(p.x0.size, reg))
    # the MLP: complex-step of the exact gradient, column by column
    names = list(p.x0)
    sizes = [p.x0[k].size for k in names]
    shapes = [p.x0[k].shape for k in names]

    def pack(d: dict) -> np.ndarray:
        return np.concatenate([np.asarray(d[k]).reshape(-1) for k in names])

    def unpack(v: np.ndarray) -> dict:
        out, start = {}, 0
        for k, size, shape in zip(names, sizes, shapes):
            out[k] = v[start : start + size].reshape(shape)
            start += size
        return out

    def hess(params: dict) -> np.ndarray:
        flat = pack(params).astype(np.complex128)
        n, t = flat.size, 1e-30
        H = np.empty((n, n))
        for j in range(n):
            flat[j] += 1j * t
            H[:, j] = np.imag(pack(zoo.mlp_grad(unpack(flat), X.astype(np.complex128), y, reg))) / t
            flat[j] -= 1j * t
        return (0.5 * (H + H.T)).astype(dtype)

    reg_diag = np.concatenate([np.full(s, reg if k in ("W1", "W2") else 0.0) for k, s in zip(names, sizes)])
    return dict(f=p.f, grad=p.grad, hess=hess, x0=p.x0, reg_diag=reg_diag, pack=pack, unpack=unpack)


def _flat(value: Any, problem: dict) -> np.ndarray:
    return problem["pack"](value) if "pack" in problem else np.asarray(value).reshape(-1)


def _unflat(v: np.ndarray, problem: dict) -> Any:
    return problem["unpack"](v) if "unpack" in problem else v.reshape(np.shape(problem["x0"]))


def hvp_of(problem: dict, hess: Any = None) -> Any:
    hess = hess or problem["hess"]

    cache: dict = {}

    def hvp(x: Any, v: Any) -> Any:
        key = _flat(x, problem).tobytes()  # the MLP's Hessian costs n complex gradients: once per point
        if key not in cache:
            cache[key] = np.asarray(hess(x), dtype=np.float64)
        H = cache[key]
        return _unflat(
            (H.reshape(H.shape[0] if H.ndim == 2 else int(np.sqrt(H.size)), -1) @ _flat(v, problem)).astype(
                np.asarray(_flat(x, problem)).dtype
            ),
            problem,
        )

    return hvp


ZOO = ["softmax", "logistic", "mlp", "rosenbrock"]


# -- correct second derivatives pass ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ZOO)
def test_correct_hessian_passes_on_the_zoo(name: str, dtype: Any) -> None:
    p = zoo_hessian(name, dtype)
    report = gv.check_hessian(p["f"], p["hess"], p["x0"], grad=p["grad"], seed=0)
    assert report.ok, str(report)
    assert report.kind == "hessian"
    n = _flat(p["x0"], p).size
    assert report.entries == n * n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ZOO)
def test_correct_hvp_passes_on_the_zoo(name: str, dtype: Any) -> None:
    p = zoo_hessian(name, dtype)
    report = gv.check_hvp(p["f"], hvp_of(p), p["x0"], grad=p["grad"], seed=0)
    assert report.ok, str(report)
    assert report.kind == "hvp"


# -- broken twins fail, named -----------------------------------------------------------------------


def _offdiag(H: np.ndarray) -> tuple[int, int]:
    """The largest off-diagonal entry of the upper triangle (a nonzero one to break)."""
    U = np.abs(np.triu(H, 1))
    i, j = np.unravel_index(np.argmax(U), U.shape)
    return int(i), int(j)


def broken_hessians(p: dict) -> dict:
    H0 = np.asarray(p["hess"](p["x0"]), dtype=np.float64)
    n = int(np.sqrt(H0.size))
    i, j = _offdiag(H0.reshape(n, n))
    reg = p["reg_diag"]

    def edit(op: Any) -> Any:
        def wrong(x: Any) -> Any:
            H = np.array(p["hess"](x), dtype=np.float64)
            shape = H.shape
            H = H.reshape(n, n)
            op(H)
            return H.reshape(shape).astype(np.asarray(_flat(x, p)).dtype)

        return wrong

    def one_entry(H: np.ndarray) -> None:
        H[i, j] *= 1.05
        H[j, i] = H[i, j]

    def asymmetric(H: np.ndarray) -> None:
        H[i, j] *= 1.05

    def double(H: np.ndarray) -> None:
        H *= 2

    def no_reg(H: np.ndarray) -> None:
        H -= np.diag(reg)

    return {"one_entry": (edit(one_entry), (i, j)), "asymmetric": (edit(asymmetric), (i, j)),
            "double": (edit(double), None), "no_reg": (edit(no_reg), None)}  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ZOO)
def test_broken_hessians_fail_named(name: str, dtype: Any) -> None:
    p = zoo_hessian(name, dtype)
    for bug, (hess, where) in broken_hessians(p).items():
        if bug == "no_reg" and not p["reg_diag"].any():
            continue
        report = gv.check_hessian(p["f"], hess, p["x0"], grad=p["grad"], seed=0)
        assert not report.ok, (bug, str(report))
        expected = {"one_entry": "entries", "asymmetric": "asymmetric", "double": "scale", "no_reg": "missing_term"}
        assert report.pattern == expected[bug], (bug, str(report))
        if bug == "asymmetric":
            assert report.evaluations == 0 and "not symmetric" in report.diagnosis
        if where is not None:
            i, j = where
            assert report.worst_index in (_loc(p, i, j), _loc(p, j, i)), (bug, str(report))
        if bug == "no_reg":
            assert "I" in report.diagnosis and f"{0.1:.4g}" in report.diagnosis


def _loc(p: dict, i: int, j: int) -> tuple:
    x0 = p["x0"]
    if isinstance(x0, dict) or np.ndim(x0) > 1:
        from gradverify._core.params import ParamSpec

        spec = ParamSpec.of(x0)
        return (spec.locate(i), spec.locate(j))
    return (i, j)


def test_transposed_and_wrong_blocks_are_named() -> None:
    p = zoo_hessian("mlp")
    spec_names = list(p["x0"])
    offsets = np.cumsum([0] + [p["x0"][k].size for k in spec_names])
    block = {k: slice(int(offsets[q]), int(offsets[q + 1])) for q, k in enumerate(spec_names)}
    b1, b2, W2 = block["b1"], block["b2"], block["W2"]

    def transposed(x: dict) -> np.ndarray:
        H = p["hess"](x).copy()
        H[b1, b2] = H[b1, b2].T.copy()
        H[b2, b1] = H[b1, b2].T
        return H

    def wrong_block(x: dict) -> np.ndarray:
        H = p["hess"](x).copy()
        H[W2, b2] *= 1.5
        H[b2, W2] = H[W2, b2].T
        return H

    r = gv.check_hessian(p["f"], transposed, p["x0"], grad=p["grad"], seed=0)
    assert not r.ok and r.pattern == "transpose", str(r)
    assert "(b1, b2)" in r.diagnosis
    r = gv.check_hessian(p["f"], wrong_block, p["x0"], grad=p["grad"], seed=0)
    assert not r.ok and r.pattern == "block", str(r)
    assert "(W2, b2)" in r.diagnosis


@pytest.mark.parametrize("name", ["rosenbrock", "logistic"])
def test_hessian_from_f_alone(name: str) -> None:
    # Without grad the Hessian is the Jacobian of a gradient estimated from f.
    p = zoo_hessian(name)
    assert gv.check_hessian(p["f"], p["hess"], p["x0"], seed=0).ok
    hess, where = broken_hessians(p)["one_entry"]
    report = gv.check_hessian(p["f"], hess, p["x0"], seed=0)
    assert not report.ok and report.worst_index in (where, where[::-1]), str(report)
    assert "calls of f" in report.notes[-1]


def test_hessian_zero_entries_are_not_failures_of_a_factor() -> None:
    # A scaled Hessian fails only where it is nonzero: tridiagonal Rosenbrock.
    p = zoo_hessian("rosenbrock")
    report = gv.check_hessian(p["f"], lambda x: 2 * p["hess"](x), p["x0"], grad=p["grad"], seed=0)
    n = p["x0"].size
    assert report.failures == 3 * n - 2


# -- broken HVPs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_broken_hvps_fail_named(name: str) -> None:
    p = zoo_hessian(name)
    right = hvp_of(p)
    reg = p["reg_diag"]

    def ignores_v(x: Any, v: Any) -> Any:
        return right(x, _unflat(np.ones(reg.size), p))

    def normalised(x: Any, v: Any) -> Any:
        u = _flat(v, p)
        return right(x, _unflat(u / np.linalg.norm(u), p))

    def double(x: Any, v: Any) -> Any:
        return _unflat(2 * _flat(right(x, v), p), p)

    def no_reg(x: Any, v: Any) -> Any:
        return _unflat(_flat(right(x, v), p) - reg * _flat(v, p), p)

    cases = {"ignores_v": ignores_v, "not_linear": normalised, "scale": double, "missing_term": no_reg}
    for pattern, hvp in cases.items():
        if pattern == "missing_term" and not reg.all():
            continue  # the MLP's biases are not regularised: a partial term, caught but not named so
        report = gv.check_hvp(p["f"], hvp, p["x0"], grad=p["grad"], seed=0)
        assert not report.ok and report.pattern == pattern, (pattern, str(report))
        if pattern in ("ignores_v", "not_linear"):
            assert report.evaluations == 0
    mlp_partial = gv.check_hvp(p["f"], no_reg, p["x0"], grad=p["grad"], seed=0)
    assert (not mlp_partial.ok) == bool(reg.any())


def test_hvp_along_a_given_direction_and_from_f_alone() -> None:
    p = zoo_hessian("softmax")
    v = np.random.default_rng(5).standard_normal(p["x0"].shape)
    assert gv.check_hvp(p["f"], hvp_of(p), p["x0"], v=v, seed=0).ok
    wrong = lambda x, u: hvp_of(p)(x, u) * 1.01  # noqa: E731
    assert not gv.check_hvp(p["f"], wrong, p["x0"], v=v, seed=0).ok


# -- bad input ----------------------------------------------------------------------------------------


def test_hessian_of_the_wrong_shape_is_a_clear_error() -> None:
    p = zoo_hessian("logistic")
    with pytest.raises(gv.ShapeMismatch, match=r"hess\(x\) has shape \(6, 5\).*6 entries.*\(6, 6\)"):
        gv.check_hessian(p["f"], lambda w: np.zeros((6, 5)), p["x0"], grad=p["grad"])
    with pytest.raises(gv.NonFiniteValue, match=r"H\[1, 2\]"):
        gv.check_hessian(p["f"], lambda w: _nan_at(1, 2), p["x0"])


def _nan_at(i: int, j: int) -> np.ndarray:
    H = np.eye(6)
    H[i, j] = H[j, i] = np.nan
    return H


def test_hvp_that_ignores_v_says_so() -> None:
    f = lambda x: np.sum(x**4)  # noqa: E731
    report = gv.check_hvp(f, lambda x, v: 12 * x**2, np.array([0.5, -1.0, 2.0]), seed=0)
    assert not report.ok and report.pattern == "ignores_v"
    assert "ignores v" in report.diagnosis and "ignores v" in str(report)


def test_hvp_bad_arguments() -> None:
    f = lambda x: np.sum(x**4)  # noqa: E731
    hvp = lambda x, v: 12 * x**2 * v  # noqa: E731
    with pytest.raises(gv.InvalidArgument, match="directions=0"):
        gv.check_hvp(f, hvp, np.ones(3), directions=0)
    with pytest.raises(gv.ShapeMismatch):
        gv.check_hvp(f, lambda x, v: np.ones(4), np.ones(3))
    with pytest.raises(gv.InvalidArgument, match="v must be finite and not all zeros"):
        gv.check_hvp(f, hvp, np.ones(3), v=np.zeros(3))


def test_caller_data_is_not_modified() -> None:
    p = zoo_hessian("rosenbrock")
    x = p["x0"].copy()
    gv.check_hessian(p["f"], p["hess"], x, grad=p["grad"], seed=0)
    gv.check_hvp(p["f"], hvp_of(p), x, grad=p["grad"], seed=0)
    assert np.array_equal(x, p["x0"])


# -- the backward of a backward ---------------------------------------------------------------------------


def _layer() -> tuple:
    A = np.random.default_rng(2).standard_normal((3, 4))
    f = lambda x: np.tanh(A @ x)  # noqa: E731

    def vjp(x: np.ndarray, ct: np.ndarray) -> np.ndarray:
        y = np.tanh(A @ x)
        return A.T @ ((1 - y**2) * ct)

    def vjp_of_vjp(x: np.ndarray, ct: np.ndarray, w: np.ndarray) -> tuple:
        y = np.tanh(A @ x)
        s = 1 - y**2
        Aw = A @ w
        # d/dx <w, A^T (s * ct)> = A^T (ct * ds/dz * Aw), ds/dz = -2 y s
        dx = A.T @ (ct * (-2 * y * s) * Aw)
        dct = s * Aw
        return dx, dct

    return f, vjp, vjp_of_vjp


def test_vjp_of_vjp_right_and_wrong() -> None:
    f, vjp, vv = _layer()
    x = np.array([0.3, -0.2, 0.5, 0.1])
    report = gv.check_vjp_of_vjp(f, vjp, vv, x, seed=0)
    assert report.ok and report.kind == "vjp_of_vjp", str(report)

    def saved_intermediate(x: np.ndarray, ct: np.ndarray, w: np.ndarray) -> tuple:
        dx, dct = vv(x, ct, w)
        return np.zeros_like(dx), dct  # the second-order term lost (an intermediate treated as a constant)

    bad = gv.check_vjp_of_vjp(f, vjp, saved_intermediate, x, seed=0)
    assert not bad.ok and bad.worst_name.startswith("x[") and bad.pattern == "zero", str(bad)

    def wrong_jvp(x: np.ndarray, ct: np.ndarray, w: np.ndarray) -> tuple:
        dx, dct = vv(x, ct, w)
        return dx, 2 * dct

    bad = gv.check_vjp_of_vjp(f, vjp, wrong_jvp, x, seed=0)
    assert not bad.ok and bad.worst_name.startswith("cotangent["), str(bad)
    first = gv.check_vjp_of_vjp(f, lambda x, ct: 2 * vjp(x, ct), vv, x, seed=0)
    assert not first.ok and "first-order vjp is wrong" in first.notes[-1]
    with pytest.raises(gv.InvalidArgument, match="pair"):
        gv.check_vjp_of_vjp(f, vjp, lambda x, ct, w: vv(x, ct, w)[0], x, seed=0)


@pytest.mark.parametrize("name", ["logistic", "rosenbrock"])
def test_second_order_taylor_test_is_reported(name: str) -> None:
    # remainder of order 3 with grad (4 from f alone) when H is right, 2 when it is wrong
    p = zoo_hessian(name)
    for kw, right in (({"grad": p["grad"]}, "order 3"), ({}, "order 4")):
        good = gv.check_hessian(p["f"], p["hess"], p["x0"], seed=0, **kw)
        note = next(n for n in good.notes if "Taylor" in n)
        assert "consistent with a right" in note and f"remainder of {right[:-1]}{right[-1]}." in note, note
        bad = gv.check_hessian(p["f"], lambda x: 2 * p["hess"](x), p["x0"], seed=0, **kw)
        note = next(n for n in bad.notes if "Taylor" in n)
        assert "suggests a WRONG one" in note and "remainder of order 2." in note, note


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dict_parameters_from_f_alone(dtype: Any) -> None:
    # the MLP's HVP (dict of four leaves) without grad: gradients estimated from f
    p = zoo_hessian("mlp", dtype)
    report = gv.check_hvp(p["f"], hvp_of(p), p["x0"], seed=0)
    assert report.ok and report.worst_name.startswith("(H v")
    bad = gv.check_hvp(p["f"], lambda x, v: _unflat(1.5 * _flat(hvp_of(p)(x, v), p), p), p["x0"], seed=0)
    assert not bad.ok and bad.pattern == "scale"


def test_transposed_and_wrong_blocks_of_one_array_are_named() -> None:
    # for one array x the block is where the failures are: H[0:2, 3:5] written transposed, H[0:2, 3:6] scaled
    p = zoo_hessian("logistic")

    def transposed(w: np.ndarray) -> np.ndarray:
        H = p["hess"](w).copy()
        H[0:2, 3:5] = H[0:2, 3:5].T.copy()
        H[3:5, 0:2] = H[0:2, 3:5].T
        return H

    def scaled(w: np.ndarray) -> np.ndarray:
        H = p["hess"](w).copy()
        H[0:2, 3:6] *= 1.1
        H[3:6, 0:2] = H[0:2, 3:6].T
        return H

    r = gv.check_hessian(p["f"], transposed, p["x0"], grad=p["grad"], seed=0)
    assert r.pattern == "transpose" and "H[0:2, 3:5]" in r.diagnosis, str(r)
    r = gv.check_hessian(p["f"], scaled, p["x0"], grad=p["grad"], seed=0)
    assert r.pattern == "block" and "H[0:2, 3:6]" in r.diagnosis, str(r)


def test_from_f_alone_complex_step_is_cross_checked() -> None:
    # f drops the imaginary part of one term (np.real): complex-step misses that term's curvature (1e-3 of
    # H[0, 0]); float32 finite differences of the gradient, at float32's step (steps.STEP_MULTIPLIER),
    # resolve it: the right Hessian passes, never failed (at the rule's step it was inconclusive)
    S = np.array([[12.6, 0.0], [0.0, 0.1]], dtype=np.float32)
    s = 10**1.5
    x = (s * (np.linspace(-1, 1, 2) + 0.1)).astype(np.float32)
    f = lambda x: 0.5 * x @ S @ x + np.sum(np.cos(np.real(x) / s))  # noqa: E731
    hess = lambda x: S - np.diag(np.cos(x / s)) / s**2  # noqa: E731
    report = gv.check_hessian(f, hess, x, seed=0)
    assert report.ok and report.method == "richardson", str(report)
    # where finite differences see the bug too, it fails
    wrong = gv.check_hessian(f, lambda x: hess(x) + np.diag([0.0, 1.0]).astype(np.float32), x, seed=0)
    assert not wrong.ok and getattr(wrong, "outcome", "failed") == "failed" and wrong.worst_index == (1, 1), str(wrong)


# -- torch: an intermediate saved on ctx (skipped without torch) ----------------------------------------


def test_torch_an_intermediate_saved_on_ctx_passes_gradcheck_and_fails_gradgradcheck() -> None:
    torch = pytest.importorskip("torch", reason="gradverify[torch] not installed")
    import gradverify.torch as gvt

    def sine(save_input: bool, scale: float) -> Any:
        class Sine(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                # cos(x) made here has no graph back to x (forward records nothing):
                # its double backward treats it as a constant
                ctx.save_for_backward(x if save_input else torch.cos(x))
                return scale * torch.sin(x)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (saved,) = ctx.saved_tensors
                return scale * g * (torch.cos(saved) if save_input else saved)

        return Sine.apply

    x = torch.tensor([0.3, 1.2, -0.7, 2.0], dtype=torch.float64, requires_grad=True)
    for scale in (1.0, 1e-7):
        right, saved = sine(True, scale), sine(False, scale)
        assert gvt.gradcheck(saved, (x,), seed=0)  # the first order is right
        assert gvt.gradgradcheck(right, (x,), seed=0)
        with pytest.raises(gv.GradientMismatch) as caught:
            gvt.gradgradcheck(saved, (x,), seed=0)
        assert caught.value.report.worst_name.startswith("inputs[0]["), str(caught.value.report)  # x, not the cotangent
    # torch's own, with its fixed atol=1e-5, misses it once f is small
    assert torch.autograd.gradgradcheck(sine(False, 1e-7), (x,), raise_exception=False)
