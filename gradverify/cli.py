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
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["ExitCode", "main"]

METHODS = ("auto", "forward", "central", "complex", "richardson")
STEP_METHODS = ("forward", "central", "complex", "richardson")

#: What each of the zoo's broken twins gets wrong, for the demo's headings.
BUGS = {
    "forgot_mean": "the data term summed over the samples where the loss averages them",
    "no_reg": "the gradient of the regularisation term left out",
    "double": "every entry twice as large",
    "half": "every entry half as large",
    "sign": "every sign flipped",
    "zero": "all zeros",
    "transposed": "each matrix computed in the transposed layout",
    "shift": "entries rolled by one place",
    "one_entry": "one entry off by 0.1%",
}


class ExitCode(IntEnum):
    """What the command's exit status means."""

    #: Every check passed (``demo``: the correct gradient passed and the broken one was caught).
    OK = 0
    #: A check failed: the derivative disagrees with the numerical estimate.
    CHECK_FAILED = 1
    #: The command line or its input is wrong: a bad option, shape, module, function or file.
    USAGE = 2
    #: The user's function (or derivative) raised an exception while being checked.
    FUNCTION_ERROR = 3
    #: Interrupted with Ctrl-C.
    INTERRUPTED = 130


class CommandError(Exception):
    """A mistake the user can fix; ``main`` prints it as one line and exits with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line through :class:`CommandError`, not a SystemExit."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see: {self.prog} --help)")


# -- reading the command line ---------------------------------------------------------------

_SHAPE = re.compile(r"^(?:(?P<name>[A-Za-z_]\w*)=)?(?P<dims>\d+(?:,\d+)*)$")


def parse_shapes(specs: Sequence[str]) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """``["3,4"]`` -> ``(3, 4)``; ``["W=3,4", "b=4"]`` -> ``{"W": (3, 4), "b": (4,)}``."""
    named: dict[str, tuple[int, ...]] = {}
    plain: list[tuple[int, ...]] = []
    for spec in specs:
        match = _SHAPE.match(spec.replace(" ", ""))
        dims = tuple(int(d) for d in match["dims"].split(",")) if match else ()
        if not match or 0 in dims:
            raise CommandError(
                f"--shape {spec!r} is not a shape: write positive integers separated by commas, "
                "like --shape 3,4 (or NAME=3,4, once per named parameter)"
            )
        if match["name"] is None:
            plain.append(dims)
        elif match["name"] in named:
            raise CommandError(f"--shape names the parameter {match['name']!r} twice")
        else:
            named[match["name"]] = dims
    if plain and (named or len(plain) > 1):
        raise CommandError("give one --shape 3,4 for a single array, or NAME=3,4 for each named parameter")
    return plain[0] if plain else named


def _import_module(spec: str, cache: dict[str, Any]) -> Any:
    if spec in cache:
        return cache[spec]
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise CommandError(f"cannot import {spec!r}: no such file")
        # Siblings of the file import as they would when running it as a script.
        sys.path.insert(0, str(path.resolve().parent))
        name = path.stem if path.stem not in sys.modules else f"_gradverify_user_{len(cache)}_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise CommandError(f"cannot import {spec!r}: not a Python source file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    else:
        # Like `python -m`: modules in the current directory are importable.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
                raise CommandError(
                    f"cannot import module {spec!r}: not found in the current directory or on sys.path "
                    "(give a path such as model.py to load a file)"
                ) from exc
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
        except Exception as exc:
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    cache[spec] = module
    return module


def load_callable(
    spec: str, *, option: str, default_module: str | None = None, cache: dict[str, Any]
) -> Callable[..., Any]:
    """The function named by ``MODULE:NAME`` (or ``NAME`` in ``default_module``)."""
    module_spec, sep, name = spec.rpartition(":")
    if not sep:
        module_spec, name = (default_module or ""), spec
    if not module_spec or not name.isidentifier():
        raise CommandError(f"{option} {spec!r} is not MODULE:FUNCTION (for example model.py:loss or mypkg.losses:loss)")
    module = _import_module(module_spec, cache)
    try:
        obj: Callable[..., Any] = getattr(module, name)
    except AttributeError:
        raise CommandError(f"{option}: module {module_spec!r} has no function {name!r}") from None
    if not callable(obj):
        raise CommandError(f"{option}: {module_spec}:{name} is a {type(obj).__name__}, not a function")
    return obj


def load_input(path: str) -> Any:
    """An array from ``.npy``, or a dict of arrays from ``.npz``; pickles are refused."""
    import numpy as np

    what = f"--input {path}"
    if not Path(path).is_file():
        raise CommandError(f"{what}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                loaded = {key: np.asarray(loaded[key]) for key in loaded.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CommandError(
                f"{what} holds pickled Python objects, which gradverify does not load (allow_pickle=False): "
                "save a numeric array with numpy.save"
            ) from None
        raise CommandError(f"{what} is not a .npy or .npz file numpy can read: {_first_line(exc)}") from None
    except OSError as exc:
        raise CommandError(f"{what} is not a .npy or .npz file numpy can read: {_first_line(exc)}") from None
    leaves = loaded.values() if isinstance(loaded, dict) else [loaded]
    for leaf in leaves:
        if leaf.dtype.kind not in "fiub":
            raise CommandError(f"{what} holds an array of dtype {leaf.dtype}; gradverify needs real numbers")
    return loaded


def draw_input(shapes: Any, *, seed: int, dtype: str) -> Any:
    """A standard-normal point of the given shape(s), from ``np.random.default_rng(seed)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if isinstance(shapes, dict):
        return {name: np.asarray(rng.standard_normal(shape), dtype=dtype) for name, shape in shapes.items()}
    return np.asarray(rng.standard_normal(shapes), dtype=dtype)


