"""``gradverify layer``: a forward/backward pair from a module, from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradverify.cli import ExitCode, main

LAYERS = """
import numpy as np
from gradverify.zoo import batchnorm_forward, batchnorm_backward, softmax_layer_loss


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_backward_db_mean(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)


def affine_backward_short(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout


def scaled_forward(x, *, scale=1.0):
    return scale * x, scale


def scaled_backward(dout, scale):
    return scale * dout
"""

AFFINE = ["layers.py:affine_forward", "--shape", "x=4,3", "--shape", "w=3,5", "--shape", "b=5"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "layers.py").write_text(LAYERS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_layer_exits_0_with_one_line_per_gradient(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layer", *AFFINE, "--backward", "affine_backward")
    assert code == ExitCode.OK
    assert "layer check passed" in out
    for line in ("dx       (4, 3)", "dw       (3, 5)", "db       (5,)"):
        assert line in out


def test_a_wrong_db_exits_1_naming_db(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layer", *AFFINE, "--backward", "affine_backward_db_mean", "--json", "out.json")
    assert code == ExitCode.CHECK_FAILED
    assert "diagnosis: db: the analytic derivative of b is 1/4 x the numerical one" in out
    data = json.loads((project / "out.json").read_text())
    assert [a["gradient"] for a in data["report"]["arguments"] if not a["ok"]] == ["db"]


def test_constants_labels_and_a_loss_returning_its_gradient(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "layer", "layers:batchnorm_forward", "--backward", "batchnorm_backward",
        "--shape", "x=6,4", "--shape", "gamma=4", "--shape", "beta=4", "--value", 'bn_param={"mode": "train"}',
    )  # fmt: skip
    assert code == ExitCode.OK and "constant bn_param: a dict" in out
    code, out, _ = run(
        capsys, "layer", "layers:softmax_layer_loss", "--returns-grad", "--shape", "x=5,4", "--int", "y=5:4"
    )
    assert code == ExitCode.OK and "constant y: integer array" in out


def test_inputs_from_a_npz_and_keyword_arguments(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(project / "point.npz", x=np.ones((2, 3)))
    argv = ["layer", "layers:scaled_forward", "--backward", "scaled_backward", "--input", "point.npz"]
    code, out, _ = run(capsys, *argv, "--value", "scale=3.0")
    assert code == ExitCode.OK and "constant scale: a Python float" in out


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["--backward", "affine_backward_short"], ExitCode.USAGE, "2 gradients, but 3 arguments are differentiated"),
        (["--backward", "affine_backward", "--int", "y=5"], ExitCode.USAGE, "--int 'y=5' is not NAME=DIMS:HIGH"),
        (["--backward", "affine_backward", "--value", "z={"], ExitCode.USAGE, "is not JSON"),
        (["--backward", "affine_backward", "--value", "z=1"], ExitCode.USAGE, "has no argument 'z'"),
        (["--backward", "affine_backward", "--int", "x=2:3"], ExitCode.USAGE, "'x' is given twice"),
        ([], ExitCode.USAGE, "one of the arguments --backward --returns-grad is required"),
    ],
)
def test_mistakes_are_one_line(project: Path, capsys: pytest.CaptureFixture[str], argv, code, words) -> None:
    got, _, err = run(capsys, "layer", *AFFINE, *argv)
    assert got == code
    assert words in err and len(err.strip().splitlines()) == 1


def test_a_missing_argument_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "layer", "layers:affine_forward", "--backward", "affine_backward", "--shape", "x=2,3")
    assert code == ExitCode.USAGE and "takes 'w'" in err
