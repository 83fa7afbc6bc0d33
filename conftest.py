"""Doctest collection of gradverify/ skips the framework adapters when their framework is absent.

``pytest`` collects ``--doctest-modules`` over gradverify/, which imports every
module; gradverify.torch and gradverify.jax import torch and jax, which are
optional extras.  (Their tests in tests/ skip themselves with a reason.)
"""

from __future__ import annotations

import importlib.util

collect_ignore = []
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["gradverify/torch.py", "gradverify/_frameworks/torch_fn.py"]
if importlib.util.find_spec("jax") is None:
    collect_ignore += ["gradverify/jax.py", "gradverify/_frameworks/jax_fn.py"]
