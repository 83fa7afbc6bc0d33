"""gradverify.torch / gradverify.jax against torch.autograd.gradcheck and jax.test_util.check_grads.

Measured side by side, in one run, on the same functions and the same points:

* false alarms: each tool on correct derivatives (the framework's own) at
  random points, in float64 and in float32;
* planted bugs: a ``torch.autograd.Function`` / ``jax.custom_vjp`` whose
  backward returns the true Jacobian plus ``delta * E``, where ``E`` is one of
  three shapes (``scale``: E = J, a factor 1 + delta; ``entry``: one entry of
  J off by delta * max|J|; ``term``: a dense random term of size delta * max|J|,
  a missing or extra term), with the relative size ``delta`` drawn log-uniform
  in the bands 1e-6..1e-4, 1e-4..1e-2 and 1e-2..1; a bug counts as caught when
  the tool does not pass it (failed, or for gradverify inconclusive);
* calls: calls of the forward function per check (median), counted by a wrapper.

Functions (our own): elementwise, a reduction (logsumexp), a matrix product,
a 1-d convolution, layer normalisation, a cross-entropy loss, softmax, and a
stable softplus / logsumexp written as a custom backward.

Tools: torch.autograd.gradcheck with its defaults (eps 1e-6, atol 1e-5,
rtol 1e-3) and with fast_mode=True; gradverify.torch.check; jax's
check_grads(order=1, modes=("rev",)) with its defaults (a custom_vjp has no
forward mode, so "rev" is the mode every function here supports);
gradverify.jax.check (jit=False, so that calls are counted); for float32
torch inputs also gradverify.torch.check(..., reference="float64"), which
checks the same function with both sides promoted to float64.

Run:  python benchmarks/frameworks.py                 (the README table)
      python benchmarks/frameworks.py --points 2 --bugs 1   (a quick look)
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

BANDS = [(1e-6, 1e-4), (1e-4, 1e-2), (1e-2, 1.0)]
KINDS = ("scale", "entry", "term")


def band_name(band: tuple) -> str:
    return f"{band[0]:.0e}..{band[1]:.0e}" if band[1] < 1 else f">{band[0]:.0e}"


class Tally:
    """Outcomes per (tool, dtype): correct checks and their alarms, bugs per band and caught, calls."""

    def __init__(self) -> None:
        self.alarms: dict = defaultdict(lambda: [0, 0, 0])  # failed, inconclusive, total
        self.caught: dict = defaultdict(lambda: [0, 0])  # caught, total
        self.calls: dict = defaultdict(list)
        self.where: dict = defaultdict(set)

    def correct(self, tool: str, dtype: str, outcome: str, calls: int, fname: str) -> None:
        row = self.alarms[tool, dtype]
        row[0] += outcome == "failed"
        row[1] += outcome == "inconclusive"
        row[2] += 1
        self.calls[tool, dtype].append(calls)
        if outcome == "failed":
            self.where[tool, dtype].add(fname)

    def bug(self, tool: str, dtype: str, band: tuple, outcome: str, calls: int) -> None:
        row = self.caught[tool, dtype, band]
        row[0] += outcome != "passed"
        row[1] += 1
        self.calls[tool, dtype].append(calls)

    def table(self, tools: list[str]) -> str:
        head = "| tool | dtype | false alarms on correct derivatives | " + " | ".join(
            f"bugs caught {band_name(b)}" for b in BANDS
        ) + " | calls per check (median) |"
        lines = [head, "|" + "---|" * (5 + len(BANDS) - 1)]
        for tool in tools:
            for dtype in ("float64", "float32"):
                if (tool, dtype) not in self.alarms:
                    continue
                failed, inconclusive, total = self.alarms[tool, dtype]
                alarm = f"{failed}/{total} ({100 * failed / total:.0f}%)"
                if inconclusive:
                    alarm += f", {inconclusive} inconclusive"
                cells = []
                for b in BANDS:
                    got, n = self.caught[tool, dtype, b]
                    cells.append(f"{got}/{n} ({100 * got / n:.0f}%)" if n else "-")
                calls = int(np.median(self.calls[tool, dtype]))
                lines.append(f"| {tool} | {dtype} | {alarm} | " + " | ".join(cells) + f" | {calls} |")
        return "\n".join(lines)


def perturbation(J: np.ndarray, kind: str, delta: float, rng: np.random.Generator) -> np.ndarray:
    """delta * E for a Jacobian J of shape (m, n): the planted bug, of relative size delta."""
    scale = float(np.max(np.abs(J))) or 1.0
    if kind == "scale":
        return delta * J
    E = np.zeros_like(J)
    if kind == "entry":
        big = np.flatnonzero(np.abs(J).reshape(-1) >= 0.1 * scale)
        E.reshape(-1)[rng.choice(big)] = delta * scale
        return E
    return delta * scale * rng.uniform(-1, 1, size=J.shape)


def log_uniform(rng: np.random.Generator, band: tuple) -> float:
    return float(math.exp(rng.uniform(math.log(band[0]), math.log(band[1]))))


# -- torch -----------------------------------------------------------------------------------


def torch_functions() -> dict[str, tuple[Callable, Callable]]:
    """name -> (fn of one tensor, maker of a random input for an rng and a dtype)."""
    import torch
    import torch.nn.functional as F

    def randn(*shape: int) -> Callable:
        return lambda rng, dtype: torch.tensor(rng.standard_normal(shape), dtype=dtype)

    w_conv = torch.tensor(np.random.default_rng(7).standard_normal((3, 2, 3)))
    b_mat = torch.tensor(np.random.default_rng(8).standard_normal((4, 3)))
    target = torch.tensor([1, 0, 4, 2])

    class StableSoftplus(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g * torch.sigmoid(x)

    return {
        "elementwise": (lambda x: torch.sin(x) * torch.exp(-0.5 * x * x), randn(8)),
        "logsumexp": (lambda x: torch.logsumexp(x, dim=1), randn(3, 5)),
        "matmul": (lambda x: torch.tanh(x @ b_mat.to(x.dtype)), randn(3, 4)),
        "conv1d": (lambda x: F.conv1d(x, w_conv.to(x.dtype)), randn(1, 2, 7)),
        "layer_norm": (lambda x: F.layer_norm(x, (5,)), randn(3, 5)),
        "cross_entropy": (lambda x: F.cross_entropy(x, target), randn(4, 5)),
        "softmax": (lambda x: torch.softmax(x, dim=0), randn(12)),
        "softplus (custom backward)": (StableSoftplus.apply, lambda rng, dt: torch.tensor(rng.uniform(-30, 30, 6), dtype=dt)),
    }


def run_torch(args: argparse.Namespace, tally: Tally) -> None:
    import torch

    import gradverify.torch as gvt
    from gradverify._frameworks.outputs import outcome_of

    def counted(fn: Callable) -> tuple[Callable, list]:
        box = [0]

        def wrapped(*a: Any) -> Any:
            box[0] += 1
            return fn(*a)

        return wrapped, box

    def planted(fn: Callable, x: Any, kind: str, delta: float, rng: np.random.Generator) -> Callable:
        J = torch.autograd.functional.jacobian(fn, x.detach().double()).reshape(-1, x.numel()).numpy()
        Jb = torch.tensor(J + perturbation(J, kind, delta, rng))

        class Bugged(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return fn(x)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return (g.reshape(-1).to(Jb.dtype) @ Jb).reshape(x.shape).to(g.dtype)

        return Bugged.apply

    def tools(fn: Callable, x: Any, seed: int) -> dict[str, tuple[str, int]]:
        out = {}
        for name, kw in (("torch gradcheck", {}), ("torch gradcheck fast_mode", {"fast_mode": True})):
            f, box = counted(fn)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Input #0 requires gradient and is not a double precision"
                try:
                    ok = torch.autograd.gradcheck(f, (x,), raise_exception=False, **kw)
                except RuntimeError:
                    ok = False
            out[name] = ("passed" if ok else "failed", box[0])
        f, box = counted(fn)
        report = gvt.check(f, x, seed=seed)
        out["gradverify.torch"] = (outcome_of(report), box[0])
        if x.dtype == torch.float32:  # the same float32 function, both sides promoted to float64
            f, box = counted(fn)
            report = gvt.check(f, x, reference="float64", seed=seed)
            out["gradverify.torch reference='float64'"] = (outcome_of(report), box[0])
        return out

    for fname, (fn, make) in torch_functions().items():
        for dtype, dname in ((torch.float64, "float64"), (torch.float32, "float32")):
            rng = np.random.default_rng([len(fname), len(dname)])
            for p in range(args.points):
                x = make(rng, dtype).requires_grad_()
                for tool, (outcome, calls) in tools(fn, x, seed=p).items():
                    tally.correct(tool, dname, outcome, calls, fname)
                for band in BANDS:
                    for kind in KINDS:
                        for _ in range(args.bugs):
                            bug = planted(fn, x, kind, log_uniform(rng, band), rng)
                            for tool, (outcome, calls) in tools(bug, x, seed=p).items():
                                tally.bug(tool, dname, band, outcome, calls)
        print(f"  torch {fname} done", file=sys.stderr)


# -- jax -------------------------------------------------------------------------------------


def jax_functions() -> dict[str, tuple[Callable, Callable]]:
    import jax
    import jax.numpy as jnp

    w_conv = np.random.default_rng(7).standard_normal((3, 2, 3))
    b_mat = np.random.default_rng(8).standard_normal((4, 3))
    target = np.array([1, 0, 4, 2])

    def randn(*shape: int) -> Callable:
        return lambda rng, dtype: jnp.asarray(rng.standard_normal(shape), dtype=dtype)

    def conv1d(x: Any) -> Any:
        w = jnp.asarray(w_conv, dtype=x.dtype)
        return jax.lax.conv_general_dilated(x, w, (1,), "VALID")

    def layer_norm(x: Any) -> Any:
        mu = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + 1e-5)

    def cross_entropy(x: Any) -> Any:
        logp = jax.nn.log_softmax(x, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, jnp.asarray(target)[:, None], axis=1))

    @jax.custom_vjp
    def stable_lse(x: Any) -> Any:
        m = jax.lax.stop_gradient(jnp.max(x))
        return m + jnp.log(jnp.sum(jnp.exp(x - m)))

    stable_lse.defvjp(lambda x: (stable_lse(x), x), lambda x, g: (g * jax.nn.softmax(x),))

    return {
        "elementwise": (lambda x: jnp.sin(x) * jnp.exp(-0.5 * x * x), randn(8)),
        "logsumexp": (lambda x: jax.nn.logsumexp(x, axis=1), randn(3, 5)),
        "matmul": (lambda x: jnp.tanh(x @ jnp.asarray(b_mat, dtype=x.dtype)), randn(3, 4)),
        "conv1d": (conv1d, randn(1, 2, 7)),
        "layer_norm": (layer_norm, randn(3, 5)),
        "cross_entropy": (cross_entropy, randn(4, 5)),
        "softmax": (lambda x: jax.nn.softmax(x), randn(12)),
        "logsumexp (custom_vjp)": (stable_lse, lambda rng, dt: jnp.asarray(rng.uniform(-30, 30, 6) * 10, dtype=dt)),
    }


def run_jax(args: argparse.Namespace, tally: Tally) -> None:
    import jax
    from jax.test_util import check_grads

    import gradverify.jax as gvj
    from gradverify._frameworks.outputs import outcome_of

    def counted(fn: Callable) -> tuple[Callable, list]:
        box = [0]

        def wrapped(*a: Any) -> Any:
            box[0] += 1
            return fn(*a)

        return wrapped, box

    def planted(fn: Callable, x: Any, kind: str, delta: float, rng: np.random.Generator) -> Callable:
        J = np.asarray(jax.jacrev(fn)(x), dtype=np.float64).reshape(-1, x.size)
        Jb = J + perturbation(J, kind, delta, rng)

        @jax.custom_vjp
        def bugged(x: Any) -> Any:
            return fn(x)

        def bwd(shape_dtype: Any, g: Any) -> Any:
            return ((g.reshape(-1) @ Jb.astype(g.dtype)).reshape(x.shape),)

        bugged.defvjp(lambda x: (fn(x), None), bwd)
        return bugged

    def tools(fn: Callable, x: Any, seed: int) -> dict[str, tuple[str, int]]:
        out = {}
        f, box = counted(fn)
        try:
            check_grads(f, (x,), order=1, modes=("rev",))
            outcome = "passed"
        except AssertionError:
            outcome = "failed"
        out["jax check_grads"] = (outcome, box[0])
        f, box = counted(fn)
        report = gvj.check(f, x, jit=False, seed=seed)
        out["gradverify.jax"] = (outcome_of(report), box[0])
        return out

    for fname, (fn, make) in jax_functions().items():
        for dname, x64 in (("float64", True), ("float32", False)):
            with jax.enable_x64(x64):
                import jax.numpy as jnp

                dtype = jnp.float64 if x64 else jnp.float32
                rng = np.random.default_rng([len(fname), len(dname), 1])
                for p in range(args.points):
                    x = make(rng, dtype)
                    for tool, (outcome, calls) in tools(fn, x, seed=p).items():
                        tally.correct(tool, dname, outcome, calls, fname)
                    for band in BANDS:
                        for kind in KINDS:
                            for _ in range(args.bugs):
                                bug = planted(fn, x, kind, log_uniform(rng, band), rng)
                                for tool, (outcome, calls) in tools(bug, x, seed=p).items():
                                    tally.bug(tool, dname, band, outcome, calls)
        print(f"  jax {fname} done", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5, help="random points per function and dtype")
    parser.add_argument("--bugs", type=int, default=2, help="planted bugs per kind, band, point")
    parser.add_argument("--only", choices=["torch", "jax"], default=None)
    args = parser.parse_args(argv)
    tally = Tally()
    sections = []
    if args.only in (None, "torch"):
        run_torch(args, tally)
        sections.append(
            ("PyTorch", ["torch gradcheck", "torch gradcheck fast_mode", "gradverify.torch", "gradverify.torch reference='float64'"])
        )
    if args.only in (None, "jax"):
        run_jax(args, tally)
        sections.append(("JAX", ["jax check_grads", "gradverify.jax"]))
    n = len(torch_functions()) if args.only != "jax" else len(jax_functions())
    print(f"{n} functions x {args.points} points per dtype; {len(KINDS)} bug kinds x {args.bugs} per band and point\n")
    for title, tools in sections:
        print(f"### {title}\n")
        print(tally.table(tools))
        where = {f"{t} {d}": sorted(v) for (t, d), v in tally.where.items() if t in tools}
        for key, names in sorted(where.items()):
            print(f"\nfalse alarms of {key} on: {', '.join(names)}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
