"""``gradverify steps``: each method's error against the step h, as a table and a plot."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .._core.names import METHODS
from ._errors import CommandError, ExitCode, _first_line
from ._output import Progress, write_json
from ._targets import Target, point

STEP_METHODS = METHODS  # every estimator


def cmd_steps(args: argparse.Namespace) -> ExitCode:
    """Error of each method's estimate against the step h: the V-shaped curve."""
    import gradverify as gv
    from gradverify._core.params import ParamSpec

    target = Target(args, need_derivative=False)
    if target.kind == "vjp":
        raise CommandError("steps studies gradients: give --grad MODULE:GRAD or --returns-grad, not --vjp")
    if args.plot:
        _need_matplotlib()  # before the sweep, not after it
    x = point(args)
    spec = ParamSpec.of(x)
    methods = _method_list(args.methods)
    hs = _step_sizes(args)

    if target.derivative is not None:
        reference = spec.flatten(target.derivative(x))
        reference_name = f"the analytic gradient {target.derivative_spec}"
    else:
        reference, reference_name = _reference(gv, target.f, x, spec)
    errors, notes = _sweep(target.f, x, spec, methods, hs, reference)

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
        getattr(args, "json_stream", None),
    )
    return code


def _method_list(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in STEP_METHODS]
    if bad or not methods:
        raise CommandError(f"--methods {text!r}: choose from {','.join(STEP_METHODS)}")
    return methods


def _step_sizes(args: argparse.Namespace) -> Any:
    """The swept steps: ``--num`` of them, log-spaced from ``--h-max`` down to ``--h-min``."""
    import numpy as np

    if not (0 < args.h_min < args.h_max):
        raise CommandError(f"--h-min {args.h_min:g} and --h-max {args.h_max:g}: need 0 < h-min < h-max")
    if args.num < 2:
        raise CommandError(f"--num {args.num}: need at least 2 steps")
    return np.logspace(np.log10(args.h_max), np.log10(args.h_min), args.num)


def _sweep(
    f: Callable[..., Any], x: Any, spec: Any, methods: list[str], hs: Any, reference: Any
) -> tuple[dict[str, list[float | None]], list[str]]:
    """Each method's error at each step, relative to ``max|reference|``, and notes on methods that cannot run."""
    import numpy as np

    import gradverify as gv
    from gradverify.errors import GradverifyError

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
                    estimate = spec.flatten(gv.numerical_gradient(f, x, method=method, h=float(h)))
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
    return errors, notes


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


def _need_matplotlib() -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError("--plot needs matplotlib, which is not installed: pip install 'gradverify[plot]'")


def _plot(path: str, hs: Any, errors: dict[str, list[float | None]], *, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # installed but broken: found by find_spec, failing on import
        raise CommandError(
            f"--plot: matplotlib does not import ({_first_line(exc)}): pip install 'gradverify[plot]'"
        ) from None
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
