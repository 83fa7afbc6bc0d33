"""pytest plugin: the ``gradcheck`` fixture, the ``gradverify`` marker and a summary.

Installing gradverify registers this module through the ``pytest11`` entry
point, so a project only has to use it::

    def test_softmax_grad(gradcheck):
        gradcheck(loss, loss_grad, W)          # fails the test with the report

    @pytest.mark.gradverify(method="central", safety=10)
    def test_layer(gradcheck):
        gradcheck.vjp(layer, layer_vjp, x)

Loading the plugin imports nothing but pytest and the standard library (numpy,
Hypothesis and the check machinery are imported inside the fixture), and a
project that neither uses the fixture nor sets a ``--gradverify-*`` option sees
no difference: no header line, no summary, no Hypothesis profile loaded.

Settings, strongest first: keyword arguments of a ``gradcheck`` call, the
``gradverify`` marker, the command line (``--gradverify-method``,
``--gradverify-max-examples``, ``--gradverify-profile``, ``--gradverify-seed``),
the ini file (``gradverify_method`` and so on).

Every call of the fixture is counted, whatever its outcome: passed, failed,
inconclusive (the check could not have seen a bug of a meaningful size), or
raised (bad input such as a ``ShapeMismatch``, or the user's function
crashing).  Each test's checks travel with its own test reports, which is how
pytest-xdist already moves results to the controller, so the totals are the
same with ``-n 2`` under every ``--dist`` mode as without xdist; a test whose
worker crashed under it (``os._exit``, a segfault) is named in the summary as
lost, because the checks it ran died with the worker.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

from ._core.names import CHECK_METHODS

if TYPE_CHECKING:  # only for annotations: importing these loads numpy
    from ._core.check import Report

__all__ = ["GradCheck"]

#: Methods the core accepts (see gradverify.check.check_grad).
METHODS = CHECK_METHODS  # numpy-free: the plugin imports nothing heavy at load
#: Short names accepted by --gradverify-profile for the profiles gradverify registers.
PROFILES = {
    "fast": "gradverify-fast",
    "ci": "gradverify-ci",
    "thorough": "gradverify-thorough",
}
#: Keyword arguments the marker may set: the check's own options plus max_examples.
MARKER_KEYS = frozenset({"method", "max_examples", "safety", "h", "mode", "directions", "budget", "vectorized", "seed"})
#: Options that only the Hypothesis-driven ``gradcheck.verify`` understands.
_VERIFY_ONLY = frozenset({"max_examples"})
#: How many failures the summary lists by name (the count is always exact).
_MAX_LISTED_FAILURES = 10


# -- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The session-wide settings, resolved once from the command line and ini file."""

    method: str
    max_examples: int | None
    profile: str | None
    seed: int
    #: True when the user set any gradverify option or ini value: then the header shows.
    explicit: bool


def _raw(config: pytest.Config, name: str) -> Any:
    """The command-line value of ``--gradverify-<name>``, else the ini value, else None."""
    value = config.getoption(f"gradverify_{name.replace('-', '_')}", default=None)
    if value is None:
        ini = config.getini(f"gradverify_{name.replace('-', '_')}")
        value = ini.strip() if isinstance(ini, str) and ini.strip() else None
    return value


def _positive_int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(value).strip() != str(number):
        raise pytest.UsageError(f"{what}={value!r} is not a positive integer")
    return number


