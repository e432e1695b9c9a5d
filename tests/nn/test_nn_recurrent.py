"""RNN, LSTM, GRU and their cells, checked against PyTorch with the same weights and by finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import chainrule as cr
from chainrule import nn
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from helpers import check_against_torch, check_gradcheck

KINDS = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # PyTorch's thread pool only slows these tiny layers down (and stalls on a busy machine)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(kind: str, *args, dtype=torch.float32, **kw) -> tuple[nn.Module, torch.nn.Module]:
    """The same layer in both libraries, PyTorch's weights copied into ours."""
    if kind.startswith("RNN"):
        kw["nonlinearity"] = kind[4:].lower()
        name = "RNN"
    else:
        name = kind
    theirs = getattr(torch.nn, name)(*args, **kw).to(dtype)
    ours = getattr(nn, name)(*args, **kw, dtype=str(dtype).replace("torch.", ""))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _compare(
    kind: str,
    *,
    seq_len: int = 5,
    batch: int = 3,
    in_size: int = 4,
    hidden: int = 6,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    bias: bool = True,
    with_h0: bool = False,
    lengths: list[int] | None = None,
    unbatched: bool = False,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> None:
    """Outputs, final states and the gradient of the input, initial states and every parameter."""
    ours, theirs = _pair(
        kind, in_size, hidden, num_layers=num_layers, bias=bias, batch_first=batch_first,
        bidirectional=bidirectional, dtype=dtype,
    )  # fmt: skip
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-10}
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    if unbatched:
        shape = (seq_len, in_size)
    else:
        shape = (batch, seq_len, in_size) if batch_first else (seq_len, batch, in_size)
    x = rng.standard_normal(shape).astype(np_dtype)
    state_shape = (num_layers * D, hidden) if unbatched else (num_layers * D, batch, hidden)
    lstm = kind == "LSTM"
    states = [rng.standard_normal(state_shape).astype(np_dtype) for _ in range(2 if lstm else 1)]

    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    st_t = [torch.tensor(s, requires_grad=True) for s in states]
    st_c = [cr.tensor(s, requires_grad=True) for s in states]
    hx_t = hx_c = None
    if with_h0:
        hx_t = tuple(st_t) if lstm else st_t[0]
        hx_c = tuple(st_c) if lstm else st_c[0]

    if lengths is None:
        out_t, fin_t = theirs(xt, hx_t)
    else:
        lens_t = torch.tensor(lengths._array if isinstance(lengths, cr.Tensor) else lengths)
        packed = pack_padded_sequence(xt, lens_t, batch_first=batch_first, enforce_sorted=False)
        out_p, fin_t = theirs(packed, hx_t)
        out_t, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=seq_len)
    out_c, fin_c = ours(xc, hx_c, lengths=lengths)
    fin_t = list(fin_t) if lstm else [fin_t]
    fin_c = list(fin_c) if lstm else [fin_c]

    loss_t, loss_c = 0, 0
    for i, (a, b) in enumerate(zip([out_c, *fin_c], [out_t, *fin_t], strict=True)):
        assert a.shape == tuple(b.shape), f"output {i}: shape {a.shape}, PyTorch {tuple(b.shape)}"
        assert a.dtype == np_dtype
        np.testing.assert_allclose(a._array, b.detach().numpy(), **tol, err_msg=f"output {i}")
        c = rng.standard_normal(a.shape).astype(np_dtype)
        loss_t = loss_t + (b * torch.tensor(c)).sum()
        loss_c = loss_c + (a * cr.tensor(c)).sum()
    loss_t.backward()
    loss_c.backward()
    grads = [(xc, xt, "input")]
    if with_h0:
        grads += [(c, t, f"state {i}") for i, (c, t) in enumerate(zip(st_c, st_t, strict=True))]
    theirs_params = dict(theirs.named_parameters())
    grads += [(p, theirs_params[name], name) for name, p in ours.named_parameters()]
    for c, t, name in grads:
        assert c.grad is not None, f"{name}: no gradient"
        np.testing.assert_allclose(c.grad._array, t.grad.numpy(), **tol, err_msg=f"gradient of {name}")


