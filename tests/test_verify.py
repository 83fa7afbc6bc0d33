"""``verify``: drawn inputs, a failure shrunk to a minimal counterexample.

Plain tests (not ``@given``): ``verify`` runs its own Hypothesis search, and
Hypothesis refuses a nested ``@given``.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import Phase, settings
from hypothesis.database import InMemoryExampleDatabase

from gradverify import strategies as gst
from gradverify import zoo
from gradverify._core.verification import PROFILES, VerifyResult, register_profiles, verifies, verify
from gradverify.errors import GradientMismatch, InvalidArgument, ShapeMismatch


def chain(x):
    return np.sum(x[:-1] * x[1:])


def chain_grad(x):
    g = np.zeros_like(x)
    g[:-1] += x[1:]
    g[1:] += x[:-1]
    return g


def chain_grad_roll(x):
    # d/dx_i = x[i-1] + x[i+1], written with np.roll: the wrap-around adds
    # x[-1] to the first entry and x[0] to the last, wrong at both ends
    return np.roll(x, 1) + np.roll(x, -1)


VECTORS = gst.weights(shape=gst.shapes(max_dims=1, max_side=8))


def test_the_roll_bug_is_found_and_shrunk_to_a_tiny_simple_vector():
    result = verify(chain, chain_grad_roll, VECTORS, max_examples=50, seed=0)
    print(result)
    assert not result.ok
    x = result.counterexample
    assert isinstance(x, np.ndarray) and x.ndim == 1 and x.size <= 2
    assert np.all(x == np.round(x)) and np.all(np.abs(x) <= 1)  # simple values
    # the report is the core's report *at* the counterexample
    assert result.report is not None and not result.report.ok
    assert isinstance(result.error, GradientMismatch) and result.error.report is result.report
    assert result.report.worst_index in {(0,), (x.size - 1,)}
    np.testing.assert_array_equal(result.report.analytic, chain_grad_roll(x))
    assert 1 <= result.examples <= 200


def test_with_three_or_more_entries_the_blame_falls_on_an_end():
    vectors = gst.weights(shape=gst.shapes(max_dims=1, min_side=3, max_side=8))
    result = verify(chain, chain_grad_roll, vectors, max_examples=50, seed=0)
    assert not result.ok
    x = result.counterexample
    assert x.shape == (3,)
    assert np.all(x == np.round(x)) and np.all(np.abs(x) <= 1)  # simple values
    assert result.report.worst_index in {(0,), (2,)}


def test_a_correct_gradient_passes_every_drawn_input():
    result = verify(chain, chain_grad, VECTORS, max_examples=20, seed=0)
    assert result.ok and bool(result)
    assert result.examples == 20
    assert result.counterexample is None and result.report is None and result.error is None
    assert "ok" in str(result)


def test_a_seeded_run_replays_exactly():
    a = verify(chain, chain_grad_roll, VECTORS, max_examples=30, seed=123)
    b = verify(chain, chain_grad_roll, VECTORS, max_examples=30, seed=123)
    assert (a.examples, a.check_seed) == (b.examples, b.check_seed)
    np.testing.assert_array_equal(a.counterexample, b.counterexample)


def test_a_failure_found_once_is_replayed_from_the_database():
    db = InMemoryExampleDatabase()
    # A bug in a corner: wrong only when the first entry is larger than 5 (of
    # [-10, 10]) on a vector of 3+.  Not rarer: which floats Hypothesis tries
    # first depends on the constants of the modules already imported, so a rare
    # corner is found or missed depending on the order tests run in.
    vectors = gst.weights(shape=gst.shapes(max_dims=1, min_side=3, max_side=6))

    def corner_grad(x):
        g = chain_grad(x)
        if x[0] > 5.0:
            g[0] *= -1
        return g

    first = verify(chain, corner_grad, vectors, max_examples=300, seed=0, database=db)
    assert not first.ok, "the search should find the corner (if not, raise max_examples)"
    # Replay only: no generation, no shrinking.  The failure can only come back
    # from the database, and it comes back on the first call (plus Hypothesis'
    # final replay of the failure).
    replay_only = settings(phases=[Phase.reuse])
    second = verify(chain, corner_grad, vectors, settings=replay_only, seed=999, database=db)
    assert not second.ok and second.examples <= 2
    np.testing.assert_array_equal(second.counterexample, first.counterexample)
    # Control: the same replay-only run with an empty database finds nothing.
    control = verify(chain, corner_grad, vectors, settings=replay_only, database=InMemoryExampleDatabase())
    assert control.ok and control.examples == 0
    # The key is per derivative: another gradient does not replay this entry.
    other = verify(chain, chain_grad, vectors, settings=replay_only, database=db)
    assert other.ok and other.examples == 0


def test_a_directory_database_persists_between_calls(tmp_path):
    first = verify(chain, chain_grad_roll, VECTORS, max_examples=50, seed=0, database=str(tmp_path))
    again = verify(chain, chain_grad_roll, VECTORS, settings=settings(phases=[Phase.reuse]), database=tmp_path)
    assert not first.ok and not again.ok
    np.testing.assert_array_equal(again.counterexample, first.counterexample)


def test_parameter_dicts_are_verified_and_the_counterexample_is_a_dict():
    X, y = zoo.make_dataset(5, 3, 2, seed=0)
    problem = dict(f=lambda p: zoo.mlp_loss(p, X, y, 0.1), grad=lambda p: zoo.mlp_grad(p, X, y, 0.1))
    inputs = gst.params(dims={"D": 3, "C": 2}, max_side=3, max_magnitude=2.0)
    good = verify(problem["f"], problem["grad"], inputs, max_examples=10, seed=0)
    assert good.ok, str(good)
    sign_bug = zoo.mutants(problem["grad"])["sign"]
    bad = verify(problem["f"], sign_bug, inputs, max_examples=10, seed=0)
    assert not bad.ok
    assert set(bad.counterexample) == {"W1", "b1", "W2", "b2"}
    assert bad.counterexample["b1"].shape == (1,)  # the hidden width shrinks to 1
    assert bad.report.worst_name is not None


def test_a_derivative_with_the_wrong_shape_for_some_inputs_is_a_failure_too():
    def grad_drops_an_entry_when_long(x):
        return chain_grad(x)[:3]

    result = verify(chain, grad_drops_an_entry_when_long, VECTORS, max_examples=30, seed=0)
    assert not result.ok
    assert isinstance(result.error, ShapeMismatch) and result.report is None
    assert result.counterexample.shape == (4,)  # the smallest shape that breaks it
    assert "ShapeMismatch" in str(result)


def test_errors_that_are_not_verdicts_propagate():
    def f_breaks(x):
        raise ZeroDivisionError("a bug in f, not a finding about grad")

    with pytest.raises(ZeroDivisionError):
        verify(f_breaks, chain_grad, VECTORS, max_examples=5, seed=0)


def test_the_drawn_inputs_are_kept_unmodified_as_the_counterexample():
    def grad_scribbles(x):
        g = chain_grad(x) + 1.0  # wrong everywhere
        x[...] = 7.0  # and it writes into its input
        return g

    result = verify(chain, grad_scribbles, VECTORS, max_examples=10, seed=0)
    assert not result.ok
    assert not np.any(result.counterexample == 7.0)


INVALID = [
    (dict(f=3), "f=3"),
    (dict(grad=None), "grad=None"),
    (dict(inputs=np.zeros(3)), "inputs=array"),
    (dict(max_examples=0), "max_examples=0"),
    (dict(max_examples=2.5), "max_examples=2.5"),
    (dict(seed="0"), "seed='0'"),
    (dict(settings={"max_examples": 3}), "settings="),
    (dict(database=3), "database=3"),
]


@pytest.mark.parametrize("kwargs, message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_arguments_name_the_argument(kwargs, message):
    args = dict(f=chain, grad=chain_grad, inputs=VECTORS)
    args.update(kwargs)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace("[", r"\[")):
        verify(args.pop("f"), args.pop("grad"), args.pop("inputs"), **args)


def test_the_decorator_turns_a_gradient_into_a_test():
    @verifies(chain, VECTORS, max_examples=10, seed=0)
    def test_chain_grad(x):
        return chain_grad(x)

    @verifies(chain, VECTORS, max_examples=30, seed=0)
    def test_chain_grad_roll(x):
        return chain_grad_roll(x)

    # pytest must see tests without arguments (no fixture named x)
    assert list(inspect.signature(test_chain_grad).parameters) == []
    assert test_chain_grad.__name__ == "test_chain_grad"
    assert test_chain_grad() is None
    with pytest.raises(AssertionError, match="shrunk counterexample: array"):
        test_chain_grad_roll()


def test_profiles_are_our_own():
    before = {name: settings.get_profile(name) for name in ("default", "ci")}
    register_profiles()
    register_profiles()  # idempotent
    for name in ("default", "ci"):
        assert settings.get_profile(name) is before[name]
    assert set(PROFILES) == {"gradverify-fast", "gradverify-ci", "gradverify-thorough"}
    ci = settings.get_profile("gradverify-ci")
    assert ci.deadline is None and ci.derandomize and ci.database is None
    assert (
        settings.get_profile("gradverify-fast").max_examples < settings.get_profile("gradverify-thorough").max_examples
    )


def test_verify_works_in_a_plain_script():
    script = textwrap.dedent(
        """
        import numpy as np
        from gradverify import strategies as gst
        from gradverify._core.verification import verify
        r = verify(lambda x: np.sum(x[:-1] * x[1:]), lambda x: np.roll(x, 1) + np.roll(x, -1),
                   gst.weights(shape=gst.shapes(max_dims=1)), max_examples=30, seed=0)
        print(r.ok, r.counterexample.tolist())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ok, values = out.stdout.strip().split(" ", 1)
    assert ok == "False" and len(eval(values)) <= 2