def _resolve(config: pytest.Config) -> Settings:
    raw = {name: _raw(config, name) for name in ("method", "max_examples", "profile", "seed")}
    method = raw["method"] or "auto"
    if method not in METHODS:
        raise pytest.UsageError(f"gradverify method={method!r} is not one of {', '.join(METHODS)}")
    max_examples = None
    if raw["max_examples"] is not None:
        max_examples = _positive_int(raw["max_examples"], "gradverify max_examples")
    profile = raw["profile"]
    if profile is not None:
        profile = PROFILES.get(profile, profile)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "gradverify_seed" in workerinput:
        # An xdist worker uses the controller's seed, so one number replays the run.
        seed = int(workerinput["gradverify_seed"])
    elif raw["seed"] is not None:
        try:
            seed = int(raw["seed"])
        except ValueError:
            seed = -1
        if seed < 0:
            raise pytest.UsageError(f"gradverify seed={raw['seed']!r} is not an integer >= 0") from None
    else:
        # The one unseeded draw: it picks the session seed, which the header and the
        # summary print so that --gradverify-seed replays the run.
        seed = random.SystemRandom().randrange(2**32)
    explicit = any(value is not None for value in raw.values())
    return Settings(method, max_examples, profile, seed, explicit)


def _load_profile(name: str) -> None:
    """Register gradverify's Hypothesis profiles and load ``name``."""
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import InvalidArgument as HypothesisInvalidArgument

    from ._core.verification import register_profiles

    register_profiles()
    try:
        hypothesis_settings.load_profile(name)
    except HypothesisInvalidArgument:
        known = ", ".join(sorted(PROFILES)) + " (or " + ", ".join(PROFILES.values()) + ")"
        raise pytest.UsageError(
            f"gradverify profile={name!r} is not a registered Hypothesis profile; use {known}"
        ) from None


# -- what the checks found ----------------------------------------------------------------

#: The outcomes a check of the fixture can have; "raised" is a check that did not reach a
#: verdict because something raised (bad input such as a ShapeMismatch or a NonFiniteValue,
#: or the user's own function crashing).
OUTCOMES = ("passed", "failed", "inconclusive", "raised")


def _outcome(report: Any) -> str:
    # The core's Report.outcome; reports that predate it only have ok.
    outcome = str(getattr(report, "outcome", "passed" if report.ok else "failed"))
    return outcome if outcome in OUTCOMES else ("passed" if report.ok else "failed")


def _record(report: Any, nodeid: str, kind: str | None = None) -> dict[str, Any]:
    """The part of a report the summary needs, as plain data that xdist can send."""
    rel = getattr(report, "max_rel_error", None)
    return {
        "nodeid": nodeid,
        "kind": kind or str(getattr(report, "kind", "gradient")),
        "outcome": _outcome(report),
        "max_rel_error": None if rel is None else float(rel),
        "where": getattr(report, "worst_name", None),
        "error": None,
    }


def _raised(error: BaseException, nodeid: str, kind: str) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "kind": kind,
        "outcome": "raised",
        "max_rel_error": None,
        "where": None,
        "error": type(error).__name__,
    }