# -- the user's functions -------------------------------------------------------------------


class Target:
    """The function under test and its derivative, as the subcommands use them."""

    def __init__(self, args: argparse.Namespace, *, need_derivative: bool) -> None:
        cache: dict[str, Any] = {}
        self.spec = args.target
        func = load_callable(args.target, option="FUNC", cache=cache)
        default_module = args.target.rpartition(":")[0] or None
        self.kind = "gradient"
        self.derivative: Callable[..., Any] | None = None
        self.derivative_spec: str | None = None
        if getattr(args, "vjp", None):
            self.kind = "vjp"
            self.derivative_spec = _qualified(args.vjp, default_module)
            self.derivative = load_callable(args.vjp, option="--vjp", default_module=default_module, cache=cache)
            self.f = func
        elif getattr(args, "returns_grad", False):
            self.derivative_spec = f"the gradient {args.target} returns"
            self.f, self.derivative = _split_pair(func, args.target)
        elif getattr(args, "grad", None):
            self.derivative_spec = _qualified(args.grad, default_module)
            self.derivative = load_callable(args.grad, option="--grad", default_module=default_module, cache=cache)
            self.f = func
        elif need_derivative:
            raise CommandError("say which derivative to check: --grad MODULE:GRAD, --vjp MODULE:VJP or --returns-grad")
        else:
            self.f = func


def _qualified(spec: str, default_module: str | None) -> str:
    return spec if ":" in spec or not default_module else f"{default_module}:{spec}"


