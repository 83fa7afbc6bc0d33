"""``gradverify layer``: a forward/backward pair from a module, checked argument by argument.

::

    gradverify layer layers.py:affine_forward --backward affine_backward --shape x=4,3 --shape w=3,5 --shape b=5
    gradverify layer layers.py:batchnorm_forward --backward batchnorm_backward \\
        --shape x=6,4 --shape gamma=4 --shape beta=4 --value 'bn_param={"mode": "train"}'
    gradverify layer layers.py:softmax_loss --returns-grad --shape x=5,4 --int y=5:4

Arguments are given by the names of forward's parameters: ``--shape NAME=DIMS``
draws a standard-normal float array, ``--int NAME=DIMS:HIGH`` integers in
``[0, HIGH)`` (indices, labels), ``--value NAME=JSON`` any constant (a dict, a
number, a string, ``null``), ``--input FILE.npz`` named arrays.  They are
passed in the order of forward's signature.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
from typing import Any

from ._check import _verdicts
from ._errors import CommandError, ExitCode, _first_line
from ._output import write_json
from ._targets import _qualified, load_callable, load_input, parse_shapes

__all__ = ["add_layer_command", "cmd_layer"]

_INT = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<dims>\d+(?:,\d+)*):(?P<high>\d+)$")
_VALUE = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<json>.*)$", re.S)


def add_layer_command(sub: Any) -> None:
    """Register ``gradverify layer`` on the subcommand parsers ``sub``."""
    p = sub.add_parser("layer", help="check a layer's backward(dout, cache) against its forward")
    p.add_argument("target", metavar="MODULE:FORWARD", help="the forward: a dotted module or a .py path, then :name")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--backward", metavar="MODULE:BACKWARD", help="its backward (NAME alone: in FORWARD's module)")
    which.add_argument("--returns-grad", action="store_true", help="FORWARD is a loss returning (loss, grad)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS", help="a float argument, e.g. x=4,3")
    p.add_argument("--int", action="append", default=[], metavar="NAME=DIMS:HIGH", help="integers in [0, HIGH)")
    p.add_argument(
        "--value", action="append", default=[], metavar="NAME=JSON", help='a constant, e.g. p={"mode": "train"}'
    )
    p.add_argument("--input", metavar="FILE", help="named arrays from a .npz (integer arrays stay integers)")
    p.add_argument("--wrt", action="append", metavar="NAME", help="differentiate only these arguments (repeat)")
    p.add_argument("--reset-random-state", action="store_true", help="restore numpy's random state before each call")
    p.add_argument("--method", choices=("auto", "forward", "central", "complex", "richardson"), default="auto")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="dtype of drawn float arrays")
    p.add_argument("--seed", type=int, default=0, help="seed of drawn inputs and random choices (default: 0)")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON ('-' for stdout)")
    p.set_defaults(run=cmd_layer)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """Every argument the command line gives, by name."""
    import numpy as np

    rng = np.random.default_rng(args.seed)
    given: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if name in given:
            raise CommandError(f"the argument {name!r} is given twice")
        given[name] = value

    if args.input:
        loaded = load_input(args.input)
        if not isinstance(loaded, dict):
            raise CommandError(f"--input {args.input}: give a .npz of arrays named like forward's arguments")
        for name, value in loaded.items():
            put(name, value)
    if args.shape:
        shapes = parse_shapes(args.shape)
        if not isinstance(shapes, dict):
            raise CommandError("name each array after forward's argument: --shape x=4,3")
        for name, shape in shapes.items():
            put(name, np.asarray(rng.standard_normal(shape), dtype=args.dtype))
    for spec in args.int:
        match = _INT.match(spec.replace(" ", ""))
        if not match or int(match["high"]) < 1 or "0" in match["dims"].split(","):
            raise CommandError(f"--int {spec!r} is not NAME=DIMS:HIGH, such as y=5:4 (5 labels in [0, 4))")
        dims = tuple(int(d) for d in match["dims"].split(","))
        put(match["name"], rng.integers(0, int(match["high"]), size=dims))
    for spec in args.value:
        match = _VALUE.match(spec)
        if not match:
            raise CommandError(f'--value {spec!r} is not NAME=JSON, such as \'bn_param={{"mode": "train"}}\'')
        try:
            put(match["name"], json.loads(match["json"]))
        except json.JSONDecodeError as exc:
            raise CommandError(f"--value {spec!r}: {match['json']!r} is not JSON ({exc.msg})") from None
    return given


def _arrange(forward: Any, given: dict[str, Any], spec: str) -> tuple[list[Any], dict[str, Any]]:
    """Positional arguments in forward's order (keyword-only ones apart)."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        raise CommandError(f"{spec} has no signature to name its arguments by") from None
    left = dict(given)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    gap = False  # after a parameter left at its default, the rest go by keyword
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in left:
            if p.default is p.empty:
                raise CommandError(f"{spec} takes {p.name!r}: give it with --shape, --int, --value or --input")
            gap = True
        elif p.kind == p.KEYWORD_ONLY or gap:
            keywords[p.name] = left.pop(p.name)
        else:
            positional.append(left.pop(p.name))
    if left:
        names = ", ".join(q.name for q in params)
        raise CommandError(f"{spec} has no argument {sorted(left)[0]!r} (its arguments: {names})")
    return positional, keywords


def cmd_layer(args: argparse.Namespace) -> ExitCode:
    """Check the layer; exit 0 when every gradient is right, 1 when one is not."""
    import gradverify as gv

    cache: dict[str, Any] = {}
    forward = load_callable(args.target, option="FORWARD", cache=cache)
    default_module = args.target.rpartition(":")[0] or None
    backward = None
    described = f"the gradient {args.target} returns"
    if args.backward:
        backward = load_callable(args.backward, option="--backward", default_module=default_module, cache=cache)
        described = _qualified(args.backward, default_module)
    positional, keywords = _arrange(forward, _given(args), args.target)
    print(f"gradverify layer: {described} against {args.target}")
    report_data: dict[str, Any] | None = None
    error: str | None = None
    try:
        report = gv.check_layer(
            forward,
            backward,
            *positional,
            kwargs=keywords or None,
            wrt=args.wrt,
            reset_random_state=args.reset_random_state,
            method=args.method,
            seed=args.seed,
        )
    except _verdicts() as exc:
        print(f"gradverify: layer check FAILED: {type(exc).__name__}: {_first_line(exc)}")
        code, error = ExitCode.CHECK_FAILED, f"{type(exc).__name__}: {exc}"
    else:
        print(report)
        outcome = getattr(report, "outcome", "passed" if report.ok else "failed")
        code = {"passed": ExitCode.OK, "inconclusive": ExitCode.INCONCLUSIVE}.get(outcome, ExitCode.CHECK_FAILED)
        report_data = report.to_dict()
    write_json(
        args.json,
        {
            "command": "layer",
            "target": args.target,
            "derivative": described,
            "seed": args.seed,
            "exit_code": int(code),
            "report": report_data,
            "error": error,
        },
    )
    return code
