"""``gradverify check``: one derivative at one point, or on ``--examples`` drawn points."""

from __future__ import annotations

import argparse
from typing import Any

from gradverify.errors import InvalidArgument

from ._errors import CommandError, ExitCode, _first_line, exit_code_of
from ._output import Progress, write_json
from ._targets import Target, parse_shapes, point


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
        try:
            report = check(target.f, target.derivative, x, **options)
        except InvalidArgument:
            _not_a_loss(target, x)
            raise
    except _verdicts() as exc:
        # The derivative's own fault (a wrong shape, NaN, a mutated input): the check
        # failed, as gv.verify counts it, rather than the command being misused.
        print(f"gradverify: {target.kind} check FAILED: {type(exc).__name__}: {_first_line(exc)}")
        code, error = ExitCode.CHECK_FAILED, f"{type(exc).__name__}: {exc}"
    else:
        print(report)
        code = exit_code_of(report)
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
        getattr(args, "json_stream", None),
    )
    return code


def _not_a_loss(target: Target, x: Any) -> None:
    """A gradient asked of a function with an array output: say how the command checks those."""
    import numpy as np

    if target.kind != "gradient":
        return
    try:
        out = target.f(x)
    except Exception:
        return  # not this problem; the check's own error says what is
    if np.size(out) != 1:
        raise CommandError(
            f"{target.spec} returns an array of shape {np.shape(out)}, not a scalar loss, so it has no gradient: "
            "check it with --vjp MODULE:VJP (its vector-Jacobian product vjp(x, cotangent)) instead of --grad"
        )


def _verdicts() -> tuple[type[Exception], ...]:
    """Errors that are findings about the derivative at the point, not misuse of the command."""
    from gradverify._core.verification import FAILURES

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
    except InvalidArgument:
        progress.done()
        _not_a_loss(target, _draw_one(parse_shapes(args.shape), args))
        raise
    finally:
        progress.done()
    print(f"gradverify check: {target.derivative_spec} against {args.target}, {result.examples} drawn inputs checked")
    if result.report is not None:
        print(result.report)
    elif not result.ok and result.error is not None:
        print(f"{type(result.error).__name__}: {result.error}")
    elif result.ok:
        print(f"ok: every drawn input passed (method {args.method}, seed {args.seed})")
    else:  # no report and no error: no drawn input could be judged
        print(result)
    if not result.ok and result.counterexample is not None:
        print("minimal failing input (shrunk by Hypothesis):")
        print(_format_input(result.counterexample))
    if result.ok:
        code = ExitCode.OK
    elif result.error is not None:
        code = ExitCode.CHECK_FAILED
    else:
        code = exit_code_of(result.report if result.report is not None else result)
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
        getattr(args, "json_stream", None),
    )
    return code


def _draw_one(shapes: Any, args: argparse.Namespace) -> Any:
    from ._targets import draw_input

    return draw_input(shapes, seed=args.seed, dtype=args.dtype)


def _strategy(shapes: Any, *, dtype: str) -> Any:
    """Hypothesis strategy of points of the given shape(s): finite, moderate values."""
    from gradverify import strategies as gst

    if isinstance(shapes, dict):
        return gst.params(layout=shapes, dtype=dtype)
    return gst.weights(shape=shapes, dtype=dtype)


def _format_input(x: Any) -> str:
    import numpy as np

    def show(value: Any, prefix: str) -> str:
        text = np.array2string(np.asarray(value), precision=6, prefix=prefix)
        return prefix + text

    if isinstance(x, dict):
        return "\n".join(show(v, f"  {name} = ") for name, v in x.items())
    return show(x, "  ")
