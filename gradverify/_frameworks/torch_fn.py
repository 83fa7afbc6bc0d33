"""A torch function seen from gradverify: its inputs sorted, a numpy forward, torch's backward.

:func:`prepare` classifies the arguments (differentiable tensors, constants),
and returns the numpy forward the estimators perturb (the function run under
``torch.no_grad`` on tensors of the inputs' own dtype and device) and the
analytic side (``torch.autograd.grad`` on fresh leaves at the same point).
Errors raised by torch inside a backward pass are re-raised as gradverify's,
naming the function and what was wrong.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import InvalidArgument, ShapeMismatch
from .run import Derivative

__all__ = ["Prepared", "prepare", "describe_fn"]

_FLOATS = (torch.float64, torch.float32)
_HALF = (torch.float16, torch.bfloat16)


def describe_fn(fn: Any) -> str:
    """A readable name for the checked function: ``fn (my_op)``."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        return f"fn ({owner.__name__}.apply)"
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"fn ({name})"


def _arg_names(fn: Any, count: int) -> list[str]:
    """Names of ``fn``'s positional parameters when they can be read, else ``inputs[i]``."""
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= count and not any(p.kind == p.VAR_POSITIONAL for p in params[:count]):
        return positional[:count]
    return [f"inputs[{i}]" for i in range(count)]


@dataclass
class Prepared:
    """What a check needs: names and values of the differentiable leaves, the forward and the derivative."""

    names: list[str]
    point: list[np.ndarray]
    forward: Callable[[Sequence[np.ndarray]], tuple[Any, ...]]
    derivative: Derivative
    outputs: list[tuple[int, str | None, tuple[Any, ...]]]
    notes: list[str] = field(default_factory=list)


