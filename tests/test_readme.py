"""The README tells the truth: its Python examples run, and CI runs its commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_python_examples_run_in_order():
    namespace: dict = {}
    code = blocks("python")
    assert code, "the README has no Python example"
    for block in code:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102


def test_ci_runs_the_two_commands_of_the_first_screen():
    first_screen = blocks("bash")[:2]
    assert len(first_screen) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    for command in first_screen:
        assert command.strip() in ci, f"{command.strip()!r} is not what .ci/run runs"


@pytest.mark.parametrize("command", blocks("bash")[:2])
def test_first_screen_commands_use_the_repository_files(command):
    # The install command installs from this checkout with the test extra.
    if "pip" in command:
        assert "-e '.[test]'" in command
