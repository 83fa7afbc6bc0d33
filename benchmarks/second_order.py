"""Second derivatives and sparse Jacobians: calls and accuracy against peers.

Hessians (Rosenbrock n = 6, logistic regression n = 6, softmax classifier
n = 24, exact Hessians derived by hand): function calls made and the largest
error of the Hessian each tool estimates, relative to max |H|, for

* gradverify's ``check_hessian`` with ``grad`` (calls of grad) and from ``f``
  alone (calls of f);
* numdifftools' ``Hessian`` (calls of f; it extrapolates over many steps);
* ``scipy.differentiate.hessian`` (scipy >= 1.15; calls and points of a
  vectorized f: it evaluates many points per call);

how many entries' actual error lies within the tool's own error bound (for
gradverify, the verdict's tolerance), and the smallest relative bug in one
off-diagonal pair each sees: gradverify by its verdict, the others when the
bug exceeds their own error estimate (a bound that undercovers "sees" bugs
it would also raise false alarms on).

Sparse Jacobians (a tridiagonal residual, vectorized): gradverify's grouped
check against ``scipy.optimize.approx_derivative(sparsity=...)``, calls and
points, the largest relative error of the estimate, and what each makes of a
hand-written Jacobian that omits one nonzero from its pattern (scipy's
``check_derivative`` compares only the entries of the claimed pattern).

The backward of a backward: ``torch.autograd.gradgradcheck`` against
``gradverify.torch.gradgradcheck`` (when torch is installed) and
``jax.test_util.check_grads(order=2)`` against ``gradverify.jax.check(order=2)``
(when jax is), on autograd Functions / custom_vjp rules whose first order is
right and whose double backward is right, loses a saved intermediate, or is
off by a small relative amount.

Run:  python benchmarks/second_order.py
"""

# ruff: noqa: B023  (the closures over loop variables are called inside the same iteration)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize._numdiff import approx_derivative, check_derivative

import gradverify as gv
from gradverify import zoo


def counted(f: Callable[..., Any]) -> tuple[Callable[..., Any], list]:
    calls = [0]

    def g(*args: Any) -> Any:
        calls[0] += 1
        return f(*args)

    return g, calls


