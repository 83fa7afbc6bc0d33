"""Black-box tests of the pytest plugin: a small outside project, run as its users run it.

Each test writes a project that uses the ``gradcheck`` fixture and the
``gradverify`` marker, runs pytest on it in a subprocess (with ``-n 2`` and
with ``-p no:xdist``), and asserts what a user would see: outcomes, the failure
report with its diagnosis, the header and the summary totals.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import gradverify as gv

PROJECT = """
import numpy as np
import pytest

def loss(W):
    return 0.5 * np.sum(W ** 2) + np.sum(np.sin(W))

def grad(W):
    return W + np.cos(W)

def grad_one_entry_off(W):
    g = grad(W)
    g[1, 2] *= 3.0
    return g

X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)

def test_right(gradcheck):
    assert gradcheck(loss, grad, X).ok

def test_wrong(gradcheck):
    gradcheck(loss, grad_one_entry_off, X)

@pytest.mark.gradverify(method="central", safety=8)
def test_marker(gradcheck):
    assert gradcheck(loss, grad, X).method == "central"

def test_vjp(gradcheck):
    gradcheck.vjp(np.tanh, lambda x, g: g * (1 - np.tanh(x) ** 2), X)

def test_plain():
    pass
"""

X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
SUMMARY = re.compile(r"^(\d+) checks? run: (\d+) passed, (\d+) failed, (\d+) inconclusive, (\d+) raised", re.M)


def _loss(W: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(W**2) + np.sum(np.sin(W))


def _grad_one_entry_off(W: np.ndarray) -> np.ndarray:
    g = W + np.cos(W)
    g[1, 2] *= 3.0
    return g


@pytest.fixture(params=["xdist", "no-xdist"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(pytester: pytest.Pytester, mode: str, *args: str) -> pytest.RunResult:
    extra = ("-n", "2") if mode == "xdist" else ("-p", "no:xdist")
    return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", "-p", "no:randomly", *args)


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def counts(result: pytest.RunResult) -> dict[str, int]:
    """The summary's counts: checks, passed, failed, inconclusive, raised."""
    found = SUMMARY.findall(result.stdout.str())
    assert len(found) == 1, result.stdout.str()  # one summary, from the controller only
    numbers = dict(zip(("checks", "passed", "failed", "inconclusive", "raised"), map(int, found[0]), strict=True))
    assert numbers["checks"] == sum(numbers[k] for k in ("passed", "failed", "inconclusive", "raised"))
    return numbers


def totals(result: pytest.RunResult) -> tuple[int, int]:
    numbers = counts(result)
    return numbers["checks"], numbers["failed"]


def test_outcomes_report_and_summary(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_grads=PROJECT)
    result = run(pytester, mode)
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    expected = gv.check_grad(_loss, _grad_one_entry_off, X)
    assert not expected.ok and expected.diagnosis and expected.worst_name == "x[1, 2]"
    # the failure: the readable report with its diagnosis, at the user's line
    assert expected.diagnosis in out
    assert "gradcheck(loss, grad_one_entry_off, X)" in out
    assert "GradientMismatch" in out
    # the plugin's own frames are hidden from the traceback
    assert "pytest_plugin.py" not in out and "def _judge" not in out
    # the summary: totals, the worst error and where; the failure is listed by place
    assert totals(result) == (4, 1)
    result.stdout.fnmatch_lines(
        [
            "*= gradverify =*",
            f"worst relative error: * at {literal(expected.worst_name)} in test_grads.py::test_wrong (gradient)",
            f"FAILED test_grads.py::test_wrong: gradient check at {literal(expected.worst_name)}, relative error *",
        ]
    )
    # one diagnosis per failure: the report says it, the summary does not repeat it
    # (pytest's own short summary repeats the exception message in full when CI is set: not counted)
    assert out.split("short test summary info")[0].count(expected.diagnosis) == 1, out
    # one seed story: the failure names the session seed the summary prints, which replays it
    session = re.findall(r"replay the checks' random choices with --gradverify-seed=(\d+)", out)
    ours = out.split("short test summary info")[0]
    in_failure = re.findall(r"derived from the session's: replay with --gradverify-seed=(\d+)", ours)
    assert len(session) == 1 and in_failure == session, out
    derived = re.findall(r"seed (\d+), derived from the session's", out)
    replay = run(pytester, mode, f"--gradverify-seed={session[0]}").stdout.str()
    assert re.findall(r"seed (\d+), derived from the session's", replay) == derived