def prepare(fn: Any, inputs: Sequence[Any], *, reference: str | None = None) -> Prepared:
    """Sort ``fn``'s arguments (and a module's parameters), and build the numpy forward and torch backward."""
    label = describe_fn(fn)
    module = fn if isinstance(fn, torch.nn.Module) else None
    arg_names = _arg_names(fn, len(inputs))
    notes: list[str] = []
    slots: list[tuple[str, str, Any]] = []  # (kind, name, value): kind "arg" or "param"
    if module is not None:
        for pname, p in module.named_parameters():
            if p.requires_grad:
                slots.append(("param", pname, p))
    for name, value in zip(arg_names, inputs):
        if isinstance(value, torch.Tensor) and value.requires_grad:
            slots.append(("arg", name, value))
        elif isinstance(value, torch.Tensor):
            why = "an integer or boolean tensor" if not value.is_floating_point() else "requires_grad=False"
            notes.append(f"{name} ({why}, shape {tuple(value.shape)}) held constant")
    if not slots:
        raise InvalidArgument(
            f"nothing to check: no input of {label} requires grad (and it has no trainable parameters); "
            "set requires_grad=True on the tensors whose derivative you want checked"
        )
    leaves = [v for _, _, v in slots]
    names = [n for _, n, _ in slots]
    dtypes = {v.dtype for v in leaves}
    for name, v in zip(names, leaves):
        if v.is_complex():
            raise InvalidArgument(f"{name} is a {v.dtype} tensor: gradverify checks real derivatives of real inputs")
        if not v.is_floating_point():
            raise InvalidArgument(f"{name} requires grad but is a {v.dtype} tensor")
        if v.is_sparse:
            raise InvalidArgument(f"{name} is a sparse tensor: densify it (.to_dense()) to check it")
    if reference not in (None, "float64"):
        raise InvalidArgument(f"reference={reference!r} must be None or 'float64'")
    if reference is None:
        if dtypes & set(_HALF):
            raise InvalidArgument(
                f"inputs of {label} are {sorted(map(str, dtypes))}: half precision is checked through a float64 "
                "reference; pass reference='float64' (the function must also run in float64)"
            )
        if len(dtypes) > 1:
            raise InvalidArgument(
                f"the inputs of {label} mix dtypes ({', '.join(f'{n}: {v.dtype}' for n, v in zip(names, leaves))}): "
                "cast them to one dtype, or pass reference='float64'"
            )
        work = leaves[0].dtype
    else:
        work = torch.float64
        notes.append(
            f"float64 reference: inputs given as {', '.join(sorted(str(d) for d in dtypes))} were promoted and both "
            "sides computed in float64, so the backward's formula is checked at float64 resolution (its rounding "
            "in the original dtype is not)"
        )
    device = leaves[0].device
    if device.type != "cpu":
        notes.append(f"computed on {device}; the numerical side copies values to the CPU after each call")
    np_dtype = np.float64 if work == torch.float64 else np.float32
    point = [v.detach().to("cpu", work).numpy().astype(np_dtype, copy=True) for v in leaves]
    arg_slot = {name: j for j, (k, name, _) in enumerate(slots) if k == "arg"}
    params = {name: j for j, (k, name, _) in enumerate(slots) if k == "param"}
    buffers = dict(module.named_buffers()) if module is not None else {}

    def call(tensors: Sequence[torch.Tensor]) -> Any:
        # Complex-step hands complex leaves: floating constants follow them, so
        # that x @ w with x constant is not refused for mixing dtypes.
        cast = tensors[0].dtype if tensors[0].is_complex() else (work if reference is not None else None)
        args = []
        for name, value in zip(arg_names, inputs):
            if name in arg_slot:
                args.append(tensors[arg_slot[name]])
            elif isinstance(value, torch.Tensor) and cast is not None and value.is_floating_point():
                args.append(value.detach().to(cast))
            else:
                args.append(value)
        if module is None:
            return fn(*args)
        state = {name: tensors[j] for name, j in params.items()}
        # Fresh copies of the buffers each call: a forward that updates running
        # statistics (batch norm in training mode) changes copies, never the module.
        state.update({name: b.detach().clone() for name, b in buffers.items()})
        if reference is not None:
            state = {k: (v.to(work) if v.is_floating_point() else v) for k, v in state.items()}
        return torch.func.functional_call(module, state, tuple(args))

    probe = _as_outputs(_call_probe(call, point, device, label), label)
    outputs: list[tuple[int, str | None, tuple[Any, ...]]] = []
    for k, out in enumerate(probe):
        if out.is_floating_point():
            outputs.append((k, f"output {k}" if len(probe) > 1 else None, tuple(out.shape)))
        else:
            notes.append(f"output {k} ({out.dtype}) is not differentiable and is not checked")
    if not outputs:
        raise InvalidArgument(f"{label} returned no floating-point tensor: there is no derivative to check")

    def forward(arrays: Sequence[np.ndarray]) -> tuple[Any, ...]:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays]
        with torch.no_grad():
            result = _as_outputs(call(tensors), label)
        return tuple(o.detach().cpu().numpy() for o in result)

    passes = [0]

    def graph(arrays: Sequence[np.ndarray]) -> tuple[list[torch.Tensor], tuple[Any, ...]]:
        tensors = [torch.from_numpy(np.array(a, copy=True)).to(device).requires_grad_(True) for a in arrays]
        with torch.enable_grad():
            result = _as_outputs(call(tensors), label)
        for k, _, _ in outputs:
            if not result[k].requires_grad:
                raise InvalidArgument(
                    f"output {k} of {label} does not depend on any input that requires grad ({', '.join(names)}): "
                    "is it computed outside autograd (.numpy(), .item(), .detach(), torch.no_grad) or from inputs "
                    "that do not require grad?"
                )
        return tensors, result

    def pull(k: int, tensors: list[Any], result: tuple[Any, ...], ct: torch.Tensor, retain: bool) -> list[Any]:
        passes[0] += 1
        try:
            grads = torch.autograd.grad(result[k], tensors, ct, retain_graph=retain, allow_unused=True)
        except RuntimeError as exc:
            raise _backward_error(exc, label, k) from exc
        out = []
        for name, t, g in zip(names, tensors, grads):
            if g is None:
                out.append(np.zeros(t.shape, dtype=np_dtype))
                continue
            if tuple(g.shape) != tuple(t.shape):  # pragma: no cover - torch checks shapes itself
                raise ShapeMismatch(f"the backward of {label} returned shape {tuple(g.shape)} for {name}")
            out.append(g.detach().cpu().numpy().astype(np_dtype))
        return out

    def jacobian(k: int, arrays: list[Any], shape: tuple[Any, ...]) -> list[Any]:
        tensors, result = graph(arrays)
        size = int(np.prod(shape, dtype=np.int64))
        rows: list[list[np.ndarray]] = []
        for i in range(size):
            e = torch.zeros(size, dtype=result[k].dtype, device=device)
            e[i] = 1
            rows.append(pull(k, tensors, result, e.reshape(shape), retain=i < size - 1))
        return [np.stack([r[j] for r in rows]).reshape(shape + a.shape) if size else np.zeros(shape + a.shape)
                for j, a in enumerate(arrays)]

    def vjp(k: int, arrays: list[Any], cotangent: np.ndarray) -> list[Any]:
        tensors, result = graph(arrays)
        ct = torch.from_numpy(np.asarray(cotangent, dtype=np_dtype).copy()).to(device)
        return pull(k, tensors, result, ct, retain=False)

    return Prepared(names, point, forward, Derivative(jacobian, vjp, passes), outputs, notes)


def _call_probe(call: Callable[..., Any], point: list[Any], device: Any, label: str) -> Any:
    tensors = [torch.from_numpy(a.copy()).to(device) for a in point]
    with torch.no_grad():
        return call(tensors)


def _as_outputs(value: Any, label: str) -> tuple[Any, ...]:
    """The outputs as a tuple of tensors, or a clear error naming what came back."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    for k, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            where = "" if not isinstance(value, (tuple, list)) else f" (output {k})"
            raise InvalidArgument(
                f"{label} returned a {type(item).__name__}{where}; it must return a tensor or a tuple of tensors"
            )
    return tuple(items)


def _backward_error(exc: RuntimeError, label: str, k: int) -> InvalidArgument:
    """torch's complaint about a backward, as our error that says whose backward and what to fix."""
    text = str(exc)
    if "incorrect number of gradients" in text:
        return InvalidArgument(f"the backward of {label} returned the wrong number of gradients: {text}")
    if "invalid gradient" in text or "shape" in text:
        return ShapeMismatch(f"the backward of {label} returned a gradient of the wrong shape: {text}")
    return InvalidArgument(f"the backward of {label} (through output {k}) raised RuntimeError: {text}")
