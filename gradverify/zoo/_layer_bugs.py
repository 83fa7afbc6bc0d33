"""Broken twins of the zoo's layers: the bugs people really make in a backward pass.

Each twin is the correct backward (or, for a loss returning its gradient, the
correct loss) with one mistake, and :data:`WRONG` says which gradients the
mistake touches, so a checker can be held to naming those and no others.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _layers as L

__all__ = ["BUGS", "WRONG"]


def affine_db_mean(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    dx, dw, _ = L.affine_backward(dout, cache)
    return dx, dw, dout.mean(axis=0)  # a mean where the forward adds b to every row (a sum)


def relu_forgot_dout(dout: np.ndarray, cache: Any) -> np.ndarray:
    return np.asarray((cache.real > 0).astype(dout.dtype))  # the local derivative, never multiplied by dout


def batchnorm_x_not_centered(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    mode, x, xhat, gamma, beta, var, eps = cache
    dx, _, dbeta = L.batchnorm_backward(dout, cache)
    return dx, (dout * x / np.sqrt(var + eps)).sum(axis=0), dbeta  # x where x - mean belongs


def batchnorm_sqrt_var_minus_eps(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    mode, x, xhat, gamma, beta, var, eps = cache
    _, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    inv_std = 1.0 / np.sqrt(var - eps)  # the sign of eps flipped
    dxhat = dout * gamma
    dx = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return dx, dgamma, dbeta


def batchnorm_cache_out_of_order(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    mode, x, xhat, beta, gamma, var, eps = cache  # gamma and beta unpacked in the wrong order
    _, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / np.sqrt(var + eps)
    return dx, dgamma, dbeta


def batchnorm_sum_not_mean(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    mode, x, xhat, gamma, beta, var, eps = cache
    _, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    dxhat = dout * gamma
    dx = (dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / np.sqrt(var + eps)  # sums, not means
    return dx, dgamma, dbeta


def layernorm_batchnorm_axis(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    xhat, gamma, var, eps = cache
    _, dgamma, dbeta = L.layernorm_backward(dout, cache)
    dxhat = dout * gamma
    # The batchnorm formula pasted over: the means over the batch (axis 0), not the features.
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / np.sqrt(var + eps)
    return dx, dgamma, dbeta


def conv_kernel_flipped(dout: np.ndarray, cache: Any) -> tuple[Any, ...]:
    x, w, b, conv_param = cache
    _, dw, db = L.conv_backward_naive(dout, cache)
    # dx through the kernel rotated by 180 degrees: a true convolution's backward
    # applied to the forward's cross-correlation.
    dx, _, _ = L.conv_backward_naive(dout, (x, w[:, :, ::-1, ::-1], b, conv_param))
    return dx, dw, db


def max_pool_spread_over_window(dout: np.ndarray, cache: Any) -> np.ndarray:
    x, pool_param = cache
    ph, pw, stride = pool_param.get("pool_height", 2), pool_param.get("pool_width", 2), pool_param.get("stride", 2)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            # The average pool's backward: every entry of the window gets a share.
            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += dout[:, :, i, j][
                ..., None, None
            ] / (ph * pw)
    return dx


def rnn_cache_out_of_order(dnext_h: np.ndarray, cache: Any) -> tuple[Any, ...]:
    x, prev_h, Wh, Wx, next_h = cache  # Wx and Wh swapped (same shape when D == H, so nothing raises)
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_tanh_unsquared(dnext_h: np.ndarray, cache: Any) -> tuple[Any, ...]:
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h)  # 1 - tanh, where tanh' = 1 - tanh**2
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_ignores_dnext_c(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: Any) -> tuple[Any, ...]:
    return L.lstm_step_backward(dnext_h, np.zeros_like(dnext_c), cache)  # the cell path left out


def lstm_dprev_c_without_forget_gate(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: Any) -> tuple[Any, ...]:
    dx, dprev_h, dprev_c, dWx, dWh, db = L.lstm_step_backward(dnext_h, dnext_c, cache)
    f = cache[6]
    return dx, dprev_h, dprev_c / f, dWx, dWh, db  # dprev_c = dc, the forget gate on its path ignored


def embedding_buffered_assign(dout: np.ndarray, cache: Any) -> np.ndarray:
    x, shape, dtype = cache
    dW = np.zeros(shape, dtype=np.result_type(dtype, dout))
    dW[x] += dout  # fancy-index += is buffered: a word used twice keeps one gradient
    return dW


def embedding_index_off_by_one(dout: np.ndarray, cache: Any) -> np.ndarray:
    x, shape, dtype = cache
    dW = np.zeros(shape, dtype=np.result_type(dtype, dout))
    np.add.at(dW, x - 1, dout)  # 1-based indices (x - 1 wraps to the last row for 0)
    return dW


def softmax_forgot_mean(x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
    loss, dx = L.softmax_layer_loss(x, y)
    return loss, dx * x.shape[0]  # the gradient of the sum, the loss of the mean


def svm_forgot_correct_class(x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
    loss, dx = L.svm_layer_loss(x, y)
    rows = np.arange(x.shape[0])
    dx = dx.copy()
    dx[rows, y] = 0.0  # the correct class's score also moves every active margin
    return loss, dx


def linear_softmax_reg_missing_factor(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[Any, ...]:
    loss, dW = L.linear_softmax_loss(W, X, y, reg)
    return loss, dW - reg * W  # reg * W: the 2 of d/dW (reg * W**2) dropped


def linear_softmax_reg_missing_term(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[Any, ...]:
    loss, dW = L.linear_softmax_loss(W, X, y, reg)
    return loss, dW - 2 * reg * W  # the regularisation gradient left out


#: layer name -> bug name -> the broken backward (or, for losses, the broken loss).
BUGS: dict[str, dict[str, Any]] = {
    "affine": {"db_mean": affine_db_mean},
    "relu": {"forgot_dout": relu_forgot_dout},
    "batchnorm": {
        "x_not_centered": batchnorm_x_not_centered,
        "sqrt_var_minus_eps": batchnorm_sqrt_var_minus_eps,
        "cache_out_of_order": batchnorm_cache_out_of_order,
        "sum_not_mean": batchnorm_sum_not_mean,
    },
    "layernorm": {"batchnorm_axis": layernorm_batchnorm_axis},
    "conv": {"kernel_flipped": conv_kernel_flipped},
    "max_pool": {"spread_over_window": max_pool_spread_over_window},
    "rnn_step": {"cache_out_of_order": rnn_cache_out_of_order, "tanh_unsquared": rnn_tanh_unsquared},
    "lstm_step": {
        "ignores_dnext_c": lstm_ignores_dnext_c,
        "dprev_c_without_forget_gate": lstm_dprev_c_without_forget_gate,
    },
    "word_embedding": {"buffered_assign": embedding_buffered_assign, "index_off_by_one": embedding_index_off_by_one},
    "softmax_loss": {"forgot_mean": softmax_forgot_mean},
    "svm_loss": {"forgot_correct_class": svm_forgot_correct_class},
    "linear_softmax_loss": {
        "reg_missing_factor": linear_softmax_reg_missing_factor,
        "reg_missing_term": linear_softmax_reg_missing_term,
    },
}

#: layer name -> bug name -> the gradients the bug makes wrong.
WRONG: dict[str, dict[str, tuple[str, ...]]] = {
    "affine": {"db_mean": ("db",)},
    "relu": {"forgot_dout": ("dx",)},
    "batchnorm": {
        "x_not_centered": ("dgamma",),
        "sqrt_var_minus_eps": ("dx",),
        "cache_out_of_order": ("dx",),
        "sum_not_mean": ("dx",),
    },
    "layernorm": {"batchnorm_axis": ("dx",)},
    "conv": {"kernel_flipped": ("dx",)},
    "max_pool": {"spread_over_window": ("dx",)},
    "rnn_step": {"cache_out_of_order": ("dx", "dprev_h"), "tanh_unsquared": ("dx", "dprev_h", "dWx", "dWh", "db")},
    "lstm_step": {
        "ignores_dnext_c": ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"),
        "dprev_c_without_forget_gate": ("dprev_c",),
    },
    "word_embedding": {"buffered_assign": ("dW",), "index_off_by_one": ("dW",)},
    "softmax_loss": {"forgot_mean": ("dx",)},
    "svm_loss": {"forgot_correct_class": ("dx",)},
    "linear_softmax_loss": {"reg_missing_factor": ("dW",), "reg_missing_term": ("dW",)},
}
