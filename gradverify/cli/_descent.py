"""``gradverify descent``: the descent invariants on the user's loss and gradient."""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import CommandError, ExitCode, exit_code_of
from ._output import write_json
from ._targets import Target, point


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
    summary = [result.to_dict() for result in results]
    code = exit_code_of(*results)
    write_json(
        args.json,
        {"command": "descent", "target": args.target, "exit_code": int(code), "results": summary},
        getattr(args, "json_stream", None),
    )
    return code
