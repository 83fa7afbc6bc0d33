"""Black-box tests of the ``gradverify`` command: every subcommand, exit codes, bad input.

Most tests call ``main(argv)`` in-process (fast); the README's commands run
verbatim in a subprocess, as a user would type them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradverify as gv
from gradverify.cli import ExitCode, main
from gradverify.cli._targets import parse_shapes

ROOT = Path(__file__).resolve().parent.parent

#: The user's module the README shows (``model.py``); the README's commands run against it.
MODEL = textwrap.dedent(
    """
    import numpy as np

    def loss(W):
        return 0.5 * np.sum(W ** 2) + np.sum(np.sin(W))

    def loss_grad(W):
        return W + np.cos(W)

    def loss_grad_wrong(W):
        return 2.0 * (W + np.cos(W))

    def loss_and_grad(W):
        return loss(W), loss_grad(W)
    """
)

#: Everything else the tests need, kept out of the README's model.
EXTRA = textwrap.dedent(
    """
    def layer(x):
        return np.tanh(x)

    def layer_vjp(x, g):
        return g * (1.0 - np.tanh(x) ** 2)

    def layer_vjp_wrong(x, g):
        return g * (1.0 + np.tanh(x) ** 2)

    def mlp_loss(p):
        return np.sum(np.tanh(p["W"]) ** 2) + np.sum(p["b"] ** 3)

    def mlp_grad(p):
        return {"W": 2 * np.tanh(p["W"]) * (1 - np.tanh(p["W"]) ** 2), "b": 3 * p["b"] ** 2}

    def ascent_grad(W):
        return -loss_grad(W)

    def wrong_shape_grad(W):
        return np.sum(W + np.cos(W), axis=0)

    def not_a_pair(W):
        return loss(W)

    def boom(W):
        raise RuntimeError("the loss exploded")

    def exits(W):
        import sys
        sys.exit(0)

    def bare_exit(W):
        raise SystemExit

    def generator_exit(W):
        raise GeneratorExit

    def vector(W):
        return np.tanh(W)

    def vector_grad(W):
        return 1 - np.tanh(W) ** 2

    rate = 0.1
    """
)

#: The commands the README shows, in order; each runs verbatim below.  Keep in sync with README.md.
README_COMMANDS = [
    "gradverify demo",
    "gradverify check model.py:loss --grad loss_grad --shape 4,3",
    "gradverify check model.py:loss --grad loss_grad_wrong --shape 4,3",
    "gradverify check model.py:loss_and_grad --returns-grad --shape 4,3 --examples 20",
    "gradverify steps model.py:loss --grad loss_grad --shape 4,3",
    "gradverify descent model.py:loss --grad loss_grad --shape 4,3",
    "python -m gradverify demo",
]
#: Their exit codes: the wrong gradient is caught.
README_EXIT = {README_COMMANDS[2]: ExitCode.CHECK_FAILED}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding the user's model.py, as the current directory.

    The command imports ``model`` (and puts its folder on sys.path); both are
    undone afterwards so the next test imports its own copy.
    """
    (tmp_path / "model.py").write_text(MODEL + EXTRA)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- check ------------------------------------------------------------------------------------


def test_check_passes_a_correct_gradient(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "model.py:loss", "--grad", "model.py:loss_grad", "--shape", "4,3")
    assert code == ExitCode.OK
    x = np.random.default_rng(0).standard_normal((4, 3))
    import model  # the user's module, importable as from the current directory

    expected = gv.check_grad(model.loss, model.loss_grad, x, seed=0)
    assert expected.ok
    assert str(expected) in out
    assert err == ""  # no progress output: stderr is not a terminal here


