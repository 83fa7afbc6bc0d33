"""gradverify: tells you, with evidence, whether a derivative you wrote by hand is right.

>>> import numpy as np, gradverify as gv
>>> report = gv.check_grad(lambda x: np.sum(x ** 2), lambda x: 2 * x, np.array([1.0, 2.0]), seed=0)
>>> report.ok
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CheckInconclusive,
    GradientMismatch,
    GradverifyError,
    InputMutated,
    InsufficientMemory,
    InvalidArgument,
    NonDeterministicFunction,
    NonFiniteValue,
    NotComplexSafe,
    ShapeMismatch,
)

if TYPE_CHECKING:
    from ._core.check import assert_grad, check_grad, check_jacobian, check_vjp
    from ._core.hessian import check_hessian
    from ._core.hvp import check_hvp
    from ._core.layer import check_layer
    from ._core.layer_report import LayerReport
    from ._core.numerical import (
        GradientEstimate,
        TaylorResult,
        estimate_gradient,
        numerical_gradient,
        numerical_jacobian,
        taylor_test,
    )
    from ._core.report import Report
    from ._core.verification import VerifyResult, verifies, verify
    from ._core.vjp_of_vjp import check_vjp_of_vjp

__version__ = "0.1.0"

# Where each public name lives.  Names are imported on first use, so that
# `import gradverify` (and the pytest plugin, which every pytest run of a
# project that installed gradverify loads) imports neither numpy nor Hypothesis
# until a check is actually made.
_LAZY = {
    "check_grad": "_core.check",
    "check_vjp": "_core.check",
    "check_jacobian": "_core.check",
    "assert_grad": "_core.check",
    "check_layer": "_core.layer",
    "LayerReport": "_core.layer_report",
    "check_hessian": "_core.hessian",
    "check_hvp": "_core.hvp",
    "check_vjp_of_vjp": "_core.vjp_of_vjp",
    "Report": "_core.report",
    "GradientEstimate": "_core.numerical",
    "TaylorResult": "_core.numerical",
    "estimate_gradient": "_core.numerical",
    "numerical_gradient": "_core.numerical",
    "numerical_jacobian": "_core.numerical",
    "taylor_test": "_core.numerical",
    "verify": "_core.verification",
    "verifies": "_core.verification",
    "VerifyResult": "_core.verification",
}
_SUBMODULES = ("strategies", "descent", "invariants", "zoo", "steps")

__all__ = [
    "CheckInconclusive",
    "GradientEstimate",
    "GradientMismatch",
    "GradverifyError",
    "InputMutated",
    "InsufficientMemory",
    "InvalidArgument",
    "LayerReport",
    "NonDeterministicFunction",
    "NonFiniteValue",
    "NotComplexSafe",
    "Report",
    "ShapeMismatch",
    "TaylorResult",
    "VerifyResult",
    "__version__",
    "assert_grad",
    "check_grad",
    "check_hessian",
    "check_hvp",
    "check_jacobian",
    "check_layer",
    "check_vjp",
    "check_vjp_of_vjp",
    "estimate_gradient",
    "numerical_gradient",
    "numerical_jacobian",
    "taylor_test",
    "verifies",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gradverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
