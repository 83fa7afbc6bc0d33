"""The zoo's layers: every correct pair passes, every broken twin fails, and the report names the gradient at fault."""

from __future__ import annotations

import numpy as np
import pytest

import gradverify as gv
from gradverify import zoo
from gradverify.errors import InvalidArgument

TWINS = [(name, bug) for name in zoo.LAYER_NAMES for bug in zoo.make_layer(name).broken]
SEEDS = (0, 1, 2)


def _names(layer: zoo.Layer) -> list[str]:
    """The differentiated arguments' names, taken from the signature here (not from check_layer)."""
    import inspect

    params = list(inspect.signature(layer.forward).parameters)[: len(layer.args)]
    if layer.wrt is not None:
        return list(layer.wrt)
    return [p for p, a in zip(params, layer.args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


def _gradients(layer: zoo.Layer, forward, backward, seed: int) -> dict:
    """Gradients by direct calls of the pair at the zoo's point, keyed d<name>, for a fixed dout."""
    args = [a.copy() if isinstance(a, (np.ndarray, dict)) else a for a in layer.args]
    names = _names(layer)
    if backward is None:
        grads = forward(*args)[1:]
    else:
        result = forward(*args)
        outs, cache = result[:-1], result[-1]
        rng = np.random.default_rng(seed)
        grads = backward(*[rng.standard_normal(o.shape) for o in outs], cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return {f"d{n}": np.asarray(g) for n, g in zip(names, grads)}


@pytest.mark.parametrize("name", zoo.LAYER_NAMES)
def test_each_twin_breaks_exactly_the_gradients_it_claims(name):
    # The ground truth the checker is held to, established without it: the
    # twin's gradients against the correct ones, computed directly.
    layer = zoo.make_layer(name, seed=0)
    right = _gradients(layer, layer.forward, layer.backward, 0)
    assert layer.broken, f"{name} has no broken twin"
    for bug, (forward, backward) in layer.broken.items():
        wrong = _gradients(layer, forward, backward, 0)
        differ = {g for g in right if not np.allclose(right[g], wrong[g], rtol=1e-6, atol=1e-9)}
        assert differ == set(layer.wrong[bug]), bug


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", zoo.LAYER_NAMES)
def test_every_correct_layer_passes(name, dtype):
    for seed in SEEDS:
        for method in ("auto", "central"):
            layer = zoo.make_layer(name, seed=seed, dtype=dtype)
            report = gv.check_layer(layer.forward, layer.backward, *layer.args, wrt=layer.wrt, seed=seed, method=method)
            # float32 too: the zoo's layers compute in float64 when given float64, so the numerical side
            # is taken there (the report says so) and the float32 derivative is held to its own rounding.
            assert report.ok, str(report)
            assert report.dtype == np.dtype(dtype).name
            assert [a["gradient"] for a in report.arguments] == [f"d{n}" for n in _names(layer)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "bug"), TWINS)
def test_every_broken_twin_fails_naming_only_the_wrong_gradients(name, bug, dtype):
    for seed in SEEDS:
        for method in ("auto", "central"):
            layer = zoo.make_layer(name, seed=seed, dtype=dtype)
            forward, backward = layer.broken[bug]
            report = gv.check_layer(forward, backward, *layer.args, wrt=layer.wrt, seed=seed, method=method)
            assert not report.ok
            assert report.failed_arguments == list(layer.wrong[bug]), str(report)
            first = layer.wrong[bug][0]
            assert report.diagnosis.startswith(f"{first}: "), report.diagnosis
            # The worst entry is an entry of a broken gradient's argument.
            assert report.worst_name.split("[")[0] in {g[1:] for g in layer.wrong[bug]}


def test_dgamma_not_x_when_batchnorm_uses_x_where_x_minus_mean_belongs():
    layer = zoo.make_layer("batchnorm", seed=4)
    forward, backward = layer.broken["x_not_centered"]
    report = gv.check_layer(forward, backward, *layer.args, seed=0)
    assert report.failed_arguments == ["dgamma"]
    assert report.argument("dx")["ok"] and report.argument("dbeta")["ok"]
    lines = {line.split()[0]: line for line in str(report).splitlines()[2:6]}
    assert "FAILED" in lines["dgamma"] and "passed" in lines["dx"] and "passed" in lines["dbeta"]


def test_a_regularisation_gradient_without_its_factor_is_a_missing_term_of_W():
    layer = zoo.make_layer("linear_softmax_loss", seed=0)
    forward, _ = layer.broken["reg_missing_factor"]
    report = gv.check_layer(forward, None, *layer.args, wrt=["W"], seed=0)
    assert report.argument("dW")["pattern"] == "missing_term"
    assert "is missing a term 0.1 * W" in report.diagnosis


def test_a_gradient_of_the_sum_where_the_loss_takes_the_mean_is_said_in_batch_words():
    layer = zoo.make_layer("softmax_loss", seed=0)
    report = gv.check_layer(layer.broken["forgot_mean"][0], None, *layer.args, seed=0)
    assert report.diagnosis.endswith(
        "is 5 x the numerical one: a sum over the batch of 5 where the forward takes the mean?"
    )


def test_the_course_calls_need_no_glue():
    rng = np.random.default_rng(0)
    x, gamma, beta = 0.1 * rng.standard_normal((5, 3)), 1 + 0.1 * rng.standard_normal(3), rng.standard_normal(3)
    report = gv.check_layer(zoo.batchnorm_forward, zoo.batchnorm_backward, x, gamma, beta, {"mode": "train"}, seed=0)
    assert report.ok and list(report.constants) == ["bn_param"]
    words, W = np.array([[0, 2, 2], [1, 0, 3]]), rng.standard_normal((4, 6))
    report = gv.check_layer(zoo.word_embedding_forward, zoo.word_embedding_backward, words, W, seed=0)
    assert report.ok and [a["gradient"] for a in report.arguments] == ["dW"] and list(report.constants) == ["x"]
    scores, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    report = gv.check_layer(zoo.softmax_layer_loss, None, scores, y, seed=0)
    assert report.ok and list(report.constants) == ["y"]
    report = gv.check_layer(zoo.svm_layer_loss, None, scores, y, seed=0)
    assert report.ok


def test_the_lstm_backward_takes_one_dout_per_output():
    layer = zoo.make_layer("lstm_step", seed=0)
    report = gv.check_layer(layer.forward, layer.backward, *layer.args, seed=0)
    assert [a["gradient"] for a in report.arguments] == ["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"]
    forward, backward = layer.broken["dprev_c_without_forget_gate"]
    assert gv.check_layer(forward, backward, *layer.args, seed=0).failed_arguments == ["dprev_c"]


def test_batchnorm_updates_the_running_statistics_of_its_own_dict():
    layer = zoo.make_layer("batchnorm", seed=0)
    x, gamma, beta, _ = layer.args
    bn_param = {"mode": "train", "momentum": 0.5}
    zoo.batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(bn_param["running_var"], 0.5 + 0.5 * x.var(axis=0))


def test_the_forwards_compute_what_their_docstrings_say():
    # References written independently of the zoo (loops, numpy's own routines).
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    out, _ = zoo.conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert out.shape == (2, 3, 3, 3)
    assert np.isclose(out[1, 2, 1, 2], np.sum(xp[1, :, 2:5, 4:7] * w[2]) + b[2])
    pooled, _ = zoo.max_pool_forward_naive(x[:, :, :4, :4], {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert np.array_equal(pooled, x[:, :, :4, :4].reshape(2, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    s, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    loss, _ = zoo.softmax_layer_loss(s, y)
    assert np.isclose(loss, np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(6), y]))
    loss, _ = zoo.svm_layer_loss(s, y)
    hinge = np.maximum(0, s - s[np.arange(6), y][:, None] + 1)
    assert np.isclose(loss, (hinge.sum() - 6.0) / 6)
    h, c, _ = zoo.lstm_step_forward(*zoo.make_layer("lstm_step").args)
    assert h.shape == c.shape == (2, 3) and np.all(np.abs(h) < 1)


def test_make_layer_refuses_an_unknown_name():
    with pytest.raises(InvalidArgument, match=r"name='dropout' is not a zoo layer; choose one of affine, relu"):
        zoo.make_layer("dropout")


def test_the_losses_of_the_zoo_kept_their_names():
    problem = zoo.make_problem("softmax", seed=0)
    assert gv.check_grad(problem.f, problem.grad, problem.x0, seed=0).ok
    assert zoo.softmax_loss is not zoo.softmax_layer_loss
    assert set(zoo.PROBLEM_NAMES) == {"softmax", "svm", "logistic", "mlp", "rosenbrock"}
