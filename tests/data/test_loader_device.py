"""DataLoader(device=...): each collated batch arrives on the device, tensors inside containers too."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule.data import DataLoader, Dataset, TensorDataset, move_to_device

DEVICE = [d for d in helpers.DEVICES if d != "cpu"][-1]  # a GPU when there is one, else the stand-in


class _Dicts(Dataset):
    """Samples as dicts holding an array, a nested (array, label) pair and a string."""

    def __init__(self, n: int) -> None:
        self.x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "pair": (self.x[i] * 2, i), "name": f"s{i}"}


def _data(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 4, n)


def test_batches_arrive_on_the_device_with_the_values_of_the_cpu_loader():
    x, y = _data()
    ds = TensorDataset(cr.tensor(x), cr.tensor(y))
    cpu = list(DataLoader(ds, batch_size=4))
    dev = list(DataLoader(ds, batch_size=4, device=DEVICE, pin_memory=True))
    assert len(dev) == len(cpu) == 3
    for (xc, yc), (xd, yd) in zip(cpu, dev, strict=True):
        assert xd.device.type == DEVICE and yd.device.type == DEVICE
        np.testing.assert_array_equal(xd.cpu().numpy(), xc.numpy())
        np.testing.assert_array_equal(yd.cpu().numpy(), yc.numpy())


def test_tensors_inside_dicts_and_tuples_move_other_values_stay():
    batch = next(iter(DataLoader(_Dicts(5), batch_size=2, device=cr.device(DEVICE))))
    assert batch["x"].device.type == DEVICE
    assert batch["pair"][0].device.type == DEVICE and batch["pair"][1].device.type == DEVICE
    assert batch["name"] == ["s0", "s1"]
    np.testing.assert_array_equal(batch["pair"][0].cpu().numpy(), [[0, 2, 4], [6, 8, 10]])


def test_with_worker_processes_the_move_happens_in_the_main_process():
    x, y = _data(12)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=4, num_workers=2, device=DEVICE)
    got = list(loader)
    assert [b[0].device.type for b in got] == [DEVICE] * 3
    np.testing.assert_array_equal(np.concatenate([b[0].cpu().numpy() for b in got]), x)


def test_the_loop_moving_batches_itself_still_works():
    x, y = _data()
    for xb, yb in DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=5):
        xb, yb = xb.to(DEVICE), yb.to(DEVICE)
        assert xb.device.type == DEVICE and yb.device.type == DEVICE


def test_move_to_device_keeps_container_types_and_leaves_arrays():
    t = cr.tensor([1.0, 2.0])
    arr = np.zeros(2)
    out = move_to_device({"a": [t, (t, arr)], "b": 3}, DEVICE)
    assert out["a"][0].device.type == DEVICE and isinstance(out["a"][1], tuple)
    assert out["a"][1][1] is arr and out["b"] == 3
    assert move_to_device(t, "cpu") is t


@pytest.mark.skipif(cr.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_device_is_refused_when_the_loader_is_made():
    x, y = _data()
    with pytest.raises(RuntimeError, match="DataLoader: device 'cuda' is not available"):
        DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), device="cuda")


def test_lengths_to_mask_is_made_where_the_lengths_are():
    from chainrule.data import lengths_to_mask

    lengths = cr.tensor(np.array([3, 1, 0]), device=DEVICE)
    mask = lengths_to_mask(lengths, max_len=4)
    assert mask.device.type == DEVICE
    np.testing.assert_array_equal(mask.cpu().numpy(), lengths_to_mask(np.array([3, 1, 0]), 4).numpy())
    with pytest.raises(ValueError, match="lengths must be >= 0, got -1"):
        lengths_to_mask(cr.tensor(np.array([2, -1]), device=DEVICE))
