"""gradverify: tells you, with evidence, whether a derivative you wrote by hand is right.

>>> import numpy as np, gradverify as gv
>>> report = gv.check_grad(lambda x: np.sum(x ** 2), lambda x: 2 * x, np.array([1.0, 2.0]), seed=0)
>>> report.ok
True
"""

from __future__ import annotations

from typing import Any

from .check import assert_grad, check_grad, check_jacobian, check_vjp
from .errors import (
    GradientMismatch,
    GradverifyError,
    InputMutated,
    InvalidArgument,
    NonDeterministicFunction,
    NonFiniteValue,
    NotComplexSafe,
    ShapeMismatch,
)
from .numerical import (
    GradientEstimate,
    TaylorResult,
    estimate_gradient,
    numerical_gradient,
    numerical_jacobian,
    taylor_test,
)
from .report import Report

__version__ = "0.1.0"

__all__ = [
    "GradientEstimate",
    "GradientMismatch",
    "GradverifyError",
    "InputMutated",
    "InvalidArgument",
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
    "check_jacobian",
    "check_vjp",
    "estimate_gradient",
    "numerical_gradient",
    "numerical_jacobian",
    "taylor_test",
    "verifies",
    "verify",
]


def __getattr__(name: str) -> Any:
    # verify lives beside the Hypothesis strategies; importing it lazily keeps
    # `import gradverify` from importing Hypothesis.
    if name in ("verify", "verifies", "VerifyResult"):
        from . import verification

        return getattr(verification, name)
    if name in ("strategies", "descent", "invariants", "zoo"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gradverify' has no attribute {name!r}")