# ---------------------------------------------------------------- construction
@pytest.mark.parametrize("kind", KINDS)
def test_parameter_names_shapes_and_repr_match_pytorch(kind):
    options = {"num_layers": 3, "bidirectional": True, "bias": False, "batch_first": True, "dropout": 0.5}
    for kw in ({}, options):
        ours, theirs = _pair(kind, 5, 7, **kw)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in theirs.named_parameters()
        ]
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert repr(ours) == repr(theirs)
        assert [[tuple(p.shape) for p in ws] for ws in ours.all_weights] == [
            [tuple(p.shape) for p in ws] for ws in theirs.all_weights
        ]
    ours.flatten_parameters()  # accepted, nothing to do


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_parameters_and_repr_match_pytorch(name):
    kws = [{}, {"bias": False}] + ([{"nonlinearity": "relu"}] if name == "RNNCell" else [])
    for kw in kws:
        ours, theirs = getattr(nn, name)(3, 5, **kw), getattr(torch.nn, name)(3, 5, **kw)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in theirs.named_parameters()
        ]
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("layer", [lambda: nn.LSTM(3, 100, num_layers=2), lambda: nn.GRUCell(3, 100)])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(layer):
    m = layer()
    bound = 1 / math.sqrt(100)
    values = np.concatenate([p._array.ravel() for p in m.parameters()])
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert np.abs(values).max() <= bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)


def test_state_dict_moves_both_ways():
    ours, theirs = _pair("GRU", 3, 4, num_layers=2, bidirectional=True)
    fresh = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    fresh.load_state_dict({k: torch.tensor(v._array) for k, v in ours.state_dict().items()})
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(fresh(x)[0], theirs(x)[0])


# ------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("batch_first", "with_h0"), [(False, False), (True, True), (False, True)])
def test_layers_match_pytorch(kind, num_layers, bidirectional, batch_first, with_h0):
    _compare(
        kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, with_h0=with_h0
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_without_bias_and_unbatched_match_pytorch(kind, bidirectional):
    _compare(kind, bidirectional=bidirectional, bias=False, num_layers=2)
    _compare(kind, bidirectional=bidirectional, unbatched=True, with_h0=True, num_layers=2)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("num_layers", "batch_first"), [(1, False), (2, True)])
def test_lengths_match_packed_sequences(kind, bidirectional, num_layers, batch_first):
    # unsorted, with ties, the longest equal to T and one sequence of a single step
    lengths = [3, 6, 1, 3, 5]
    for with_h0 in (False, True):
        _compare(
            kind, seq_len=6, batch=5, lengths=lengths, bidirectional=bidirectional, num_layers=num_layers,
            batch_first=batch_first, with_h0=with_h0,
        )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_sorted_or_full_take_the_fast_paths(kind):
    _compare(kind, seq_len=4, batch=3, lengths=[4, 2, 1], bidirectional=True, with_h0=True)
    _compare(kind, seq_len=4, batch=3, lengths=cr.tensor([4, 4, 4]), bidirectional=True)


def test_padding_changes_nothing():
    m = nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    lengths = [2, 5]
    x2 = x.copy()
    x2[0, 2:] = 100.0  # different padding
    runs = []
    for data in (x, x2):
        xc = cr.tensor(data, requires_grad=True)
        out, (h, c) = m(xc, lengths=lengths)
        (out.sum() + h.sum() + c.sum()).backward()
        runs.append((out._array, h._array, c._array, xc.grad._array))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    out = runs[0][0]
    assert not out[0, 2:].any(), "outputs at padded steps are zero"
    assert not runs[0][3][0, 2:].any(), "padded inputs get no gradient"


_CONFIGS = st.fixed_dictionaries(
    {
        "seq_len": st.integers(1, 5),
        "batch": st.integers(1, 4),
        "in_size": st.integers(1, 4),
        "hidden": st.integers(1, 5),
        "num_layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "batch_first": st.booleans(),
        "bias": st.booleans(),
        "with_h0": st.booleans(),
    }
)


