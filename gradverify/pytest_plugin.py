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

Under pytest-xdist each worker counts its own checks and hands the counts to
the controller in ``workeroutput``; the controller adds them up, so the summary
totals are the same with ``-n 2`` as without xdist.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # only for annotations: importing these loads numpy
    from ._core.check import Report

__all__ = ["GradCheck"]

#: Methods the core accepts (see gradverify.check.check_grad).
METHODS = ("auto", "forward", "central", "complex", "richardson")
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
            raise pytest.UsageError(f"gradverify seed={raw['seed']!r} is not an integer") from None
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


def _record(report: Any, nodeid: str) -> dict[str, Any]:
    """The part of a report the summary needs, as plain data that xdist can send."""
    rel = getattr(report, "max_rel_error", None)
    return {
        "nodeid": nodeid,
        "kind": str(getattr(report, "kind", "gradient")),
        "ok": bool(report.ok),
        "max_rel_error": None if rel is None else float(rel),
        "where": getattr(report, "worst_name", None),
        "diagnosis": getattr(report, "diagnosis", None),
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
    """Counts of one process's checks; a controller adds up its workers' with :meth:`merge`."""

    checks: int = 0
    failed: int = 0
    worst: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.checks += 1
        if not record["ok"]:
            self.failed += 1
            self.failures.append(record)
        self.worst = _worse(self.worst, record)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "failed": self.failed, "worst": self.worst, "failures": self.failures}

    def merge(self, data: dict[str, Any]) -> None:
        self.checks += int(data.get("checks", 0))
        self.failed += int(data.get("failed", 0))
        self.failures.extend(data.get("failures", []))
        self.worst = _worse(self.worst, data.get("worst"))


@dataclass
class _State:
    settings: Settings
    stats: Stats = field(default_factory=Stats)


_STATE = pytest.StashKey[_State]()


# -- the fixture ----------------------------------------------------------------------------


