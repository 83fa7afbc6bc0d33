"""The one family of exceptions gradverify raises.

Every error subclasses :class:`GradverifyError` and also the builtin a caller
would expect, so ``except ValueError`` keeps working in code that does not know
gradverify.  Messages name the argument, show the value and suggest a fix.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GradverifyError",
    "InvalidArgument",
    "ShapeMismatch",
    "NonFiniteValue",
    "NotComplexSafe",
    "NonDeterministicFunction",
    "InputMutated",
    "GradientMismatch",
    "CheckInconclusive",
    "InsufficientMemory",
]


class GradverifyError(Exception):
    """Base class of every error raised by gradverify."""


class InvalidArgument(GradverifyError, ValueError, TypeError):
    """An argument has the wrong value, type, shape or dtype.

    It is both a ``ValueError`` and a ``TypeError`` so callers can catch
    whichever builtin they would have caught without gradverify.
    """


class ShapeMismatch(InvalidArgument):
    """A derivative does not have the shape or structure of the input."""


class NonFiniteValue(InvalidArgument):
    """The function or the derivative produced NaN or infinity."""


class NotComplexSafe(InvalidArgument):
    """Complex-step was requested for a function that does not support it."""


class NonDeterministicFunction(InvalidArgument):
    """The function returned two different values at the same point."""


class InputMutated(InvalidArgument):
    """The function (or the derivative) modified the array it was given."""


class InsufficientMemory(GradverifyError, MemoryError):
    """A check ran out of memory; the message says how much it needed and what to try.

    It is a ``MemoryError``, so code that catches that keeps working.
    """


class GradientMismatch(GradverifyError, AssertionError):
    """An analytic derivative disagrees with the numerical estimate.

    Attributes
    ----------
    report : Report
        The full report of the failed check.
    """

    def __init__(self, report: Any) -> None:
        self.report = report
        super().__init__(str(report))


class CheckInconclusive(GradientMismatch):
    """A check could not have seen a bug of a meaningful size, so it did not pass.

    Raised by the assertion helpers when ``report.outcome == "inconclusive"``
    (f quantised, noisy, jumping inside the step, computed in a lower
    precision than x, or every estimate non-finite).  It is a
    :class:`GradientMismatch` (and so an ``AssertionError``): a test that
    asserts a derivative is right fails when the check cannot tell.
    """