@given(kind=st.sampled_from(KINDS), config=_CONFIGS, data=st.data())
def test_random_configurations_match_pytorch(kind, config, data):
    n = config["batch"]
    some_lengths = st.lists(st.integers(1, config["seq_len"]), min_size=n, max_size=n)
    lengths = data.draw(st.none() | some_lengths, label="lengths")
    _compare(kind, **config, lengths=lengths, dtype=torch.float64)


# ----------------------------------------------------------------------- cells
_CELL_FUNCTIONS = {
    "RNNCell": torch.rnn_tanh_cell,
    "LSTMCell": lambda x, hc, *w: torch.lstm_cell(x, hc, *w),
    "GRUCell": torch.gru_cell,
}


@pytest.mark.parametrize("name", ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_pytorch_cells(name, bias):
    name, _, act = name.partition("-")
    kw = {"nonlinearity": act} if act else {}
    ours = getattr(nn, name)(4, 5, bias=bias, **kw)
    theirs = getattr(torch.nn, name)(4, 5, bias=bias, **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    h, c = rng.standard_normal((2, 3, 5)).astype(np.float32)
    lstm = name == "LSTMCell"
    names = [n for n, _ in ours.named_parameters()]
    params = [p.detach().numpy() for p in theirs.parameters()]

    # every input of the cell, its weights included, gets its gradient checked
    def ours_fn(x, h, c, *w):
        return _call_cell(ours, dict(zip(names, w, strict=True)), x, (h, c) if lstm else h)

    def theirs_fn(x, h, c, *w):
        fn = torch.rnn_relu_cell if act == "relu" else _CELL_FUNCTIONS[name]
        args = list(w) if bias else [*w, None, None]
        return fn(x, (h, c) if lstm else h, *args)

    check_against_torch(ours_fn, theirs_fn, [x, h, c, *params], rtol=1e-5, atol=1e-6)
    # unbatched input, and no initial state
    out_c, out_t = ours(cr.tensor(x[0])), theirs(torch.tensor(x[0]))
    for a, b in zip(out_c if lstm else [out_c], out_t if lstm else [out_t], strict=True):
        assert a.shape == tuple(b.shape) == (5,)
        np.testing.assert_allclose(a._array, b.detach().numpy(), rtol=1e-5, atol=1e-6)


def _call_cell(cell, weights, x, hx):
    """Run ``cell`` with its parameters replaced by the given tensors (so they get gradients)."""
    saved = dict(cell._parameters)
    try:
        for name, w in weights.items():
            cell._parameters[name] = w
        return cell(x, hx)
    finally:
        cell._parameters.update(saved)


def test_one_layer_twice_in_a_graph_and_reused_work_buffers():
    # the layers reuse large work arrays between calls: a layer applied twice before one
    # backward, a graph kept with retain_graph and a no_grad call in between must not mix them up
    ours, theirs = _pair("LSTM", 4, 64, num_layers=2, bidirectional=True)  # arrays large enough to reuse
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 40, 8, 4)).astype(np.float32)
    c = rng.standard_normal((40, 8, 128)).astype(np.float32)

    def loss(lib, model):
        a, _ = model(lib.tensor(x1))
        b, (h, _) = model(lib.tensor(x2))
        return (a * lib.tensor(c)).sum() + (b * b).sum() + h.sum()

    lt = loss(torch, theirs)
    lt.backward()
    lc = loss(cr, ours)
    with cr.no_grad():
        ours(cr.tensor(x1))
    lc.backward(retain_graph=True)
    first = {n: p.grad._array.copy() for n, p in ours.named_parameters()}
    with cr.no_grad():
        ours(cr.tensor(x2))
    ours.zero_grad()
    lc.backward()
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(first[name], theirs_params[name].grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(p.grad._array, first[name])
    np.testing.assert_allclose(lc.item(), lt.item(), rtol=1e-5)


def test_returned_outputs_are_never_reused_while_referenced():
    m = nn.LSTM(4, 64)  # large enough for the layer to recycle its output arrays
    x = cr.randn(40, 8, 4)
    kept = []
    for i in range(12):
        grad_mode = cr.no_grad() if i % 2 else cr.enable_grad()
        with grad_mode:
            out, (h, c) = m(x * (i + 1))
        if i % 3 == 0:
            kept.append((out._array[5:9], out._array[5:9].copy()))  # a NumPy view of the output
        elif i % 3 == 1:
            kept.append((h._array, h._array.copy()))
        else:
            if out.requires_grad:
                out.sum().backward()
            kept.append((c[0]._array, c[0]._array.copy()))
    for view, values in kept:
        np.testing.assert_array_equal(view, values)


# ------------------------------------------------------- finite differences
def _layer_inputs(kind, seq_len=3, batch=2, in_size=2, hidden=2, seed=0):
    rng = np.random.default_rng(seed)
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind] * hidden
    arrays = [
        rng.standard_normal((seq_len, batch, in_size)),
        rng.standard_normal((gates, in_size)) * 0.7,
        rng.standard_normal((gates, hidden)) * 0.7,
        rng.standard_normal(gates) * 0.5,
        rng.standard_normal(gates) * 0.5,
        rng.standard_normal((batch, hidden)),
    ]
    if kind == "LSTM":
        arrays.append(rng.standard_normal((batch, hidden)))
    return arrays


