"""Unit and property tests of gradverify.descent: the descent loops, schedules and smoothness."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradverify import descent, zoo
from gradverify import strategies as gst
from gradverify.errors import InvalidArgument, ShapeMismatch


def quadratic(eigenvalues, seed=0):
    """0.5 w'Aw - b'w with A's eigenvalues given, in a random basis."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    A = q @ np.diag(eigenvalues) @ q.T
    b = rng.standard_normal(len(eigenvalues))
    return (lambda w: 0.5 * w @ A @ w - b @ w), (lambda w: A @ w - b), A, b


def softmax_fns(reg=0.1):
    return (lambda W, X, y: zoo.softmax_loss(W, X, y, reg)), (lambda W, X, y: zoo.softmax_grad(W, X, y, reg))


# -- gradient_descent ---------------------------------------------------------------------
def test_gradient_descent_is_the_update_of_the_notes():
    f, g, A, b = quadratic([1.0, 2.0, 5.0])
    w = np.array([1.0, -2.0, 0.5])
    run = descent.gradient_descent(f, g, w, step_size=0.1, steps=7)
    expected = [w.copy()]
    for _ in range(7):
        expected.append(expected[-1] + -0.1 * g(expected[-1]))
    assert run.steps == 7 and run.status == "completed"
    assert all(np.array_equal(a, e) for a, e in zip(run.weights, expected))
    assert run.losses.tolist() == [f(e) for e in expected]
    assert run.grad_norms.tolist() == [np.linalg.norm(g(e)) for e in expected]
    assert run.loss_calls == run.grad_calls == 8
    assert run.step_sizes.tolist() == [0.1] * 7
    assert np.array_equal(w, [1.0, -2.0, 0.5])  # the caller's array is untouched


def test_dict_weights_keep_their_structure_and_the_caller_keeps_its_arrays():
    problem = zoo.make_problem("mlp", seed=3)
    before = {k: v.copy() for k, v in problem.x0.items()}
    run = descent.gradient_descent(problem.f, problem.grad, problem.x0, step_size=0.5, steps=10)
    assert set(run.w) == set(problem.x0)
    assert all(run.w[k].shape == problem.x0[k].shape for k in problem.x0)
    assert all(np.array_equal(problem.x0[k], before[k]) for k in before)
    assert run.losses[-1] < run.losses[0]


def test_functions_that_mutate_their_argument_cannot_disturb_the_run():
    f, g, _, _ = quadratic([1.0, 3.0])

    def vandal(w):
        out = g(w)
        w[...] = 1e9
        return out

    clean = descent.gradient_descent(f, g, np.ones(2), step_size=0.1, steps=5)
    dirty = descent.gradient_descent(f, vandal, np.ones(2), step_size=0.1, steps=5)
    assert np.array_equal(clean.w, dirty.w)


def test_float32_weights_are_worked_in_float32():
    problem = zoo.make_problem("softmax", seed=0, dtype=np.float32)
    run = descent.gradient_descent(problem.f, problem.grad, problem.x0, step_size=0.5, steps=3)
    assert run.w.dtype == np.float32


def test_record_every_keeps_every_kth_and_the_last():
    f, g, _, _ = quadratic([1.0, 2.0])
    run = descent.gradient_descent(f, g, np.ones(2), step_size=0.1, steps=10, record_every=4)
    assert run.recorded_steps.tolist() == [0, 4, 8, 10]
    assert len(run.weights) == 4


def test_a_diverging_run_stops_and_says_so():
    f, g, _, _ = quadratic([1.0, 4.0])
    with np.errstate(over="ignore", invalid="ignore"):
        run = descent.gradient_descent(f, g, np.ones(2), step_size=10.0, steps=2000)
    assert run.status == "diverged"
    assert run.steps < 2000
    assert not np.isfinite(run.losses[-1])
    assert np.all(np.isfinite(run.losses[:-1]))


