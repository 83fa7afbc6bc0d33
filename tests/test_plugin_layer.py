"""``gradcheck.layer``: a forward/backward pair in a test, black-box with pytester."""

from __future__ import annotations

import pytest

PROJECT = """
import numpy as np
import pytest
from gradverify import zoo

def test_batchnorm(gradcheck):
    layer = zoo.make_layer("batchnorm", seed=0)
    report = gradcheck.layer(zoo.batchnorm_forward, zoo.batchnorm_backward, *layer.args)
    assert report.failed_arguments == []

def test_batchnorm_bug(gradcheck):
    layer = zoo.make_layer("batchnorm", seed=0)
    forward, backward = layer.broken["x_not_centered"]
    gradcheck.layer(forward, backward, *layer.args)

@pytest.mark.gradverify(method="central", vectorized=False)
def test_softmax_marker(gradcheck):
    layer = zoo.make_layer("softmax_loss", seed=1)
    assert gradcheck.layer(zoo.softmax_layer_loss, None, *layer.args).method == "central"
"""


def test_gradcheck_layer_passes_fails_with_the_argument_named_and_counts(pytester: pytest.Pytester) -> None:
    # One process: tests/test_plugin.py shows the counts add up the same under xdist.
    pytester.makepyfile(test_layers=PROJECT)
    result = pytester.runpytest_subprocess("-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "test_batchnorm_bug" in out
    result.stdout.fnmatch_lines(["*dx*(6, 4)*passed*0 of 24*", "*dgamma*(4,)*FAILED*4 of 4*", "*dbeta*passed*"])
    result.stdout.fnmatch_lines(
        ["3 checks run: 2 passed, 1 failed, 0 inconclusive, 0 raised*", "FAILED test_layers.py::test_batchnorm_bug: layer check at gamma[*"]
    )