_LAYER_FNS = {"RNN": rnn_layer, "LSTM": lstm_layer, "GRU": gru_layer}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_short_sequences(kind, reverse):
    fn = _LAYER_FNS[kind]
    check_gradcheck(lambda *a: fn(*a, reverse=reverse), _layer_inputs(kind))
    # variable lengths: a batch sorted longest first, batch_sizes[t] = sequences longer than t
    inputs = _layer_inputs(kind, seq_len=3, batch=3, seed=1)
    check_gradcheck(
        lambda *a: fn(*a, reverse=reverse, batch_sizes=(3, 2, 1), lengths=[3, 2, 1]), inputs
    )


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_cells(name):
    cell = getattr(nn, name)(2, 3, dtype=cr.float64)
    rng = np.random.default_rng(0)
    names = [n for n, _ in cell.named_parameters()]
    lstm = name == "LSTMCell"

    def fn(x, h, c, *w):
        return _call_cell(cell, dict(zip(names, w, strict=True)), x, (h, c) if lstm else h)

    params = [p._array.copy() for p in cell.parameters()]
    x, h, c = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    check_gradcheck(fn, [x, h, c, *params])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_five_thousand_steps_backpropagate(kind):
    m = getattr(nn, kind)(3, 8)
    x = np.random.default_rng(0).standard_normal((5000, 2, 3)).astype(np.float32)
    x = cr.tensor(x, requires_grad=True)
    out, h = m(x)
    (out.sum() + (h[0] if kind == "LSTM" else h).sum()).backward()
    grads = [x.grad._array, *(p.grad._array for p in m.parameters())]
    assert all(np.isfinite(g).all() for g in grads)
    assert np.abs(x.grad._array[0]).sum() > 0


