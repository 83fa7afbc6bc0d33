"""How the ``gradverify`` command fails: its exit codes and the one-line error a user can fix."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CommandError", "ExitCode", "exit_code_of", "outcome_of"]


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
    #: A check was inconclusive: it could not have seen a bug of a meaningful size (see the report).
    INCONCLUSIVE = 4
    #: Interrupted with Ctrl-C.
    INTERRUPTED = 130
    #: The reader of stdout went away (``gradverify ... | head``): 128 + SIGPIPE, as a shell reports it.
    BROKEN_PIPE = 141


class CommandError(Exception):
    """A mistake the user can fix; ``main`` prints it as one line and exits with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def outcome_of(report: object) -> str:
    """``"passed"``, ``"failed"`` or ``"inconclusive"`` (reports without ``outcome`` only have ``ok``)."""
    ok = bool(getattr(report, "ok", False))
    return str(getattr(report, "outcome", "passed" if ok else "failed"))


def exit_code_of(*reports: object) -> ExitCode:
    """The command's status for these verdicts: any failure is 1, else any inconclusive is 4, else 0."""
    outcomes = {outcome_of(r) for r in reports}
    if outcomes - {"passed", "inconclusive"}:
        return ExitCode.CHECK_FAILED
    return ExitCode.INCONCLUSIVE if "inconclusive" in outcomes else ExitCode.OK


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
