"""The ``gradverify`` command: check a derivative you just wrote from the shell.

``gradverify`` and ``python -m gradverify`` both run :func:`main`::

    gradverify demo
    gradverify check model.py:loss --grad loss_grad --shape 5,3
    gradverify check model.py:loss_and_grad --returns-grad --input W.npy --method central
    gradverify check layers:conv --vjp layers:conv_vjp --shape 2,8 --examples 50
    gradverify steps model.py:loss --grad loss_grad --shape 5,3
    gradverify descent model.py:loss --grad loss_grad --shape 5,3

``MODULE:FUNC`` names a module importable from the current directory (dotted)
or a ``.py`` file; ``--grad NAME`` without a module looks in FUNC's module.
A mistake in the command (a malformed ``--shape``, a missing module, a pickled
``.npy``) prints one line and exits 2; see :class:`ExitCode`.  Progress goes
to stderr only when it is a terminal.  matplotlib, when installed (the
``plot`` extra), adds a plot to ``steps``; nothing else needs it.

``--json -`` makes stdout the JSON's alone (the readable report goes to stderr).
Code that exits inside the check (``sys.exit()``, ``SystemExit``,
``GeneratorExit``) is reported as the user's function raising (exit 3); a
reader that closes the pipe (``| head``) ends the command quietly (exit 141).

This module holds the parser, :func:`main` and the error handling.  The rest
lives beside it: exit codes in ``_errors``, loading the user's functions and
inputs in ``_targets``, shared output in ``_output``, and one module per
subcommand (``_check``, ``_demo``, ``_steps``, ``_descent``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .._core.names import CHECK_METHODS
from ._check import cmd_check
from ._demo import cmd_demo
from ._descent import cmd_descent
from ._errors import CommandError, ExitCode, _first_line
from ._layer import add_layer_command
from ._steps import STEP_METHODS, cmd_steps
from ._targets import finite_arg, seed_arg

__all__ = ["ExitCode", "main"]



# -- the parser and main --------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line through :class:`CommandError`, not a SystemExit."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see: {self.prog} --help)")


def _add_target(p: argparse.ArgumentParser, *, derivative_required: bool, vjp: bool = True) -> None:
    p.add_argument("target", metavar="MODULE:FUNC", help="the function: a dotted module or a .py path, then :name")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--grad", metavar="MODULE:GRAD", help="its hand-written gradient (NAME alone: in FUNC's module)")
    if vjp:
        which.add_argument("--vjp", metavar="MODULE:VJP", help="its vector-Jacobian product vjp(x, cotangent)")
    which.add_argument("--returns-grad", action="store_true", help="FUNC returns (loss, grad)")
    p.add_argument(
        "--shape",
        action="append",
        metavar="DIMS",
        help="draw the input with this shape, e.g. 3,4; repeat NAME=3,4 for named parameters",
    )
    p.add_argument("--input", metavar="FILE", help="load the input from a .npy (or a .npz of named arrays)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype of drawn inputs")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of drawn inputs and random choices (default: 0)")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON ('-' for stdout)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradverify", description="Is a hand-written derivative right? Checks it, with evidence.")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback when something raises")
    parser.add_argument("--version", action="version", version=f"gradverify {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="check a correct and a broken gradient from the built-in zoo")
    demo.add_argument("--problem", default="softmax", help="zoo problem (default: softmax)")
    demo.add_argument("--bug", default="forgot_mean", help="which broken twin (default: forgot_mean)")
    demo.add_argument("--method", choices=CHECK_METHODS, default="auto")
    demo.add_argument("--seed", type=seed_arg, default=0)
    demo.add_argument("--json", metavar="PATH", help="also write both reports as JSON ('-' for stdout)")
    demo.set_defaults(run=cmd_demo)

    check = sub.add_parser("check", help="check a gradient or VJP against numerical estimates")
    _add_target(check, derivative_required=True)
    check.add_argument("--method", choices=CHECK_METHODS, default="auto", help="numerical method (default: auto)")
    check.add_argument(
        "--examples",
        type=int,
        metavar="N",
        help="check on N Hypothesis-drawn inputs of --shape; a failure is shrunk to a minimal input",
    )
    check.set_defaults(run=cmd_check)

    steps = sub.add_parser("steps", help="error of each method's estimate against the step h")
    _add_target(steps, derivative_required=False, vjp=False)
    steps.add_argument("--methods", default=",".join(STEP_METHODS), help="comma-separated methods to compare")
    steps.add_argument("--h-min", type=finite_arg, default=1e-14)
    steps.add_argument("--h-max", type=finite_arg, default=1e-1)
    steps.add_argument("--num", type=int, default=14, help="number of steps in the sweep (log-spaced)")
    steps.add_argument("--plot", metavar="PNG", help="also draw the curves to this file (needs matplotlib)")
    steps.set_defaults(run=cmd_steps)

    descent = sub.add_parser("descent", help="check the descent invariants on a loss and its gradient")
    _add_target(descent, derivative_required=True, vjp=False)
    descent.add_argument("--step-size", type=finite_arg, help="step size (default: from the estimated smoothness)")
    descent.add_argument("--steps", type=int, help="number of gradient-descent steps")
    descent.set_defaults(run=cmd_descent)
    add_layer_command(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradverify")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradverify`` command; returns the exit status (see :class:`ExitCode`)."""
    parser = build_parser()
    show_traceback = "--traceback" in (sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit through argparse
            return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
        except CommandError as exc:
            _complain(str(exc), exc, show_traceback)
            return exc.code
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE
        code = _run(args, show_traceback)
        # Block-buffered output to a pipe is written here, so a reader that went away is seen
        # here and not at the interpreter's exit (which would print a warning and exit 120).
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`gradverify ... | head -3`): not an error of anyone's
        # function. Point stdout at devnull so the interpreter's final flush is quiet.
        _silence_stdout()
        return ExitCode.BROKEN_PIPE


