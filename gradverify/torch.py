"""Check PyTorch derivatives: a ``torch.autograd.Function``'s backward, a module's, any function's.

``pip install 'gradverify[torch]'``.  This module imports torch;
``import gradverify`` does not.

The analytic side is torch's own backward (``torch.autograd.grad``: the full
Jacobian, one backward pass per output entry, for outputs of up to
:data:`JACOBIAN_MAX` entries, else one vector-Jacobian product with a seeded
random cotangent).  The numerical side is gradverify's estimators, with their
error bounds, on a numpy view of the function: it is run under
``torch.no_grad`` on tensors of the inputs' own dtype and device.  The verdict
is the engine's (:func:`gradverify.check_jacobian`, :func:`gradverify.check_vjp`)
and the result a :class:`gradverify.Report`.

* float64 inputs are checked as they are; float32 inputs in float32, with the
  bounds of that dtype; ``reference="float64"`` promotes both sides to
  float64 (and is the way to check float16/bfloat16 functions).
* Complex-step is used only when the function is verified complex-safe on
  complex tensors, as for numpy functions.
* Inputs with ``requires_grad=False``, integer and boolean tensors and
  non-tensor arguments are constants; the report's notes list them.
* An ``nn.Module``'s trainable parameters are checked by their names
  (``fc1.weight[3, 4]``) through ``torch.func.functional_call``: the module's
  parameters, ``.grad``, buffers and training mode are left as they were.

Examples
--------
>>> import torch, gradverify.torch as gvt
>>> x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
>>> gvt.check(torch.sin, x, seed=0).ok
True
>>> gvt.gradcheck(torch.tanh, (x,))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from ._core.report import Report
from ._frameworks.outputs import outcome_of
from ._frameworks.run import JACOBIAN_MAX, check_outputs
from ._frameworks.torch_fn import describe_fn, prepare
from .errors import CheckInconclusive, GradientMismatch, InvalidArgument, NonDeterministicFunction

__all__ = ["JACOBIAN_MAX", "GradcheckFailure", "GradcheckInconclusive", "check", "gradcheck", "gradgradcheck"]


class GradcheckFailure(GradientMismatch, GradcheckError):
    """Raised by :func:`gradcheck` on a wrong derivative: a :class:`gradverify.GradientMismatch`
    (an ``AssertionError``) that is also torch's ``GradcheckError`` (a ``RuntimeError``), so tests
    written for ``torch.autograd.gradcheck`` catch it as before.  ``.report`` holds the report."""


class GradcheckInconclusive(CheckInconclusive, GradcheckError):
    """Raised by :func:`gradcheck` when the check could not have seen a bug of a meaningful size."""


def check(
    fn: Any,
    *inputs: Any,
    reference: str | None = None,
    method: str = "auto",
    h: Any = None,
    safety: float | None = None,
    mode: str = "auto",
    directions: int | None = None,
    budget: int | None = None,
    seed: int | None = None,
    full_jacobian: bool | None = None,
) -> Report:
    """Check torch's derivative of ``fn`` at ``inputs``.

    Parameters
    ----------
    fn : callable or torch.nn.Module
        Takes the inputs and returns a tensor or a tuple of tensors.  For a
        module, its trainable parameters are checked too, by name.
    *inputs
        Tensors (those with ``requires_grad=True`` are checked) and any other
        arguments (held constant).
    reference : {None, "float64"}
        ``"float64"``: promote inputs, parameters and constants to float64 and
        check there (the function must run in float64).
    method, h, safety, mode, directions, budget, seed
        As for :func:`gradverify.check_jacobian`.
    full_jacobian : bool, optional
        Force (True) or forbid (False) full Jacobians; by default outputs of
        up to :data:`JACOBIAN_MAX` entries get one.

    Returns
    -------
    Report
        For a function of several outputs, the report of the failed output
        (or the closest to failing); the notes give the others.

    Raises
    ------
    InvalidArgument
        Nothing requires grad, ``fn`` returns a non-tensor, an output does not
        depend on the inputs through autograd, or the backward returns the
        wrong number of gradients (``ShapeMismatch``: the wrong shape).
    NonDeterministicFunction
        ``fn`` gives two values at the same point on its device.

    Examples
    --------
    >>> import torch, gradverify.torch as gvt
    >>> w = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    >>> x = torch.arange(3.0, dtype=torch.float64)
    >>> report = gvt.check(lambda w, x: torch.tanh(w @ x), w, x, seed=0)
    >>> report.ok, report.notes[0]
    (True, 'x (requires_grad=False, shape (3,)) held constant')
    """
    __tracebackhide__ = True
    prepared = prepare(fn, inputs, reference=reference)
    options = dict(method=method, h=h, safety=safety, mode=mode, directions=directions, budget=budget, seed=seed)
    try:
        return check_outputs(
            prepared.forward,
            prepared.derivative,
            prepared.names,
            prepared.point,
            prepared.outputs,
            notes=prepared.notes,
            options=options,
            full_jacobian=full_jacobian,
        )
    except NonDeterministicFunction as exc:
        device = next((t.device for t in inputs if isinstance(t, torch.Tensor)), torch.device("cpu"))
        raise NonDeterministicFunction(
            f"{describe_fn(fn)} is not deterministic on {device}: {exc}"
            + (" (a module in training mode with dropout? call .eval() first)" if isinstance(fn, torch.nn.Module) else "")
        ) from exc


# -- drop-ins for torch.autograd.gradcheck / gradgradcheck ---------------------------------------

_IGNORED = ("eps", "atol", "rtol")
_REFUSED = {
    "check_batched_grad": "batched (vmap) gradients",
    "check_batched_forward_grad": "batched forward gradients",
    "check_forward_ad": "forward-mode AD",
    "check_fwd_over_rev": "forward-over-reverse",
    "masked": "masked sparse gradients",
}


def _translate(kwargs: dict[str, Any], fast_mode: bool) -> tuple[dict[str, Any], list[str]]:
    """torch's options as gradverify's: ignored ones noted, unsupported ones refused."""
    notes = []
    given = [k for k in _IGNORED if kwargs.pop(k, None) is not None]
    if given:
        notes.append(
            f"{', '.join(given)} of torch.autograd.gradcheck not used: each estimate carries its own error bound, "
            "and the steps are chosen per entry"
        )
    for key, what in _REFUSED.items():
        if kwargs.pop(key, None):
            raise InvalidArgument(
                f"{key}=True: gradverify.torch does not check {what}; run torch.autograd.gradcheck for that part"
            )
    if kwargs.pop("nondet_tol", 0.0):
        notes.append("nondet_tol not used: gradverify requires (and tests) a deterministic function")
    if not kwargs.pop("check_backward_ad", True) or not kwargs.pop("check_rev_over_rev", True):
        raise InvalidArgument("check_backward_ad=False leaves nothing for gradverify.torch to check")
    for key in ("check_undefined_grad", "check_grad_dtypes", "gen_non_contig_grad_outputs"):
        if kwargs.pop(key, None):
            notes.append(f"{key} not performed by gradverify.torch")
    options = dict(kwargs)
    if fast_mode:
        options.setdefault("mode", "directional")
        notes.append("fast_mode=True: random directions instead of every entry")
    return options, notes


def _verdict(report: Report, raise_exception: bool, extra: Sequence[str]) -> bool:
    __tracebackhide__ = True
    report.notes = list(extra) + list(report.notes)
    outcome = outcome_of(report)
    if outcome == "passed":
        return True
    if not raise_exception:
        return False
    if outcome == "inconclusive":
        raise GradcheckInconclusive(report)
    raise GradcheckFailure(report)


def _as_tuple(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def gradcheck(
    func: Any,
    inputs: Any,
    *,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    fast_mode: bool = False,
    **options: Any,
) -> bool:
    """A drop-in for ``torch.autograd.gradcheck`` with gradverify's verdict.

    Same positional signature: ``gradcheck(func, inputs)`` with ``inputs`` a
    tensor or a tuple.  Returns True, or raises :class:`GradcheckFailure` (a
    :class:`gradverify.GradientMismatch` and a torch ``GradcheckError``)
    carrying the report; with ``raise_exception=False`` returns False instead.
    ``eps``, ``atol``, ``rtol`` and ``nondet_tol`` are accepted and not used
    (the report says so); ``fast_mode=True`` checks random directions;
    options gradverify cannot honour (``check_forward_ad``,
    ``check_batched_grad``, ``masked``...) raise :class:`InvalidArgument` when
    true.  Any option of :func:`check` (``seed``, ``method``, ``reference``)
    may be passed as well.

    Examples
    --------
    >>> import torch, gradverify.torch as gvt
    >>> x = torch.rand(3, dtype=torch.float64, requires_grad=True)
    >>> gvt.gradcheck(torch.exp, (x,), eps=1e-6, atol=1e-4)
    True
    """
    __tracebackhide__ = True
    opts, notes = _translate(dict(options, eps=eps, atol=atol, rtol=rtol), fast_mode)
    report = check(func, *_as_tuple(inputs), **opts)
    return _verdict(report, raise_exception, notes)


def gradgradcheck(
    func: Any,
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    fast_mode: bool = False,
    **options: Any,
) -> bool:
    """A drop-in for ``torch.autograd.gradgradcheck``: the backward of the backward.

    The function checked is ``(inputs, cotangents) -> torch.autograd.grad(func(inputs),
    inputs, cotangents, create_graph=True)``; its analytic derivative is torch's
    double backward, its numerical one gradverify's estimators on the first
    backward.  ``grad_outputs`` (the cotangents) are seeded standard normal
    tensors when omitted.

    Examples
    --------
    >>> import torch, gradverify.torch as gvt
    >>> x = torch.rand(3, dtype=torch.float64, requires_grad=True)
    >>> gvt.gradgradcheck(torch.sin, (x,), seed=0)
    True
    """
    __tracebackhide__ = True
    opts, notes = _translate(dict(options, eps=eps, atol=atol, rtol=rtol), fast_mode)
    xs = _as_tuple(inputs)
    diff = [i for i, t in enumerate(xs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff:
        raise InvalidArgument(f"nothing to check: no input of {describe_fn(func)} requires grad")
    with torch.no_grad():
        first = _outputs(func(*xs), func)
    wanted = [k for k, o in enumerate(first) if o.is_floating_point()]
    if grad_outputs is None:
        gen = torch.Generator().manual_seed(int(opts.get("seed") or 0))
        cts = tuple(
            torch.randn(first[k].shape, generator=gen, dtype=first[k].dtype).to(first[k].device).requires_grad_(True)
            for k in wanted
        )
    else:
        cts = tuple(t.detach().requires_grad_(True) for t in _as_tuple(grad_outputs))
        if len(cts) != len(wanted):
            raise InvalidArgument(f"grad_outputs has {len(cts)} tensors, but func has {len(wanted)} differentiable outputs")
    n = len(xs)

    def backward(*args: Any) -> tuple[Any, ...]:
        values, cotangents = list(args[:n]), args[n:]
        with torch.enable_grad():
            for i in diff:
                if not values[i].requires_grad:  # the numerical side passes plain tensors
                    values[i] = values[i].detach().requires_grad_(True)
            outs = _outputs(func(*values), func)
            grads = torch.autograd.grad(
                [outs[k] for k in wanted], [values[i] for i in diff], cotangents, create_graph=True, allow_unused=True
            )
        return tuple(g if g is not None else torch.zeros_like(values[i]) for g, i in zip(grads, diff))

    backward.__qualname__ = f"backward of {getattr(func, '__qualname__', type(func).__name__)}"
    opts.setdefault("method", "richardson")  # torch's complex backward is conjugate-linear: never complex-step
    report = check(backward, *xs, *cts, **opts)
    return _verdict(report, raise_exception, notes + ["gradgradcheck: the backward's derivative (torch's double backward)"])


def _outputs(value: Any, func: Any) -> tuple[Any, ...]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    if not all(isinstance(v, torch.Tensor) for v in items):
        raise InvalidArgument(f"{describe_fn(func)} must return a tensor or a tuple of tensors")
    return tuple(items)
