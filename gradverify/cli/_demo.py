"""``gradverify demo``: a zoo problem's correct gradient beside a broken twin, both checked."""

from __future__ import annotations

import argparse

from ._errors import CommandError, ExitCode, outcome_of
from ._output import write_json

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
    passed = good.ok and outcome_of(bad) == "failed"
    inconclusive = "inconclusive" in (outcome_of(good), outcome_of(bad))
    if passed:
        print("demo passed: the correct gradient passes and the broken one is caught.")
    elif inconclusive:
        print(f"demo INCONCLUSIVE: correct gradient {outcome_of(good)}, broken gradient {outcome_of(bad)}.")
    else:
        print(f"demo FAILED: correct gradient ok={good.ok}, broken gradient ok={bad.ok}.")
    code = ExitCode.OK if passed else ExitCode.INCONCLUSIVE if inconclusive else ExitCode.CHECK_FAILED
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
        getattr(args, "json_stream", None),
    )
    return code


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else line for line in text.splitlines())
