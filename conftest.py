"""Doctest collection of gradverify/ skips the framework adapters when their framework is absent.

``pytest`` collects ``--doctest-modules`` over gradverify/, which imports every
module; gradverify.torch and gradverify.jax import torch and jax, which are
optional extras.  (Their tests in tests/ skip themselves with a reason.)
"""

from __future__ import annotations

import importlib.util


def _absent(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


collect_ignore = []
if _absent("torch"):
    collect_ignore += ["gradverify/torch.py", "gradverify/_frameworks/torch_fn.py"]
if _absent("jax"):
    collect_ignore += ["gradverify/jax.py", "gradverify/_frameworks/jax_fn.py", "gradverify/_frameworks/jax_second.py"]