class GradCheck:
    """What the ``gradcheck`` fixture returns: the core checks, bound to this test.

    Calling it runs :func:`gradverify.check_grad`; :meth:`vjp`, :meth:`jacobian`
    and :meth:`verify` run the other checks.  Each returns the report when the
    derivative is right and fails the test with the readable report when it is
    not.  Options come from the call, else the ``gradverify`` marker, else the
    command line and ini file.
    """

    def __init__(self, nodeid: str, defaults: dict[str, Any], session_seed: int, stats: Stats) -> None:
        self.nodeid = nodeid
        self.defaults = defaults
        self.session_seed = session_seed
        self._stats = stats
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

    def _judge(self, report: Report, message: str | None = None) -> Report:
        __tracebackhide__ = True
        self.reports.append(report)
        self._stats.add(_record(report, self.nodeid))
        if not report.ok:
            from .errors import GradientMismatch

            error = GradientMismatch(report)
            if message is not None:
                error.args = (message,)
            raise error
        return report

    def __call__(self, f: Callable[..., Any], grad: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check ``grad`` against ``f`` at ``x``; see :func:`gradverify.check_grad`."""
        __tracebackhide__ = True
        from . import check_grad

        return self._judge(check_grad(f, grad, x, **self._options(options, verify=False)))

    def vjp(self, f: Callable[..., Any], vjp: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check a vector-Jacobian product; see :func:`gradverify.check_vjp`."""
        __tracebackhide__ = True
        from . import check_vjp

        return self._judge(check_vjp(f, vjp, x, **self._options(options, verify=False)))

    def jacobian(self, f: Callable[..., Any], jac: Callable[..., Any], x: Any, **options: Any) -> Report:
        """Check a full Jacobian; see :func:`gradverify.check_jacobian`."""
        __tracebackhide__ = True
        from . import check_jacobian

        return self._judge(check_jacobian(f, jac, x, **self._options(options, verify=False)))

    def torch(self, fn: Callable[..., Any], *inputs: Any, **options: Any) -> Report:
        """Check torch's backward of ``fn`` (a function or ``nn.Module``); see :func:`gradverify.torch.check`."""
        __tracebackhide__ = True
        from .torch import check  # imports torch: only when a test asks for it

        return self._judge(check(fn, *inputs, **self._options(options, verify=False)))

    def jax(self, fn: Callable[..., Any], *args: Any, **options: Any) -> Report:
        """Check JAX's derivatives of ``fn`` (custom_vjp/custom_jvp included); see :func:`gradverify.jax.check`."""
        __tracebackhide__ = True
        from .jax import check  # imports jax: only when a test asks for it

        return self._judge(check(fn, *args, **self._options(options, verify=False)))

    def verify(self, f: Callable[..., Any], grad: Callable[..., Any], inputs: Any, **options: Any) -> Any:
        """Check ``grad`` on Hypothesis-drawn ``inputs``; see :func:`gradverify.verify`.

        Unless ``max_examples`` is set (call, marker, option or ini), the active
        Hypothesis profile says how many inputs to draw.  A failure shows the
        report at the shrunk (minimal) failing input.
        """
        __tracebackhide__ = True
        from hypothesis import settings as hypothesis_settings

        from . import verify

        merged = self._options(options, verify=True)
        if "max_examples" not in merged and "settings" not in merged:
            merged["settings"] = hypothesis_settings.default
        result = verify(f, grad, inputs, **merged)
        if result.ok:
            self.reports.append(result)
            self._stats.add(
                {
                    "nodeid": self.nodeid,
                    "kind": "verify",
                    "ok": True,
                    "max_rel_error": None,
                    "where": None,
                    "diagnosis": None,
                }
            )
            return result
        if result.report is not None:
            message = f"{result.report}\nminimal failing input (shrunk): {result.counterexample!r}"
            self._judge(result.report, message)
        # A failure without a report: the derivative raised, e.g. a ShapeMismatch.
        error = result.error
        self.reports.append(result)
        self._stats.add(
            {
                "nodeid": self.nodeid,
                "kind": "verify",
                "ok": False,
                "max_rel_error": None,
                "where": None,
                "diagnosis": f"{type(error).__name__}: {error}".splitlines()[0],
            }
        )
        assert error is not None
        error.args = (f"{error}\nminimal failing input (shrunk): {result.counterexample!r}",)
        raise error


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradCheck:
    """Check hand-written derivatives; a wrong one fails the test with its report.

    ``gradcheck(f, grad, x, **options)`` checks a gradient;
    ``gradcheck.vjp``, ``gradcheck.jacobian`` and ``gradcheck.verify`` the rest.
    Per-test settings come from ``@pytest.mark.gradverify(method=..., ...)``.
    """
    state = request.config.stash[_STATE]
    defaults: dict[str, Any] = {"method": state.settings.method}
    if state.settings.max_examples is not None:
        defaults["max_examples"] = state.settings.max_examples
    marker = request.node.get_closest_marker("gradverify")
    if marker is not None:
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
        defaults.update(marker.kwargs)
    return GradCheck(request.node.nodeid, defaults, state.settings.seed, state.stats)


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None and _STATE in config.stash:
        # On an xdist worker: hand the counts to the controller (they travel with
        # the "workerfinished" event, which xdist sends after this hook).
        workeroutput["gradverify"] = config.stash[_STATE].stats.to_dict()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or _STATE not in config.stash:
        return
    state = config.stash[_STATE]
    stats = state.stats
    if stats.checks == 0:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "gradverify")
    noun = "check" if stats.checks == 1 else "checks"
    write(f"{stats.checks} {noun} run, {stats.failed} failed ({_describe(state.settings)})")
    worst = stats.worst
    if worst is not None and worst.get("max_rel_error") is not None:
        where = f"{worst['where']} in " if worst.get("where") else ""
        write(f"worst relative error: {worst['max_rel_error']:.3g} at {where}{worst['nodeid']} ({worst['kind']})")
        diagnosis = worst.get("diagnosis") or ("none: within tolerance" if worst["ok"] else "none")
        write(f"diagnosis: {diagnosis}")
    for record in sorted(stats.failures, key=lambda r: r["nodeid"])[:_MAX_LISTED_FAILURES]:
        where = f" at {record['where']}" if record.get("where") else ""
        write(f"FAILED {record['nodeid']}{where}: {record['diagnosis'] or 'mismatch'}")
    if len(stats.failures) > _MAX_LISTED_FAILURES:
        write(f"... and {len(stats.failures) - _MAX_LISTED_FAILURES} more failed checks")
    write(f"replay the checks' random choices with --gradverify-seed={state.settings.seed}")


class _XdistHooks:
    """The controller's side of pytest-xdist: send the seed out, add the counts up."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["gradverify_seed"] = self.config.stash[_STATE].settings.seed

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get("gradverify")
        if data:
            self.config.stash[_STATE].stats.merge(data)