def test_many_checks_spread_over_workers_add_up(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        test_many="""
        import numpy as np
        import pytest

        @pytest.mark.parametrize("n", range(12))
        def test_square(gradcheck, n):
            x = np.arange(1.0, n + 2.0)
            gradcheck(lambda v: np.sum(v ** 2), lambda v: 2 * v, x)
            if n % 4 == 0:
                with pytest.raises(AssertionError):
                    gradcheck(lambda v: np.sum(v ** 2), lambda v: 3 * v, x)
        """
    )
    result = run(pytester, mode)
    result.assert_outcomes(passed=12)
    assert totals(result) == (15, 3)


def test_a_project_not_using_it_sees_nothing(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_other="def test_one():\n    assert 1 + 1 == 2\n")
    result = run(pytester, mode)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "gradverify:" not in out and not re.search(r"=+ gradverify =+", out)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, gradverify.pytest_plugin; "
        "print(sorted({'numpy', 'scipy', 'hypothesis'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_options_header_and_precedence(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        test_opts="""
        import numpy as np
        import pytest

        def f(x):
            return np.sum(np.exp(x))

        def test_option(gradcheck):
            assert gradcheck(f, np.exp, np.ones(3)).method == "forward"

        @pytest.mark.gradverify(method="richardson")
        def test_marker_beats_option(gradcheck):
            assert gradcheck(f, np.exp, np.ones(3)).method == "richardson"

        def test_call_beats_marker(gradcheck):
            assert gradcheck(f, np.exp, np.ones(3), method="central").method == "central"
        """
    )
    result = run(pytester, mode, "--gradverify-method=forward", "--gradverify-seed=1234")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["gradverify: method=forward, *seed=1234", "*--gradverify-seed=1234"])


def test_ini_settings(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini("[pytest]\ngradverify_method = central\ngradverify_seed = 77\n")
    pytester.makepyfile(
        test_ini="""
        import numpy as np

        def test_ini(gradcheck):
            assert gradcheck.session_seed == 77
            assert gradcheck(lambda x: np.sum(x ** 3), lambda x: 3 * x ** 2, np.ones(2)).method == "central"
        """
    )
    result = run(pytester, mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["gradverify: method=central, *seed=77"])


def test_workers_share_the_controllers_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_seed="""
        from pathlib import Path
        import numpy as np
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_seed(gradcheck, n):
            (Path(__file__).parent / f"seed-{n}.txt").write_text(str(gradcheck.session_seed))
            gradcheck(lambda x: x[0] ** 2, lambda x: 2 * x, np.ones(1))
        """
    )
    result = run(pytester, "xdist")
    result.assert_outcomes(passed=6)
    shown = re.search(r"--gradverify-seed=(\d+)", result.stdout.str())
    assert shown is not None
    seeds = {p.read_text() for p in pytester.path.glob("seed-*.txt")}
    assert seeds == {shown.group(1)}


def test_profile_is_loaded_and_shown(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        test_profile="""
        import numpy as np
        from hypothesis import settings
        from gradverify import strategies as gst

        def test_profile(gradcheck):
            assert settings.get_current_profile_name() == "gradverify-fast"
            result = gradcheck.verify(lambda x: np.sum(np.sin(x)), np.cos, gst.weights(shape=2))
            assert 1 <= result.examples <= 10  # the fast profile's max_examples
        """
    )
    result = run(pytester, mode, "--gradverify-profile=fast")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["gradverify: *profile=gradverify-fast*"])
    assert totals(result) == (1, 0)


def test_hypothesis_option_finds_our_profiles(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_profile="""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "gradverify-ci"
            assert settings.default.derandomize
        """
    )
    result = run(pytester, "no-xdist", "--hypothesis-profile=gradverify-ci")
    result.assert_outcomes(passed=1)


def test_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run(pytester, "no-xdist", "--gradverify-profile=nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradverify profile='nosuch' is not a registered Hypothesis profile*"])


def test_verify_shrinks_and_respects_max_examples(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_verify="""
        import numpy as np
        import pytest
        from gradverify import strategies as gst

        def test_right(gradcheck):
            result = gradcheck.verify(lambda x: np.sum(np.sin(x)), np.cos, gst.weights(shape=3))
            assert 1 <= result.examples <= 5

        @pytest.mark.gradverify(max_examples=30)
        def test_wrong(gradcheck):
            gradcheck.verify(lambda x: np.sum(np.sin(x)), lambda x: np.cos(x) + (x != 0), gst.weights(shape=3))
        """
    )
    result = run(pytester, "no-xdist", "--gradverify-max-examples=5", "--gradverify-seed=1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*minimal failing input (shrunk)*"])
    assert totals(result) == (2, 1)


@pytest.mark.parametrize(
    "marker, message",
    [
        ("gradverify(colour='red')", "the gradverify marker does not take colour"),
        ("gradverify('central')", "the gradverify marker takes keyword arguments only"),
    ],
)
def test_bad_marker_fails_with_a_clear_message(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        test_marker=f"""
        import pytest

        @pytest.mark.{marker}
        def test_x(gradcheck):
            pass
        """
    )
    result = run(pytester, "no-xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run(pytester, "no-xdist", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradverify(method=*"])


# -- nothing lost: every check counted, whatever it raised, under every xdist distribution --

CASES = """
import numpy as np