def _run(args: argparse.Namespace, show_traceback: bool) -> int:
    """The subcommand, with every way it can end turned into an exit status and one line."""
    stdout = sys.stdout
    args.json_stream = stdout
    # `--json -` makes stdout the machine's: the readable report goes to stderr.
    text = contextlib.redirect_stdout(sys.stderr) if getattr(args, "json", None) == "-" else contextlib.nullcontext()
    try:
        with text:
            return int(args.run(args))
    except KeyboardInterrupt:
        print("gradverify: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except CommandError as exc:
        _complain(str(exc), exc, show_traceback)
        return exc.code
    except BrokenPipeError:
        raise
    except MemoryError as exc:
        _complain(
            f"out of memory ({_first_line(exc)}): check a smaller input, or mode='directional' from Python",
            exc,
            show_traceback,
        )
        return ExitCode.USAGE
    except (Exception, SystemExit, GeneratorExit) as exc:
        # SystemExit and GeneratorExit from the checked code are its doing: a function
        # that calls sys.exit() has not returned a value, so nothing was checked.
        return _failure(exc, show_traceback)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor: nothing to point
        pass


def _failure(exc: BaseException, show_traceback: bool) -> ExitCode:
    """An exception from the check: gradverify rejecting its input, or the user's code raising."""
    from gradverify.errors import InvalidArgument

    if isinstance(exc, InvalidArgument):
        _complain(_first_line(exc), exc, show_traceback)
        return ExitCode.USAGE
    where = _user_frame(exc)
    hint = "" if show_traceback else " (rerun with --traceback to see where)"
    if isinstance(exc, (SystemExit, GeneratorExit)):
        code = f"({exc.code!r})" if isinstance(exc, SystemExit) and exc.code is not None else ""
        _complain(
            f"{type(exc).__name__}{code} raised{where}: the checked code exited instead of returning a value{hint}",
            exc,
            show_traceback,
        )
        return ExitCode.FUNCTION_ERROR
    _complain(f"{type(exc).__name__} raised{where}: {_first_line(exc)}{hint}", exc, show_traceback)
    return ExitCode.FUNCTION_ERROR


def _user_frame(exc: BaseException) -> str:
    """`` in model.py:12 (loss)`` for the deepest frame outside gradverify and numpy."""
    package = str(Path(__file__).resolve().parent)
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not str(Path(f.filename).resolve()).startswith(package) and f"{os.sep}numpy{os.sep}" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" in {Path(frame.filename).name}:{frame.lineno} ({frame.name})"


def _complain(message: str, exc: BaseException, show_traceback: bool) -> None:
    if show_traceback:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    print(f"gradverify: error: {message}", file=sys.stderr)
