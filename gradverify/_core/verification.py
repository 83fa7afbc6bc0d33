"""``verify``: a derivative checked over many drawn inputs, a failure shrunk.

:func:`verify` runs the core check (:func:`gradverify.check_grad`) on inputs
drawn by Hypothesis from a strategy (see :mod:`gradverify.strategies`).  A
failing check is turned into an exception inside the Hypothesis test, so
Hypothesis shrinks the input to the smallest one that still fails; the result
carries that input and the core's report at it.  It runs the same in a plain
script, in a test, and from the command line, and never prints.

:func:`verifies` is the decorator form for test suites, and
:func:`register_profiles` registers gradverify's own Hypothesis profiles.
"""

from __future__ import annotations

import hashlib
import inspect
import numbers
import unittest
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, assume, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy

from ..errors import (
    GradientMismatch,
    InputMutated,
    InvalidArgument,
    NonDeterministicFunction,
    NonFiniteValue,
    ShapeMismatch,
)

__all__ = ["VerifyResult", "verify", "verifies", "register_profiles", "PROFILES"]

#: Errors of the check that are verdicts on the derivative (or the function)
#: at a drawn input, so they are shrunk and reported like a mismatch.  Other
#: errors (a bad argument to verify, NotComplexSafe, a bug that raises inside
#: f) propagate: they are not findings about the derivative.
FAILURES = (GradientMismatch, ShapeMismatch, NonFiniteValue, InputMutated, NonDeterministicFunction)

#: Numerical checks are slow and their speed varies with the drawn size, so the
#: health checks about speed and size say nothing useful here.
_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    # inputs where f is not differentiable are discarded (see verify)
    HealthCheck.filter_too_much,
]

#: gradverify's Hypothesis profiles.  Hypothesis' own ``default`` and ``ci``
#: are never touched; select one of these with ``settings.load_profile`` or
#: the pytest option ``--hypothesis-profile``.
PROFILES: dict[str, dict[str, Any]] = {
    # a quick look while editing a derivative
    "gradverify-fast": dict(max_examples=10, deadline=None, suppress_health_check=_SUPPRESSED),
    # reproducible in CI: the same examples on every run, no database writes
    "gradverify-ci": dict(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=_SUPPRESSED,
    ),
    # before a release, or after a change to a derivative
    "gradverify-thorough": dict(max_examples=1000, deadline=None, suppress_health_check=_SUPPRESSED),
}