# ------------------------------------------------------------------ dropout
def test_dropout_between_layers_only_in_training():
    cr.manual_seed(0)
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = cr.randn(5, 2, 3)
    cr.manual_seed(1)
    a = m(x)[0]._array
    cr.manual_seed(1)
    b = m(x)[0]._array
    np.testing.assert_array_equal(a, b)  # drawn from chainrule's seeded generator
    c = m(x)[0]._array
    assert not np.allclose(a, c)
    m.eval()
    np.testing.assert_array_equal(m(x)[0]._array, m(x)[0]._array)
    ours, theirs = _pair("GRU", 3, 4, num_layers=2, dropout=0.5)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(x)[0], theirs(torch.tensor(x._array))[0].detach().numpy(), atol=1e-6)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_dropout_of_one_zeroes_the_second_layers_input():
    m = nn.RNN(3, 4, num_layers=2, dropout=1.0)
    out, _ = m(cr.randn(5, 2, 3))
    # layer 2 sees zeros: its states depend on its biases only, the same for every sequence
    np.testing.assert_allclose(out._array[:, 0], out._array[:, 1])


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("bidirectional", "batch_first", "with_h0"), [(False, False, False), (True, True, True)]
)
def test_an_empty_batch_gives_empty_outputs_as_pytorch(kind, bidirectional, batch_first, with_h0):
    # a batch of 0 sequences: empty outputs of PyTorch's shapes, still in the graph (zero gradients)
    ours, theirs = _pair(kind, 3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    shape = (0, 5, 3) if batch_first else (5, 0, 3)
    x = cr.zeros(*shape, requires_grad=True)
    n_states = 2 if kind == "LSTM" else 1
    h0 = [cr.zeros(2 * (2 if bidirectional else 1), 0, 4, requires_grad=True) for _ in range(n_states)]
    hx = None if not with_h0 else (tuple(h0) if kind == "LSTM" else h0[0])
    out, h = ours(x, hx)
    t_out, t_h = theirs(torch.zeros(*shape))
    finals, t_finals = (h, t_h) if kind == "LSTM" else ((h,), (t_h,))
    assert out.shape == tuple(t_out.shape)
    assert [f.shape for f in finals] == [tuple(f.shape) for f in t_finals]
    (out.sum() + sum(f.sum() for f in finals)).backward()
    assert x.grad.shape == shape
    for p in ours.parameters():
        assert p.grad is not None and not p.grad.numpy().any()
    if with_h0:
        assert all(t.grad.shape == t.shape for t in h0)
    with pytest.raises(ValueError, match="Expected sequence length to be larger than 0"):
        ours(cr.zeros(*((2, 0, 3) if batch_first else (0, 2, 3))))


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_on_an_empty_batch_give_empty_states_as_pytorch(name):
    ours = getattr(nn, name)(3, 4)
    x = cr.zeros(0, 3, requires_grad=True)
    out = ours(x)
    states = out if isinstance(out, tuple) else (out,)
    t_out = getattr(torch.nn, name)(3, 4)(torch.zeros(0, 3))
    t_states = t_out if isinstance(t_out, tuple) else (t_out,)
    assert [s.shape for s in states] == [tuple(s.shape) for s in t_states]
    sum(s.sum() for s in states).backward()
    assert x.grad.shape == (0, 3) and not ours.weight_ih.grad.numpy().any()


def test_errors_name_the_layer_and_the_shapes():
    m = nn.LSTM(4, 6, num_layers=2)
    with pytest.raises(ValueError, match=r"in LSTM\(4, 6, num_layers=2\).*input has 5 features.*size is 4"):
        m(cr.randn(3, 2, 5))
    with pytest.raises(ValueError, match=r"2D \(unbatched\) or 3D, got 4D"):
        m(cr.randn(3, 2, 1, 4))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 6\).*got \(1, 2, 6\)"):
        m(cr.randn(3, 2, 4), (cr.zeros(1, 2, 6), cr.zeros(2, 2, 6)))
    with pytest.raises(ValueError, match=r"c_0 of shape \(2, 2, 6\)"):
        m(cr.randn(3, 2, 4), (cr.zeros(2, 2, 6), cr.zeros(2, 3, 6)))
    with pytest.raises(ValueError, match=r"tuple \(h_0, c_0\)"):
        m(cr.randn(3, 2, 4), cr.zeros(2, 2, 6))
    with pytest.raises(TypeError, match="dtype float64 does not match weight dtype float32"):
        m(cr.randn(3, 2, 4, dtype=cr.float64))
    g = nn.GRU(4, 6, batch_first=True)
    with pytest.raises(ValueError, match=r"in GRU.*h_0 of shape \(1, 2, 6\) for batched 3-D input, got \("):
        g(cr.randn(2, 3, 4), cr.zeros(2, 6))
    with pytest.raises(ValueError, match=r"every length must be between 1 and the 3 time steps.*got 4"):
        g(cr.randn(2, 3, 4), lengths=[4, 2])
    with pytest.raises(ValueError, match=r"between 1 and the 3 time steps.*got 0"):
        g(cr.randn(2, 3, 4), lengths=[0, 2])
    with pytest.raises(ValueError, match="got 3 lengths for a batch of 2 sequences"):
        g(cr.randn(2, 3, 4), lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="lengths must be a 1-D sequence of ints"):
        g(cr.randn(2, 3, 4), lengths=[1.5, 2.0])


