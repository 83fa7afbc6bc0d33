"""Reference problems and layers with exact derivatives, and deliberately broken twins.

Losses (``make_problem``): softmax, SVM, logistic, a two-layer MLP and
Rosenbrock, each a function of its parameters with its exact gradient.
Layers (``make_layer``): forward/backward pairs in the convention of the
course notes (``out, cache = affine_forward(x, w, b)``, ``dx, dw, db =
affine_backward(dout, cache)``) and losses returning their gradient
(``loss, dx = softmax_layer_loss(x, y)``), for
:func:`gradverify.check_layer`.  Every one has broken twins made from the bugs
people really make.

Examples
--------
>>> from gradverify import zoo
>>> problem = zoo.make_problem("softmax", seed=0)
>>> bool(problem.f(problem.x0) > 0)
True
>>> "lstm_step" in zoo.LAYER_NAMES
True
"""

from ._layer_problems import LAYER_NAMES, Layer, make_layer
from ._layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    layernorm_backward,
    layernorm_forward,
    linear_softmax_loss,
    lstm_step_backward,
    lstm_step_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
    rnn_step_backward,
    rnn_step_forward,
    softmax_layer_loss,
    svm_layer_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from ._losses import (
    PROBLEM_NAMES,
    Problem,
    logistic_grad,
    logistic_loss,
    make_dataset,
    make_problem,
    mlp_grad,
    mlp_loss,
    mutants,
    rosenbrock,
    rosenbrock_grad,
    softmax_grad,
    softmax_loss,
    svm_grad,
    svm_loss,
)

__all__ = [
    "LAYER_NAMES",
    "PROBLEM_NAMES",
    "Layer",
    "Problem",
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward_naive",
    "conv_forward_naive",
    "layernorm_backward",
    "layernorm_forward",
    "linear_softmax_loss",
    "logistic_grad",
    "logistic_loss",
    "lstm_step_backward",
    "lstm_step_forward",
    "make_dataset",
    "make_layer",
    "make_problem",
    "max_pool_backward_naive",
    "max_pool_forward_naive",
    "mlp_grad",
    "mlp_loss",
    "mutants",
    "relu_backward",
    "relu_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "rosenbrock",
    "rosenbrock_grad",
    "softmax_grad",
    "softmax_layer_loss",
    "softmax_loss",
    "svm_grad",
    "svm_layer_loss",
    "svm_loss",
    "word_embedding_backward",
    "word_embedding_forward",
]
