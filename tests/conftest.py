"""Shared test configuration.

Hypothesis loads its own ``ci`` profile when the ``CI`` environment variable is
set (derandomized, no example database), so CI runs are repeatable; locally the
example database in ``.hypothesis/`` replays every failure found before.
"""

pytest_plugins = ["pytester"]
