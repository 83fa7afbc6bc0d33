"""The data of mini-batch descent and how batches are drawn from it.

Checks of ``data``, ``batch_size``, ``sampling`` and ``seed`` as
:func:`gradverify.descent.minibatch_gradient_descent` and
:mod:`gradverify.invariants` take them, and the sampler of the index arrays
of successive mini-batches (epochs of shuffles, or draws with replacement).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidArgument, ShapeMismatch
from .validate import valid_count

__all__ = ["SAMPLINGS", "batch_sampler", "valid_batches", "valid_data", "valid_sampling"]

#: Sampling schemes of mini-batch descent.
SAMPLINGS = ("shuffle", "replacement")


def valid_data(data: Any) -> tuple[Any, ...]:
    """``data`` as a tuple of arrays sharing a first axis of length N >= 1."""
    if isinstance(data, np.ndarray):
        data = (data,)
    if not isinstance(data, (tuple, list)) or not data:
        raise InvalidArgument(f"data must be a non-empty tuple of arrays such as (X, y), got {type(data).__name__}")
    arrays = tuple(np.asarray(a) for a in data)
    if any(a.ndim == 0 for a in arrays):
        raise ShapeMismatch("every array in data needs a first (sample) axis; got a scalar")
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) != 1:
        raise ShapeMismatch(f"the arrays in data must share their first axis, got lengths {lengths}")
    if lengths[0] == 0:
        raise InvalidArgument("data holds no samples (first axis of length 0)")
    return arrays


def batch_sampler(n: int, batch_size: int, sampling: str, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index arrays of successive mini-batches.

    ``shuffle``: epochs of a fresh permutation, cut into batches of
    ``batch_size`` (the last one shorter when ``batch_size`` does not divide
    ``n``), so each sample is used once per epoch; with ``batch_size == n``
    every batch is the whole data set in its own order (shuffling within one
    batch changes nothing but the order of additions, and at a kink of a
    nonsmooth loss that order could flip a tie).  ``replacement``: every batch
    draws ``batch_size`` indices independently and uniformly.
    """
    if sampling == "shuffle" and batch_size == n:
        everything = np.arange(n)
        while True:
            yield everything
    if sampling == "shuffle":
        while True:
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                yield order[start : start + batch_size]
    while True:
        yield rng.integers(0, n, size=batch_size)


def valid_batches(data: Any, batch_size: Any) -> tuple[tuple[Any, ...], int, int]:
    """The data arrays, their sample count N, and batch_size checked to lie in 1..N."""
    arrays = valid_data(data)
    n = arrays[0].shape[0]
    batch_size = valid_count("batch_size", batch_size, minimum=1)
    if batch_size > n:
        raise InvalidArgument(f"batch_size={batch_size} is larger than the {n} samples in data")
    return arrays, n, batch_size


def valid_sampling(sampling: Any) -> str:
    if sampling not in SAMPLINGS:
        raise InvalidArgument(f"sampling={sampling!r} is not one of {', '.join(map(repr, SAMPLINGS))}")
    return str(sampling)