def _split_pair(func: Callable[..., Any], spec: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``f`` and ``grad`` from a function returning ``(loss, grad)``."""

    def pair(x: Any) -> tuple[Any, Any]:
        out = func(x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CommandError(f"--returns-grad: {spec} returned {type(out).__name__}, not a (loss, grad) pair")
        return out[0], out[1]

    return (lambda x: pair(x)[0]), (lambda x: pair(x)[1])


def point(args: argparse.Namespace) -> Any:
    """The input point from ``--input`` or ``--shape``."""
    if args.input and args.shape:
        raise CommandError("give --shape or --input, not both")
    if args.input:
        return load_input(args.input)
    if not args.shape:
        raise CommandError("give the input: --shape 3,4 (drawn from --seed) or --input FILE.npy")
    return draw_input(parse_shapes(args.shape), seed=args.seed, dtype=args.dtype)


# -- output -------------------------------------------------------------------------------


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


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    text = json.dumps(data, indent=2, default=_json_default)
    if path == "-":
        print(text)
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _format_input(x: Any) -> str:
    import numpy as np

    def show(value: Any, prefix: str) -> str:
        text = np.array2string(np.asarray(value), precision=6, prefix=prefix)
        return prefix + text

    if isinstance(x, dict):
        return "\n".join(show(v, f"  {name} = ") for name, v in x.items())
    return show(x, "  ")


# -- subcommands ----------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> ExitCode:
    """Check one derivative at one point, or on ``--examples`` Hypothesis-drawn points."""
    import gradverify as gv

    target = Target(args, need_derivative=True)
    assert target.derivative is not None
    if args.examples is not None:
        return _check_examples(args, target)
    x = point(args)
    options = {"method": args.method, "seed": args.seed}
    check = gv.check_vjp if target.kind == "vjp" else gv.check_grad
    print(f"gradverify check: {target.derivative_spec} against {args.target}")
    report_data: dict[str, Any] | None = None
    error: str | None = None
    try:
        report = check(target.f, target.derivative, x, **options)
    except _verdicts() as exc:
        # The derivative's own fault (a wrong shape, NaN, a mutated input): the check
        # failed, as gv.verify counts it, rather than the command being misused.
        print(f"gradverify: {target.kind} check FAILED: {type(exc).__name__}: {_first_line(exc)}")
        code, error = ExitCode.CHECK_FAILED, f"{type(exc).__name__}: {exc}"
    else:
        print(report)
        code = ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
        report_data = report.to_dict()
    write_json(
        args.json,
        {
            "command": "check",
            "target": args.target,
            "derivative": target.derivative_spec,
            "seed": args.seed,
            "exit_code": int(code),
            "report": report_data,
            "error": error,
        },
    )
    return code


def _verdicts() -> tuple[type[Exception], ...]:
    """Errors that are findings about the derivative at the point, not misuse of the command."""
    from gradverify.verification import FAILURES

    return tuple(e for e in FAILURES if e.__name__ != "GradientMismatch")


def _check_examples(args: argparse.Namespace, target: Target) -> ExitCode:
    import gradverify as gv

    if args.input:
        raise CommandError("--examples draws its inputs: give --shape, not --input")
    if args.examples < 1:
        raise CommandError(f"--examples {args.examples} must be at least 1")
    if target.kind == "vjp":
        raise CommandError("--examples checks gradients (--grad or --returns-grad); check a --vjp at one point")
    if not args.shape:
        raise CommandError("--examples needs the shape of its inputs: --shape 3,4")
    inputs = _strategy(parse_shapes(args.shape), dtype=args.dtype)
    assert target.derivative is not None  # a gradient target always has one
    progress = Progress()
    progress.show(f"checking {args.target} on up to {args.examples} drawn inputs ...")
    try:
        result = gv.verify(
            target.f, target.derivative, inputs, method=args.method, max_examples=args.examples, seed=args.seed
        )
    finally:
        progress.done()
    print(f"gradverify check: {target.derivative_spec} against {args.target}, {result.examples} drawn inputs checked")
    if result.report is not None:
        print(result.report)
    elif not result.ok and result.error is not None:
        print(f"{type(result.error).__name__}: {result.error}")
    else:
        print(f"ok: every drawn input passed (method {args.method}, seed {args.seed})")
    if not result.ok:
        print("minimal failing input (shrunk by Hypothesis):")
        print(_format_input(result.counterexample))
    code = ExitCode.OK if result.ok else ExitCode.CHECK_FAILED
    write_json(
        args.json,
        {
            "command": "check",
            "target": args.target,
            "derivative": target.derivative_spec,
            "seed": args.seed,
            "exit_code": int(code),
            "examples": result.examples,
            "counterexample": result.counterexample,
            "report": None if result.report is None else result.report.to_dict(),
            "error": None if result.error is None else f"{type(result.error).__name__}: {result.error}",
        },
    )
    return code


def _strategy(shapes: Any, *, dtype: str) -> Any:
    """Hypothesis strategy of points of the given shape(s): finite, moderate values."""
    from gradverify import strategies as gst

    if isinstance(shapes, dict):
        return gst.params(layout=shapes, dtype=dtype)
    return gst.weights(shape=shapes, dtype=dtype)


def cmd_demo(args: argparse.Namespace) -> ExitCode:
    """The zoo's correct gradient and a broken twin, both checked and both reports shown."""
    import gradverify as gv
    from gradverify import zoo

    problem = zoo.make_problem(args.problem, seed=args.seed)
    if args.bug not in problem.broken:
        raise CommandError(f"--bug {args.bug!r}: the {args.problem} problem has {', '.join(sorted(problem.broken))}")
    good = gv.check_grad(problem.f, problem.grad, problem.x0, method=args.method, seed=args.seed)
    bad = gv.check_grad(problem.f, problem.broken[args.bug], problem.x0, method=args.method, seed=args.seed)
    print(f"gradverify demo: the {args.problem} loss of gradverify.zoo at a seeded point (seed {args.seed})")
    print()
    print(f"1. the correct gradient ({args.problem}):")
    print(_indent(str(good)))
    print()
    print(f"2. a broken twin, {args.bug!r}: {BUGS.get(args.bug, 'a deliberate bug')}:")
    print(_indent(str(bad)))
    print()
    passed = good.ok and not bad.ok
    if passed:
        print("demo passed: the correct gradient passes and the broken one is caught.")
    else:
        print(f"demo FAILED: correct gradient ok={good.ok}, broken gradient ok={bad.ok}.")
    code = ExitCode.OK if passed else ExitCode.CHECK_FAILED
    write_json(
        args.json,
        {
            "command": "demo",
            "problem": args.problem,
            "bug": args.bug,
            "seed": args.seed,
            "exit_code": int(code),
            "correct": good.to_dict(),
            "broken": bad.to_dict(),
        },
    )
    return code


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else line for line in text.splitlines())