def _worse(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record with the larger relative error; NaN counts as the worst there is."""
    if a is None or a.get("max_rel_error") is None:
        return b if b is not None and b.get("max_rel_error") is not None else a
    if b is None or b.get("max_rel_error") is None:
        return a
    ra, rb = a["max_rel_error"], b["max_rel_error"]
    if rb != rb:  # NaN
        return b
    return b if ra == ra and rb > ra else a


@dataclass
class Stats:
    """Counts of the session's checks, added up on the controller from the test reports."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    worst: dict[str, Any] | None = None
    #: Every check that did not pass, in the order the reports arrived.
    problems: list[dict[str, Any]] = field(default_factory=list)
    #: Tests that used the fixture (seen in a report), and those whose worker crashed under them.
    used: set[str] = field(default_factory=set)
    lost: list[str] = field(default_factory=list)

    @property
    def checks(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def add(self, record: dict[str, Any]) -> None:
        outcome = record.get("outcome", "failed")
        self.counts[outcome if outcome in self.counts else "failed"] += 1
        if outcome != "passed":
            self.problems.append(record)
        self.worst = _worse(self.worst, record)

    def take(self, report: Any) -> None:
        """Count the checks a test report carries; a worker crash under a fixture user is a loss."""
        for record in getattr(report, "gradverify_checks", None) or ():
            self.add(record)
        if getattr(report, "gradverify_used", False):
            self.used.add(report.nodeid)
        # pytest-xdist reports a test whose worker died under it with when="???": the checks
        # that test ran were still in the dead worker's memory.
        if report.when not in ("setup", "call", "teardown") and report.nodeid in self.used:
            if report.nodeid not in self.lost:
                self.lost.append(report.nodeid)


@dataclass
class _State:
    settings: Settings
    stats: Stats = field(default_factory=Stats)


_STATE = pytest.StashKey[_State]()
#: The checks a test ran that no report has carried yet, and whether it used the fixture.
_PENDING = pytest.StashKey[list[dict[str, Any]]]()


# -- the fixture ----------------------------------------------------------------------------


def _own_frames_dropped(error: BaseException) -> BaseException:
    """``error`` with gradverify's own frames cut out of its traceback.

    A ``NonFiniteValue`` raised deep in the check would otherwise show pages of
    gradverify's source; the user's own frames (their f crashing) are kept.
    """
    package = str(Path(__file__).resolve().parent)
    kept: list[TracebackType] = []
    tb = error.__traceback__
    while tb is not None:
        if not str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(package):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for frame in reversed(kept):
        rebuilt = TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return error.with_traceback(rebuilt)


class GradCheck:
    """What the ``gradcheck`` fixture returns: the core checks, bound to this test.

    Calling it runs :func:`gradverify.check_grad`; :meth:`vjp`, :meth:`jacobian`
    and :meth:`verify` run the other checks.  Each returns the report when the
    derivative is right and fails the test with the readable report when it is
    not (``GradientMismatch``, or ``CheckInconclusive`` when the check could not
    tell).  Options come from the call, else the ``gradverify`` marker, else the
    command line and ini file.  Every call is counted in the summary, whatever
    it raised.
    """

    def __init__(
        self,
        nodeid: str,
        defaults: dict[str, Any],
        session_seed: int,
        sink: list[dict[str, Any]],
        *,
        full_trace: bool = False,
    ) -> None:
        self.nodeid = nodeid
        self.defaults = defaults
        self.session_seed = session_seed
        self._sink = sink
        self._full_trace = full_trace
        #: Every report this test produced, in order.
        self.reports: list[Any] = []

    def _options(self, options: dict[str, Any], *, verify: bool) -> dict[str, Any]:
        merged = {**self.defaults, **options}
        if not verify:
            for key in _VERIFY_ONLY:
                merged.pop(key, None)
        if merged.get("seed") is None:
            # Each check gets its own seed, derived from the session seed and where it
            # runs: stable across processes (crc32, not the salted hash()), so a
            # failure replays with the same --gradverify-seed under xdist or not.
            key = f"{self.session_seed}:{self.nodeid}:{len(self.reports)}"
            merged["seed"] = zlib.crc32(key.encode())
        return merged

    def _message(self, report: Any, derived_seed: bool) -> str:
        """The report, with its replay line telling the same seed story as the summary."""
        text = str(report)
        seed = getattr(report, "seed", None)
        if not derived_seed or seed is None:
            return text
        lines = [line for line in text.splitlines() if not line.strip().startswith(f"seed {seed} ")]
        lines.append(
            f"  seed {seed}, derived from the session's: replay with --gradverify-seed={self.session_seed} "
            f"(or pass seed={seed} to this call)"
        )
        return "\n".join(lines)

    def _judge(self, report: Report, kind: str, derived_seed: bool, suffix: str = "") -> Report:
        __tracebackhide__ = True
        self.reports.append(report)
        record = _record(report, self.nodeid, kind)
        self._sink.append(record)
        if record["outcome"] == "passed":
            return report
        from .errors import CheckInconclusive, GradientMismatch

        error = (CheckInconclusive if record["outcome"] == "inconclusive" else GradientMismatch)(report)
        error.args = (self._message(report, derived_seed) + suffix,)
        raise error

    def _run(self, kind: str, check: Callable[..., Any], *args: Any, options: dict[str, Any]) -> Any:
        __tracebackhide__ = True
        merged = self._options(options, verify=kind == "verify")
        if kind in ("layer", "torch", "jax") and "vectorized" not in options:
            merged.pop("vectorized", None)  # a marker's setting for the other checks; layers are not stacked
        derived = options.get("seed", self.defaults.get("seed")) is None
        try:
            outcome = check(*args, **merged)
        except BaseException as error:
            # Counted before it propagates: bad input, the user's f crashing, even
            # KeyboardInterrupt (which stops the session, but is not silently dropped).
            self._sink.append(_raised(error, self.nodeid, kind))
            if self._full_trace:
                raise
            raise _own_frames_dropped(error) from error.__cause__
        if kind != "verify":
            return self._judge(outcome, kind, derived)
        return self._verdict_of_verify(outcome, derived)

    def _verdict_of_verify(self, result: Any, derived: bool) -> Any:
        __tracebackhide__ = True
        if result.ok:
            self.reports.append(result)
            self._sink.append(
                {
                    "nodeid": self.nodeid,
                    "kind": "verify",
                    "outcome": "passed",
                    "max_rel_error": None,
                    "where": None,
                    "error": None,
                }
            )
            return result
        if result.report is not None:
            return self._judge(
                result.report, "verify", derived, f"\nminimal failing input (shrunk): {result.counterexample!r}"
            )
        error = result.error
        self.reports.append(result)
        if error is None:
            # No report and nothing raised: no example could be judged (an inconclusive run).
            outcome = _outcome(result)
            outcome = outcome if outcome != "passed" else "failed"
            self._sink.append({**_raised(RuntimeError(), self.nodeid, "verify"), "outcome": outcome, "error": None})
            from .errors import CheckInconclusive, GradientMismatch

            raise (CheckInconclusive if outcome == "inconclusive" else GradientMismatch)(result)
        # A failure without a report: the derivative raised, e.g. a ShapeMismatch.
        self._sink.append(_raised(error, self.nodeid, "verify"))
        error.args = (f"{error}\nminimal failing input (shrunk): {result.counterexample!r}",)
        raise _own_frames_dropped(error)

    def __call__(self, f: Callable[..., Any], grad: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check ``grad`` against ``f`` at ``x``; see :func:`gradverify.check_grad`."""
        __tracebackhide__ = True
        from . import check_grad

        report: Report = self._run("gradient", check_grad, f, grad, x, options=options)

        return report

    def vjp(self, f: Callable[..., Any], vjp: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check a vector-Jacobian product; see :func:`gradverify.check_vjp`."""
        __tracebackhide__ = True
        from . import check_vjp

        report: Report = self._run("vjp", check_vjp, f, vjp, x, options=options)

        return report

    def jacobian(self, f: Callable[..., Any], jac: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check a full Jacobian; see :func:`gradverify.check_jacobian`."""
        __tracebackhide__ = True
        from . import check_jacobian

        report: Report = self._run("jacobian", check_jacobian, f, jac, x, options=options)

        return report

    def layer(
        self, forward: Callable[..., Any], backward: Callable[..., Any] | None, *args: Any, **options: Any
    ) -> Report:
        """Check a layer's backward against its forward; see :func:`gradverify.check_layer`."""
        __tracebackhide__ = True
        from . import check_layer

        report: Report = self._run("layer", check_layer, forward, backward, *args, options=options)

        return report

    def torch(self, fn: Callable[..., Any], *inputs: Any, **options: Any) -> Report:
        """Check torch's backward of ``fn`` (a function or ``nn.Module``); see :func:`gradverify.torch.check`."""
        __tracebackhide__ = True
        from .torch import check  # imports torch: only when a test asks for it

        report: Report = self._run("torch", check, fn, *inputs, options=options)
        return report

    def jax(self, fn: Callable[..., Any], *args: Any, **options: Any) -> Report:
        """Check JAX's derivatives of ``fn`` (custom_vjp/custom_jvp included); see :func:`gradverify.jax.check`."""
        __tracebackhide__ = True
        from .jax import check  # imports jax: only when a test asks for it

        report: Report = self._run("jax", check, fn, *args, options=options)
        return report

    def verify(self, f: Callable[..., Any], grad: Callable[..., Any], inputs: Any, **options: Any) -> Any:
        """Check ``grad`` on Hypothesis-drawn ``inputs``; see :func:`gradverify.verify`.

        Unless ``max_examples`` is set (call, marker, option or ini), the active
        Hypothesis profile says how many inputs to draw.  A failure shows the
        report at the shrunk (minimal) failing input.
        """
        __tracebackhide__ = True
        from hypothesis import settings as hypothesis_settings

        from . import verify

        if "max_examples" not in {**self.defaults, **options} and "settings" not in options:
            options = {**options, "settings": hypothesis_settings.default}
        return self._run("verify", verify, f, grad, inputs, options=options)


def _marker_options(marker: Any) -> dict[str, Any]:
    if marker.args:
        pytest.fail(
            "the gradverify marker takes keyword arguments only, e.g. "
            "@pytest.mark.gradverify(method='central', max_examples=20)",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - MARKER_KEYS)
    if unknown:
        pytest.fail(
            f"the gradverify marker does not take {', '.join(unknown)}; it takes {', '.join(sorted(MARKER_KEYS))}",
            pytrace=False,
        )
    seed = marker.kwargs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64):
        pytest.fail(f"the gradverify marker's seed={seed!r} is not a seed: give an integer >= 0", pytrace=False)
    return dict(marker.kwargs)


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradCheck:
    """Check hand-written derivatives; a wrong one fails the test with its report.

    ``gradcheck(f, grad, x, **options)`` checks a gradient;
    ``gradcheck.vjp``, ``gradcheck.jacobian``, ``gradcheck.layer`` and ``gradcheck.verify`` the rest.
    Per-test settings come from ``@pytest.mark.gradverify(method=..., ...)``.
    """
    state = request.config.stash[_STATE]
    defaults: dict[str, Any] = {"method": state.settings.method}
    if state.settings.max_examples is not None:
        defaults["max_examples"] = state.settings.max_examples
    marker = request.node.get_closest_marker("gradverify")
    if marker is not None:
        defaults.update(_marker_options(marker))
    sink = request.node.stash.setdefault(_PENDING, [])
    full_trace = bool(request.config.getoption("fulltrace", default=False))
    return GradCheck(request.node.nodeid, defaults, state.settings.seed, sink, full_trace=full_trace)


# -- hooks ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradverify", "gradverify: checks of hand-written derivatives")
    group.addoption(
        "--gradverify-method",
        choices=METHODS,
        default=None,
        help="default numerical method of gradcheck (ini: gradverify_method; default: auto)",
    )
    group.addoption(
        "--gradverify-max-examples",
        type=int,
        default=None,
        metavar="N",
        help="Hypothesis examples per gradcheck.verify call (ini: gradverify_max_examples)",
    )
    group.addoption(
        "--gradverify-profile",
        default=None,
        metavar="NAME",
        help="load a Hypothesis profile gradverify registers: fast, ci or thorough (ini: gradverify_profile)",
    )
    group.addoption(
        "--gradverify-seed",
        default=None,
        metavar="N",
        help="seed of the checks' random directions, to replay a run (ini: gradverify_seed; default: random)",
    )
    parser.addini("gradverify_method", "default numerical method of gradcheck", default="")
    parser.addini("gradverify_max_examples", "Hypothesis examples per gradcheck.verify call", default="")
    parser.addini("gradverify_profile", "Hypothesis profile to load: fast, ci or thorough", default="")
    parser.addini("gradverify_seed", "seed of the checks' random directions", default="")


@pytest.hookimpl(tryfirst=True)  # before Hypothesis' plugin loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradverify(method=..., max_examples=..., safety=...): settings for the gradcheck fixture in this test",
    )
    settings = _resolve(config)
    config.stash[_STATE] = _State(settings)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Counter(config.stash[_STATE].stats), "gradverify-counter")
    if settings.profile is not None:
        _load_profile(settings.profile)
    elif str(config.getoption("hypothesis_profile", default=None) or "").startswith("gradverify-"):
        # `--hypothesis-profile=gradverify-ci` works too: register ours before Hypothesis loads it.
        from ._core.verification import register_profiles

        register_profiles()
    # xdist's hooks exist only when xdist is loaded: registering them otherwise is an error.
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistHooks(config), "gradverify-xdist")


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash[_STATE].settings
    if not settings.explicit:
        return None
    return "gradverify: " + _describe(settings)