def test_construction_and_cell_errors():
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match="bidirectional should be of type bool"):
        nn.LSTM(3, 4, bidirectional=1)
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"in LSTMCell\(3, 4\).*inconsistent input_size: got 2.*expected 3"):
        cell(cr.randn(2, 2))
    with pytest.raises(ValueError, match=r"hidden1 of shape \(2, 4\).*got \(2, 5\)"):
        cell(cr.randn(2, 3), (cr.zeros(2, 4), cr.zeros(2, 5)))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        nn.GRUCell(3, 4)(cr.randn(1, 2, 3))


def test_positional_arguments_follow_pytorch():
    m = nn.RNN(3, 4, 2, "relu", False, True, 0.0, True)
    settings = (m.num_layers, m.nonlinearity, m.bias, m.batch_first, m.bidirectional)
    assert settings == (2, "relu", False, True, True)
    assert repr(m) == repr(torch.nn.RNN(3, 4, 2, "relu", False, True, 0.0, True))
    lstm = nn.LSTM(3, 4, 2, False, True, 0.0, True)
    assert (lstm.bias, lstm.batch_first, lstm.bidirectional) == (False, True, True)


# ------------------------------------------------------------------ speed-related paths
def test_lstm_with_saturated_gates_matches_pytorch():
    """Pre-activations of +-50 (e^-x overflows to inf): sigma -> 0 or 1, tanh -> +-1, finite gradients."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, batch_first=True)
    ours = nn.LSTM(3, 5, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x0 = (np.random.default_rng(1).standard_normal((4, 6, 3)) * 60).astype(np.float32)
    c0 = np.random.default_rng(2).standard_normal((4, 6, 5)).astype(np.float32)
    xt = torch.tensor(x0, requires_grad=True)
    out_t, _ = ref(xt)
    (out_t * torch.tensor(c0)).sum().backward()
    x = cr.tensor(x0, requires_grad=True)
    out, _ = ours(x)
    (out * cr.tensor(c0)).sum().backward()
    np.testing.assert_allclose(out._array, out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(x.grad._array, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for name, p in ref.named_parameters():
        g = getattr(ours, name).grad._array
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_time_loops_run_blas_on_one_thread_and_restore_it():
    from chainrule import runtime
    from chainrule.ops import recurrent as ops_rec

    found = runtime.openblas_threads()
    if found is None:
        pytest.skip("NumPy's BLAS is not a bundled OpenBLAS: the loops leave threading alone")
    _setter, getter = found
    before = getter()
    seen = []

    class Spy:  # records the BLAS thread count while the recurrent loop's GEMMs run
        def __init__(self, real):
            self.real = real

        def __call__(self, *args, **kwargs):
            seen.append(getter())
            return self.real(*args, **kwargs)

    real = ops_rec._matmul
    ops_rec._matmul = Spy(real)
    runtime.set_compiled_kernels(False)  # the NumPy loops' GEMMs are the ones a spy can see
    try:
        lstm = nn.LSTM(3, 4)
        out, _ = lstm(cr.randn(5, 2, 3, requires_grad=True))
        out.sum().backward()
    finally:
        ops_rec._matmul = real
        runtime.set_compiled_kernels(True)
    assert getter() == before
    if before > 1:
        assert 1 in seen and before in seen  # per-step GEMMs on one thread, the others on all
    with pytest.raises(RuntimeError, match="boom"), runtime.serial_blas(1):
        raise RuntimeError("boom")
    assert getter() == before
    with runtime.serial_blas(runtime.SERIAL_MNK + 1):  # large per-step GEMMs keep every thread
        assert getter() == before
