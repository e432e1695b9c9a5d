"""Checkpoint averaging: the element-wise mean of state dicts, and the callback that keeps them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.apps.finetune.averaging import LastWeights, average_states
from chainrule.train import Trainer


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    count=st.integers(1, 4),
    shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_average_is_the_element_wise_mean(seed: int, count: int, shape: list[int], dtype: type) -> None:
    rng = np.random.default_rng(seed)
    states = [
        {
            "w": rng.standard_normal(shape).astype(dtype),
            "b": rng.standard_normal(3).astype(dtype),
            "steps": np.array(i, dtype=np.int64),  # not a weight: taken from the last state
        }
        for i in range(count)
    ]
    before = [{k: v.copy() for k, v in s.items()} for s in states]
    mean = average_states(states)
    for key in ("w", "b"):
        expected = np.mean([s[key].astype(np.float64) for s in states], axis=0)
        assert mean[key].dtype == dtype and mean[key].shape == states[0][key].shape
        np.testing.assert_allclose(mean[key], expected, rtol=1e-6, atol=1e-6)
    assert mean["steps"] == count - 1 and mean["steps"].dtype == np.int64
    # the inputs are left as they were, and the result shares no memory with them
    for s, b in zip(states, before):
        for key in s:
            np.testing.assert_array_equal(s[key], b[key])
    assert not any(np.shares_memory(mean[k], s[k]) for s in states for k in s)


def test_average_of_identical_states_is_that_state() -> None:
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) / 7}
    np.testing.assert_array_equal(average_states([state, state, state])["w"], state["w"])


@pytest.mark.parametrize(
    ("states", "fragment"),
    [
        ([], "at least one state dict"),
        ([{"w": np.zeros(2)}, {"v": np.zeros(2)}], "other keys"),
        ([{"w": np.zeros(2)}, {"w": np.zeros(3)}], "'w' has shape (2,) in state 0, expected (3,)"),
    ],
    ids=["none", "keys", "shapes"],
)
def test_average_rejects_states_that_do_not_match(states: list, fragment: str) -> None:
    with pytest.raises(ValueError, match="average_states") as info:
        average_states(states)
    assert fragment in str(info.value)


def test_last_weights_keeps_copies_of_the_last_epochs() -> None:
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 2)
    rng = np.random.default_rng(0)
    data = [(cr.tensor(rng.standard_normal((8, 3)).astype(np.float32)), cr.tensor(rng.integers(0, 2, 8)))]
    keep = LastWeights(2)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.5)
    trainer = Trainer(model, cr.nn.CrossEntropyLoss(), optimizer, callbacks=[keep])
    trainer.fit(data, epochs=3)
    assert list(keep.epochs) == [2, 3] and len(keep.states) == 2
    # the last copy is the model as it ended; the one before it differs (a step was taken) and is a copy
    last = {k: v._array for k, v in model.state_dict().items()}
    assert set(keep.states[-1]) == set(last) == {"weight", "bias"}
    for key, value in last.items():
        np.testing.assert_array_equal(keep.states[-1][key], value)
        assert not np.shares_memory(keep.states[-1][key], value)
    assert not np.array_equal(keep.states[0]["weight"], keep.states[1]["weight"])
    # a new fit starts a new record
    trainer.fit(data, epochs=1)
    assert list(keep.epochs) == [1] and len(keep.states) == 1


def test_last_weights_needs_one_epoch_at_least() -> None:
    with pytest.raises(ValueError, match="LastWeights: n must be at least 1, got 0"):
        LastWeights(0)