def square(x):
    return np.sum(x ** 2)

def twice(x):
    return 2 * x

def f32(x):
    # computes in float32 while x is float64: a check cannot see small bugs in it
    return np.sum(np.asarray(x, np.float32) ** 2)

def crash(x):
    return 1 / 0

X = np.linspace(0.5, 2.0, 8)
#: name -> (f, grad, x): each test of the project runs one of these at seed=0
CASES = {
    "right": (square, twice, X),
    "wrong": (square, lambda x: 3 * x, X),
    "lowprec": (f32, lambda x: x, X),
    "shape": (square, lambda x: np.ones(3), X),
    "nan": (square, lambda x: x * np.nan, X),
    "usercrash": (crash, twice, X),
}
"""

MIXED_A = """
import os
import pytest
from cases import CASES

@pytest.mark.parametrize("name", sorted(CASES))
def test_case(gradcheck, name):
    gradcheck(*CASES[name], seed=0)

def test_two_in_one(gradcheck):
    gradcheck(*CASES["right"], seed=0)
    with pytest.raises(AssertionError):
        gradcheck(*CASES["wrong"], seed=0)

def test_crash(gradcheck):
    gradcheck(*CASES["right"], seed=0)
    gradcheck(lambda x: os._exit(1), CASES["right"][1], CASES["right"][2], seed=0)
"""

MIXED_B = """
import pytest
from cases import CASES

@pytest.mark.parametrize("name", ["right", "wrong", "nan", "right", "lowprec"])
@pytest.mark.parametrize("k", range(2))
def test_more(gradcheck, name, k):
    gradcheck(*CASES[name], seed=0)

def test_plain():
    pass
"""


def _truth(pytester: pytest.Pytester, crash: bool) -> dict[str, int]:
    """The counts a correct plugin must show, from running the project's checks here."""
    namespace: dict[str, object] = {}
    exec(compile(CASES.replace('\n"""', ""), "cases.py", "exec"), namespace)
    cases = namespace["CASES"]
    assert isinstance(cases, dict)

    def outcome(name: str) -> str:
        try:
            report = gv.check_grad(*cases[name], seed=0)
        except Exception:
            return "raised"
        return str(getattr(report, "outcome", "passed" if report.ok else "failed"))

    runs = sorted(cases) + ["right", "wrong"] + 2 * ["right", "wrong", "nan", "right", "lowprec"]
    truth = dict.fromkeys(("passed", "failed", "inconclusive", "raised"), 0)
    for name in runs:
        truth[outcome(name)] += 1
    truth["checks"] = len(runs)
    truth["lost"] = int(crash)
    return truth