def problems() -> dict:
    out = {}
    p = zoo.make_problem("rosenbrock", seed=1, n=6)

    def h_rosen(x: np.ndarray) -> np.ndarray:
        n = x.size
        H = np.zeros((n, n))
        i = np.arange(n - 1)
        H[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
        return H

    out["rosenbrock n=6"] = (p.f, p.grad, h_rosen, p.x0)
    X, y = zoo.make_dataset(20, 6, 4, seed=1)
    q = zoo.make_problem("logistic", seed=1)
    yb = (y % 2).astype(float)

    def h_logistic(w: np.ndarray) -> np.ndarray:
        s = 0.5 * (1 + np.tanh(0.5 * (X @ w)))
        return X.T @ (X * (s * (1 - s))[:, None]) / len(yb) + 0.1 * np.eye(w.size)

    out["logistic n=6"] = (q.f, q.grad, h_logistic, q.x0)
    r = zoo.make_problem("softmax", seed=1)

    def h_softmax(W: np.ndarray) -> np.ndarray:
        S = X @ W
        E = np.exp(S - S.max(axis=1, keepdims=True))
        P = E / E.sum(axis=1, keepdims=True)
        M = np.einsum("nc,ck->nck", P, np.eye(P.shape[1])) - np.einsum("nc,nk->nck", P, P)
        n = W.size
        return np.einsum("nd,ne,nck->dcek", X, X, M).reshape(n, n) / len(y) + 0.1 * np.eye(n)

    out["softmax n=24"] = (lambda w: r.f(w.reshape(6, 4)), lambda w: r.grad(w.reshape(6, 4)).reshape(-1),
                           lambda w: h_softmax(w.reshape(6, 4)), r.x0.reshape(-1))  # fmt: skip
    return out


RELS = [10.0**-k for k in range(2, 13)]


def bumped(hess: Callable, x: np.ndarray, rel: float) -> tuple[Callable, tuple]:
    """``hess`` with its largest off-diagonal pair scaled by ``1 + rel``."""
    H0 = hess(x)
    U = np.abs(np.triu(H0, 1))
    i, j = (int(v) for v in np.unravel_index(np.argmax(U), U.shape))

    def wrong(x: np.ndarray) -> np.ndarray:
        H = hess(x).copy()
        H[i, j] *= 1 + rel
        H[j, i] = H[i, j]
        return H

    return wrong, (i, j)


def covered(estimate: np.ndarray, exact: np.ndarray, bound: np.ndarray) -> str:
    """How many entries' actual error is within the tool's own bound (gradverify: its tolerance)."""
    inside = np.abs(estimate - exact) <= bound
    return f"{int(inside.sum())}/{inside.size}"


def smallest(seen: Callable[[float], bool]) -> str:
    """The smallest relative bug of RELS seen (stopping at the first one missed)."""
    best = None
    for rel in RELS:
        if not seen(rel):
            break
        best = rel
    return f"{best:.0e}" if best else "none"


def hessian_table() -> None:
    try:
        import numdifftools as nd
    except ImportError:  # not a dependency: its rows are left out
        nd = None

    try:
        from scipy.differentiate import hessian as sp_hessian
    except ImportError:  # scipy < 1.15
        sp_hessian = None
    print(
        "| problem | tool | calls | points | max error / max H | error within its bound | smallest bug seen in one pair (1e-2 .. 1e-12) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (f, grad, hess, x) in problems().items():
        H = hess(x)
        scale = np.max(np.abs(H))
        _, (i, j) = bumped(hess, x, 0.0)
        for label, kw in (("gradverify (grad)", {"grad": grad}), ("gradverify (f only)", {})):
            r = gv.check_hessian(f, hess, x, seed=0, **kw)
            est = np.asarray(r.numerical).reshape(H.shape)
            err = np.max(np.abs(est - H)) / scale
            cover = covered(est, H, np.asarray(r.tolerance).reshape(H.shape))
            seen = smallest(lambda rel: not gv.check_hessian(f, bumped(hess, x, rel)[0], x, seed=0, **kw).ok)
            print(f"| {name} | {label} | {r.evaluations} | {r.evaluations} | {err:.1e} | {cover} | {seen} |")
        fc, calls = counted(f)
        if nd is not None:
            res_nd = nd.Hessian(fc, full_output=True)(x)
            err = np.max(np.abs(res_nd.estimate - H)) / scale
            bound = np.asarray(res_nd.error_estimate).reshape(H.shape)[i, j]
            seen = smallest(lambda rel: abs(rel * H[i, j]) > bound)
            cover = covered(res_nd.estimate, H, np.asarray(res_nd.error_estimate).reshape(H.shape))
            print(f"| {name} | numdifftools Hessian | {calls[0]} | {calls[0]} | {err:.1e} | {cover} | {seen} |")
        if sp_hessian is not None:
            points = [0]

            def fv(xi: np.ndarray) -> np.ndarray:
                calls[0] += 1
                flat = xi.reshape(xi.shape[0], -1)
                points[0] += flat.shape[1]
                return np.array([f(flat[:, k]) for k in range(flat.shape[1])]).reshape(xi.shape[1:])

            calls[0] = 0
            res = sp_hessian(fv, x)
            err = np.max(np.abs(res.ddf - H)) / scale
            seen = smallest(lambda rel: abs(rel * H[i, j]) > res.error[i, j])
            cover = covered(res.ddf, H, res.error)
            print(f"| {name} | scipy.differentiate.hessian | {calls[0]} | {points[0]} | {err:.1e} | {cover} | {seen} |")


def tridiagonal(n: int) -> tuple:
    calls = [0]
    points = [0]

    def f(X: np.ndarray) -> np.ndarray:
        calls[0] += 1
        X = np.asarray(X)
        points[0] += 1 if X.ndim == 1 else X.shape[0]
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

    return f, jac, calls, points


def sparse_table() -> None:
    print("| n | tool | calls | points | max rel. error of the estimate | omitted nonzero (one of the pattern) |")
    print("|---|---|---|---|---|---|")
    for n in (100, 1000, 10000):
        x = np.random.default_rng(n).uniform(-1, 1, n)
        f, jac, calls, points = tridiagonal(n)
        J = jac(x).toarray() if n <= 1000 else None
        k = n // 2

        def omitted(x: np.ndarray) -> Any:
            M = jac(x).tolil()
            M[k, k + 1] = 0
            return M.tocsr()  # the pattern of the result leaves (k, k+1) out

        for method in ("auto", "forward"):
            calls[0] = points[0] = 0
            r = gv.check_jacobian(f, jac, x, vectorized=True, method=method, seed=0)
            c, p = calls[0], points[0]
            bad = gv.check_jacobian(f, omitted, x, vectorized=True, method=method, seed=0)
            named = f"caught, named {bad.worst_name}" if not bad.ok else "missed"
            print(f"| {n} | gradverify sparse ({r.method}) | {c} | {p} | {r.max_rel_error:.1e} | {named} |")
        calls[0] = points[0] = 0
        P = jac(x) != 0
        est = approx_derivative(f, x, sparsity=P)
        c, p = calls[0], points[0]
        err = float(np.max(np.abs((est - jac(x)).toarray() if J is None else est.toarray() - J)))
        scale = float(np.max(np.abs(jac(x).data)))
        cd = check_derivative(f, omitted, x)
        verdict = "flagged, not named" if cd > 1e-6 else "missed"
        print(
            f"| {n} | scipy approx_derivative(sparsity) | {c} | {p} | {err / scale:.1e} | check_derivative {cd:.1e}: {verdict} |"
        )
    n = 100
    x = np.random.default_rng(n).uniform(-1, 1, n)
    f, jac, calls, points = tridiagonal(n)
    calls[0] = points[0] = 0
    gv.check_jacobian(f, lambda x: jac(x).toarray(), x, vectorized=True, seed=0)
    print(f"| {n} | gradverify dense check_jacobian | {calls[0]} | {points[0]} | | |")


def _torch_functions(torch: Any) -> dict[str, Callable[..., Any]]:
    """sin(x) times a scale, as autograd Functions whose first-order backward is right.

    ``saved``: ``cos(x)`` saved on ``ctx`` from the forward (where nothing is
    recorded), so the double backward treats it as a constant and loses
    ``-sin(x)``; ``off``: the backward's value is right but its derivative in
    x is off by ``rel`` of the second derivative (it adds ``rel * sin(x) *
    (x - x.detach())``, zero in value).
    """

    def saved(scale: float) -> Callable[..., Any]:
        class SinSaved(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(torch.cos(x))  # an intermediate: no graph back to x
                return scale * torch.sin(x)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (c,) = ctx.saved_tensors
                return scale * g * c

        return SinSaved.apply  # type: ignore[no-any-return]

    def off(scale: float, rel: float) -> Callable[..., Any]:
        class SinOff(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)  # an input: its graph is kept, double backward is right
                return scale * torch.sin(x)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return scale * g * (torch.cos(x) - rel * torch.sin(x) * (x - x.detach()))

        return SinOff.apply  # type: ignore[no-any-return]

    return {"saved": saved, "off": off, "right": lambda scale: lambda x: scale * torch.sin(x)}


def gradgrad_table() -> None:
    try:
        import torch
    except ImportError:
        print("torch is not installed: torch.autograd.gradgradcheck not compared")
        return
    import time
    import warnings

    import gradverify.torch as gvt

    make = _torch_functions(torch)

    def run(tool: str, fn: Callable[..., Any], dtype: Any) -> tuple[bool, int, float]:
        x = torch.tensor([0.3, 1.2, -0.7, 2.0], dtype=dtype, requires_grad=True)
        f, calls = counted(fn)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that float32 inputs are not double precision
            if tool == "torch gradcheck":
                ok = torch.autograd.gradcheck(f, (x,), raise_exception=False)
            elif tool == "torch":
                ok = torch.autograd.gradgradcheck(f, (x,), raise_exception=False)
            else:
                ok = gvt.gradgradcheck(f, (x,), raise_exception=False, seed=0)
        return bool(ok), calls[0], (time.perf_counter() - start) * 1e3

    alarms = {
        (tool, scale, dtype): not run(tool, make["right"](scale), dtype)[0]
        for tool in ("torch", "gradverify")
        for scale in (1.0, 1e-7, 1e4)
        for dtype in (torch.float64, torch.float32)
    }

    def word(ok: bool, right: bool, alarm: bool) -> str:
        if right:
            return "passes" if ok else "**false alarm**"
        if alarm and not ok:
            return "fails, as it fails the right f"  # not a catch: it cannot tell them apart
        return "**misses it**" if ok else "fails (caught)"

    print(f"torch {torch.__version__}; f(x) = scale * sin(x) at x = [0.3, 1.2, -0.7, 2.0]\n")
    print(
        "| f | dtype | double backward | torch gradcheck (first order) | torch.autograd.gradgradcheck | "
        "gradverify.torch.gradgradcheck | calls of f (torch / gradverify) | ms (torch / gradverify) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    cases = [
        ("sin(x)", 1.0, make["right"](1.0), "right", True),
        ("sin(x), cos(x) saved on ctx", 1.0, make["saved"](1.0), "loses -sin(x)", False),
        ("1e-7 sin(x), cos(x) saved on ctx", 1e-7, make["saved"](1e-7), "loses -sin(x)", False),
        ("sin(x)", 1.0, make["off"](1.0, 1e-3), "off by 1e-3", False),
        ("sin(x)", 1.0, make["off"](1.0, 1e-6), "off by 1e-6", False),
        ("1e-7 sin(x)", 1e-7, make["right"](1e-7), "right", True),
        ("1e4 sin(x)", 1e4, make["right"](1e4), "right", True),
    ]
    for name, scale, fn, what, right in cases:
        for dtype in (torch.float64, torch.float32):
            first = run("torch gradcheck", fn, dtype)[0]
            t_ok, t_calls, t_ms = run("torch", fn, dtype)
            g_ok, g_calls, g_ms = run("gradverify", fn, dtype)
            t_word = word(t_ok, right, alarms["torch", scale, dtype])
            g_word = word(g_ok, right, alarms["gradverify", scale, dtype])
            print(
                f"| {name} | {str(dtype).replace('torch.', '')} | {what} | {'passes' if first else 'fails'} | "
                f"{t_word} | {g_word} | {t_calls} / {g_calls} | {t_ms:.0f} / {g_ms:.0f} |"
            )
    print("\nSmallest relative error of the double backward each sees (bugs of 1e-2 .. 1e-12 in sin(x) scaled):\n")
    print("| scale | dtype | torch.autograd.gradgradcheck | gradverify.torch.gradgradcheck |")
    print("|---|---|---|---|")
    for scale in (1.0, 1e-7):
        for dtype in (torch.float64, torch.float32):
            seen = {}
            for tool in ("torch", "gradverify"):
                if alarms[tool, scale, dtype]:
                    seen[tool] = "none (it fails the right f)"
                else:
                    seen[tool] = smallest(lambda rel: not run(tool, make["off"](scale, rel), dtype)[0])
            print(f"| {scale:g} | {str(dtype).replace('torch.', '')} | {seen['torch']} | {seen['gradverify']} |")


def _jax_sine(jax: Any, jnp: Any, scale: float, bug: str, rel: float = 0.0) -> Callable[..., Any]:
    """scale * sin(x) as a custom_vjp whose bwd is right at first order; ``bug`` spoils its derivative."""

    @jax.custom_vjp
    def f(x: Any) -> Any:
        return scale * jnp.sin(x)

    def fwd(x: Any) -> Any:
        return f(x), (jnp.cos(x), x)

    def bwd(res: Any, g: Any) -> Any:
        c, x = res
        if bug == "saved":
            return (scale * g * jax.lax.stop_gradient(c),)  # the residual as a constant: -sin(x) lost
        if bug == "off":
            return (scale * g * (c - rel * jnp.sin(x) * (x - jax.lax.stop_gradient(x))),)
        return (scale * g * c,)

    f.defvjp(fwd, bwd)
    return f


def jax_table() -> None:
    try:
        import jax
        import jax.numpy as jnp
        from jax.test_util import check_grads
    except ImportError:
        print("jax is not installed: jax.test_util.check_grads(order=2) not compared")
        return
    import time

    import gradverify.jax as gvj

    def run(tool: str, fn: Callable[..., Any], dtype: Any) -> tuple[bool, int, float]:
        x = jnp.array([0.3, 1.2, -0.7, 2.0], dtype=dtype)
        f, calls = counted(fn)
        start = time.perf_counter()
        if tool == "jax":
            try:
                check_grads(f, (x,), order=2, modes=("rev",))
                ok = True
            except AssertionError:
                ok = False
        else:
            ok = gvj.check(f, x, order=2, seed=0, jit=False).ok
        return ok, calls[0], (time.perf_counter() - start) * 1e3

    print(f"jax {jax.__version__}; custom_vjp f(x) = scale * sin(x) at x = [0.3, 1.2, -0.7, 2.0]\n")
    print(
        "| f | dtype | second order of bwd | jax check_grads(order=2, modes=('rev',)) | gvj.check(order=2) | "
        "calls of f (jax / gradverify) | ms (jax / gradverify) |"
    )
    print("|---|---|---|---|---|---|---|")
    cases = [
        ("sin(x)", 1.0, "right", 0.0, "right"),
        ("sin(x)", 1.0, "saved", 0.0, "residual under stop_gradient"),
        ("1e-7 sin(x)", 1e-7, "saved", 0.0, "residual under stop_gradient"),
        ("sin(x)", 1.0, "off", 1e-3, "off by 1e-3"),
        ("sin(x)", 1.0, "off", 1e-6, "off by 1e-6"),
        ("1e-7 sin(x)", 1e-7, "right", 0.0, "right"),
    ]
    for dtype_name in ("float32", "float64"):
        jax.config.update("jax_enable_x64", dtype_name == "float64")
        try:
            for name, scale, bug, rel, what in cases:
                fn = _jax_sine(jax, jnp, scale, bug, rel)
                j_ok, j_calls, j_ms = run("jax", fn, getattr(jnp, dtype_name))
                g_ok, g_calls, g_ms = run("gradverify", fn, getattr(jnp, dtype_name))
                right = bug == "right"

                def word(ok: bool) -> str:
                    if right:
                        return "passes" if ok else "**false alarm**"
                    return "**misses it**" if ok else "fails (caught)"

                print(
                    f"| {name} | {dtype_name} | {what} | {word(j_ok)} | {word(g_ok)} | {j_calls} / {g_calls} | "
                    f"{j_ms:.0f} / {g_ms:.0f} |"
                )
        finally:
            jax.config.update("jax_enable_x64", False)


def main() -> None:
    print("### Hessians\n")
    hessian_table()
    print("\n### Sparse Jacobians (tridiagonal residual, vectorized f)\n")
    sparse_table()
    print("\n### The backward of a backward (torch)\n")
    gradgrad_table()
    print("\n### The backward of a backward (JAX)\n")
    jax_table()


if __name__ == "__main__":
    main()
