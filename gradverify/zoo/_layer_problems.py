"""Ready-made points for the zoo's layers: arguments of the right shapes, and the broken twins.

>>> from gradverify import zoo
>>> layer = zoo.make_layer("batchnorm", seed=0)
>>> [type(a).__name__ for a in layer.args]
['ndarray', 'ndarray', 'ndarray', 'dict']
>>> sorted(layer.broken)
['cache_out_of_order', 'sqrt_var_minus_eps', 'sum_not_mean', 'x_not_centered']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _layers as L
from ._layer_bugs import BUGS, WRONG

__all__ = ["LAYER_NAMES", "Layer", "make_layer"]


@dataclass
class Layer:
    """A zoo layer at a point: ``check_layer(layer.forward, layer.backward, *layer.args, wrt=layer.wrt)``.

    Attributes
    ----------
    name : str
    forward, backward : callable
        ``backward`` is None for a loss that returns its gradient.
    args : tuple
        forward's arguments (arrays in the requested dtype, constants as the notes pass them).
    wrt : list of str or None
        The arguments to differentiate when the floating arrays are not all of them.
    broken : dict
        Bug name -> ``(forward, backward)`` with the bug.
    wrong : dict
        Bug name -> the gradients it makes wrong, such as ``("dgamma",)``.
    """

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    args: tuple[Any, ...]
    wrt: list[Any] | None = None
    broken: dict[str, Any] = field(default_factory=dict)
    wrong: dict[str, Any] = field(default_factory=dict)


def _args(name: str, rng: np.random.Generator, dtype: Any) -> tuple[tuple[Any, ...], list[Any] | None]:
    def normal(*shape: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
        return (shift + scale * rng.standard_normal(shape)).astype(dtype)

    if name == "affine":
        return (normal(3, 2, 2), normal(4, 5), normal(5)), None
    if name == "relu":
        return (normal(4, 5),), None
    if name in ("batchnorm", "layernorm"):
        # Activations of small variance, as after a layer with small weights:
        # where var is near eps, an eps in the wrong place is a visible bug.
        x = normal(6, 4, scale=0.05, shift=0.5) if name == "batchnorm" else normal(4, 6, scale=0.05, shift=0.5)
        D = x.shape[1]
        param: dict[str, Any] = {"mode": "train"} if name == "batchnorm" else {}
        return (x, normal(D, scale=0.2, shift=1.0), normal(D), param), None
    if name == "conv":
        return (normal(2, 2, 5, 5), normal(3, 2, 3, 3, scale=0.5), normal(3), {"stride": 2, "pad": 1}), None
    if name == "max_pool":
        return (normal(2, 2, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}), None
    if name == "rnn_step":
        return (
            normal(3, 4),
            normal(3, 4),
            normal(4, 4, scale=0.4),
            normal(4, 4, scale=0.4),
            normal(4, scale=0.1),
        ), None
    if name == "lstm_step":
        N, D, H = 2, 3, 3
        return (
            normal(N, D),
            normal(N, H),
            normal(N, H),
            normal(D, 4 * H, scale=0.5),
            normal(H, 4 * H, scale=0.5),
            normal(4 * H, scale=0.1),
        ), None
    if name == "word_embedding":
        x = np.array([[0, 3, 1, 3], [4, 0, 2, 3]])  # words 0 and 3 repeated: their gradients add
        return (x, normal(5, 3)), None
    if name in ("softmax_loss", "svm_loss"):
        return (normal(5, 4), rng.integers(0, 4, size=5)), None
    if name == "linear_softmax_loss":
        return (normal(4, 3, scale=0.1), normal(6, 4), rng.integers(0, 3, size=6), 0.1), ["W"]
    raise KeyError(name)


_PAIRS: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {
    "affine": (L.affine_forward, L.affine_backward),
    "relu": (L.relu_forward, L.relu_backward),
    "batchnorm": (L.batchnorm_forward, L.batchnorm_backward),
    "layernorm": (L.layernorm_forward, L.layernorm_backward),
    "conv": (L.conv_forward_naive, L.conv_backward_naive),
    "max_pool": (L.max_pool_forward_naive, L.max_pool_backward_naive),
    "rnn_step": (L.rnn_step_forward, L.rnn_step_backward),
    "lstm_step": (L.lstm_step_forward, L.lstm_step_backward),
    "word_embedding": (L.word_embedding_forward, L.word_embedding_backward),
    "softmax_loss": (L.softmax_layer_loss, None),
    "svm_loss": (L.svm_layer_loss, None),
    "linear_softmax_loss": (L.linear_softmax_loss, None),
}

#: The zoo's layers, in the order of the notes.
LAYER_NAMES = tuple(_PAIRS)


def make_layer(name: str, *, seed: int = 0, dtype: Any = np.float64) -> Layer:
    """The layer ``name`` (one of :data:`LAYER_NAMES`) at a random point of small shapes.

    Parameters
    ----------
    name : str
    seed : int
        Seeds the arrays (the shapes are fixed).
    dtype : numpy dtype
        Of the floating arrays; index and label arrays stay integers.
    """
    if name not in _PAIRS:
        from ..errors import InvalidArgument

        raise InvalidArgument(f"name={name!r} is not a zoo layer; choose one of {', '.join(LAYER_NAMES)}")
    forward, backward = _PAIRS[name]
    args, wrt = _args(name, np.random.default_rng(seed), np.dtype(dtype))
    broken = {bug: (forward, fn) if backward is not None else (fn, None) for bug, fn in BUGS[name].items()}
    return Layer(name, forward, backward, args, wrt, broken, dict(WRONG[name]))