def test_check_catches_a_wrong_gradient_and_prints_its_diagnosis(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", "model:loss", "--grad", "loss_grad_wrong", "--shape", "4,3")
    assert code == ExitCode.CHECK_FAILED
    import model

    x = np.random.default_rng(0).standard_normal((4, 3))
    expected = gv.check_grad(model.loss, model.loss_grad_wrong, x, seed=0)
    assert not expected.ok and expected.diagnosis
    assert expected.diagnosis in out


def test_check_returns_grad_mode(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "check", "model.py:loss_and_grad", "--returns-grad", "--shape", "5", "--method", "central"
    )
    assert code == ExitCode.OK
    assert "central" in out


def test_check_vjp(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "model.py:layer", "--vjp", "layer_vjp", "--shape", "2,3")[0] == ExitCode.OK
    assert (
        run(capsys, "check", "model.py:layer", "--vjp", "layer_vjp_wrong", "--shape", "2,3")[0] == ExitCode.CHECK_FAILED
    )


def test_check_named_shapes_make_a_dict_of_parameters(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "model.py:mlp_loss", "--grad", "mlp_grad", "--shape", "W=3,2", "--shape", "b=2")
    assert code == ExitCode.OK


def test_check_loads_npy_and_npz_inputs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(project / "W.npy", np.linspace(-1, 1, 6).reshape(2, 3))
    np.savez(project / "p.npz", W=np.ones((3, 2)), b=np.arange(2.0))
    assert run(capsys, "check", "model.py:loss", "--grad", "loss_grad", "--input", "W.npy")[0] == ExitCode.OK
    assert run(capsys, "check", "model.py:mlp_loss", "--grad", "mlp_grad", "--input", "p.npz")[0] == ExitCode.OK


def test_check_examples_shows_the_minimal_failing_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "model.py:loss", "--grad", "loss_grad_wrong", "--shape", "3", "--examples", "10", "--seed", "1"]
    code, out, _ = run(capsys, *argv)
    assert code == ExitCode.CHECK_FAILED
    assert "minimal failing input" in out
    ok = run(capsys, "check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--examples", "10")
    assert ok[0] == ExitCode.OK


def test_check_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "check", "model.py:loss", "--grad", "loss_grad_wrong", "--shape", "3", "--json", "out.json"
    )
    assert code == ExitCode.CHECK_FAILED
    data = json.loads((project / "out.json").read_text())
    assert data["exit_code"] == 1 and data["report"]["ok"] is False
    code, out, err = run(capsys, "check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--json", "-")
    # stdout is the JSON alone (so `| python -m json.tool` works); the readable report went to stderr
    assert json.loads(out)["report"]["ok"] is True
    assert "gradient check passed" in err


def test_a_gradient_of_the_wrong_shape_fails_the_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "model.py:loss", "--grad", "wrong_shape_grad", "--shape", "3,2")
    assert code == ExitCode.CHECK_FAILED
    assert "ShapeMismatch" in out and "(3, 2)" in out and err == ""
    argv = ["check", "model.py:loss", "--grad", "wrong_shape_grad", "--shape", "3,2", "--examples", "5"]
    code, out, _ = run(capsys, *argv)
    assert code == ExitCode.CHECK_FAILED and "ShapeMismatch" in out


def test_a_function_that_raises_exits_3_with_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "model.py:boom", "--grad", "loss_grad", "--shape", "3")
    assert code == ExitCode.FUNCTION_ERROR
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "RuntimeError" in err and "the loss exploded" in err and "model.py" in err
    code, _, err = run(capsys, "--traceback", "check", "model.py:boom", "--grad", "loss_grad", "--shape", "3")
    assert code == ExitCode.FUNCTION_ERROR and "Traceback" in err


