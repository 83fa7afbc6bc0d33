"""Layers with hand-written backward passes, in the convention of the course notes.

``out, cache = layer_forward(x, ...)`` and ``dx, ... = layer_backward(dout,
cache)``; losses return ``loss, dx`` together.  Each backward is derived here
from the forward's mathematics.  The forwards are complex-safe where the
mathematics allows (allocations take the inputs' dtype, masks and maxima look
at the real part only), so complex-step can check them; the hinge, ReLU and
max pool are piecewise and have kinks where an entry ties.

Examples
--------
>>> import numpy as np
>>> from gradverify import zoo
>>> out, cache = zoo.affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
>>> [g.shape for g in zoo.affine_backward(np.ones((2, 4)), cache)]
[(2, 3), (3, 4), (4,)]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward_naive",
    "conv_forward_naive",
    "layernorm_backward",
    "layernorm_forward",
    "linear_softmax_loss",
    "lstm_step_backward",
    "lstm_step_forward",
    "max_pool_backward_naive",
    "max_pool_forward_naive",
    "relu_backward",
    "relu_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "softmax_layer_loss",
    "svm_layer_loss",
    "word_embedding_backward",
    "word_embedding_forward",
]

Cache = Any


# -- affine and ReLU ----------------------------------------------------------------------------


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``out = x.reshape(N, D) @ w + b``; ``x`` of shape ``(N, d_1, ..., d_k)`` with ``D = d_1 * ... * d_k``."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx, dw, db`` of :func:`affine_forward`: b is added to every row, so db sums over them."""
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``max(0, x)`` elementwise (the mask looks at the real part, so complex-step sees each piece)."""
    return x * (x.real > 0), x


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """``dx`` of :func:`relu_forward` (0 at the kink ``x = 0``, a valid subgradient)."""
    return np.asarray(dout * (cache.real > 0))


# -- normalisation ------------------------------------------------------------------------------


def _normalise(x: np.ndarray, axis: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The variance is written out rather than np.var, which takes |x|**2 and so
    # is not analytic: complex-step needs (x - mu)**2.
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, mu, var


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]) -> tuple[np.ndarray, Cache]:
    """Batch normalisation of ``x (N, D)`` over the batch, then ``gamma * xhat + beta``.

    ``bn_param``: ``mode`` (``"train"`` or ``"test"``), ``eps`` (1e-5),
    ``momentum`` (0.9).  In training mode the running mean and variance in
    ``bn_param`` are updated, as the course's layer does; in test mode they
    are used instead of the batch's statistics.
    """
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.ones(D))
    if bn_param["mode"] == "test":
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        return gamma * xhat + beta, ("test", x, xhat, gamma, beta, running_var, eps)
    xhat, mu, var = _normalise(x, 0, eps)
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu.real[0]
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var.real[0]
    return gamma * xhat + beta, ("train", x, xhat, gamma, beta, var, eps)


def _normalise_backward(dxhat: np.ndarray, xhat: np.ndarray, var: np.ndarray, eps: float, axis: int) -> np.ndarray:
    # xhat = (x - mu) / s with mu and s over `axis` (M entries): the chain rule
    # through mu and s gives dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / s.
    inv_std = 1.0 / np.sqrt(var + eps)
    dx: np.ndarray = inv_std * (
        dxhat - dxhat.mean(axis=axis, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True)
    )
    return dx


def batchnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx, dgamma, dbeta`` of :func:`batchnorm_forward`."""
    mode, _, xhat, gamma, _, var, eps = cache
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    if mode == "test":
        return dout * gamma / np.sqrt(var + eps), dgamma, dbeta
    return _normalise_backward(dout * gamma, xhat, var, eps, 0), dgamma, dbeta


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: dict[str, Any]) -> tuple[np.ndarray, Cache]:
    """Layer normalisation: each row of ``x (N, D)`` over its features, then ``gamma * xhat + beta``."""
    eps = ln_param.get("eps", 1e-5)
    xhat, _, var = _normalise(x, 1, eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def layernorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx, dgamma, dbeta`` of :func:`layernorm_forward`: the batchnorm formula over axis 1."""
    xhat, gamma, var, eps = cache
    return _normalise_backward(dout * gamma, xhat, var, eps, 1), (dout * xhat).sum(axis=0), dout.sum(axis=0)


# -- convolution and pooling (naive loops, as in the notes) ------------------------------------------


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, Any]) -> tuple[np.ndarray, Cache]:
    """Cross-correlation of ``x (N, C, H, W)`` with filters ``w (F, C, HH, WW)``, plus ``b (F,)``.

    ``conv_param``: ``stride`` and ``pad`` (zeros on both sides of H and W).
    """
    stride, pad = conv_param.get("stride", 1), conv_param.get("pad", 0)
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w, b))
    flat_w = w.reshape(F, -1)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW].reshape(N, -1)
            out[:, :, i, j] = window @ flat_w.T + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx, dw, db`` of :func:`conv_forward_naive`: each output spreads back over its window."""
    x, w, _, conv_param = cache
    stride, pad = conv_param.get("stride", 1), conv_param.get("pad", 0)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp, dtype=np.result_type(xp, dout))
    dw = np.zeros_like(w, dtype=np.result_type(w, dout))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            hs, ws = i * stride, j * stride
            window = xp[:, :, hs : hs + HH, ws : ws + WW]
            d = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(d, window, axes=(0, 0))
            dxp[:, :, hs : hs + HH, ws : ws + WW] += np.tensordot(d, w, axes=(1, 0))
    return dxp[:, :, pad : pad + H, pad : pad + W], dw, dout.sum(axis=(0, 2, 3))


