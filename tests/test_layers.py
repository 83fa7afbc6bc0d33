"""check_layer: forward/backward pairs as people write them, and the bad input they meet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradverify as gv
from gradverify import zoo
from gradverify.errors import InputMutated, InvalidArgument, NonDeterministicFunction, ShapeMismatch

RNG = np.random.default_rng(7)
X, W, B = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 5)), RNG.standard_normal(5)


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


# -- the conventions -------------------------------------------------------------------------------


def test_a_correct_layer_passes_and_each_gradient_is_named_by_its_argument():
    report = gv.check_layer(affine_forward, affine_backward, X, W, B, seed=0)
    assert report.ok and report.kind == "layer"
    assert [a["gradient"] for a in report.arguments] == ["dx", "dw", "db"]
    assert [a["shape"] for a in report.arguments] == [(4, 3), (3, 5), (5,)]
    assert report.failed_arguments == []
    text = str(report)
    assert "dw       (3, 5)  passed" in text
    assert report.worst_name.split("[")[0] in {"x", "w", "b"}


def test_a_wrong_db_is_reported_as_db_and_nothing_else():
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw, db / len(dout)  # the mean where the sum belongs

    report = gv.check_layer(affine_forward, backward, X, W, B, seed=0)
    assert not report.ok
    assert report.failed_arguments == ["db"]
    assert report.argument("db")["failures"] == 5
    assert report.argument("dx")["ok"] and report.argument("w")["ok"]
    assert report.diagnosis == (
        "db: the analytic derivative of b is 1/4 x the numerical one: a mean over the batch of 4 where the "
        "forward sums over it (or divided by 4 twice)?"
    )
    assert report.worst_name.startswith("b[")
    assert "x[" not in report.diagnosis and "w[" not in report.diagnosis


def test_a_transposed_dw_is_diagnosed_on_w_alone():
    w = RNG.standard_normal((3, 3))

    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw.T, db

    report = gv.check_layer(affine_forward, backward, X, w, RNG.standard_normal(3), seed=1)
    assert report.failed_arguments == ["dw"]
    assert report.argument("dw")["pattern"] == "transpose"
    assert report.diagnosis.startswith("dw: the analytic derivative of w matches the numerical one in transposed")


def test_gradients_as_a_dict_keyed_by_argument_name_or_d_name():
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return {"dx": dx, "w": dw, "db": db}

    assert gv.check_layer(affine_forward, backward, X, W, B, seed=0).ok


def test_constants_are_listed_with_the_reason():
    def forward(x, idx, mask, opts, k, name, nothing):
        return x[idx] * mask[: len(idx), None] * opts["scale"] * k, (len(x), idx, mask, opts, k)

    def backward(dout, cache):
        n, idx, mask, opts, k = cache
        dx = np.zeros((n, dout.shape[1]))
        np.add.at(dx, idx, dout * mask[: len(idx), None] * opts["scale"] * k)
        return dx

    args = (X, np.array([0, 2, 2]), np.array([True, False, True]), {"scale": 2.0}, 3, "name", None)
    report = gv.check_layer(forward, backward, *args, seed=0)
    assert report.ok
    assert list(report.constants) == ["idx", "mask", "opts", "k", "name", "nothing"]
    assert report.constants["idx"].startswith("integer array")
    assert report.constants["mask"].startswith("boolean array")
    assert "constant opts: a dict" in str(report)


def test_a_loss_with_its_gradient_needs_no_backward():
    x, y = RNG.standard_normal((5, 4)), RNG.integers(0, 4, 5)
    report = gv.check_layer(zoo.softmax_layer_loss, None, x, y, seed=0)
    assert report.ok and report.kind == "layer"
    assert [a["gradient"] for a in report.arguments] == ["dx"]
    assert "integer" in report.constants["y"]


def test_a_loss_of_shape_one_is_a_scalar():
    def loss(x):
        return np.sum(x**2, keepdims=True).reshape(1), 2 * x

    assert gv.check_layer(loss, None, X, seed=0).ok


def test_wrt_picks_the_differentiated_arguments():
    layer = zoo.make_layer("linear_softmax_loss")
    W_, X_, y_, reg = layer.args
    report = gv.check_layer(zoo.linear_softmax_loss, None, W_, X_, y_, reg, wrt=["W"], seed=0)
    assert report.ok
    assert report.constants["X"] == "a floating array, not named in wrt (its gradient is not checked)"
    with pytest.raises(
        InvalidArgument, match=r"returned one ndarray, but 2 arguments are differentiated \(W, X\).*wrt="
    ):
        gv.check_layer(zoo.linear_softmax_loss, None, W_, X_, y_, reg, seed=0)


def test_wrt_checks_some_of_the_gradients_a_backward_returns():
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw * 2, db  # dw is wrong, but only dx and db are checked

    report = gv.check_layer(affine_forward, backward, X, W, B, wrt=["x", "b"], seed=0)
    assert report.ok and [a["gradient"] for a in report.arguments] == ["dx", "db"]
    assert "not checked" in report.constants["w"]
    with pytest.raises(InvalidArgument, match=r"wrt names 'w', but w is a dict"):
        gv.check_layer(affine_forward, backward, X, {"w": W}, B, wrt=["w"], seed=0)


def test_several_outputs_spread_or_as_a_tuple_of_douts():
    def forward(x, w):
        return x @ w, np.tanh(x), (x, w)

    def spread(dout_a, dout_b, cache):
        x, w = cache
        return dout_a @ w.T + dout_b * (1 - np.tanh(x) ** 2), x.T @ dout_a

    def tupled(douts, cache):
        return spread(*douts, cache)

    assert gv.check_layer(forward, spread, X, W, seed=0).ok
    assert gv.check_layer(forward, tupled, X, W, seed=0).ok

    def forgets_b(dout_a, dout_b, cache):
        x, w = cache
        return dout_a @ w.T, x.T @ dout_a

    assert gv.check_layer(forward, forgets_b, X, W, seed=0).failed_arguments == ["dx"]


def test_a_forward_without_cache_gives_backward_the_inputs():
    def forward(x, w):
        return np.sin(x) @ w

    def backward(dout, x, w):
        return (dout @ w.T) * np.cos(x), np.sin(x).T @ dout

    assert gv.check_layer(forward, backward, X, W, seed=0).ok


def test_forward_keyword_arguments_go_in_kwargs_and_check_options_stay_apart():
    def forward(x, w, *, scale=1.0):
        return scale * x @ w, (x, w, scale)

    def backward(dout, cache):
        x, w, scale = cache
        return scale * dout @ w.T, scale * x.T @ dout

    report = gv.check_layer(forward, backward, X, W, kwargs={"scale": 3.0}, seed=0, method="central")
    assert report.ok and report.method == "central"
    with pytest.raises(InvalidArgument, match=r"scale=3.0.*kwargs=\{'scale': \.\.\.\}"):
        gv.check_layer(forward, backward, X, W, scale=3.0)


def test_backward_may_write_into_dout_and_consume_its_cache():
    def backward(dout, cache):
        x = cache.pop("x")  # consumed
        dout[x <= 0] = 0  # written into
        return dout

    def forward(x):
        return np.maximum(x, 0), {"x": x}

    report = gv.check_layer(forward, backward, X + 0.01, seed=0)
    assert report.ok


def test_forward_may_write_into_its_option_dict_and_the_callers_dict_is_left_alone():
    layer = zoo.make_layer("batchnorm", seed=3)
    x, gamma, beta, _ = layer.args
    bn_param = {"mode": "train"}
    report = gv.check_layer(zoo.batchnorm_forward, zoo.batchnorm_backward, x, gamma, beta, bn_param, seed=0)
    assert report.ok
    assert bn_param == {"mode": "train"}


def test_batchnorm_in_test_mode_too():
    layer = zoo.make_layer("batchnorm", seed=3)
    x, gamma, beta, _ = layer.args
    param = {"mode": "test", "running_mean": np.full(4, 0.4), "running_var": np.full(4, 0.01)}
    assert gv.check_layer(zoo.batchnorm_forward, zoo.batchnorm_backward, x, gamma, beta, param, seed=0).ok


def test_the_callers_arrays_are_never_modified():
    x, w, b = X.copy(), W.copy(), B.copy()
    gv.check_layer(affine_forward, affine_backward, x, w, b, seed=0)
    assert np.array_equal(x, X) and np.array_equal(w, W) and np.array_equal(b, B)


# -- dropout and the global random state -------------------------------------------------------------


def dropout_forward(x, p):
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout * mask


def test_dropout_needs_reset_random_state_and_the_error_says_so():
    with pytest.raises(NonDeterministicFunction, match="reset_random_state=True"):
        gv.check_layer(dropout_forward, dropout_backward, X, 0.5, seed=0)
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    report = gv.check_layer(dropout_forward, dropout_backward, X, 0.5, reset_random_state=True, seed=0)
    assert report.ok
    assert np.array_equal(np.random.get_state()[1], before)


def test_dropout_with_a_wrong_backward_still_fails():
    def backward(dout, mask):
        return dout * (mask > 0)  # forgot the 1/p scaling

    report = gv.check_layer(dropout_forward, backward, X, 0.5, reset_random_state=True, seed=0)
    assert report.failed_arguments == ["dx"]
    assert report.argument("dx")["pattern"] in ("scale", "entries", "mismatch")


# -- bad input: each a clear error naming the argument ------------------------------------------------


def test_wrong_number_of_gradients():
    with pytest.raises(
        InvalidArgument, match=r"backward returned 2 gradients, but 3 arguments are differentiated \(x, w, b\)"
    ):
        gv.check_layer(affine_forward, lambda dout, cache: affine_backward(dout, cache)[:2], X, W, B, seed=0)
    with pytest.raises(InvalidArgument, match=r"one ndarray, but 3 arguments are differentiated"):
        gv.check_layer(affine_forward, lambda dout, cache: affine_backward(dout, cache)[0], X, W, B, seed=0)


def test_a_gradient_for_a_constant_argument():
    with pytest.raises(InvalidArgument, match=r"a gradient \(dx\) for x, which is not differentiated \(integer array"):
        gv.check_layer(
            zoo.word_embedding_forward,
            lambda dout, cache: (np.zeros(cache[0].shape), zoo.word_embedding_backward(dout, cache)),
            np.array([[0, 1]]),
            W,
            seed=0,
        )

    def embed(x, W, opts):
        return zoo.word_embedding_forward(x, W)

    with pytest.raises(
        InvalidArgument, match=r"2 gradients, but 1 argument is differentiated \(W\); it looks like one per array"
    ):
        gv.check_layer(
            embed,
            lambda dout, cache: (np.zeros(cache[0].shape), zoo.word_embedding_backward(dout, cache)),
            np.array([[0, 1]]),
            W,
            {},
            seed=0,
        )

    def forward(x, w, y):
        return x @ w, (x, w, y)

    def backward(dout, cache):
        x, w, y = cache
        return {"dx": dout @ w.T, "dw": x.T @ dout, "dy": np.zeros(3)}

    with pytest.raises(InvalidArgument, match=r"gradient \(dy\) for y, which is not differentiated \(integer array"):
        gv.check_layer(forward, backward, X, W, np.arange(3), seed=0)


def test_none_for_a_constant_is_accepted_and_none_for_a_differentiable_argument_is_not():
    def forward(x, w, y):
        return x @ w, (x, w, y)

    def with_none(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, None

    assert gv.check_layer(forward, with_none, X, W, np.arange(3), seed=0).ok
    with pytest.raises(InvalidArgument, match=r"None for db, but b is differentiated"):
        gv.check_layer(affine_forward, lambda d, c: affine_backward(d, c)[:2] + (None,), X, W, B, seed=0)


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ((1, 5), r"db has shape \(1, 5\), but b has shape \(5,\): the same number of entries in another shape"),
        ((5, 3), r"dw has shape \(5, 3\), but w has shape \(3, 5\): the same entries transposed"),
        ((4,), r"db has shape \(4,\), but b has shape \(5,\); a gradient has the shape of its argument"),
    ],
)
def test_a_gradient_of_the_wrong_shape_names_its_argument(shape, words):
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        if shape == (5, 3):
            return dx, dw.T, db
        return dx, dw, np.resize(db, shape)

    with pytest.raises(ShapeMismatch, match=words):
        gv.check_layer(affine_forward, backward, X, W, B, seed=0)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_an_np_matrix_gradient_of_the_right_shape_is_fine():
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, np.asmatrix(dw), db

    assert gv.check_layer(affine_forward, backward, X, W, B, seed=0).ok


def test_a_forward_that_modifies_its_input_is_refused():
    def forward(x, w, b):
        x -= x.mean(axis=0)
        return x @ w + b, (x, w, b)

    with pytest.raises(InputMutated, match=r"forward modified its argument x in place \(x\[0, 0\] changed\)"):
        gv.check_layer(forward, affine_backward, X, W, B, seed=0)


def test_a_forward_that_changes_the_cache_of_an_earlier_call_is_refused():
    def forward(x, w, b, cache={}):  # noqa: B006 - the bug under test
        cache["x"], cache["w"] = x, w
        return x @ w + b, cache

    def backward(dout, cache):
        return dout @ cache["w"].T, cache["x"].T @ dout, dout.sum(axis=0)

    with pytest.raises(InvalidArgument, match="the same dict object in the cache of two calls"):
        gv.check_layer(forward, backward, X, W, B, seed=0)


def test_immutable_values_shared_by_two_caches_are_fine():
    def forward(x, scale):
        return scale * x, scale  # the same float object in every cache

    assert gv.check_layer(forward, lambda dout, scale: scale * dout, X, 3.0, seed=0).ok


def test_a_cache_that_does_not_match_the_backward():
    # The LSTM's backward unpacks ten entries from affine's three.
    with pytest.raises(
        InvalidArgument, match=r"backward raised ValueError .* with the cache forward returned \(a tuple of 3"
    ):
        gv.check_layer(affine_forward, lambda d, c: zoo.lstm_step_backward(d, d, c), X, W, B, seed=0)
    with pytest.raises(InvalidArgument, match="does this backward belong to this forward"):
        gv.check_layer(affine_forward, lambda d, c: zoo.rnn_step_backward(d, c), X, W, B, seed=0)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: gv.check_layer(affine_forward, affine_backward, X, W, B, wrt=["z"]), r"wrt=\['z'\] names 'z'"),
        (
            lambda: gv.check_layer(
                zoo.word_embedding_forward, zoo.word_embedding_backward, np.array([[0]]), W, wrt="x"
            ),
            r"x is integer array \(int64\).*cannot be differentiated",
        ),
        (lambda: gv.check_layer(affine_forward, affine_backward, X, W, B, X), r"4 positional arguments.*takes 3"),
        (
            lambda: gv.check_layer(lambda y: (y, y), lambda d, c: d, np.arange(3)),
            r"no floating-array argument.*y: integer",
        ),
        (lambda: gv.check_layer(affine_forward, "affine_backward", X, W, B), r"backward must be callable, got str"),
        (lambda: gv.check_layer(affine_forward, affine_backward, X, W, B, kwargs=[1]), r"kwargs must be a dict"),
        (lambda: gv.check_layer(lambda x: (x[0], x), None, X), r"returned a loss of shape \(3,\)"),
        (lambda: gv.check_layer(affine_forward, affine_backward, X, W, B, method="best"), r"method='best'"),
    ],
)
def test_invalid_calls(call, words):
    with pytest.raises(InvalidArgument, match=words):
        call()


def test_directional_mode_names_the_wrong_argument_too():
    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        db = db.copy()
        db[2] += 1e-3
        return dx, dw, db

    report = gv.check_layer(affine_forward, backward, X, W, B, mode="directional", seed=0)
    assert not report.ok and report.mode == "directional"
    assert report.failed_arguments == ["db"]
    assert report.argument("db")["worst"] == "b[2]"


def test_a_directional_search_that_stopped_does_not_call_the_other_arguments_right():
    layer = zoo.make_layer("conv", seed=0)
    forward, backward = layer.broken["kernel_flipped"]  # many wrong entries of dx
    report = gv.check_layer(forward, backward, *layer.args, mode="directional", seed=0)
    assert report.failed_arguments == ["dx"]
    assert [report.argument(g)["verdict"] for g in ("dw", "db")] == ["unknown", "unknown"]
    assert not report.argument("dw")["ok"]


def test_optional_trailing_parameters_and_a_boolean_mask():
    def temporal_softmax_loss(x, y, mask, verbose=False):
        N, T, V = x.shape
        flat, labels, keep = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
        logp = flat - np.log(np.exp(flat).sum(axis=1, keepdims=True))
        loss = -np.sum(keep * logp[np.arange(N * T), labels]) / N
        dflat = np.exp(logp)
        dflat[np.arange(N * T), labels] -= 1
        return loss, (dflat * keep[:, None] / N).reshape(N, T, V)

    x, y = RNG.standard_normal((2, 3, 4)), RNG.integers(0, 4, (2, 3))
    mask = np.array([[True, True, False], [True, False, False]])
    report = gv.check_layer(temporal_softmax_loss, None, x, y, mask, seed=0)
    assert report.ok and list(report.constants) == ["y", "mask"]


def test_the_report_as_a_dict_carries_the_arguments():
    data = gv.check_layer(zoo.word_embedding_forward, zoo.word_embedding_backward, np.array([[0, 1, 1]]), W, seed=0)
    out = data.to_dict()
    assert out["arguments"][0]["gradient"] == "dW" and out["arguments"][0]["shape"] == [3, 5]
    assert "integer" in out["constants"]["x"]


# -- properties: no false alarm on a right layer at any scale, a 1e-6 bug in one gradient caught and named ----------

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _affine_point(seed: int, n: int, d: int, m: int, scale: float) -> tuple:
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((n, d)), rng.standard_normal((d, m)) / scale, rng.standard_normal(m)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    d=st.integers(1, 4),
    m=st.integers(1, 4),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_no_false_alarm_on_a_right_layer(seed, n, d, m, scale, dtype):
    x, w, b = (a.astype(dtype) for a in _affine_point(seed, n, d, m, scale))
    report = gv.check_layer(affine_forward, affine_backward, x, w, b, seed=seed % 1000)
    # Never a false alarm; a check too coarse to see a 1e-2 bug is inconclusive (its resolution says so),
    # as float32 is where one argument's gradient is far below the others' (scale 1e-3 or 1e3).
    assert report.outcome != "failed", str(report)
    assert report.ok or report.resolution > gv.steps.RESOLUTION_LIMIT, str(report)
    if dtype is np.float64 and scale == 1.0:
        assert report.ok, str(report)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    which=st.sampled_from(["dx", "dw", "db"]),
    rel=st.sampled_from([1e-6, -1e-6, 1e-4]),
    data=st.data(),
)
def test_a_small_bug_in_one_gradient_is_caught_and_named_in_float64(seed, which, rel, data):
    x, w, b = _affine_point(seed, 3, 4, 2, 1.0)
    grads = dict(zip(("dx", "dw", "db"), affine_backward(np.ones((3, 2)), (x, w, b))))
    entry = data.draw(st.integers(0, grads[which].size - 1), label="entry")

    def backward(dout, cache):
        out = dict(zip(("dx", "dw", "db"), affine_backward(dout, cache)))
        wrong = out[which].copy()
        flat = wrong.reshape(-1)
        flat[entry] += rel * max(1.0, float(np.max(np.abs(wrong))))  # a bug of size rel of the gradient's scale
        out[which] = wrong
        return out["dx"], out["dw"], out["db"]

    report = gv.check_layer(affine_forward, backward, x, w, b, seed=seed % 1000)
    assert report.failed_arguments == [which], str(report)
