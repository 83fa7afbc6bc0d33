"""One report for a function of several outputs, checked output by output.

A framework function returns a tensor or a tuple of them, and a wrong
backward is wrong for one output with respect to one input.  The adapters
check each differentiable output on its own (so the report can name it) and
this module folds those reports into the one :class:`~gradverify.Report` the
caller receives: the failed (or least comfortable) one, with the outcome of
every other output in its notes and the real number of calls.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core.report import Report

__all__ = ["CallCache", "combine", "name_output", "outcome_of"]


def outcome_of(report: Report) -> str:
    """``"passed"``, ``"failed"`` or ``"inconclusive"`` (older reports only carry ``ok``)."""
    return str(getattr(report, "outcome", "passed" if report.ok else "failed"))


def _closeness(report: Report) -> float:
    """How near the report came to failing: its worst error over allowed (1 or more fails)."""
    ratios = [r.error / r.allowed for r in report.rows if r.allowed > 0]
    return max(ratios, default=0.0)


_OUT = re.compile(r" of out\[")
_NPINT = re.compile(r"np\.int64\((-?\d+)\)")


def name_output(report: Report, label: str | None) -> Report:
    """Say which output a per-output report is about, in its rows, worst entry and diagnosis."""
    rows = []
    for row in report.rows:
        clean = dataclasses.replace(row, name=_NPINT.sub(r"\1", row.name))  # numpy 2 scalar reprs in indices
        if label is None:
            rows.append(clean)
            continue
        row = clean
        name = _OUT.sub(f" of {label}[", row.name) if _OUT.search(row.name) else f"{row.name} of {label}"
        rows.append(dataclasses.replace(row, name=name))
    report.rows = rows
    if label is None:
        return report
    if report.worst_name is not None:
        report.worst_name = f"{report.worst_name} of {label}"
    if report.diagnosis:
        report.diagnosis = f"{label}: {report.diagnosis}"
    return report


def combine(
    reports: Sequence[tuple[str, Report]], *, calls: int, notes: Sequence[str], same_entries: bool = False
) -> Report:
    """Fold per-output reports into one: a failure first, then inconclusive, else the closest call.

    ``reports`` pairs a label (``"output 1"``) with its report; ``calls`` is the
    number of calls of the user's function actually made (shared evaluations
    are counted once); ``notes`` are the adapter's own notes, put first;
    ``same_entries`` says the reports compare the same entries (two modes of
    one derivative), so their counts are not added up.
    """
    rank = {"failed": 0, "inconclusive": 1, "passed": 2}
    chosen_label, chosen = min(reports, key=lambda lr: (rank[outcome_of(lr[1])], -_closeness(lr[1])))
    others = [
        f"{label}: {outcome_of(r)} ({r.entries} entries, max rel error {r.max_rel_error:.3g})"
        for label, r in reports
        if r is not chosen
    ]
    chosen.notes = list(notes) + list(chosen.notes) + (["also checked: " + "; ".join(others)] if others else [])
    chosen.evaluations = calls
    if len(reports) > 1 and not same_entries:
        chosen.entries = int(sum(r.entries for _, r in reports))
        chosen.failures = int(sum(r.failures for _, r in reports))
    return chosen


class CallCache:
    """Counts calls of a function of numpy leaves, and can share their results between checks.

    The first per-output check fills the cache while it evaluates (its own
    determinism test stays honest: the cache is not read while filling); the
    checks of the other outputs then read the values of the same points.
    """

    def __init__(self, call: Callable[[Sequence[np.ndarray]], tuple[Any, ...]], limit: int = 20000) -> None:
        self._call = call
        self.calls = 0
        self.reading = False
        self._store: dict[bytes, tuple[Any, ...]] = {}
        self._limit = limit

    @staticmethod
    def _key(leaves: Sequence[np.ndarray]) -> bytes:
        return b"|".join(np.ascontiguousarray(a).tobytes() + str(a.dtype).encode() for a in leaves)

    def __call__(self, leaves: Sequence[np.ndarray]) -> tuple[Any, ...]:
        key = self._key(leaves)
        if self.reading and key in self._store:
            return self._store[key]
        self.calls += 1
        out = self._call(leaves)
        if not self.reading and len(self._store) < self._limit:
            self._store[key] = out
        return out


def leaf_name(base: str, index: Any) -> str:
    """``base`` with an index, as a report names entries: ``w`` and ``(2, 1)`` give ``w[2, 1]``."""
    return f"{base}[{', '.join(map(str, index))}]" if index else base
