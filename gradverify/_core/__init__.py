"""The verdict engine and its plumbing (private: import from :mod:`gradverify`).

Layers, top to bottom (an import never goes up):

- ``check``, ``verification``, ``numerical``: the public checks and estimates;
- ``full``, ``directional``, ``method``, ``diagnose``, ``report``: the verdict;
- ``estimators``: estimates with their error bounds;
- ``evaluate``, ``matrices``, ``params``, ``batches``, ``validate``: counted,
  guarded calls of the user's functions, structures, and argument checks.
"""
