"""The README tells the truth: its Python examples run, print what it shows, and CI runs its commands.

The convention every README section follows:

* every ```python block runs, in order, in one namespace;
* a ```python block immediately followed by a ```text block prints exactly
  that text (compared line by line, trailing spaces stripped);
* a block whose first line is ``# requires: X`` is skipped when the module X
  cannot be imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    start: int
    end: int


def fenced(text: str = README) -> list[Block]:
    return [Block(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]


def blocks(language: str) -> list[str]:
    return [b.code for b in fenced() if b.language == language]


def examples(text: str = README) -> list[tuple[Block, str | None]]:
    """Each python block with the text block that immediately follows it (or None)."""
    all_blocks = fenced(text)
    out = []
    for k, block in enumerate(all_blocks):
        if block.language != "python":
            continue
        after = all_blocks[k + 1] if k + 1 < len(all_blocks) else None
        shown = None
        if after is not None and after.language == "text" and not text[block.end : after.start].strip():
            shown = after.code
        out.append((block, shown))
    return out


def required_module(code: str) -> str | None:
    first = code.splitlines()[0] if code.strip() else ""
    m = re.match(r"#\s*requires:\s*([\w.]+)", first)
    return m.group(1) if m else None


def normalised(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def line_of(offset: int, text: str = README) -> int:
    return text.count("\n", 0, offset) + 1


def run_examples(text: str = README) -> list[str]:
    """Run every example in one namespace; return a message per mismatch between shown and printed output."""
    namespace: dict = {}
    problems = []
    for block, shown in examples(text):
        module = required_module(block.code)
        if module is not None and importlib.util.find_spec(module) is None:
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.code, f"README.md:{line_of(block.start, text)}", "exec"), namespace)  # noqa: S102
        if shown is not None and normalised(printed.getvalue()) != normalised(shown):
            problems.append(
                f"README.md line {line_of(block.start, text)}: the block prints\n{printed.getvalue()}\n"
                f"but the README shows\n{shown}"
            )
    return problems


def test_the_python_examples_run_in_order_and_print_what_the_readme_shows():
    assert examples(), "the README has no Python example"
    problems = run_examples()
    assert not problems, "\n".join(problems)


def test_the_comparison_catches_drift_and_honours_requires():
    good = "```python\nprint('a  ')\n```\n\n```text\na\n```\n"
    assert run_examples(good) == []
    drifted = "```python\nprint(101)\n```\n```text\n77\n```\n"
    assert len(run_examples(drifted)) == 1
    # a prose line between them: the text block is not the output of the python block
    apart = "```python\nprint(1)\n```\nprose\n```text\n2\n```\n"
    assert run_examples(apart) == []
    skipped = "```python\n# requires: no_such_module_anywhere\nraise SystemExit\n```\n```text\nx\n```\n"
    assert run_examples(skipped) == []


def test_ci_runs_the_two_commands_of_the_first_screen():
    first_screen = blocks("bash")[:2]
    assert len(first_screen) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    for command in first_screen:
        assert command.strip() in ci, f"{command.strip()!r} is not what .ci/run runs"


def test_the_install_command_installs_this_checkout_with_the_test_extra():
    install = [c for c in blocks("bash")[:2] if "pip install" in c]
    assert install, "the first screen has no install command"
    assert all("-e '.[test]'" in c for c in install)


@pytest.mark.parametrize("block", [b for b, _ in examples()], ids=lambda b: f"line{line_of(b.start)}")
def test_every_example_is_valid_python(block):
    compile(block.code, "README.md", "exec")