def test_the_result_is_a_plain_record():
    r = VerifyResult(ok=True, examples=3)
    assert r.ok and r.counterexample is None and r.check_seed is None
    assert "FAILED" in str(VerifyResult(ok=False, examples=3, counterexample=np.ones(1)))


def test_a_two_layer_relu_net_passes_where_it_is_differentiable_and_its_bugs_are_caught():
    # Hypothesis used to shrink to W1 = 0, b1 = 0: every hidden unit on its
    # kink, where no one-sided slope is "the" derivative.  Such inputs are
    # not evidence: they are discarded (counted), as hypothesis.assume does.
    X, y = zoo.make_dataset(5, 3, 2, seed=0)

    def f(p):
        return zoo.mlp_loss(p, X, y, 0.1)

    def grad(p):
        return zoo.mlp_grad(p, X, y, 0.1)

    inputs = gst.params(dims={"D": 3, "C": 2}, max_side=3, max_magnitude=2.0)
    results = [verify(f, grad, inputs, max_examples=15, seed=seed) for seed in range(20)]
    assert all(r.ok for r in results), next(str(r) for r in results if not r.ok)
    assert all(r.examples >= 15 + r.discarded - 1 for r in results)
    for name in ("sign", "double", "transposed"):
        bad = verify(f, zoo.mutants(grad)[name], inputs, max_examples=15, seed=0)
        assert not bad.ok and bad.report is not None and bad.report.outcome == "failed", (name, str(bad))


def test_inputs_where_f_is_not_differentiable_are_discarded_and_counted():
    def l1(x):
        return np.sum(np.abs(x))

    def outside_at_zero(x):  # right away from 0; at 0, outside the slopes -1 and 1
        return np.where(x == 0, 2.0, np.sign(x))

    kinked = gst.weights(shape=3, max_magnitude=1.0).map(lambda x: np.where(np.abs(x) < 0.1, 0.0, x))
    result = verify(l1, outside_at_zero, kinked, max_examples=20, seed=0)
    assert result.ok and result.discarded > 0, str(result)
    assert "discarded" in str(result)
    # int(1e4 * |x|**2) away from 0: never judged (inconclusive, discarded) or
    # failed, so never ok.  (Near 0 it is constant 0, and a gradient that is 0
    # there is right: such inputs would pass.)
    away = gst.weights(shape=gst.shapes(max_dims=1, max_side=4), min_magnitude=0.5, max_magnitude=2.0)
    quantised = verify(lambda x: int(1e4 * np.sum(x**2)), lambda x: 2e4 * x, away, max_examples=10, seed=0)
    assert not quantised.ok, str(quantised)
