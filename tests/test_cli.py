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
from gradverify.cli import ExitCode, main, parse_shapes

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
    code, out, _ = run(capsys, "check", "model.py:loss", "--grad", "loss_grad", "--shape", "3", "--json", "-")
    assert json.loads(out[out.index("{\n") :])["report"]["ok"] is True


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
}


@pytest.mark.parametrize("argv, names", BAD_INPUTS.values(), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    np.save(project / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(project / "W.npy", np.ones(3))
    code, out, err = run(capsys, *argv)
    assert code == ExitCode.USAGE, err
    assert err.startswith("gradverify: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert names in err


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
    code, out, _ = run(capsys, "demo", "--json", "-")
    assert code == ExitCode.OK
    data = json.loads(out[out.index("{\n") :])
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
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code, _, err = run(capsys, "steps", "model.py:loss", "--shape", "3", "--num", "3", "--plot", "v.png")
    assert code == ExitCode.OK
    assert "matplotlib is not installed" in err and not (project / "v.png").exists()


def test_steps_plot_with_matplotlib(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code, _, _ = run(capsys, "steps", "model.py:loss", "--shape", "3", "--num", "4", "--plot", "v.png")
    assert code == ExitCode.OK
    assert (project / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_descent_passes_a_gradient_and_fails_its_negation(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "descent", "model.py:loss", "--grad", "loss_grad", "--shape", "4,3", "--json", "-")
    assert code == ExitCode.OK and "2 of 2 invariants hold" in out
    results = json.loads(out[out.index("{\n") :])["results"]
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