def test_callback_sees_every_iterate_and_can_stop_the_run():
    f, g, _, _ = quadratic([1.0, 4.0])
    seen = []

    def callback(t, w, loss, grad):
        seen.append((t, loss, float(np.linalg.norm(grad))))
        return t == 3

    run = descent.gradient_descent(f, g, np.ones(2), step_size=0.1, steps=10, callback=callback)
    assert run.status == "stopped" and run.steps == 3
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert [s[1] for s in seen] == run.losses.tolist()
    assert np.array_equal(run.w, run.weights[-1])


# -- schedules ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "policy, kwargs, t, expected",
    [
        ("fixed", {}, 1000, 0.1),
        ("step", {"gamma": 0.1, "stepsize": 100}, 99, 0.1),
        ("step", {"gamma": 0.1, "stepsize": 100}, 250, 0.1 * 0.1**2),
        ("exp", {"gamma": 0.99}, 10, 0.1 * 0.99**10),
        ("inv", {"gamma": 1e-4, "power": 0.75}, 5000, 0.1 * (1 + 1e-4 * 5000) ** -0.75),
    ],
)
def test_schedules_follow_caffe(policy, kwargs, t, expected):
    assert descent.schedule(policy, 0.1, **kwargs)(t) == pytest.approx(expected, rel=1e-15)


