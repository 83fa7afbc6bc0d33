"""The third outcome: what a check could see, and why it could not.

A check *passes* only when no entry fails and, in every parameter (leaf), a
relative error of the derivative above :data:`gradverify.steps.RESOLUTION_LIMIT`
would have been caught.  When the tolerance of some entry is wider than that
(f quantised or computed in a lower precision than x, noisy, jumping inside
the step, estimates that are NaN because the step was too small), the check is
*inconclusive*: it says why and what to do.  Entries that fail their
tolerance make it *failed* whatever else is unresolved: that evidence stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import steps as rules
from .diagnose import leaf_label
from .problem import Problem

__all__ = ["Outcome", "decide"]


#: A parameter whose derivative is under this many floors of the rest's scale
#: is named as too small to see (float64: 3.6e-12 of it; float32: 2e-3).
SMALL_LEAF = 1e3


@dataclass(frozen=True)
class Outcome:
    """``outcome`` with the resolution it rests on and, when inconclusive, the reason."""

    outcome: str
    resolution: float
    entry_resolution: np.ndarray
    reason: str | None = None
    suggestion: str | None = None


def decide(
    p: Problem,
    failing: np.ndarray,
    resolution: np.ndarray,
    *,
    step: np.ndarray | None = None,
    not_converged: np.ndarray | None = None,
    what: str = "entry",
    quantised: np.ndarray | None = None,
    edge: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> Outcome:
    """Failed when an entry fails; else inconclusive when an entry's resolution is over the limit.

    ``resolution`` is per entry (or per direction), already relative to its
    leaf's scale; NaN counts as unresolved.
    """
    res = np.where(np.isnan(resolution), np.inf, resolution)
    overall = float(np.max(res)) if res.size else 0.0
    if failing.any():
        return Outcome("failed", overall, res)
    if overall <= rules.RESOLUTION_LIMIT:
        return Outcome("passed", overall, res)
    unresolved = res > rules.RESOLUTION_LIMIT
    if edge is not None and np.any(edge & unresolved):
        where = p.spec.describe(int(np.flatnonzero(edge & unresolved)[0]))
        reason = (
            f"x is on the edge of f's domain at {where}: f is NaN or inf on one side of it at every step tried, "
            "so there is no two-sided derivative to compare with"
        )
        return Outcome("inconclusive", overall, res, reason, "check at a point inside f's domain")
    reason, suggestion = _why(p, unresolved, step, not_converged, what, quantised, outside)
    return Outcome("inconclusive", overall, res, reason, suggestion)


def _why(
    p: Problem,
    unresolved: np.ndarray,
    step: np.ndarray | None,
    not_converged: np.ndarray | None,
    what: str,
    quantised: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> tuple[str, str]:
    """(reason, suggestion) for an inconclusive check, the most specific cause first."""
    first = int(np.flatnonzero(unresolved)[0])
    where = p.spec.describe(first) if what == "entry" else f"direction {first + 1}"
    count = int(unresolved.sum())
    plural = {"entry": "entries", "direction": "directions"}[what]
    some = f"{count} {what if count == 1 else plural}"
    x_eps = rules.eps(p.x.dtype)
    if step is not None and np.any(step[unresolved] == 0):
        return (
            f"the step is too small: x + h rounds to x at {where}, so the estimate there is 0/0 ({some} unresolved)",
            "use a larger h, or the default step rule (h=None)",
        )
    out = p.ev.out_dtype
    if out is not None and (out.kind not in "fc" or rules.eps(out) > x_eps):
        return (
            f"f returns {out} values while x is {p.x.dtype}: its changes over a step are rounded away "
            f"({some}, e.g. {where}, cannot be resolved)",
            f"compute f in {p.x.dtype} (no cast of x or of the result to a lower precision), "
            f"or pass x in the precision f computes in",
        )
    if quantised is not None and quantised.any():
        bad = p.spec.describe(int(np.flatnonzero(quantised)[0]))
        return (
            f"f is quantised: it does not change at all over the step at {bad}, yet it does when such entries "
            "move together or further (its value is rounded to a grid: an int(), a round(), a lower-precision cast?)",
            "compute f without rounding its value; a derivative of a quantised f is zero or undefined",
        )
    noise = p.noise.measured
    if noise is not None:
        ulps = float(np.max(noise / np.maximum(x_eps * np.abs(p.f0), np.finfo(np.float64).tiny)))
        if ulps > rules.NOISY_ULPS:
            return (
                f"f is noisy, quantised, or jumps within a few steps of x: its values near x scatter by "
                f"{float(np.max(noise)):.3g}, {ulps:.3g} times the rounding of {p.x.dtype} "
                f"({some}, e.g. {where}, cannot be resolved)",
                "seed or remove randomness in f, compute f in float64 without rounding its result, "
                "or check at a point away from a jump",
            )
    if outside is not None and outside.any():
        at = p.spec.describe(int(np.flatnonzero(outside)[0]))
        return (
            f"f is not differentiable at {at}, or jumps within the step there: its one-sided slopes leave the "
            "analytic value outside them, while their average agrees with it",
            "check at a point away from the kink or jump (f is not differentiable there)",
        )
    if not_converged is not None and np.any(not_converged & unresolved):
        jump = int(np.flatnonzero(not_converged & unresolved)[0])
        return (
            f"f jumps, or is singular, within the step at {p.spec.describe(jump)}: its estimates do not settle "
            "as the step shrinks",
            "check at a point away from the jump (f is not differentiable there)",
        )
    small = _small_leaf(p, unresolved if what == "entry" else np.ones(p.x.size, bool))
    if small is not None:
        return small
    return (
        f"the error bounds of {some} (e.g. {where}) are wider than {rules.RESOLUTION_LIMIT:g} of the derivative",
        ("try " if p.method == "richardson" else "try method='richardson', ")
        + ("a float64 x, or " if p.x.dtype != np.float64 else "")
        + "an explicit h in the band of gradverify.steps.step_band",
    )


def _small_leaf(p: Problem, unresolved: np.ndarray) -> tuple[str, str] | None:
    """An unresolved parameter whose derivative is far below the rest (its floor is theirs)."""
    if p.spec.kind == "array":
        return None
    offsets = p.spec.offsets
    scales = [
        float(np.max(np.abs(p.A[int(offsets[k]) : int(offsets[k + 1])]), initial=0.0))
        for k in range(len(p.spec.shapes))
    ]
    overall = max(max(scales), float(np.max(p.natural)))
    for k, scale in enumerate(scales):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        if unresolved[lo:hi].any() and scale < SMALL_LEAF * float(p.tolerance.floor(overall)):
            name = leaf_label(p.spec, k)
            if scale <= float(p.tolerance.floor(overall)):
                # Below the rounding of f itself: a derivative that is zero in theory (a bias
                # before a normalisation) and a tiny one with a flipped sign look the same here.
                return (
                    f"the derivative of {name} (about {scale:.3g}) is zero to within the rounding of f at the "
                    f"scale of the other parameters (about {overall:.3g}): a sign or a factor in it cannot be seen",
                    f"if it is zero in theory (a bias before a normalisation, a parameter f does not use), leave "
                    f"{name} out of the check (wrt=, requires_grad=False); otherwise rescale it",
                )
            return (
                f"the derivative of {name} (about {scale:.3g}) is too small to see against the rounding of f "
                f"at the scale of the other parameters (about {overall:.3g})",
                f"check {name} on its own (the other parameters fixed), or rescale it",
            )
    return None
