"""The Trainer with models of several inputs: ((x, lengths), y) and ({"x": .., "lengths": ..}, y) batches.

An LSTM regressor on padded variable-length sequences (from collate_sequences)
is fitted, evaluated and used to predict; each result is checked against the
same model called by hand, and the (x, y) path is checked unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset, collate_sequences
from chainrule.train.trainer import Trainer


class SeqRegressor(nn.Module):
    """The last valid hidden state of an LSTM, then a linear head: one value per sequence."""

    def __init__(self, features: int = 3, hidden: int = 8) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, lengths=None):
        _, (h_n, _) = self.lstm(x, lengths=lengths)
        return self.head(h_n[0])


class Sums(cr.data.Dataset):
    """Sequences of 2..9 steps; the target is the mean of feature 0 (order-free, easy to learn)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seqs = [rng.standard_normal((int(rng.integers(2, 10)), 3)).astype(np.float32) for _ in range(n)]

    def __getitem__(self, i):
        s = self.seqs[i]
        return s, np.array([s[:, 0].mean()], np.float32)

    def __len__(self) -> int:
        return len(self.seqs)


def _as_dict(batches) -> list:
    """The same batches with the inputs as a dict: ({"x": .., "lengths": ..}, y)."""
    return [({"x": x, "lengths": lengths}, y) for (x, lengths), y in batches]


def _trainer(seed: int = 0, lr: float = 1e-2) -> Trainer:
    cr.manual_seed(seed)
    model = SeqRegressor()
    return Trainer(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=lr), metrics=["mae"], progress=0)


def _by_hand(model: nn.Module, batches) -> tuple[float, np.ndarray]:
    """Sample-weighted mean MSE and the concatenated outputs of ``model(x, lengths)`` in eval mode."""
    model.eval()
    total, count, outs = 0.0, 0, []
    with cr.no_grad():
        for (x, lengths), y in batches:
            out = model(x, lengths)
            total += float(((out - y) ** 2).mean().item()) * y.shape[0]
            count += y.shape[0]
            outs.append(out._array)
    return total / count, np.concatenate(outs)


def test_collate_sequences_batches_are_inputs_target_pairs() -> None:
    ds = Sums(5)
    (x, lengths), y = collate_sequences([ds[0], ds[1], ds[2]])
    assert x.shape == (3, max(len(ds.seqs[i]) for i in range(3)), 3)
    assert lengths.tolist() == [len(ds.seqs[i]) for i in range(3)] and y.shape == (3, 1)


def test_fit_evaluate_predict_on_padded_sequences_with_a_tuple_of_inputs() -> None:
    train = DataLoader(Sums(96), batch_size=16, shuffle=True, collate_fn=collate_sequences)
    val_batches = list(DataLoader(Sums(40, seed=1), batch_size=16, collate_fn=collate_sequences))
    trainer = _trainer()
    before, _ = _by_hand(trainer.model, val_batches)
    history = trainer.fit(train, val_batches, epochs=6)
    assert history.stopped_reason is None and len(history["loss"]) == 6
    after, expected = _by_hand(trainer.model, val_batches)
    assert after < 0.5 * before  # it learned, through the lengths
    result = trainer.evaluate(val_batches)
    assert result["loss"] == pytest.approx(after, rel=1e-5)
    assert history["val_loss"][-1] == pytest.approx(after, rel=1e-5)
    # predict takes ((x, lengths), y) and ((x, lengths),) batches
    for batches in (val_batches, [(inputs,) for inputs, _ in val_batches]):
        np.testing.assert_allclose(trainer.predict(batches)._array, expected, rtol=1e-6, atol=1e-7)


def test_dict_inputs_call_the_model_with_keywords_and_match_the_tuple_form() -> None:
    batches = list(DataLoader(Sums(48), batch_size=16, collate_fn=collate_sequences))
    as_tuple, as_dict = _trainer(seed=3), _trainer(seed=3)
    h1 = as_tuple.fit(batches, epochs=2)
    h2 = as_dict.fit(_as_dict(batches), epochs=2)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    dict_batches = _as_dict(batches)
    expected = as_tuple.evaluate(batches)["loss"]
    assert as_dict.evaluate(dict_batches)["loss"] == pytest.approx(expected, rel=1e-6)
    for predict_batches in (dict_batches, [inputs for inputs, _ in dict_batches]):
        np.testing.assert_allclose(
            as_dict.predict(predict_batches)._array, as_tuple.predict(batches)._array, rtol=1e-6, atol=1e-7
        )


def test_numpy_inputs_in_a_tuple_become_tensors() -> None:
    ds = Sums(16)
    (x, lengths), y = collate_sequences([ds[i] for i in range(16)])
    trainer = _trainer()
    np_batch = ((x._array, lengths._array), y._array)
    expected = trainer.evaluate([((x, lengths), y)])["loss"]
    assert trainer.evaluate([np_batch])["loss"] == pytest.approx(expected)


def test_plain_pairs_still_call_the_model_with_one_argument() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=8)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), metrics=None, progress=0)
    history = trainer.fit(loader, epochs=3)
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(trainer.predict(loader)._array, model(cr.tensor(x))._array, rtol=1e-6)


def test_inputs_that_do_not_fit_forward_get_a_clear_error() -> None:
    ds = Sums(8)
    (x, lengths), y = collate_sequences([ds[i] for i in range(8)])
    trainer = _trainer()
    with pytest.raises(TypeError, match=r"Trainer.fit: the batch inputs are a tuple of 3 inputs.*SeqRegr"):
        trainer.fit([((x, lengths, lengths), y)], epochs=1)
    with pytest.raises(TypeError, match=r"Trainer.evaluate: the batch inputs are a dict of inputs \['h', 'x"):
        trainer.evaluate([({"x": x, "h": lengths}, y)])
    with pytest.raises(TypeError, match=r"nest them, \(\(x, lengths\), y\)"):
        trainer.fit([(x, lengths, y)], epochs=1)
    with pytest.raises(TypeError, match=r"Trainer.predict: batch 0 is a tuple of 3 elements.*\(\(x, len"):
        trainer.predict([(x, lengths, y)])
