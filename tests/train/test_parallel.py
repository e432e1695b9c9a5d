"""train.parallel, the Trainer's hook for data parallelism, with stand-in replicas (no MPI needed).

``Mirror`` plays rank 1 of 2 in a world where the other rank holds the same
data: sums double and gathers repeat. The means and metrics must then be
those of one process, and rank 1 must write no files and print nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import parallel
from chainrule.train.callbacks import EarlyStopping, ModelCheckpoint
from chainrule.train.metrics import ROCAUC, Accuracy
from chainrule.train.trainer import Trainer


class Mirror(parallel.Replicas):
    rank, world_size = 1, 2

    def __init__(self) -> None:
        self.sums = 0

    def sum(self, values):
        self.sums += 1
        return np.asarray(values, dtype=np.float64) * 2

    def gather(self, obj):
        return [obj, obj]


@pytest.fixture
def mirror():
    replicas = Mirror()
    parallel.install(replicas)
    try:
        yield replicas
    finally:
        parallel.install(None)


def test_alone_by_default():
    r = parallel.current()
    assert (r.rank, r.world_size) == (0, 1)
    loader = [1, 2]
    assert r.shard(loader, True) is loader and r.wrap(loader) is loader and r.gather(3) == [3]


def test_a_gathered_metric_is_computed_over_every_ranks_batches():
    rng = np.random.default_rng(0)
    out, target = rng.standard_normal((20, 3)), rng.integers(0, 3, 20)
    for metric in (Accuracy(), ROCAUC()):

        class Halves(parallel.Replicas):
            def gather(self, obj):  # rank 0 saw the first half, this rank the second
                return [[(out[:10], target[:10])], obj]

        gathered = parallel.GatheredMetric(metric, Halves())
        gathered.update(out[10:], target[10:])
        whole = type(metric)()
        whole.update(out, target)
        assert gathered.compute_global() == pytest.approx(whole.compute())
        assert gathered.compute() == metric.compute()  # the local, running value


def _data(n=48):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return TensorDataset(cr.tensor(x), cr.tensor((x[:, 0] > 0).astype(np.int64)))


def _fit(tmp_path, callbacks=()):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = Trainer(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=list(callbacks), progress=True)  # fmt: skip
    data = _data()
    return trainer, trainer.fit(DataLoader(data, batch_size=16), DataLoader(data, batch_size=16), epochs=2)


def test_a_non_zero_rank_logs_the_global_values_and_writes_nothing(tmp_path, mirror, capsys):
    trainer, history = _fit(tmp_path, [ModelCheckpoint(tmp_path / "ckpt"), EarlyStopping(patience=5)])
    assert not (tmp_path / "ckpt").exists()  # checkpoints come from rank 0
    assert capsys.readouterr().err == ""  # no progress bar either
    assert any(isinstance(c, EarlyStopping) for c in trainer._callbacks)  # decisions are taken everywhere
    assert mirror.sums >= 2 * 3 + 2  # a divergence check per step, the epoch totals, the stop flag
    parallel.install(None)
    _, alone = _fit(tmp_path / "alone")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], alone[key], rtol=1e-6, err_msg=key)