def _describe(settings: Settings) -> str:
    examples = settings.max_examples if settings.max_examples is not None else "profile default"
    profile = settings.profile or "none (Hypothesis settings unchanged)"
    return f"method={settings.method}, max_examples={examples}, profile={profile}, seed={settings.seed}"


@pytest.hookimpl(hookwrapper=True)  # the old-style wrapper: pytest 7.4 has no wrapper=True
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    # Each phase's report carries the checks run since the last one, so every check
    # reaches the controller with the test's own report, whichever worker ran it.
    pending = item.stash.get(_PENDING, None)
    if pending is not None:
        report.gradverify_used = True
        report.gradverify_checks = list(pending)
        pending.clear()


class _Counter:
    """Counts the checks in every test report, in the process that prints the summary.

    Under xdist that is the controller, which sees every worker's reports as they
    arrive; a worker only attaches its checks to its reports.
    """

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.stats.take(report)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or _STATE not in config.stash:
        return
    state = config.stash[_STATE]
    stats = state.stats
    if stats.checks == 0 and not stats.lost:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "gradverify")
    noun = "check" if stats.checks == 1 else "checks"
    counts = ", ".join(f"{stats.counts[o]} {o}" for o in OUTCOMES)
    write(f"{stats.checks} {noun} run: {counts} ({_describe(state.settings)})")
    if stats.lost:
        tests = "test" if len(stats.lost) == 1 else "tests"
        write(
            f"LOST: the checks of {len(stats.lost)} {tests} whose xdist worker crashed are not in these totals: "
            + ", ".join(stats.lost)
        )
    worst = stats.worst
    if worst is not None and worst.get("max_rel_error") is not None:
        where = f"{worst['where']} in " if worst.get("where") else ""
        write(f"worst relative error: {worst['max_rel_error']:.3g} at {where}{worst['nodeid']} ({worst['kind']})")
    # One line per check that did not pass: where it is, not its diagnosis (the
    # failure's own report above says that once).
    for record in sorted(stats.problems, key=lambda r: r["nodeid"])[:_MAX_LISTED_FAILURES]:
        write(_problem_line(record))
    if len(stats.problems) > _MAX_LISTED_FAILURES:
        write(f"... and {len(stats.problems) - _MAX_LISTED_FAILURES} more checks that did not pass")
    write(f"replay the checks' random choices with --gradverify-seed={state.settings.seed}")


def _problem_line(record: dict[str, Any]) -> str:
    outcome, nodeid, kind = record["outcome"], record["nodeid"], record["kind"]
    if outcome == "raised":
        return f"RAISED {nodeid}: {record.get('error') or 'an exception'} in the {kind} check"
    where = f" at {record['where']}" if record.get("where") else ""
    rel = record.get("max_rel_error")
    size = f", relative error {rel:.3g}" if rel is not None else ""
    return f"{outcome.upper()} {nodeid}: {kind} check{where}{size}"


class _XdistHooks:
    """The controller's side of pytest-xdist: send the session seed to every worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["gradverify_seed"] = self.config.stash[_STATE].settings.seed