def _pool_windows(x: np.ndarray, pool_param: dict[str, Any]) -> tuple[int, int, int, int, int]:
    ph, pw, stride = pool_param.get("pool_height", 2), pool_param.get("pool_width", 2), pool_param.get("stride", 2)
    return ph, pw, stride, 1 + (x.shape[2] - ph) // stride, 1 + (x.shape[3] - pw) // stride


def max_pool_forward_naive(x: np.ndarray, pool_param: dict[str, Any]) -> tuple[np.ndarray, Cache]:
    """The maximum of each ``pool_height x pool_width`` window of ``x (N, C, H, W)``, every ``stride``."""
    ph, pw, stride, Ho, Wo = _pool_windows(x, pool_param)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw].reshape(N, C, -1)
            arg = window.real.argmax(axis=2)
            out[:, :, i, j] = np.take_along_axis(window, arg[..., None], axis=2)[..., 0]
    return out, (x, pool_param)


def max_pool_backward_naive(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """``dx`` of :func:`max_pool_forward_naive`: each dout goes to its window's maximum."""
    x, pool_param = cache
    ph, pw, stride, Ho, Wo = _pool_windows(x, pool_param)
    N, C = x.shape[:2]
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw].reshape(N, C, -1)
            di, dj = np.unravel_index(window.real.argmax(axis=2), (ph, pw))
            dx[n, c, i * stride + di, j * stride + dj] += dout[:, :, i, j]
    return dx


# -- recurrent steps ------------------------------------------------------------------------------


def rnn_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, Cache]:
    """One step of a vanilla RNN: ``next_h = tanh(x Wx + prev_h Wh + b)``."""
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h: np.ndarray, cache: Cache) -> tuple[np.ndarray, ...]:
    """``dx, dprev_h, dWx, dWh, db`` of :func:`rnn_step_forward` (tanh' = 1 - tanh**2)."""
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def lstm_step_forward(
    x: np.ndarray, prev_h: np.ndarray, prev_c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Cache]:
    """One LSTM step; returns ``next_h, next_c, cache``.

    ``a = x Wx + prev_h Wh + b`` of shape ``(N, 4H)`` is split into the input,
    forget and output gates ``i, f, o`` (sigmoids) and the candidate ``g``
    (tanh); ``next_c = f * prev_c + i * g`` and ``next_h = o * tanh(next_c)``.
    """
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), _sigmoid(a[:, 2 * H : 3 * H]), np.tanh(a[:, 3 * H :])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    return o * tanh_c, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


def lstm_step_backward(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: Cache) -> tuple[np.ndarray, ...]:
    """``dx, dprev_h, dprev_c, dWx, dWh, db`` of :func:`lstm_step_forward`.

    next_c reaches the loss twice: directly (``dnext_c``) and through
    ``next_h = o * tanh(next_c)``; the two paths add.
    """
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)
    da = np.concatenate(
        [dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g**2)], axis=1
    )
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


# -- word embedding -------------------------------------------------------------------------------


def word_embedding_forward(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Rows of ``W (V, D)`` picked by the integer indices ``x (N, T)``: ``out[n, t] = W[x[n, t]]``."""
    return W[x], (x, W.shape, W.dtype)


def word_embedding_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """``dW`` of :func:`word_embedding_forward`; a word used twice accumulates both gradients."""
    x, shape, dtype = cache
    dW = np.zeros(shape, dtype=np.result_type(dtype, dout))
    np.add.at(dW, x, dout)
    return dW


# -- losses that return their gradient --------------------------------------------------------------


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.real.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def softmax_layer_loss(x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """``loss, dx``: mean cross-entropy of the scores ``x (N, C)`` for integer labels ``y (N,)``.

    (The course's ``softmax_loss(x, y)``; ``zoo.softmax_loss`` is the linear classifier's loss.)
    """
    N = x.shape[0]
    logp = _log_softmax(x)
    dx = np.exp(logp)
    dx[np.arange(N), y] -= 1
    return -logp[np.arange(N), y].mean(), dx / N


def svm_layer_loss(x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """``loss, dx``: mean multiclass hinge ``sum_{j != y} max(0, x_j - x_y + 1)`` of the scores ``x (N, C)``."""
    N = x.shape[0]
    rows = np.arange(N)
    margins = x - x[rows, y][:, None] + 1.0
    active = (margins.real > 0).astype(float)
    active[rows, y] = 0.0
    dx = active.copy()
    dx[rows, y] = -active.sum(axis=1)
    return (margins * active).sum() / N, dx / N


def linear_softmax_loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[Any, np.ndarray]:
    """``loss, dW`` of a linear softmax classifier with L2 ``reg * sum(W**2)`` (the notes' ``softmax_loss_vectorized``).

    ``X (N, D)`` is data, a floating array that is not differentiated: check it
    with ``wrt=["W"]``.
    """
    loss, dscores = softmax_layer_loss(X @ W, y)
    return loss + reg * np.sum(W * W), X.T @ dscores + 2 * reg * W