def test_a_schedule_drives_the_step_sizes():
    f, g, _, _ = quadratic([1.0])
    s = descent.schedule("exp", 0.5, gamma=0.5)
    run = descent.gradient_descent(f, g, np.ones(1), step_size=s, steps=4)
    assert run.step_sizes.tolist() == [0.5, 0.25, 0.125, 0.0625]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("cosine", 0.1), {}, "policy='cosine' is not one of"),
        (("fixed", 0.0), {}, "base_lr=0.0 must be positive"),
        (("fixed", float("nan")), {}, "base_lr=nan must be finite"),
        (("step", 0.1), {"gamma": 0.5}, "needs gamma, stepsize; stepsize is missing"),
        (("step", 0.1), {"gamma": 0.5, "stepsize": 0}, "stepsize=0 must be a positive int"),
        (("exp", 0.1), {}, "needs gamma; gamma is missing"),
        (("exp", 0.1), {"gamma": -1.0}, "gamma=-1.0 must be positive"),
        (("inv", 0.1), {"gamma": 0.1, "power": -1.0}, "power >= 0"),
        (("fixed", 0.1), {"gamma": 0.5}, "gamma=0.5 has no effect with policy='fixed'"),
    ],
)
def test_bad_schedules_say_what_is_wrong(args, kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        descent.schedule(*args, **kwargs)


# -- mini-batch descent and SGD -------------------------------------------------------------
def recording(batches):
    """Loss and gradient of 0.5 |w - mean(rows)|^2 that record the rows of each call."""

    def loss(w, rows):
        return 0.5 * float(np.sum((w - rows.mean(axis=0)) ** 2))

    def grad(w, rows):
        batches.append(rows[:, 0].astype(int).tolist())
        return w - rows.mean(axis=0)

    return loss, grad


@pytest.mark.parametrize("n, batch_size", [(10, 3), (8, 4), (5, 1), (6, 6)])
def test_shuffle_uses_every_sample_once_per_epoch(n, batch_size):
    batches = []
    loss, grad = recording(batches)
    data = (np.arange(n, dtype=float)[:, None],)
    per_epoch = -(-n // batch_size)
    descent.minibatch_gradient_descent(
        loss, grad, np.zeros(1), data, step_size=0.1, batch_size=batch_size, steps=3 * per_epoch, seed=4
    )
    steps = batches[:-1]  # the last call is the full-data gradient at the final weights
    assert batches[-1] == list(range(n))
    for e in range(3):
        epoch = steps[e * per_epoch : (e + 1) * per_epoch]
        assert sorted(i for b in epoch for i in b) == list(range(n))
        assert [len(b) for b in epoch] == [batch_size] * (n // batch_size) + (
            [n % batch_size] if n % batch_size else []
        )


def test_replacement_draws_batches_of_full_size_with_repeats():
    batches = []
    loss, grad = recording(batches)
    data = (np.arange(4, dtype=float)[:, None],)
    descent.minibatch_gradient_descent(
        loss, grad, np.zeros(1), data, step_size=0.1, batch_size=3, steps=50, sampling="replacement", seed=1
    )
    assert all(len(b) == 3 for b in batches[:-1])
    assert any(len(set(b)) < 3 for b in batches[:-1])


def test_a_seed_replays_a_run_and_none_records_the_seed_it_drew():
    X, y = zoo.make_dataset(30, 4, 3, seed=2)
    f, g = softmax_fns()
    w0 = np.zeros((4, 3))
    kw = dict(step_size=0.5, batch_size=4, steps=12)
    a = descent.minibatch_gradient_descent(f, g, w0, (X, y), seed=7, **kw)
    b = descent.minibatch_gradient_descent(f, g, w0, (X, y), seed=7, **kw)
    c = descent.minibatch_gradient_descent(f, g, w0, (X, y), seed=8, **kw)
    assert np.array_equal(a.losses, b.losses) and not np.array_equal(a.losses, c.losses)
    drawn = descent.minibatch_gradient_descent(f, g, w0, (X, y), seed=None, **kw)
    replay = descent.minibatch_gradient_descent(f, g, w0, (X, y), seed=drawn.seed, **kw)
    assert np.array_equal(drawn.losses, replay.losses)


def test_sgd_is_the_notes_loop_over_shuffled_samples():
    # Against the loop of the notes written out here (not sgd's own code): epochs of a permutation drawn
    # from default_rng(seed), one sample per update, w -= step_size * grad(w, x_i, y_i).
    X, y = zoo.make_dataset(12, 3, 2, seed=5)
    f, g = softmax_fns()
    a = descent.sgd(f, g, np.zeros((3, 2)), (X, y), step_size=0.2, steps=20, seed=3)
    rng, w, order = np.random.default_rng(3), np.zeros((3, 2)), []
    for _ in range(20):
        if not order:
            order = list(rng.permutation(12))
        i = order.pop(0)
        w = w - 0.2 * g(w, X[i : i + 1], y[i : i + 1])
    np.testing.assert_allclose(a.w, w, rtol=1e-13, atol=1e-15)
    b = descent.minibatch_gradient_descent(
        f, g, np.zeros((3, 2)), (X, y), step_size=0.2, batch_size=1, steps=20, seed=3
    )
    assert np.array_equal(a.losses, b.losses) and np.array_equal(a.w, b.w)
    assert a.losses.shape == (21,) and a.loss_calls == a.grad_calls == 21
    # the last loss is on all the data at the final weights
    assert a.losses[-1] == f(a.w, X, y)


def test_sgd_gets_most_of_the_way_full_batch_descent_gets():
    X, y = zoo.make_dataset(64, 5, 3, seed=0)
    f, g = softmax_fns(reg=0.01)
    w0 = np.zeros((5, 3))
    full = descent.gradient_descent(lambda w: f(w, X, y), lambda w: g(w, X, y), w0, step_size=1.0, steps=300)
    lr = descent.schedule("inv", 0.2, gamma=0.01, power=0.75)
    run = descent.sgd(f, g, w0, (X, y), step_size=lr, steps=640, seed=0)
    assert f(w0, X, y) - run.final_loss > 0.9 * (f(w0, X, y) - full.final_loss)


@settings(max_examples=30, deadline=None)
@given(
    data=gst.datasets(n_samples=st.integers(1, 12), n_features=st.integers(1, 4), n_classes=st.integers(1, 3)),
    scale=st.floats(0.0, 2.0),
    steps=st.integers(1, 6),
    lr=gst.learning_rates(min_value=1e-3, max_value=1.0),
    reg=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_batch_size_n_retraces_full_batch_descent(data, scale, steps, lr, reg, seed):
    X, y = data
    f, g = softmax_fns(reg)
    w0 = scale * np.random.default_rng(seed).standard_normal((X.shape[1], int(y.max()) + 1))
    full = descent.gradient_descent(lambda w: f(w, X, y), lambda w: g(w, X, y), w0, step_size=lr, steps=steps)
    mini = descent.minibatch_gradient_descent(f, g, w0, (X, y), step_size=lr, batch_size=len(X), steps=steps, seed=seed)
    for a, b in zip(full.weights, mini.weights):
        assert np.max(np.abs(a - b), initial=0.0) <= 1e-12 * max(1.0, np.max(np.abs(a), initial=0.0))
    np.testing.assert_allclose(mini.losses, full.losses, rtol=1e-12, atol=0)


# -- invalid arguments ------------------------------------------------------------------------
def _fg():
    f, g = softmax_fns()
    X, y = zoo.make_dataset(6, 2, 2, seed=0)
    return f, g, np.zeros((2, 2)), (X, y)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"step_size": 0.0}, InvalidArgument, "step_size=0.0 must be positive"),
        ({"step_size": float("inf")}, InvalidArgument, "must be finite"),
        ({"step_size": lambda t: -1.0}, InvalidArgument, r"step_size\(0\)=-1.0 must be positive"),
        ({"steps": -1}, InvalidArgument, "steps=-1 must be an int >= 0"),
        ({"steps": 2.5}, InvalidArgument, "steps=2.5"),
        ({"batch_size": 0}, InvalidArgument, "batch_size=0"),
        ({"batch_size": 7}, InvalidArgument, "batch_size=7 is larger than the 6 samples"),
        ({"sampling": "bootstrap"}, InvalidArgument, "sampling='bootstrap' is not one of"),
        ({"record_every": 0}, InvalidArgument, "record_every=0"),
        ({"seed": -3}, InvalidArgument, "seed=-3"),
        ({"data": (np.zeros((6, 2)), np.zeros(5))}, ShapeMismatch, r"share their first axis, got lengths \[6, 5\]"),
        ({"data": ()}, InvalidArgument, "non-empty tuple of arrays"),
        ({"data": (np.zeros((0, 2)),)}, InvalidArgument, "no samples"),
    ],
)
def test_bad_arguments_of_minibatch_descent(change, error, match):
    f, g, w0, data = _fg()
    kw = dict(step_size=0.1, batch_size=2, steps=3, seed=0)
    kw.update(change)
    data = kw.pop("data", data)
    with pytest.raises(error, match=match):
        descent.minibatch_gradient_descent(f, g, w0, data, **kw)