def cmd_steps(args: argparse.Namespace) -> ExitCode:
    """Error of each method's estimate against the step h: the V-shaped curve."""
    import numpy as np

    import gradverify as gv
    from gradverify.errors import GradverifyError
    from gradverify.params import ParamSpec

    target = Target(args, need_derivative=False)
    if target.kind == "vjp":
        raise CommandError("steps studies gradients: give --grad MODULE:GRAD or --returns-grad, not --vjp")
    x = point(args)
    spec = ParamSpec.of(x)
    methods = _method_list(args.methods)
    if not (0 < args.h_min < args.h_max):
        raise CommandError(f"--h-min {args.h_min:g} and --h-max {args.h_max:g}: need 0 < h-min < h-max")
    if args.num < 2:
        raise CommandError(f"--num {args.num}: need at least 2 steps")
    hs = np.logspace(np.log10(args.h_max), np.log10(args.h_min), args.num)

    if target.derivative is not None:
        reference = spec.flatten(target.derivative(x))
        reference_name = f"the analytic gradient {target.derivative_spec}"
    else:
        reference, reference_name = _reference(gv, target.f, x, spec)
    scale = max(float(np.max(np.abs(reference))), np.finfo(float).tiny)

    errors: dict[str, list[float | None]] = {}
    notes: list[str] = []
    progress = Progress()
    try:
        for method in methods:
            errors[method] = []
            for i, h in enumerate(hs):
                progress.show(f"steps: {method} {i + 1}/{len(hs)}")
                try:
                    estimate = spec.flatten(gv.numerical_gradient(target.f, x, method=method, h=float(h)))
                except GradverifyError as exc:
                    if i == 0:
                        notes.append(f"{method}: {_first_line(exc)}")
                        errors[method] = [None] * len(hs)
                        break
                    errors[method].append(None)
                    continue
                errors[method].append(float(np.max(np.abs(estimate - reference))) / scale)
    finally:
        progress.done()

    print(f"gradverify steps: {args.target}, {spec.size} parameters, {spec.dtype}")
    print(f"error: max|estimate - reference| / max|reference|; reference: {reference_name}")
    print(_steps_table(hs, errors))
    for note in notes:
        print(f"n/a {note}")
    code = ExitCode.OK
    if args.plot:
        _plot(args.plot, hs, errors, title=f"{args.target}: error of each estimate against h")
    write_json(
        args.json,
        {
            "command": "steps",
            "target": args.target,
            "reference": reference_name,
            "h": hs.tolist(),
            "errors": errors,
            "notes": notes,
            "exit_code": int(code),
        },
    )
    return code


def _method_list(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in STEP_METHODS]
    if bad or not methods:
        raise CommandError(f"--methods {text!r}: choose from {','.join(STEP_METHODS)}")
    return methods


def _reference(gv: Any, f: Callable[..., Any], x: Any, spec: Any) -> tuple[Any, str]:
    """The most accurate numerical gradient available, when no analytic one is given."""
    from gradverify.errors import GradverifyError

    try:
        return spec.flatten(gv.numerical_gradient(f, x, method="complex")), "complex-step at its default h"
    except GradverifyError:
        return spec.flatten(gv.numerical_gradient(f, x, method="richardson")), "Richardson at its default h"


def _steps_table(hs: Any, errors: dict[str, list[float | None]]) -> str:
    methods = list(errors)
    width = 12
    lines = ["h".rjust(9) + "".join(m.rjust(width) for m in methods)]
    best = {m: _argmin(errors[m]) for m in methods}
    for i, h in enumerate(hs):
        cells = []
        for m in methods:
            e = errors[m][i]
            cell = "-" if e is None else f"{e:.1e}" + ("*" if best[m] == i else " ")
            cells.append(cell.rjust(width))
        lines.append(f"{h:9.1e}" + "".join(cells))
    lines.append("* the smallest error of each method: truncation falls as h shrinks, rounding rises")
    return "\n".join(lines)


