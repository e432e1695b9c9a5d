"""all_reduce_sum: the op knows only the reducer it is given; forward and backward both apply it."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.ops.collective import all_reduce_sum
from helpers import check_gradcheck


def twice(a: np.ndarray) -> np.ndarray:
    """What summing over two ranks that hold the same values gives."""
    return a * 2


def test_forward_and_backward_go_through_the_reducer():
    calls = []

    def reducer(a):
        calls.append(a.copy())
        return a * 2

    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    out = all_reduce_sum(x, reducer)
    np.testing.assert_array_equal(out._array, [2.0, 4.0, 6.0])
    (out * cr.tensor(c)).sum().backward()
    # dL/dx_r = sum over ranks of dL_k/ds: the reducer applied to the incoming gradient
    np.testing.assert_array_equal(x.grad._array, 2 * c)
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[1], c)


def test_gradcheck():
    x = np.random.default_rng(0).standard_normal((3, 2))
    check_gradcheck(lambda t: all_reduce_sum(t, twice) * t, [x])
