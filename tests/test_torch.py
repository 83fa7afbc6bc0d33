"""gradverify.torch: torch's backward checked against gradverify's estimators.

Correct backwards pass in float64 and float32; planted bugs (a factor, a
transposition, one wrong entry, a missing term of relative size 1e-4) fail
and the report names the input, the output and the entry; the drop-in runs
tests written for torch.autograd.gradcheck; bad input gets our errors.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch", reason="gradverify[torch] not installed (pip install torch==2.13.0)")

from torch.autograd.gradcheck import GradcheckError  # noqa: E402

import gradverify as gv  # noqa: E402
import gradverify.torch as gvt  # noqa: E402

SMALL = 1e-4  # the relative size of the "missing term" bug


def make_op(bug: str | None = None):
    """y0 = a @ b, y1 = sum_rows(a**2) + SMALL * sum_rows(a**3) + sum_cols(b); a, b of shape (3, 3).

    The backward is written by hand; ``bug`` plants one mistake in one
    output's gradient with respect to one input.
    """

    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a @ b, (a * a).sum(0) + SMALL * (a**3).sum(0) + b.sum(1)

        @staticmethod
        def backward(ctx, g0, g1):
            a, b = ctx.saved_tensors
            ga0 = g0 @ (b if bug == "transpose" else b.T)  # output 0 w.r.t. a
            ga1 = g1[None, :] * (2 * a + (0 if bug == "term" else 3 * SMALL * a * a))  # output 1 w.r.t. a
            gb0 = (2 if bug == "factor" else 1) * (a.T @ g0)  # output 0 w.r.t. b
            gb1 = g1[:, None].expand(3, 3).clone()  # output 1 w.r.t. b
            if bug == "entry":
                gb1[1, 2] = gb1[1, 2] * 1.5
            return ga0 + ga1, gb0 + gb1

    def op(a, b):
        return Op.apply(a, b)

    return op


def point(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(3, 3, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(3, 3, generator=g, dtype=dtype).requires_grad_()
    return a, b


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_correct_backward_passes(dtype, seed):
    report = gvt.check(make_op(), *point(dtype, seed), seed=seed)
    assert report.ok, str(report)
    assert report.dtype == str(dtype).replace("torch.", "")


# (bug, input, output, entry or None): where each planted bug lives.
BUGS = [
    ("factor", "b", "output 0", None),
    ("transpose", "a", "output 0", None),
    ("entry", "b", "output 1", (1, 2)),
    ("term", "a", "output 1", None),
]


@pytest.mark.parametrize("bug, inp, out, entry", BUGS)
def test_a_planted_bug_fails_and_the_report_names_input_output_and_entry(bug, inp, out, entry):
    report = gvt.check(make_op(bug), *point(torch.float64), seed=0)
    assert not report.ok
    assert report.worst_name.startswith(f"{inp}[") and report.worst_name.endswith(f"of {out}")
    assert report.diagnosis.startswith(out)
    if entry is not None:
        assert report.worst_name.startswith(f"{inp}[{entry[0]}, {entry[1]}]")
        assert report.failures == 1
    wrong = [row.name for row in report.rows if row.note == "wrong"]
    assert wrong and all(name.startswith(f"{inp}[") and f"of {out}[" in name for name in wrong)


@pytest.mark.parametrize("bug", ["factor", "entry", "term"])
def test_float32_catches_the_planted_bugs_too(bug):
    assert not gvt.check(make_op(bug), *point(torch.float32), seed=0).ok


def test_large_outputs_are_checked_through_a_seeded_vjp():
    x = torch.linspace(-2, 2, 200, dtype=torch.float64).requires_grad_()
    ok = gvt.check(lambda x: torch.tanh(x) * x, x, seed=3)
    assert ok.ok and any("vector-Jacobian product" in n for n in ok.notes)
    bad = gvt.check(make_scaled_tanh(1 + 1e-4), x, seed=3)
    assert not bad.ok


def make_scaled_tanh(factor):
    class T(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.tanh(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (1 - torch.tanh(x) ** 2) * factor

    return T.apply


def test_constants_are_named_in_the_report():
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, dtype=torch.float64)
    idx = torch.tensor([0, 2])
    mask = torch.tensor([True, False, True, True])
    report = gvt.check(lambda w, x, idx, mask: (torch.tanh(w @ x) * mask)[idx], w, x, idx, mask, seed=0)
    assert report.ok
    held = " ".join(report.notes)
    assert "x (requires_grad=False" in held and "idx (an integer or boolean tensor" in held and "mask (" in held


def test_float64_reference_for_float32_inputs_is_said_in_the_report():
    a, b = point(torch.float32)
    report = gvt.check(make_op(), a, b, reference="float64", seed=0)
    assert report.ok and report.dtype == "float64"
    assert any(note.startswith("float64 reference") for note in report.notes)
    assert not gvt.check(make_op("term"), a, b, reference="float64", seed=0).ok


# -- nn.Module ---------------------------------------------------------------------------


class Scale(torch.autograd.Function):
    """y = x @ w.T with a hand-written backward; ``wrong`` adds 1e-3 to one entry of dw."""

    @staticmethod
    def forward(ctx, x, w, wrong):
        ctx.save_for_backward(x, w)
        ctx.wrong = wrong
        return x @ w.T

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gw = g.T @ x
        if ctx.wrong:
            gw = gw.clone()
            gw[3, 1] += 1e-3
        return g @ w, gw, None


class Net(torch.nn.Module):
    def __init__(self, wrong=False):
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 5)
        self.norm = torch.nn.BatchNorm1d(5)
        self.fc2 = torch.nn.Linear(5, 2)
        self.wrong = wrong

    def forward(self, x):
        h = Scale.apply(x, self.fc1.weight, self.wrong) + self.fc1.bias
        return self.fc2(torch.tanh(self.norm(h)))


@pytest.mark.parametrize("training", [True, False])
def test_a_module_is_checked_by_parameter_name_and_left_as_it_was(training):
    torch.manual_seed(0)
    net = Net(wrong=True).double().train(training)
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    state = copy.deepcopy(net.state_dict())
    grads = [p.grad.clone() for p in net.parameters()]
    x = torch.randn(4, 3, dtype=torch.float64)
    report = gvt.check(net, x, seed=0)
    assert not report.ok
    assert report.worst_name.startswith("fc1.weight[3, 1]")
    assert net.training is training
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # parameters and buffers
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, net.parameters()))
    net.wrong = False
    right = gvt.check(net, x, seed=0)
    if training:
        # In training mode the batch norm removes fc1.bias's effect: its gradient is zero in theory
        # (torch computes ~1e-16), so no check can see a sign or a factor in it; gradverify says so.
        assert right.outcome == "inconclusive" and "fc1.bias" in right.diagnosis and "wrt=" in right.suggestion, str(right)
    else:
        assert right.ok, str(right)


def test_a_dropout_module_in_training_mode_is_named_non_deterministic():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).double().train()
    with pytest.raises(gv.NonDeterministicFunction, match=r"not deterministic on cpu.*\.eval\(\)"):
        gvt.check(net, torch.randn(8, 3, dtype=torch.float64), seed=0)


# -- the drop-in -------------------------------------------------------------------------


@pytest.fixture(params=["torch", "gradverify"])
def gradchecks(request):
    """The same tests run against torch.autograd.gradcheck and gradverify.torch.gradcheck."""
    if request.param == "torch":
        return torch.autograd.gradcheck, torch.autograd.gradgradcheck
    return gvt.gradcheck, gvt.gradgradcheck


def test_dropin_correct_op_passes(gradchecks):
    check, _ = gradchecks
    assert check(make_op(), point(torch.float64), eps=1e-6, atol=1e-4)
    assert check(torch.sigmoid, torch.randn(5, dtype=torch.float64, requires_grad=True))


def test_dropin_wrong_op_raises_gradcheck_error(gradchecks):
    check, _ = gradchecks
    with pytest.raises(GradcheckError):
        check(make_op("factor"), point(torch.float64))
    assert check(make_op("entry"), point(torch.float64), raise_exception=False) is False


def test_dropin_gradgradcheck(gradchecks):
    _, gradgrad = gradchecks
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert gradgrad(torch.tanh, (x,))
    assert gradgrad(make_op(), point(torch.float64))


class CubeDetached(torch.autograd.Function):
    """A right backward whose own derivative is wrong: the saved x is detached in the backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x.detach() ** 2


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(gradchecks):
    check, gradgrad = gradchecks
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert check(CubeDetached.apply, (x,))
    with pytest.raises(GradcheckError):
        gradgrad(CubeDetached.apply, (x,))