@pytest.mark.parametrize("dist", ["load", "loadfile", "worksteal", "no-xdist"])
def test_totals_are_the_truth_under_every_distribution(pytester: pytest.Pytester, dist: str) -> None:
    pytester.makepyfile(cases=CASES, test_mixed_a=MIXED_A, test_mixed_b=MIXED_B)
    crash = dist != "no-xdist"  # without xdist, a test that kills the process ends the session
    if crash:
        result = run(pytester, "xdist", f"--dist={dist}", "--max-worker-restart=2")
    else:
        result = run(pytester, "no-xdist", "--deselect", "test_mixed_a.py::test_crash")
    truth = _truth(pytester, crash)
    assert truth["failed"] and truth["raised"]  # the project mixes every kind it can
    shown = counts(result)
    out = result.stdout.str()
    assert {k: shown[k] for k in shown} == {k: truth[k] for k in shown}, out
    lost = re.findall(r"^LOST: the checks of (\d+) tests? whose xdist worker crashed .*: (.*)$", out, re.M)
    if crash:
        assert lost == [("1", "test_mixed_a.py::test_crash")], out
    else:
        assert lost == [], out
    # every check that did not pass is listed by its test
    ours = out.split("= gradverify =")[1].split("short test summary info")[0]
    listed = re.findall(r"^(FAILED|INCONCLUSIVE|RAISED) test_mixed_", ours, re.M)
    more = re.findall(r"^\.\.\. and (\d+) more checks? that did not pass", ours, re.M)
    assert len(listed) + sum(map(int, more)) == truth["failed"] + truth["inconclusive"] + truth["raised"], ours


def test_gradverify_errors_show_the_users_line_not_our_source(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        cases=CASES,
        test_err="""
        from cases import CASES

        def test_nan(gradcheck):
            gradcheck(*CASES["nan"])

        def test_usercrash(gradcheck):
            gradcheck(*CASES["usercrash"])
        """,
    )
    result = run(pytester, "no-xdist")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["E *NonFiniteValue: grad(x) returned nan at entry x[[]0[]]*"])
    # the user's own frames stay: the line of their f that raised
    result.stdout.fnmatch_lines(["*return 1 / 0*", "E *ZeroDivisionError: division by zero"])
    # gradverify's own source is not shown (it was ~50 lines per error)
    assert "gradverify/_core" not in out and "def _analytic_matrix" not in out, out
    assert len(out.splitlines()) < 60, out


def test_inconclusive_is_counted_apart() -> None:
    from gradverify.pytest_plugin import GradCheck, Stats, _record

    class Seen:
        ok = False
        outcome = "inconclusive"
        max_rel_error = 0.0
        worst_name = "x[0]"

        seed = 7

        def __str__(self) -> str:
            return "gradverify: gradient check INCONCLUSIVE\n  seed 7 (pass seed=7 to replay)"

    stats = Stats()
    stats.add(_record(Seen(), "t.py::test", "gradient"))
    # the fixture fails the test with CheckInconclusive, its replay line naming the session seed
    sink: list[dict[str, object]] = []
    with pytest.raises(gv.CheckInconclusive, match=r"(?s)INCONCLUSIVE.*--gradverify-seed=123 \(or pass seed=7"):
        GradCheck("t.py::test", {}, 123, sink)._judge(Seen(), "gradient", True)  # type: ignore[arg-type]
    assert [r["outcome"] for r in sink] == ["inconclusive"]

    # a verify run in which no drawn input could be judged: no report, nothing raised
    class Undecided:
        ok, outcome, report, error, counterexample = False, "inconclusive", None, None, None

        def __str__(self) -> str:
            return "gradverify: verify INCONCLUSIVE: every drawn input was discarded"

    with pytest.raises(gv.CheckInconclusive, match="every drawn input was discarded"):
        GradCheck("t.py::test", {}, 123, sink)._verdict_of_verify(Undecided(), True)
    assert [r["outcome"] for r in sink] == ["inconclusive", "inconclusive"]
    Seen.outcome = "failed"
    stats.add(_record(Seen(), "t.py::test", "gradient"))
    assert stats.counts == {"passed": 0, "failed": 1, "inconclusive": 1, "raised": 0}


def test_a_negative_marker_seed_is_a_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import numpy as np
        import pytest

        @pytest.mark.gradverify(seed=-1)
        def test_x(gradcheck):
            gradcheck(lambda x: np.sum(x ** 2), lambda x: 2 * x, np.ones(2))
        """
    )
    result = run(pytester, "no-xdist", "--gradverify-seed=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradverify seed='-3' is not an integer >= 0*"])
    result = run(pytester, "no-xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the gradverify marker's seed=-1 is not a seed: give an integer >= 0*"])
    assert "expected non-negative integer" not in result.stdout.str()