def test_a_gradient_of_the_wrong_shape_or_a_loss_that_is_not_scalar_is_named():
    f, g, _, _ = quadratic([1.0, 2.0])
    with pytest.raises(ShapeMismatch, match=r"grad\(w, \*batch\) has shape \(3,\), expected \(2,\)"):
        descent.gradient_descent(f, lambda w: np.zeros(3), np.ones(2), step_size=0.1, steps=1)
    with pytest.raises(InvalidArgument, match="must return a real scalar"):
        descent.gradient_descent(lambda w: w, g, np.ones(2), step_size=0.1, steps=1)


def test_trajectory_reports_in_json_and_words():
    f, g, _, _ = quadratic([1.0, 2.0])
    run = descent.gradient_descent(f, g, np.ones(2), step_size=0.1, steps=3)
    d = json.loads(json.dumps(run.to_dict()))
    assert d["steps"] == 3 and d["status"] == "completed" and len(d["losses"]) == 4
    assert "3 steps, completed" in str(run) and "4 grad calls" in str(run)


# -- smoothness ---------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    eigenvalues=st.lists(st.floats(-10.0, 10.0).filter(lambda v: abs(v) > 1e-3), min_size=1, max_size=6),
    seed=st.integers(0, 100),
)
def test_smoothness_of_a_quadratic_is_its_largest_eigenvalue(eigenvalues, seed):
    _, g, A, _ = quadratic(eigenvalues, seed)
    w = np.random.default_rng(seed).standard_normal(len(eigenvalues))
    s = descent.estimate_smoothness(g, w, iterations=500, rtol=1e-10)
    top = max(abs(v) for v in eigenvalues)
    # Power iteration approaches from below; eigenvalues within 1e-3 of each other may not separate.
    assert s.L <= top * (1 + 1e-6)
    assert s.L >= top * (1 - 1e-3)
    assert s.step_size == 1 / s.L
    assert s.evaluations == 2 * s.iterations


