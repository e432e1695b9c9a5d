"""The compiled recurrent loops (numba) against the NumPy loops they replace, and their exp/tanh.

PyTorch checks the default path (the compiled one, where numba is installed)
in tests/nn/test_nn_recurrent.py; here the two paths meet each other on every
layer kind, direction, ragged lengths and thread count, and the NumPy path
stays tested as the fallback.
"""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
from chainrule import runtime  # noqa: E402
from chainrule.ops import compiled_math as cmath  # noqa: E402
from chainrule.ops import compiled_recurrent as compiled  # noqa: E402
from chainrule.ops import recurrent  # noqa: E402

pytestmark = pytest.mark.usefixtures("restore_runtime")

if compiled.SGEMM is None:  # pragma: no cover - NumPy without its own OpenBLAS
    pytest.skip("NumPy has no bundled OpenBLAS: the NumPy loops serve", allow_module_level=True)


@numba.njit
def _map(fn_id, x, out):
    for i in range(x.size):
        if fn_id == 0:
            out[i] = cmath.exp32(x[i])
        else:
            out[i] = cmath.tanh32(x[i])


def _apply(fn_id: int, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _map(fn_id, x, out)
    return out


def test_exp_matches_float64_to_a_float32_ulp():
    x = np.concatenate([np.linspace(-87, 88, 200_001), np.random.default_rng(0).standard_normal(10_000)])
    x = x.astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    rel = np.abs(_apply(0, x) - exact) / exact
    assert rel.max() < 1.2e-7  # float32's ulp is 1.19e-7 relative at most


def test_exp_clamps_its_range_and_keeps_nan():
    out = _apply(0, np.array([np.nan, np.inf, -np.inf, 1000, -1000], np.float32))
    assert np.isnan(out[0])
    assert np.isfinite(out[1:]).all() and out[1] > 1e38 and out[3] > 1e38
    assert 0 < out[2] < 1e-37 and 0 < out[4] < 1e-37  # e^-87: sigmoid's 1 / (1 + e^87) is still ~0


def test_tanh_is_precise_near_zero_and_saturates():
    rng = np.random.default_rng(1)
    x = np.concatenate([
        np.linspace(-12, 12, 100_001), rng.standard_normal(10_000) * 1e-3, np.geomspace(1e-30, 1e-2, 1000),
    ]).astype(np.float32)
    x = np.concatenate([x, -x])
    exact = np.tanh(x.astype(np.float64))
    ours = _apply(1, x)
    assert (np.abs(ours - exact) <= 2.5e-7 * np.abs(exact) + 1e-38).all()  # relative, down to denormals
    special = _apply(1, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32))
    assert special[0] == 0 and np.signbit(special[1]) and special[2] == 1 and special[3] == -1
    assert np.isnan(special[4])


def _run(kind: str, compiled_on: bool, threads: int, seed: int, reverse: bool, lengths: list | None,
         nb: int, nh: int, dtype=np.float32):
    """Outputs and every gradient of one layer node, on the compiled or the NumPy loops."""
    runtime.set_compiled_kernels(compiled_on)
    cr.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    gates = {"rnn": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}[kind]
    nt, ni = (max(lengths) if lengths else 6), 5
    x = rng.standard_normal((nt, nb, ni)).astype(dtype)
    if lengths:  # padded positions hold garbage: the loops must not read them
        for b, n in enumerate(lengths):
            x[n:, b] = 1e6
    # weights at PyTorch's init scale, 1/sqrt(H): larger ones make the loop chaotic, and rounding grows
    shapes = ((gates * nh, ni), (gates * nh, nh), (gates * nh,), (gates * nh,), (nb, nh))
    arrays = [x, *(rng.standard_normal(s) / np.sqrt(nh) for s in shapes)]
    arrays = [a.astype(dtype) for a in arrays]
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    kw = {"reverse": reverse}
    if lengths:
        kw |= {"lengths": lengths, "batch_sizes": [sum(n > t for n in lengths) for t in range(nt)]}
    if kind == "lstm":
        outs = recurrent.lstm_layer(*ts, ts[-1] * 0.5, **kw)
    elif kind == "gru":
        outs = recurrent.gru_layer(*ts, **kw)
    else:
        outs = recurrent.rnn_layer(*ts, nonlinearity="relu" if kind == "rnn_relu" else "tanh", **kw)
    cot = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    sum((o * cr.tensor(c)).sum() for o, c in zip(outs, cot, strict=True)).backward()
    return [o.numpy() for o in outs] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("kind", ["rnn", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_loops_match_the_numpy_loops(kind, reverse, ragged, threads):
    # 64 rows and hidden 256 make every kind's loop split over 2 threads (see recurrent.MIN_*)
    nb, nh = (64, 256) if threads == 2 else (3, 7)
    lengths = None
    if ragged:
        lengths = sorted(np.random.default_rng(nb).integers(1, 7, nb).tolist(), reverse=True)
        lengths[0] = 6
    seed = {"rnn": 1, "rnn_relu": 2, "gru": 3, "lstm": 4}[kind] + 10 * reverse
    ours = _run(kind, True, threads, seed, reverse, lengths, nb, nh)
    numpy_loops = _run(kind, False, threads, seed, reverse, lengths, nb, nh)
    for a, b in zip(ours, numpy_loops, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(b).max()))


def test_each_path_serves_what_it_should(monkeypatch):
    calls = []
    real = compiled.lstm_forward_rows

    def spy(*args):
        calls.append(args[0].dtype)
        return real(*args)

    monkeypatch.setattr(compiled, "lstm_forward_rows", spy)
    _run("lstm", True, 1, 0, False, None, 2, 3)
    assert calls == [np.float32]
    _run("lstm", True, 1, 0, False, None, 2, 3, dtype=np.float64)  # float64 (gradcheck's) keeps NumPy's
    _run("lstm", False, 1, 0, False, None, 2, 3)  # switched off
    assert calls == [np.float32]


def test_nan_in_the_input_reaches_the_output_on_both_paths():
    for on in (True, False):
        runtime.set_compiled_kernels(on)
        lstm = cr.nn.LSTM(3, 4)
        x = cr.randn(5, 2, 3)
        x[2, 1, 0] = float("nan")
        out, (h, c) = lstm(x)
        assert np.isnan(out.numpy()[2:, 1]).all() and np.isfinite(out.numpy()[:, 0]).all()
        assert np.isnan(h.numpy()[0, 1]).all() and np.isnan(c.numpy()[0, 1]).all()
