"""What the ``gradverify`` subcommands share for output: the progress line and ``--json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ._errors import CommandError


class Progress:
    """One rewritten status line on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.live:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def write_json(path: str | None, data: dict[str, Any], stream: TextIO | None = None) -> None:
    """``data`` as JSON to ``path``; ``-`` is ``stream`` (the real stdout: ``main`` sends text to stderr)."""
    if not path:
        return
    text = json.dumps(data, indent=2, default=_json_default)
    if path == "-":
        out = stream if stream is not None else sys.stdout
        out.write(text + "\n")
        out.flush()
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise CommandError(f"--json {path}: cannot write: {exc.strerror or exc}") from None


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    return str(obj)