def test_smoothness_of_dict_weights_and_of_a_linear_function():
    problem = zoo.make_problem("mlp", seed=1)
    s = descent.estimate_smoothness(problem.grad, problem.x0)
    assert s.converged and s.L > 0
    flat = descent.estimate_smoothness(lambda w: np.ones_like(w), np.zeros(3))
    assert flat.L == 0 and flat.step_size == np.inf and flat.converged


def test_smoothness_of_logistic_regression_is_below_its_hessian_bound():
    X, y = zoo.make_dataset(50, 4, 2, seed=0)
    y = y.astype(float)
    w = np.zeros(4)
    s = descent.estimate_smoothness(lambda v: zoo.logistic_grad(v, X, y, 0.1), w)
    # At w = 0 every sigmoid' is exactly 1/4: the Hessian is X'X / (4N) + reg I.
    exact = np.linalg.eigvalsh(X.T @ X / (4 * len(X))).max() + 0.1
    assert s.L == pytest.approx(exact, rel=1e-5)


# -- the caller's data and the callback's answer ---------------------------------------------


def test_minibatch_descent_reports_a_loss_that_normalises_its_data_and_keeps_the_data():
    from gradverify.errors import InputMutated

    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 2)) + 3.0
    y = X @ np.array([1.0, 2.0])
    before = X.copy()

    def loss(w, X, y):
        X /= np.linalg.norm(X, axis=0)
        return float(0.5 * np.mean((X @ w - y) ** 2))

    def grad(w, X, y):
        return X.T @ (X @ w - y) / len(y)

    for run in (
        lambda: descent.minibatch_gradient_descent(
            loss, grad, np.zeros(2), (X, y), step_size=0.1, batch_size=5, steps=3, seed=0
        ),
        lambda: descent.sgd(loss, grad, np.zeros(2), (X, y), step_size=0.1, steps=3, seed=0),
    ):
        with pytest.raises(InputMutated, match=r"loss\(w, \*data\) wrote into data\[0\] in place"):
            run()
        np.testing.assert_array_equal(X, before)


def test_loss_and_grad_each_get_their_own_weights():
    seen = []

    def loss(w):
        w *= 0.0  # a careless loss: it must not change the point grad is asked about
        return 0.0

    def grad(w):
        seen.append(w.copy())
        return np.zeros_like(w)

    descent.gradient_descent(loss, grad, np.ones(2), step_size=0.1, steps=1)
    assert all(np.array_equal(w, np.ones(2)) for w in seen)


@pytest.mark.parametrize("answer", [np.ones(2), "stop", 1])
def test_a_callback_returning_something_else_than_a_bool_is_a_clear_error(answer):
    with pytest.raises(InvalidArgument, match=r"callback returned .*it must return True to stop the run"):
        descent.gradient_descent(
            lambda w: 0.5 * np.sum(w**2), lambda w: w, np.ones(2), step_size=0.1, steps=3, callback=lambda *a: answer
        )


@pytest.mark.parametrize("answer, steps", [(None, 3), (False, 3), (True, 0), (np.bool_(True), 0)])
def test_a_callback_stops_on_true_and_goes_on_on_none_or_false(answer, steps):
    run = descent.gradient_descent(
        lambda w: 0.5 * np.sum(w**2), lambda w: w, np.ones(2), step_size=0.1, steps=3, callback=lambda *a: answer
    )
    assert run.steps == steps
