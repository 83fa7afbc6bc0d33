"""The report of a derivative check: the verdict, its evidence, and a readable form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import numpy as np

__all__ = ["Kink", "Report", "Row", "OUTCOMES"]

#: The three outcomes of a check.
OUTCOMES = ("passed", "failed", "inconclusive")


@dataclass(frozen=True)
class Kink:
    """An entry where f is not differentiable: its one-sided slopes, and the analytic value."""

    index: Any
    name: str
    left: float
    right: float
    analytic: float
    between: bool


@dataclass(frozen=True)
class Row:
    """One entry of the comparison, for the readable table."""

    name: str
    analytic: float
    numerical: float
    error: float
    allowed: float
    note: str = ""


def jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else str(v)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


@dataclass
class Report:
    """The verdict of a derivative check, with its evidence.

    Attributes
    ----------
    ok : bool
        True only when ``outcome == "passed"``.
    outcome : str
        ``"passed"``: every entry agrees within its tolerance and a relative
        error above ``gradverify.steps.RESOLUTION_LIMIT`` would have been
        caught in every parameter; ``"failed"``: some entry (or direction) is
        outside its tolerance; ``"inconclusive"``: nothing failed, but the
        check could not have seen a bug of that size (``diagnosis`` says why,
        ``suggestion`` what to do).
    resolution : float
        The smallest relative error of the derivative this check could have
        detected: the largest, over entries, of the tolerance relative to the
        derivative's scale in that entry's parameter (leaf).
    entry_resolution : array or structure
        The same per entry, structured like x (per direction in directional
        mode: one value per direction checked).
    suggestion : str or None
        What to do about an inconclusive check.
    kind : str
        ``"gradient"``, ``"vjp"`` or ``"jacobian"``.
    method : str
        The estimator actually used (``"auto"`` resolved).
    mode : str
        ``"full"`` (every coordinate) or ``"directional"`` (random directions).
    h : float
        The median step used.
    evaluations : int
        Calls of the function actually made (a vectorized call of k points
        counts k).
    dtype : str
        The dtype of the check (the caller's ``x``).
    reference : str or None
        The dtype the numerical side worked in when it is not ``dtype``
        (``"float64"``: a float64 reference for a float32 check).
    max_abs_error, max_rel_error : float
        Over all compared entries; the relative error of an entry is
        ``|analytic - numerical| / max(|analytic|, |numerical|, allowed)``.
    worst_index : tuple or None
        The entry furthest outside (or closest to) its tolerance: an index
        tuple, or ``(name, index)`` for dict/tuple/list parameters.
    worst_name : str or None
        The same as text, such as ``"W1[3, 4]"``.
    safety, floor : float
        The verdict is ``|analytic - numerical| <= safety * bound + floor``;
        ``floor`` is ``FLOOR_FACTOR * EPS * scale`` at the largest scale of the
        derivative (per parameter, the largest |entry|, or |f| / max(1, |x|)
        when larger), the same quantity in full and directional mode.
    tolerance : array or structure
        ``safety * bound + floor`` per entry (full mode).
    diagnosis : str or None
        The likely cause of a failure, in words.
    pattern : str or None
        Its short tag: ``"scale"``, ``"sign"``, ``"transpose"``, ``"entries"``,
        ``"shift"``, ``"zero"``, ``"missing_term"``, ``"kink"`` or
        ``"mismatch"``.
    numerical, analytic : array or structure
        The values compared (full mode; in directional mode the analytic
        derivative and, for localised entries only, numerical values).
    failures : int
        How many entries (or directions) failed.
    entries : int
        How many entries were compared.
    kinks : list of Kink
        Entries where f is not differentiable: both one-sided slopes and
        whether the analytic value lies between them.
    notes : list of str
        What was decided on the way (method chosen and why, etc.).
    seed : int
        Replays the random choices of this check (``seed=...``).
    """

    ok: bool
    kind: str
    method: str
    mode: str
    h: float
    evaluations: int
    max_abs_error: float
    max_rel_error: float
    worst_index: Any
    worst_name: str | None
    safety: float
    floor: float
    diagnosis: str | None = None
    pattern: str | None = None
    numerical: Any = None
    analytic: Any = None
    tolerance: Any = None
    failures: int = 0
    entries: int = 0
    kinks: list[Kink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seed: int | None = None
    dtype: str = "float64"
    reference: str | None = None
    rows: list[Row] = field(default_factory=list, repr=False)
    outcome: str = ""
    resolution: float = 0.0
    entry_resolution: Any = None
    suggestion: str | None = None

    def __post_init__(self) -> None:
        if not self.outcome:
            self.outcome = "passed" if self.ok else "failed"
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome={self.outcome!r} is not one of {OUTCOMES}")
        self.ok = self.outcome == "passed"

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of everything in the report."""
        keys = [
            "ok",
            "outcome",
            "resolution",
            "suggestion",
            "kind",
            "method",
            "mode",
            "h",
            "evaluations",
            "max_abs_error",
            "max_rel_error",
            "worst_index",
            "worst_name",
            "safety",
            "floor",
            "diagnosis",
            "pattern",
            "failures",
            "entries",
            "kinks",
            "notes",
            "seed",
            "dtype",
            "reference",
            "numerical",
            "analytic",
            "tolerance",
            "entry_resolution",
        ]
        out = {k: jsonable(getattr(self, k)) for k in keys}
        out["rows"] = [jsonable(vars(r)) for r in self.rows]
        return out

    def __str__(self) -> str:
        verdict = {"passed": "passed", "failed": "FAILED", "inconclusive": "INCONCLUSIVE"}[self.outcome]
        what = f"{self.kind} check {verdict}"
        scope = (
            f"all {self.entries} entries"
            if self.mode == "full"
            else f"{self.entries} random directions over the entries"
        )
        side = f", numerical side in {self.reference}" if self.reference else ""
        lines = [
            f"gradverify: {what} ({self.method} differences, {scope}, {self.evaluations} calls of f, {self.dtype}{side})"
        ]
        if self.outcome == "inconclusive":
            lines.append(f"  inconclusive: {self.diagnosis}")
            if self.suggestion:
                lines.append(f"  suggestion: {self.suggestion}")
        elif self.diagnosis:
            lines.append(f"  diagnosis: {self.diagnosis}")
        if self.rows:
            header = f"  {'entry':<16} {'analytic':>13} {'numerical':>13} {'|error|':>10} {'allowed':>10}"
            lines.append(header)
            for r in self.rows:
                mark = "  <-- " + r.note if r.note else ""
                lines.append(
                    f"  {r.name:<16} {r.analytic:>13.6g} {r.numerical:>13.6g} {r.error:>10.3g} {r.allowed:>10.3g}{mark}"
                )
        if self.outcome == "failed":
            lines.append(
                f"  {self.failures} of {self.entries} {'entries' if self.mode == 'full' else 'checks'} outside tolerance"
            )
        for k in self.kinks[:3]:
            lines.append(
                f"  kink at {k.name}: not differentiable here; left slope {k.left:.6g}, right slope "
                f"{k.right:.6g}; analytic {k.analytic:.6g} {'lies between them' if k.between else 'lies OUTSIDE them'}"
            )
        lines.append(
            f"  max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}; "
            f"verdict |analytic - numerical| <= {self.safety:g} x bound + floor ({self.floor:.3g}); h ~ {self.h:.3g}"
        )
        lines.append(f"  {self.outcome}: resolution {self.resolution:.2g} ({self._resolution_words()})")
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.seed is not None:
            lines.append(f"  seed {self.seed} (pass seed={self.seed} to replay)")
        return "\n".join(lines)

    def _resolution_words(self) -> str:
        from ..steps import RESOLUTION_LIMIT

        if self.outcome == "inconclusive":
            return f"a relative error of the derivative below this could pass unseen; the limit is {RESOLUTION_LIMIT:g}"
        return "the smallest relative error of the derivative this check could detect"
