"""runtime.limit_threads: a block runs with at most n threads, and everything is restored after it."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.runtime import limit_threads


def test_the_block_runs_with_at_most_n_threads_and_the_count_comes_back():
    before = cr.get_num_threads()
    with limit_threads(1):
        assert cr.get_num_threads() == 1
    assert cr.get_num_threads() == before


def test_none_limits_nothing():
    before = cr.get_num_threads()
    with limit_threads(None):
        assert cr.get_num_threads() == before


def test_the_count_comes_back_after_an_error():
    before = cr.get_num_threads()
    with pytest.raises(RuntimeError), limit_threads(1):
        raise RuntimeError("inside the block")
    assert cr.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError, match="positive int or None"), limit_threads(bad):
        pass