def register_profiles() -> None:
    """Register :data:`PROFILES` with Hypothesis (safe to call more than once).

    Examples
    --------
    >>> from hypothesis import settings
    >>> register_profiles()
    >>> settings.get_profile("gradverify-ci").derandomize
    True
    """
    for name, kw in PROFILES.items():
        Settings.register_profile(name, **kw)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    ok : bool
        True when every drawn input passed.
    examples : int
        How many inputs were checked (shrinking steps and Hypothesis' final
        replay of a failure included).
    counterexample : object or None
        The shrunk failing input, or None.
    report : Report or None
        The core's report at ``counterexample`` (None when it passed, or when
        the failure was an error without a report, see ``error``).
    error : GradverifyError or None
        The error raised at ``counterexample``: a :class:`GradientMismatch`
        (whose ``.report`` is ``report``), or for example a
        :class:`ShapeMismatch` when the derivative has the wrong shape there.
    check_seed : int or None
        The ``seed`` the core was called with at ``counterexample`` (it picks
        random directions in directional mode), so
        ``check_grad(f, grad, counterexample, seed=check_seed, ...)`` replays it.
    discarded : int
        Drawn inputs that were not evidence, as with ``hypothesis.assume``:
        f is not differentiable there (a kink the analytic value does not
        sit inside, every ReLU unit at 0) or the check was inconclusive.
    """

    ok: bool
    examples: int
    counterexample: Any = None
    report: Any = None
    error: BaseException | None = None
    check_seed: int | None = None
    discarded: int = 0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            kept = f" ({self.discarded} discarded: not differentiable there, or inconclusive)" if self.discarded else ""
            return f"verify: ok, {self.examples} drawn inputs checked{kept}"
        lines = [f"verify: FAILED after {self.examples} checks; shrunk counterexample:", f"  {self.counterexample!r}"]
        if self.report is not None:
            lines.append(str(self.report))
        elif self.error is not None:
            lines.append(f"{type(self.error).__name__}: {self.error}")
        return "\n".join(lines)


def _digest(*parts: Any) -> bytes:
    """A stable database key for one (f, grad, inputs, method) combination."""
    h = hashlib.sha384()
    for part in parts:
        if callable(part) and not isinstance(part, SearchStrategy):
            name = f"{getattr(part, '__module__', '')}.{getattr(part, '__qualname__', type(part).__name__)}"
            h.update(name.encode())
            try:
                h.update(inspect.getsource(part).encode())
            except (OSError, TypeError):
                pass
        else:
            h.update(repr(part).encode())
    return h.digest()


def _database(database: Any) -> ExampleDatabase | None:
    if database is None or isinstance(database, ExampleDatabase):
        return database
    if isinstance(database, (str, bytes)) or hasattr(database, "__fspath__"):
        return DirectoryBasedExampleDatabase(database)
    raise InvalidArgument(
        f"database={database!r} must be None (no database), a directory path, or a hypothesis ExampleDatabase"
    )


def verify(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    inputs: SearchStrategy[Any],
    *,
    method: str = "auto",
    max_examples: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
    database: Any = None,
    **check_kw: Any,
) -> VerifyResult:
    """Check ``grad`` against ``f`` on inputs drawn from ``inputs``.

    Parameters
    ----------
    f : callable
        Parameters -> scalar.
    grad : callable
        Parameters -> derivative, same structure as the parameters.
    inputs : hypothesis strategy
        Draws parameters, for example ``gst.weights(shape=gst.shapes())``.
    method : str
        Passed to :func:`gradverify.check_grad`.
    max_examples : int, optional
        Inputs to draw (before shrinking); defaults to 100, or to
        ``settings.max_examples`` when ``settings`` is given.
    seed : int, optional
        Seeds Hypothesis (``hypothesis.seed``) so the run replays exactly.
    settings : hypothesis.settings, optional
        Base settings; defaults to the active profile.  ``deadline`` is always
        off (numerical work is slow) and only the first bug is reported.
    database : None, path, or hypothesis ExampleDatabase
        Where failing inputs are kept and replayed from on the next run; off
        by default, so a script leaves nothing behind.
    **check_kw
        Passed to :func:`gradverify.check_grad` (``h``, ``safety``, ``mode``,
        ...).  Unless ``seed`` is among them, the core's seed is drawn as
        data, so it shrinks (to 0) and replays with the input.

    Returns
    -------
    VerifyResult
        ``ok``, ``examples``, ``counterexample`` (shrunk), ``report``.

    Notes
    -----
    Call it from a plain test or script, not from inside a Hypothesis test
    (nested ``@given`` is refused by Hypothesis); draw the inputs of the
    outer test with ``st.data()`` instead.

    Examples
    --------
    >>> import numpy as np
    >>> from gradverify import strategies as gst
    >>> result = verify(lambda x: np.sum(x**2), lambda x: 2 * x,
    ...                 gst.weights(shape=gst.shapes(max_dims=1)), max_examples=10, seed=0)
    >>> result.ok
    True
    """
    from .check import check_grad  # imported late: importing strategies needs no verdict layer

    if not callable(f):
        raise InvalidArgument(f"f={f!r} must be callable: parameters -> scalar")
    if not callable(grad):
        raise InvalidArgument(f"grad={grad!r} must be callable: parameters -> gradient like the parameters")
    if not isinstance(inputs, SearchStrategy):
        raise InvalidArgument(
            f"inputs={inputs!r} must be a Hypothesis strategy, such as gst.weights(shape=gst.shapes()); "
            "to check one point, use check_grad"
        )
    if settings is not None and not isinstance(settings, Settings):
        raise InvalidArgument(f"settings={settings!r} must be a hypothesis.settings object")
    if max_examples is None:
        max_examples = settings.max_examples if settings is not None else 100
    if isinstance(max_examples, bool) or not isinstance(max_examples, numbers.Integral) or max_examples < 1:
        raise InvalidArgument(f"max_examples={max_examples!r} must be a positive integer")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidArgument(f"seed={seed!r} must be an integer or None")
    db = _database(database)

    draw_check_seed = "seed" not in check_kw
    seeds = st.integers(0, 2**32 - 1) if draw_check_seed else st.just(check_kw["seed"])
    state: dict[str, Any] = {"examples": 0, "last": None, "discarded": 0}

    def run_one(x: Any, check_seed: int) -> None:
        state["examples"] += 1
        # Keep the input as drawn: the last call is the shrunk counterexample,
        # and f or grad may (wrongly) modify it.
        state["last"] = (_copy(x), check_seed)
        kw = dict(check_kw, seed=check_seed)
        report = check_grad(f, grad, x, method=method, **kw)
        if not _evidence(report):
            state["discarded"] += 1
            assume(False)
        if not report.ok:
            raise GradientMismatch(report)

    # explain re-runs the failure to annotate a traceback we never show
    phases = [p for p in (settings.phases if settings is not None else Phase) if p != Phase.explain]
    run_settings = Settings(
        settings,
        max_examples=int(max_examples),
        deadline=None,
        database=db,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=phases,
        suppress_health_check=list(set(_SUPPRESSED) | set(settings.suppress_health_check if settings else ())),
    )
    test = given(inputs, seeds)(run_one)
    if seed is not None:
        test = hypothesis_seed(int(seed))(test)
    # settings last: hypothesis.seed switches the database off, and a database
    # the caller asked for must stay on
    test = run_settings(test)
    if db is not None:
        # what hypothesis.find does: one key per (f, grad, inputs, method)
        test._hypothesis_internal_database_key = _digest(f, grad, inputs, method)  # type: ignore[attr-defined, unused-ignore]
    try:
        test()
    except unittest.SkipTest:
        # Hypothesis ran no example (a replay-only run with nothing stored):
        # nothing was checked, so nothing failed.  Not a skip of the caller's test.
        return VerifyResult(True, state["examples"], discarded=state["discarded"])
    except Unsatisfiable as exc:
        # Every drawn input was discarded: nothing was judged, so nothing passed.
        x, check_seed = state["last"]
        return VerifyResult(False, state["examples"], x, None, exc, check_seed, state["discarded"])
    except FAILURES as exc:
        x, check_seed = state["last"]
        report = exc.report if isinstance(exc, GradientMismatch) else None
        return VerifyResult(False, state["examples"], x, report, exc, check_seed, state["discarded"])
    return VerifyResult(True, state["examples"], discarded=state["discarded"])


def _evidence(report: Any) -> bool:
    """Whether a check at a drawn input says anything about the derivative.

    Not where f is not differentiable (every failing entry is a kink the
    analytic value is not between: any convention for the derivative there is
    a choice, not a bug), nor where the check could not judge.
    """
    return report.outcome != "inconclusive" and not (report.outcome == "failed" and report.pattern == "kink")


def _copy(x: Any) -> Any:
    import copy

    return copy.deepcopy(x)


def verifies(
    f: Callable[[Any], Any],
    inputs: SearchStrategy[Any],
    **verify_kw: Any,
) -> Callable[[Callable[[Any], Any]], Callable[[], None]]:
    """Decorator form of :func:`verify` for test suites: decorate the gradient.

    The decorated function is the derivative under test; the result is a
    test function taking no arguments that runs :func:`verify` and raises
    the error found at the shrunk counterexample (a :class:`GradientMismatch`
    is an ``AssertionError``), with the counterexample in the message.

    Examples
    --------
    >>> import numpy as np
    >>> from gradverify import strategies as gst
    >>> @verifies(lambda x: np.sum(np.sin(x)), gst.weights(shape=3), max_examples=5, seed=0)
    ... def test_sin_grad(x):
    ...     return np.cos(x)
    >>> test_sin_grad()
    """

    def decorate(grad: Callable[[Any], Any]) -> Callable[[], None]:
        def test() -> None:
            __tracebackhide__ = True
            result = verify(f, grad, inputs, **verify_kw)
            if not result.ok:
                exc = result.error
                assert exc is not None
                exc.args = (f"{exc}\nshrunk counterexample: {result.counterexample!r}",)
                raise exc

        # copy the name, not the signature: pytest must see a test without arguments
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(test, attr, getattr(grad, attr, getattr(test, attr)))
        test.grad = grad  # type: ignore[attr-defined]
        return test

    return decorate
