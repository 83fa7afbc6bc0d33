"""The report of a layer check: the engine's report plus one summary per argument.

Each differentiated argument is summarised from the engine's own comparison
(analytic, numerical and tolerance entry by entry), and a failing one is
diagnosed alone, with :func:`~gradverify._core.diagnose.diagnose` on that
argument's entries only, so a bug in ``db`` is described as ``db``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .diagnose import diagnose
from .layer_args import Argument
from .params import ParamSpec
from .report import Report

__all__ = ["LayerReport", "layer_report"]


@dataclass
class LayerReport(Report):
    """A :class:`Report` with one summary per argument of the layer.

    Attributes
    ----------
    arguments : list of dict
        Per differentiated argument: ``name``, ``gradient`` (``"dgamma"``),
        ``shape``, ``verdict`` (``"passed"``, ``"FAILED"``, ``"inconclusive"``
        when the check as a whole was, ``"unknown"`` when a directional check
        stopped localising before it reached this argument), ``ok`` (passed),
        ``failures``, ``entries``, ``worst`` (entry name), ``max_rel_error``,
        ``diagnosis`` (of that argument alone) and ``pattern``.
    constants : dict
        Arguments that were not differentiated, with the reason.
    """

    arguments: list[Any] = field(default_factory=list)
    constants: dict[str, Any] = field(default_factory=dict)

    def argument(self, name: str) -> dict[str, Any]:
        """The summary of one argument, by name (``"gamma"`` or ``"dgamma"``)."""
        for a in self.arguments:
            if name in (a["name"], a["gradient"]):
                summary: dict[str, Any] = a
                return summary
        raise KeyError(name)

    @property
    def failed_arguments(self) -> list[str]:
        """Names of the gradients that failed, such as ``["dgamma"]``."""
        return [a["gradient"] for a in self.arguments if a.get("verdict") == "FAILED"]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["arguments"] = [{k: (list(v) if k == "shape" else v) for k, v in a.items()} for a in self.arguments]
        out["constants"] = dict(self.constants)
        return out

    def __str__(self) -> str:
        lines = super().__str__().split("\n")
        width = max([8] + [len(a["gradient"]) for a in self.arguments])
        shapes = max([5] + [len(str(a["shape"])) for a in self.arguments])
        block = [f"  {'gradient':<{width}} {'shape':<{shapes}}  verdict  {'wrong':<9} {'rel error':<9}  worst entry"]
        for a in self.arguments:
            verdict = a.get("verdict", "passed" if a["ok"] else "FAILED")[:7]
            # A directional check estimates only the entries it localised.
            wrong = f"{a['failures']} of {a['entries']}" if self.mode == "full" else f"{a['failures']} found"
            # Where an argument passed, its worst entry is rounding noise: only
            # the order of its error is shown, which does not vary by machine.
            failed = a.get("verdict") == "FAILED"
            rel = f"{a['max_rel_error']:.2g}" if failed else (_order(a["max_rel_error"]) if a["entries"] else "-")
            worst = a["worst"] if failed and a["worst"] else ""
            line = f"  {a['gradient']:<{width}} {str(a['shape']):<{shapes}}  {verdict:<7}  {wrong:<9} {rel:<9}  {worst}"
            block.append(line.rstrip())
        for name, reason in self.constants.items():
            block.append(f"  constant {name}: {reason}, not differentiated")
        at = 2 if len(lines) > 1 and lines[1].startswith("  diagnosis:") else 1
        return "\n".join(lines[:at] + block + lines[at:])


def _order(rel: float) -> str:
    """``"< 1e-15"`` for 6.6e-16: the order of a small error."""
    if rel <= 0 or not np.isfinite(rel):
        return f"{rel:.2g}"
    return f"< 1e{int(np.floor(np.log10(rel))) + 1}" if rel < 1e-3 else f"{rel:.2g}"


# -- the per-argument summary --------------------------------------------------------------------


def layer_report(report: Report, arguments: list[Argument], batch: int | None) -> LayerReport:
    diff = [a for a in arguments if a.differentiable]
    excused = {(k.index[0], tuple(k.index[1])) for k in report.kinks if k.between}
    summaries = [_summary(report, a, excused, batch) for a in diff]
    outcome = getattr(report, "outcome", "passed" if report.ok else "failed")
    if outcome == "failed" and all(s["ok"] for s in summaries) and report.worst_index is not None:
        # Entries failed for reasons the tolerances alone do not show (unresolved
        # estimates): the engine's worst entry says which argument holds them.
        for s in summaries:
            if s["name"] == report.worst_index[0]:
                s["ok"], s["failures"] = False, max(1, s["failures"])
    # Random directions localise at most a few wrong entries; once the search
    # stopped, an argument where none was found is not known to be right.
    stopped = report.mode != "full" and any("localisation stopped" in str(n) for n in report.notes)
    for s in summaries:
        if not s["ok"]:
            s["verdict"] = "FAILED"
        elif outcome == "inconclusive":
            s["verdict"] = "inconclusive"  # nothing wrong was seen, but the check could not have seen it
        elif outcome == "failed" and stopped:
            s["verdict"] = "unknown"
        else:
            s["verdict"] = "passed"
        s["ok"] = s["verdict"] == "passed"
    base = {f.name: getattr(report, f.name) for f in fields(report)}
    failed = [s for s in summaries if not s["ok"] and s["diagnosis"]]
    if failed and report.mode == "full":
        base["diagnosis"] = "; ".join(f"{s['gradient']}: {s['diagnosis']}" for s in failed)
        base["pattern"] = failed[0]["pattern"]
    base["kind"] = "layer"
    constants = {a.name: a.reason for a in arguments if not a.differentiable}
    return LayerReport(**base, arguments=summaries, constants=constants)


def _batch_hint(pattern: str, A: np.ndarray, N: np.ndarray, batch: int | None) -> str:
    """A factor that is the batch size, said in the words of a layer."""
    if pattern != "scale" or not batch or batch < 2:
        return ""
    c = float(np.dot(A, N) / max(float(np.dot(N, N)), np.finfo(float).tiny))
    if abs(c * batch - 1) <= 1e-6:
        return f"a mean over the batch of {batch} where the forward sums over it (or divided by {batch} twice)?"
    if abs(c - batch) <= 1e-6 * batch:
        return f"a sum over the batch of {batch} where the forward takes the mean?"
    return ""


def _summary(report: Report, a: Argument, excused: set[Any], batch: int | None) -> dict[str, Any]:
    A = np.asarray(report.analytic[a.name], dtype=np.float64).ravel()
    N = np.asarray(report.numerical[a.name], dtype=np.float64).ravel()
    T = np.asarray(report.tolerance[a.name], dtype=np.float64).ravel()
    shape = tuple(np.shape(a.value))
    judged = np.isfinite(N)  # directional checks estimate only the entries they localised
    err = np.where(judged, np.abs(A - N), 0.0)
    tol = np.where(judged, T, 1.0)
    fail = err > tol
    for name, index in excused:
        if name == a.name:  # at a kink, any value between the one-sided slopes is right
            fail[int(np.ravel_multi_index(index, shape)) if shape else 0] = False
    rel = err / np.maximum(np.maximum(np.abs(A), np.where(judged, np.abs(N), 0.0)), tol)
    if judged.any():
        worst = int(np.argmax(np.where(judged, err / tol, -1.0)))
        worst_name: str | None = _entry(a.name, worst, shape)
        max_rel = float(rel[worst]) if fail.any() else float(np.max(rel[judged]))
    else:
        worst_name, max_rel = None, 0.0
    pattern = words = None
    if fail.any() and report.mode == "full":
        spec = ParamSpec.of({a.name: np.zeros(shape)})
        point = np.asarray(a.value, dtype=np.float64).ravel()
        pattern, words = diagnose(A[:, None], N[:, None], T[:, None], fail, spec, point)
        hint = _batch_hint(pattern, A, N, batch)
        if hint and ": " in words:  # the generic hint, said in a layer's words
            words = words.split(": ", 1)[0] + ": " + hint
    entries = A.size if report.mode == "full" else int(judged.sum())
    return {
        "name": a.name,
        "gradient": f"d{a.name}",
        "shape": shape,
        "ok": not bool(fail.any()),
        "failures": int(fail.sum()),
        "entries": int(entries),
        "worst": worst_name,
        "max_rel_error": max_rel,
        "diagnosis": words,
        "pattern": pattern,
    }


def _entry(name: str, i: int, shape: tuple[Any, ...]) -> str:
    index = np.unravel_index(i, shape) if shape else ()
    return f"{name}[{', '.join(str(int(k)) for k in index)}]" if index else name