def test_our_failure_is_a_gradient_mismatch_carrying_the_report():
    with pytest.raises(gv.GradientMismatch) as info:
        gvt.gradcheck(make_op("entry"), point(torch.float64), seed=0)
    assert isinstance(info.value, GradcheckError) and isinstance(info.value, AssertionError)
    assert info.value.report.worst_name == "b[1, 2] of output 1"
    assert "b[1, 2] of output 1[1]" in str(info.value)


def test_dropin_options():
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gv.InvalidArgument, match="check_forward_ad=True"):
        gvt.gradcheck(torch.sin, (x,), check_forward_ad=True)
    with pytest.raises(gv.InvalidArgument, match="check_batched_grad=True"):
        gvt.gradcheck(torch.sin, (x,), check_batched_grad=True)
    assert gvt.gradcheck(torch.sin, (x,), fast_mode=True, nondet_tol=1e-12, seed=0)


# -- bad input ---------------------------------------------------------------------------


def f64(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


class TooFewGrads(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g


class WrongShape(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return 2 * a

    @staticmethod
    def backward(ctx, g):
        return g.sum(0)


def test_bad_input_gets_clear_errors_naming_it():
    with pytest.raises(gv.InvalidArgument, match=r"fn \(.*<lambda>\) returned a float; it must return a tensor"):
        gvt.check(lambda x: x.sum().item(), f64(2))
    with pytest.raises(gv.InvalidArgument, match=r"TooFewGrads.*wrong number of gradients"):
        gvt.check(TooFewGrads.apply, f64(2), f64(2))
    with pytest.raises(gv.ShapeMismatch, match=r"WrongShape.*wrong shape"):
        gvt.check(WrongShape.apply, f64(2, 3))
    with pytest.raises(gv.InvalidArgument, match="no input of .* requires grad"):
        gvt.check(lambda x: 2 * x, torch.ones(2, dtype=torch.float64))
    with pytest.raises(gv.InvalidArgument, match=r"output 0 of .* does not depend on any input that requires grad \(x\)"):
        gvt.check(lambda x: torch.from_numpy(x.detach().numpy() * 2), f64(2))
    with pytest.raises(gv.NonDeterministicFunction, match="not deterministic on cpu"):
        gvt.check(lambda x: torch.nn.functional.dropout(x, 0.5), f64(20))
    with pytest.raises(gv.InvalidArgument, match="mix dtypes"):
        gvt.check(lambda a, b: a * b, f64(2), f64(2).float().detach().requires_grad_())


def test_the_input_is_not_modified():
    x = f64(3)
    before = x.detach().clone()
    gvt.check(torch.exp, x, seed=0)
    assert torch.equal(x.detach(), before) and x.grad is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_cuda_function_is_checked_on_its_device():  # pragma: no cover - no GPU here
    x = torch.randn(4, dtype=torch.float64, device="cuda", requires_grad=True)
    report = gvt.check(torch.sin, x, seed=0)
    assert report.ok and any("cuda" in note for note in report.notes)


# -- imports -----------------------------------------------------------------------------


def test_import_gradverify_and_the_plugin_import_neither_torch_nor_jax(tmp_path):
    code = "import sys, gradverify, gradverify.pytest_plugin; print(sorted({'torch', 'jax'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    (tmp_path / "test_probe.py").write_text(
        textwrap.dedent(
            """
            import sys
            def test_probe(gradcheck):
                assert not {"torch", "jax"} & set(sys.modules)
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_pytest_fixture_checks_torch_functions(gradcheck):
    report = gradcheck.torch(make_op(), *point(torch.float64))
    assert report.ok
    with pytest.raises(gv.GradientMismatch, match=r"b\[1, 2\] of output 1"):
        gradcheck.torch(make_op("entry"), *point(torch.float64))


def test_half_precision_is_checked_through_a_float64_reference():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float16, requires_grad=True)
    with pytest.raises(gv.InvalidArgument, match="reference='float64'"):
        gvt.check(torch.sin, x)
    report = gvt.check(torch.sin, x, reference="float64", seed=0)
    assert report.ok and report.dtype == "float64"
    assert not gvt.check(make_scaled_tanh(1 + 1e-4), x, reference="float64", seed=0).ok


def test_hypothesis_draws_tensors_through_the_strategies_and_shrinks_a_failure():
    from hypothesis import given, settings

    from gradverify import strategies as gst

    tensors = gst.weights(shape=gst.shapes(min_dims=1, max_dims=2, max_side=4), max_magnitude=3.0).map(
        lambda a: torch.from_numpy(a).requires_grad_()
    )
    seen = []

    @settings(max_examples=5, deadline=None, database=None, derandomize=True)
    @given(tensors)
    def holds(x):
        assert gvt.check(make_scaled_tanh(1.0), x, seed=0).ok

    @settings(max_examples=5, deadline=None, database=None, derandomize=True)
    @given(tensors)
    def fails(x):
        seen.append(x.numel())
        assert gvt.check(make_scaled_tanh(1 + 1e-4), x, seed=0).ok

    holds()
    with pytest.raises(AssertionError):
        fails()
    assert min(seen) == 1, seen  # shrunk to the smallest tensor that still fails
