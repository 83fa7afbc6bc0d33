"""Names every layer shares, importable without numpy (the pytest plugin and the CLI parser need them at load).

>>> CHECK_METHODS
('auto', 'forward', 'central', 'complex', 'richardson')
"""

from __future__ import annotations

__all__ = ["CHECK_METHODS", "METHODS"]

#: Methods of the estimators; "auto" is resolved by the verdict layer.
METHODS = ("forward", "central", "complex", "richardson")

#: What a check's ``method=`` accepts.
CHECK_METHODS = ("auto", *METHODS)