BAD_INPUTS = {
    "malformed shape": (["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3,x"], "--shape"),
    "zero in shape": (["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3,0"], "--shape"),
    "two unnamed shapes": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--shape", "4"],
        "--shape",
    ),
    "missing module": (["check", "nosuchmodule:loss", "--grad", "loss_grad", "--shape", "3"], "nosuchmodule"),
    "missing file": (["check", "nosuch.py:loss", "--grad", "loss_grad", "--shape", "3"], "nosuch.py"),
    "missing function": (["check", "model.py:nothing", "--grad", "loss_grad", "--shape", "3"], "nothing"),
    "not a function": (["check", "model.py:rate", "--grad", "loss_grad", "--shape", "3"], "rate"),
    "no colon": (["check", "model.py", "--grad", "loss_grad", "--shape", "3"], "MODULE:FUNCTION"),
    "pickled npy": (["check", "model.py:loss", "--grad", "loss_grad", "--input", "pickled.npy"], "pickle"),
    "missing npy": (["check", "model.py:loss", "--grad", "loss_grad", "--input", "none.npy"], "none.npy"),
    "not an npy": (["check", "model.py:loss", "--grad", "loss_grad", "--input", "model.py"], "model.py"),
    "no input": (["check", "model.py:loss", "--grad", "loss_grad"], "--shape"),
    "shape and input": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--input", "W.npy"],
        "not both",
    ),
    "no derivative": (["check", "model.py:loss", "--shape", "3"], "--grad"),
    "unknown option": (["check", "model.py:loss", "--gard", "loss_grad", "--shape", "3"], "--gard"),
    "bad method": (["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--method", "magic"], "magic"),
    "not a pair": (["check", "model.py:not_a_pair", "--returns-grad", "--shape", "3"], "(loss, grad)"),
    "examples with input": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--input", "W.npy", "--examples", "5"],
        "--shape",
    ),
    "unknown subcommand": (["chek"], "chek"),
    "demo bug": (["demo", "--bug", "nosuchbug"], "nosuchbug"),
    "steps methods": (["steps", "model.py:loss", "--shape", "3", "--methods", "central,magic"], "magic"),
    "huge shape": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--shape", "99999999999999999999"],
        "--shape '99999999999999999999' has 1e+20 entries",
    ),
    "npy header claiming 1e11 entries": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--input", "huge.npy"],
        "its header claims 1e+11 entries",
    ),
    "nan in the input": (["check", "model.py:loss", "--grad", "loss_grad", "--input", "nan.npy"], "nan at index (1,)"),
    "text file named .npy": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--input", "text.npy"],
        "text.npy is not a .npy or .npz file",
    ),
    "descent step size 1e300": (
        ["descent", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--step-size", "1e300"],
        "step_size=1e+300 is",
    ),
    "descent step size inf": (
        ["descent", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--step-size", "inf"],
        "--step-size: 'inf' is not a finite number",
    ),
    "steps h-max inf": (["steps", "model.py:loss", "--shape", "3", "--h-max", "inf"], "'inf' is not a finite number"),
    "negative seed": (
        ["check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--seed", "-1"],
        "--seed: '-1' is not a seed: give an integer >= 0",
    ),
    "demo negative seed": (["demo", "--seed", "-1"], "'-1' is not a seed"),
    "non-scalar f": (["check", "model.py:vector", "--grad", "vector_grad", "--shape", "3"], "--vjp MODULE:VJP"),
    "non-scalar f drawn": (
        ["check", "model.py:vector", "--grad", "vector_grad", "--shape", "3", "--examples", "3"],
        "--vjp MODULE:VJP",
    ),
}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the user's loss at step 1e300
@pytest.mark.parametrize("argv, names", BAD_INPUTS.values(), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    np.save(project / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(project / "W.npy", np.ones(3))
    np.save(project / "nan.npy", np.array([1.0, np.nan, 2.0]))
    (project / "text.npy").write_text("1.0 2.0 3.0\n")
    _write_npy_header_only(project / "huge.npy", (10**11,))
    code, out, err = run(capsys, *argv)
    assert code == ExitCode.USAGE, err
    assert err.startswith("gradverify: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert names in err
    assert "pickle" not in err or "pickled" in argv[-1]
    assert "check_vjp" not in err  # a Python name; the command's own option is --vjp


def _write_npy_header_only(path: Path, shape: tuple[int, ...]) -> None:
    """A .npy whose header claims ``shape`` of float64 but holds 16 bytes of data."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": shape})
        handle.write(b"\0" * 16)


@pytest.mark.parametrize(
    "func, shown", [("exits", "SystemExit(0)"), ("bare_exit", "SystemExit"), ("generator_exit", "GeneratorExit")]
)
def test_code_that_exits_inside_the_check_is_exit_3_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], func: str, shown: str
) -> None:
    code, _, err = run(capsys, "check", f"model.py:{func}", "--grad", "loss_grad", "--shape", "3")
    assert code == ExitCode.FUNCTION_ERROR
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"gradverify: error: {shown} raised in model.py:") and f"({func})" in err
    assert "exited instead of returning a value" in err


def test_an_inconclusive_check_exits_4(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradverify.cli._errors import exit_code_of

    class Verdict:
        def __init__(self, outcome: str) -> None:
            self.outcome, self.ok = outcome, outcome == "passed"

        def __str__(self) -> str:
            return f"gradverify: gradient check {self.outcome.upper()}"

        def to_dict(self) -> dict[str, object]:
            return {"ok": self.ok, "outcome": self.outcome}

    assert exit_code_of(Verdict("passed"), Verdict("inconclusive")) == ExitCode.INCONCLUSIVE == 4
    assert exit_code_of(Verdict("failed"), Verdict("inconclusive")) == ExitCode.CHECK_FAILED
    assert exit_code_of(Verdict("passed")) == ExitCode.OK
    # the command reads the outcome of the core's report
    monkeypatch.setattr(gv, "check_grad", lambda *a, **k: Verdict("inconclusive"))
    code, out, _ = run(capsys, "check", "model.py:loss", "--grad", "loss_grad", "--shape", "3")
    assert code == ExitCode.INCONCLUSIVE and "INCONCLUSIVE" in out


def test_a_broken_pipe_exits_quietly(project: Path) -> None:
    # The reader closes the pipe before the command writes (like `| head` that has had enough).
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "gradverify", "check", "model.py:loss", "--grad", "loss_grad", "--shape", "3"]
    proc = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == ExitCode.BROKEN_PIPE == 141
    assert err == ""  # not "BrokenPipeError raised ...: your function"


def test_json_to_stdout_is_only_json(project: Path) -> None:
    result = _shell("gradverify check model.py:loss --grad loss_grad_wrong --shape 3 --json -", project)
    assert result.returncode == ExitCode.CHECK_FAILED
    assert json.loads(result.stdout)["exit_code"] == 1
    assert "gradient check FAILED" in result.stderr


def test_descent_on_a_plain_factor_of_two_does_not_speculate_about_batches(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "descent", "model.py:loss", "--grad", "loss_grad_wrong", "--shape", "4,3")
    assert code == ExitCode.CHECK_FAILED
    assert "2 times" in out and "batch" not in out


def test_no_subcommand_shows_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == ExitCode.USAGE and "demo" in out and "check" in out


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--help")
    assert code == ExitCode.OK and "--returns-grad" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == ExitCode.OK and out.startswith("gradverify ")


def test_parse_shapes() -> None:
    assert parse_shapes(["3,4"]) == (3, 4)
    assert parse_shapes([" 5 "]) == (5,)
    assert parse_shapes(["W=3,4", "b=4"]) == {"W": (3, 4), "b": (4,)}


# -- demo, steps, descent -------------------------------------------------------------------------


def test_demo_shows_a_passing_and_a_caught_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, data_text, out = run(capsys, "demo", "--json", "-")
    assert code == ExitCode.OK
    data = json.loads(data_text)
    assert data["correct"]["ok"] is True and data["broken"]["ok"] is False
    from gradverify import zoo

    problem = zoo.make_problem("softmax", seed=0)
    good = gv.check_grad(problem.f, problem.grad, problem.x0, seed=0)
    bad = gv.check_grad(problem.f, problem.broken["forgot_mean"], problem.x0, seed=0)
    assert bad.diagnosis and bad.diagnosis in out
    assert good.ok and "demo passed" in out


@pytest.mark.parametrize("bug", ["double", "sign", "transposed"])
def test_demo_catches_other_bugs(capsys: pytest.CaptureFixture[str], bug: str) -> None:
    assert run(capsys, "demo", "--problem", "mlp", "--bug", bug)[0] == ExitCode.OK


def test_steps_prints_the_error_against_h_for_each_method(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "steps", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--json", "s.json")
    assert code == ExitCode.OK
    header = next(line for line in out.splitlines() if line.strip().startswith("h "))
    assert header.split() == ["h", "forward", "central", "complex", "richardson"]
    data = json.loads((project / "s.json").read_text())
    central = np.array(data["errors"]["central"], dtype=float)
    # The V: the best step is inside the sweep, far better than both ends.
    best = int(np.nanargmin(central))
    assert 0 < best < len(central) - 1
    assert central[best] < 1e-3 * min(central[0], central[-1])


def test_steps_without_a_gradient_uses_a_numerical_reference(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "steps", "model.py:loss", "--shape", "3", "--methods", "forward,central", "--num", "5")
    assert code == ExitCode.OK and "complex-step" in out


def test_steps_plot_without_matplotlib_says_so(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # matplotlib is now not importable
    code, out, err = run(capsys, "steps", "model.py:loss", "--shape", "3", "--num", "3", "--plot", "v.png")
    assert code == ExitCode.USAGE and out == ""  # said before the sweep, not after it
    assert err == "gradverify: error: --plot needs matplotlib, which is not installed: pip install 'gradverify[plot]'\n"
    assert not (project / "v.png").exists()


def test_steps_plot_with_matplotlib(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code, _, _ = run(capsys, "steps", "model.py:loss", "--shape", "3", "--num", "4", "--plot", "v.png")
    assert code == ExitCode.OK
    assert (project / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_descent_passes_a_gradient_and_fails_its_negation(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, out = run(capsys, "descent", "model.py:loss", "--grad", "loss_grad", "--shape", "4,3", "--json", "-")
    assert code == ExitCode.OK and "2 of 2 invariants hold" in out
    results = json.loads(data)["results"]
    assert [r["ok"] for r in results] == [True, True]
    code, out, _ = run(capsys, "descent", "model.py:loss", "--grad", "ascent_grad", "--shape", "4,3", "--steps", "5")
    assert code == ExitCode.CHECK_FAILED and "FAILED" in out


# -- the README's commands, verbatim ------------------------------------------------------------------


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] == "gradverify":
        # The console script installed beside this interpreter (pip install puts it there).
        script = Path(sys.executable).with_name("gradverify")
        argv[0] = str(script) if script.exists() else argv[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_runs_verbatim(tmp_path: Path, command: str) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    result = _shell(command, tmp_path)
    assert result.returncode == README_EXIT.get(command, ExitCode.OK), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == ""  # quiet when stderr is not a terminal


def readme_commands(readme: str) -> list[str]:
    """The ``gradverify`` invocations in README.md's shell blocks, as a user types them.

    ``.venv/bin/gradverify demo`` counts as ``gradverify demo``; prompts (``$ ``)
    and ``&&`` chains are taken apart.
    """
    found = []
    for block in re.findall(r"```(?:bash|console|sh|shell)\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            for part in line.removeprefix("$ ").split("&&"):
                part = re.sub(r"^\S*/(gradverify)\b", r"\1", part.strip())
                part = re.sub(r"^\S*python3?\s+-m\s+gradverify\b", "python -m gradverify", part)
                if part.startswith(("gradverify ", "python -m gradverify ")):
                    found.append(part)
    return found


def test_readme_commands_are_found() -> None:
    text = "```bash\npython3 -m venv .venv && .venv/bin/gradverify demo\n$ .venv/bin/python -m gradverify demo\n```\n"
    assert readme_commands(text) == ["gradverify demo", "python -m gradverify demo"]


def test_readme_shows_only_tested_commands() -> None:
    """Every ``gradverify ...`` command in README.md is one of README_COMMANDS, so it runs above."""
    shown = readme_commands((ROOT / "README.md").read_text())
    assert "gradverify demo" in shown  # the README's first command
    untested = [c for c in shown if c not in README_COMMANDS]
    assert not untested, f"README.md shows commands no test runs: {untested}"


def test_a_module_that_exits_on_import_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "script.py").write_text("import sys\nsys.exit('run me as a script')\n")
    for target in ("script.py:loss", "script:loss"):
        code, _, err = run(capsys, "check", target, "--grad", "loss_grad", "--shape", "3")
        assert code == ExitCode.USAGE and err.count("\n") == 1, err
        assert "importing" in err and "SystemExit" in err