def _argmin(values: list[float | None]) -> int | None:
    finite = [(v, i) for i, v in enumerate(values) if v is not None and v == v]
    return min(finite)[1] if finite else None


def _plot(path: str, hs: Any, errors: dict[str, list[float | None]], *, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install 'gradverify[plot]')", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, values in errors.items():
        pairs = [(h, e) for h, e in zip(hs, values, strict=True) if e is not None and e > 0]
        if pairs:
            ax.loglog(*zip(*pairs, strict=True), marker="o", label=method)
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise CommandError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    print(f"plot written to {path}")


def cmd_descent(args: argparse.Namespace) -> ExitCode:
    """The descent invariants on the user's loss: monotone decrease and a descent direction."""
    from gradverify import invariants

    target = Target(args, need_derivative=True)
    if target.kind == "vjp":
        raise CommandError("descent needs a loss and its gradient: give --grad MODULE:GRAD or --returns-grad")
    assert target.derivative is not None  # need_derivative=True guarantees it
    w0 = point(args)
    options: dict[str, Any] = {}
    if args.step_size is not None:
        options["step_size"] = args.step_size
    if args.steps is not None:
        options["steps"] = args.steps
    results = [
        invariants.check_monotone_decrease(target.f, target.derivative, w0, **options),
        invariants.check_descent_direction(target.f, target.derivative, w0, seed=args.seed),
    ]
    print(f"gradverify descent: {args.target} with {target.derivative_spec}")
    for result in results:
        print(result)
    failed = sum(not result.ok for result in results)
    print(f"descent: {len(results) - failed} of {len(results)} invariants hold")
    ok = failed == 0
    summary = [result.to_dict() for result in results]
    code = ExitCode.OK if ok else ExitCode.CHECK_FAILED
    write_json(args.json, {"command": "descent", "target": args.target, "exit_code": int(code), "results": summary})
    return code


# -- the parser and main --------------------------------------------------------------------


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
    p.add_argument("--seed", type=int, default=0, help="seed of drawn inputs and random choices (default: 0)")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON ('-' for stdout)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradverify", description="Is a hand-written derivative right? Checks it, with evidence.")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback when something raises")
    parser.add_argument("--version", action="version", version=f"gradverify {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="check a correct and a broken gradient from the built-in zoo")
    demo.add_argument("--problem", default="softmax", help="zoo problem (default: softmax)")
    demo.add_argument("--bug", default="forgot_mean", help="which broken twin (default: forgot_mean)")
    demo.add_argument("--method", choices=METHODS, default="auto")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", metavar="PATH", help="also write both reports as JSON ('-' for stdout)")
    demo.set_defaults(run=cmd_demo)

    check = sub.add_parser("check", help="check a gradient or VJP against numerical estimates")
    _add_target(check, derivative_required=True)
    check.add_argument("--method", choices=METHODS, default="auto", help="numerical method (default: auto)")
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
    steps.add_argument("--h-min", type=float, default=1e-14)
    steps.add_argument("--h-max", type=float, default=1e-1)
    steps.add_argument("--num", type=int, default=14, help="number of steps in the sweep (log-spaced)")
    steps.add_argument("--plot", metavar="PNG", help="also draw the curves to this file (needs matplotlib)")
    steps.set_defaults(run=cmd_steps)

    descent = sub.add_parser("descent", help="check the descent invariants on a loss and its gradient")
    _add_target(descent, derivative_required=True, vjp=False)
    descent.add_argument("--step-size", type=float, help="step size (default: from the estimated smoothness)")
    descent.add_argument("--steps", type=int, help="number of gradient-descent steps")
    descent.set_defaults(run=cmd_descent)
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
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE
        return int(args.run(args))
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        print("gradverify: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except CommandError as exc:
        _complain(str(exc), exc, show_traceback)
        return exc.code
    except Exception as exc:
        return _failure(exc, show_traceback)


def _failure(exc: Exception, show_traceback: bool) -> ExitCode:
    """An exception from the check: gradverify rejecting its input, or the user's code raising."""
    from gradverify.errors import InvalidArgument

    if isinstance(exc, InvalidArgument):
        _complain(_first_line(exc), exc, show_traceback)
        return ExitCode.USAGE
    where = _user_frame(exc)
    hint = "" if show_traceback else " (rerun with --traceback to see where)"
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
