"""Recurrent layers: RNN, LSTM and GRU over whole sequences, and their single-step cells.

Names, arguments, defaults, parameter names and shapes, gate order (LSTM
i, f, g, o; GRU r, z, n), initialisation (every weight and bias from
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))) and reprs are PyTorch's, so a
``state_dict`` moves between the two libraries unchanged. Each layer and
direction runs as one fused autograd node (:mod:`chainrule.ops.recurrent`):
one GEMM projects the inputs of all time steps, one GEMM per step carries
the state, and backpropagation through time is a loop, not a recursion.

Variable-length batches: ``forward(input, hx=None, lengths=None)``. With
``lengths`` (one int per sequence, padding at the end), padded steps change
nothing: their outputs are zero (as PyTorch's ``pad_packed_sequence`` gives),
the final states are taken at each sequence's own last step, and the reverse
direction starts there. This is PyTorch's ``pack_padded_sequence(...,
enforce_sorted=False)`` / ``pad_packed_sequence(..., total_length=T)``
round trip in one argument.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.dropout import dropout as _dropout
from chainrule.ops.recurrent import GRULayer, LSTMLayer, RNNLayer
from chainrule.ops.sequence import ReorderBatch
from chainrule.ops.shape import Cat, GetItem, Permute, Reshape
from chainrule.tensor import Tensor
from chainrule.validation import factory_device, is_int

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_size(owner: str, name: str, value: Any) -> int:
    if not is_int(value):
        raise TypeError(f"{owner}: {name} should be of type int, got: {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{owner}: {name} must be greater than zero, got {value}")
    return int(value)


def _floating_dtype(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)


def _parse_lengths(lengths: Any, nb: int, nt: int, owner: str) -> np.ndarray:
    # lengths decide the packed batch sizes (shapes and control flow), so they are read on the host
    # (PyTorch asks for CPU lengths); lengths on a device are copied once, explicitly
    arr = lengths._array if isinstance(lengths, Tensor) else lengths
    arr = devices.to_host(arr) if devices.is_device_array(arr) else np.asarray(arr)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(
            f"{owner}: lengths must be a 1-D sequence of ints (one per sequence), "
            f"got {arr.dtype} of shape {arr.shape}"
        )
    if arr.shape[0] != nb:
        raise ValueError(f"{owner}: got {arr.shape[0]} lengths for a batch of {nb} sequences")
    if nb and (arr.min() < 1 or arr.max() > nt):
        bad = int(arr.max()) if arr.max() > nt else int(arr.min())
        raise ValueError(
            f"{owner}: every length must be between 1 and the {nt} time steps of the input, got {bad}"
        )
    return arr.astype(np.int64, copy=False)


def _pack(lengths: np.ndarray, nt: int) -> tuple[np.ndarray | None, np.ndarray, tuple[int, ...]]:
    """Sort by length, longest first: ``(order or None if already sorted, sorted lengths, batch_sizes)``.

    ``batch_sizes[t]`` is how many sequences are longer than t: the rows computed at step t.
    """
    order = np.argsort(-lengths, kind="stable")
    ordered = lengths[order]
    if np.array_equal(order, np.arange(lengths.shape[0])):
        order = None
    batch_sizes = np.count_nonzero(ordered[:, None] > np.arange(nt), axis=0)
    return order, ordered, tuple(int(b) for b in batch_sizes)


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked, optionally bidirectional layers and their weights.

    ``mode`` is "RNN_TANH", "RNN_RELU", "LSTM" or "GRU". For layer k and
    direction d the parameters are ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (suffix ``_reverse`` for the backward
    direction), of shapes (gates*hidden, in), (gates*hidden, hidden),
    (gates*hidden,) and (gates*hidden,); ``in`` is input_size for layer 0 and
    num_directions*hidden_size above.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        factory_device(device, owner)
        if mode not in _GATES:
            raise ValueError(f"{owner}: unrecognized RNN mode {mode!r}; expected one of {list(_GATES)}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
            raise ValueError(
                f"{owner}: dropout should be a number in range [0, 1] representing the probability "
                f"of an element being zeroed, got {dropout!r}"
            )
        for name, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{owner}: {name} should be of type bool, got: {type(value).__name__}")
        self.mode = mode
        self.input_size = _check_size(owner, "input_size", input_size)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size)
        self.num_layers = _check_size(owner, "num_layers", num_layers)
        if proj_size != 0:
            raise ValueError(
                f"{owner}: proj_size={proj_size} (LSTM with projections) is not supported; "
                "put a Linear layer on the output instead"
            )
        self.proj_size = 0
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        dt = _floating_dtype(dtype)
        gate_size = _GATES[mode] * self.hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * num_directions
            for direction in range(num_directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [(gate_size, layer_input), (gate_size, self.hidden_size)]
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                for name, shape in zip(names, shapes, strict=True):
                    setattr(self, name, Parameter(np.empty(shape, dtype=dt)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Does nothing: PyTorch packs weights for cuDNN here; chainrule's weights need no packing."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction: ``[[w_ih, w_hh, b_ih, b_hh], ...]``."""
        return [[self._parameters[name] for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ----------------------------------------------------------------- forward
    def _states(self, hx: Any, batched: bool, nb: int, dtype: np.dtype) -> tuple[Tensor | None, ...]:
        """Check the initial state(s) and return them as (layers*directions, N, hidden) tensors."""
        owner = type(self).__name__
        lstm = self.mode == "LSTM"
        if hx is None:
            return (None, None) if lstm else (None,)
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"{owner}: hx must be a tuple (h_0, c_0) of two tensors, got {_what(hx)}")
            states, names = tuple(hx), ("h_0", "c_0")
        else:
            states, names = (hx,), ("h_0",)
        expected = (self.num_layers * (2 if self.bidirectional else 1), nb, self.hidden_size)
        out = []
        for state, name in zip(states, names, strict=True):
            if not isinstance(state, Tensor):
                raise TypeError(f"{owner}: {name} must be a Tensor, got {type(state).__name__}")
            want = expected if batched else (expected[0], expected[2])
            if state.shape != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise ValueError(
                    f"{owner}: expected {name} of shape {want} for {kind} input, got {state.shape}"
                )
            if state._array.dtype != dtype:
                raise TypeError(f"{owner}: {name} dtype {state.dtype} does not match weight dtype {dtype}")
            out.append(state if batched else Reshape.apply(state, expected))
        return tuple(out)

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:  # noqa: A002
        """Run the sequence; returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``).

        ``input`` is (T, N, input_size) ((N, T, input_size) with batch_first)
        or unbatched (T, input_size); ``hx`` the initial state(s), zeros if
        None; ``lengths`` the length of each sequence when the batch is padded.
        ``output`` holds the last layer's hidden state at every step (both
        directions concatenated), ``h_n``/``c_n`` every layer's final states,
        shaped (num_layers * num_directions, N, hidden_size).
        """
        owner = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{owner}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{owner}: Expected input to be 2D (unbatched) or 3D, got {input.ndim}D "
                f"(shape {input.shape}) instead"
            )
        params = self._parameters
        dtype = params[self._all_weights[0][0]]._array.dtype
        if input._array.dtype != dtype:
            raise TypeError(
                f"{owner}: input dtype {input.dtype} does not match weight dtype {dtype}; "
                f"convert the input (x.to({dtype})) or the model"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input has {input.shape[-1]} features (input of shape {input.shape}) "
                f"but input_size is {self.input_size}"
            )
        batched = input.ndim == 3
        batch_first = self.batch_first and batched
        x = input
        if batched:
            nb, nt = (input.shape[0], input.shape[1]) if batch_first else (input.shape[1], input.shape[0])
        else:
            nt, nb = input.shape[0], 1
            x = Reshape.apply(input, (nt, 1, self.input_size))
        if nt == 0:  # PyTorch's rule and message
            raise ValueError(
                f"{owner}: Expected sequence length to be larger than 0, got input of shape {input.shape}"
            )
        states = self._states(hx, batched, nb, dtype)
        if nb == 0:
            return self._empty_batch(x, states, nt, batch_first)
        batch_sizes = ordered = order = None
        if lengths is not None:
            lens = _parse_lengths(lengths, nb, nt, owner)
            if not np.all(lens == nt):
                order, ordered, batch_sizes = _pack(lens, nt)
        if order is not None:
            x = ReorderBatch.apply(x, order, 0 if batch_first else 1)
            states = tuple(None if s is None else ReorderBatch.apply(s, order, 1) for s in states)

        mode, lstm = self.mode, self.mode == "LSTM"
        layer_fn = LSTMLayer if lstm else (GRULayer if mode == "GRU" else RNNLayer)
        options = {"batch_sizes": batch_sizes, "lengths": ordered}
        if mode == "RNN_RELU":
            options["relu"] = True
        n_dir = 2 if self.bidirectional else 1
        h_parts, c_parts = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(n_dir):
                k = layer * n_dir + d
                w = [params[name] for name in self._all_weights[k]]
                if not self.bias:
                    w += [None, None]
                init_states = [None if s is None else GetItem.apply(s, k) for s in states]
                packed = layer_fn.apply(
                    x, *w, *init_states, reverse=d == 1, batch_first=batch_first and layer == 0, **options
                )
                off = 0 if d == 1 else 1
                outs.append(GetItem.apply(packed, slice(off, off + nt)))
                h_parts.append(GetItem.apply(packed, slice(nt + 1, nt + 2)))
                if lstm:
                    c_parts.append(GetItem.apply(packed, slice(nt + 2, nt + 3)))
            x = outs[0] if n_dir == 1 else Cat.apply(*outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = _dropout(x, self.dropout, True)

        output = x  # time-major (T, N, D*H)
        finals = [h_parts[0] if len(h_parts) == 1 else Cat.apply(*h_parts, dim=0)]
        if lstm:
            finals.append(c_parts[0] if len(c_parts) == 1 else Cat.apply(*c_parts, dim=0))
        if order is not None:
            output = ReorderBatch.apply(output, np.argsort(order), 1)
            finals = [ReorderBatch.apply(f, np.argsort(order), 1) for f in finals]
        if not batched:
            output = Reshape.apply(output, (nt, n_dir * self.hidden_size))
            finals = [Reshape.apply(f, (f.shape[0], self.hidden_size)) for f in finals]
        elif batch_first:
            output = Permute.apply(output, (1, 0, 2))
        return output, (tuple(finals) if lstm else finals[0])

    def _empty_batch(self, x: Tensor, states: tuple, nt: int, batch_first: bool) -> tuple[Tensor, Any]:
        """The outputs for a batch of 0 sequences, as PyTorch (see :func:`_empty_in_graph`)."""
        n_dir, h, lstm = 2 if self.bidirectional else 1, self.hidden_size, self.mode == "LSTM"
        finals = [(self.num_layers * n_dir, 0, h)] * (2 if lstm else 1)
        out_shape = (0, nt, n_dir * h) if batch_first else (nt, 0, n_dir * h)
        output, *finals = _empty_in_graph([x, *self._parameters.values(), *states], [out_shape, *finals])
        return output, (tuple(finals) if lstm else finals[0])


def _empty_in_graph(inputs: list[Tensor | None], shapes: list[tuple[int, ...]]) -> list[Tensor]:
    """Empty tensors of ``shapes`` (a batch of 0) that are still in the graph of ``inputs`` (the input,
    the weights, the given states), whose gradients are sums over no values, zeros, as in PyTorch; the
    recurrent kernels cannot run on an empty batch, and there is nothing for them to compute."""
    present = [t for t in inputs if t is not None]
    anchor = present[0].sum() * 0.0
    for t in present[1:]:
        anchor = anchor + t.sum() * 0.0
    xp, dtype = devices.array_module(present[0]._array), present[0]._array.dtype
    return [anchor + Tensor._make(xp.zeros(shape, dtype), None) for shape in shapes]


def _what(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU), stacked, bidirectional.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``, PyTorch's argument
    order (nonlinearity is the fourth positional argument).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("RNN: proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates decide what the cell state keeps, takes in and shows.

    i, f, g, o = sigma, sigma, tanh, sigma of ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``
    (PyTorch's gate order); ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``. The
    additive cell update lets gradients cross many steps without vanishing.
    Returns ``(output, (h_n, c_n))``. ``proj_size`` must stay 0 (projections are not supported).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: ``h' = (1 - z) * n + z * h`` with reset (r) and update (z) gates.

    r, z = sigma(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z}),
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), PyTorch's gate order and
    equations (r multiplies after W_hn, as in cuDNN).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("GRU: proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """One time step of a recurrent layer: ``weight_ih`` (gates*hidden, in), ``weight_hh``, biases."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_device(device, type(self).__name__)
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_size(owner, "input_size", input_size)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size)
        if not isinstance(bias, bool):
            raise TypeError(f"{owner}: bias should be of type bool, got: {type(bias).__name__}")
        self.bias = bias
        dt = _floating_dtype(dtype)
        gates = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((gates, self.input_size), dtype=dt))
        self.weight_hh = Parameter(np.empty((gates, self.hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.empty(gates, dtype=dt))
            self.bias_hh = Parameter(np.empty(gates, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = self.__dict__.get("nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _run(self, fn: type[Function], input: Tensor, hx: Any, n_states: int, **options: Any) -> list:  # noqa: A002
        """Check shapes, run ``fn`` for one step and return the new state(s), batched like the input."""
        owner = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{owner}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{owner}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        p = self._parameters
        dtype = p["weight_ih"]._array.dtype
        if input._array.dtype != dtype:
            raise TypeError(f"{owner}: input dtype {input.dtype} does not match weight dtype {dtype}")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input has inconsistent input_size: got {input.shape[-1]} "
                f"(input of shape {input.shape}), expected {self.input_size}"
            )
        batched = input.ndim == 2
        nb = input.shape[0] if batched else 1
        x = input if batched else Reshape.apply(input, (1, self.input_size))
        states: list[Tensor | None] = [None] * n_states
        if hx is not None:
            given = list(hx) if n_states == 2 and isinstance(hx, (tuple, list)) else [hx]
            if len(given) != n_states:
                raise ValueError(f"{owner}: hx must be a tuple (h, c) of two tensors, got {_what(hx)}")
            for j, h in enumerate(given):
                name = f"hidden{j}" if n_states == 2 else "hidden"
                if not isinstance(h, Tensor):
                    raise TypeError(f"{owner}: {name} must be a Tensor, got {type(h).__name__}")
                if h.ndim not in (1, 2):
                    raise ValueError(f"{owner}: Expected hidden to be 1D or 2D, got {h.ndim}D instead")
                want = (nb, self.hidden_size) if batched else (self.hidden_size,)
                if h.shape != want:
                    raise ValueError(
                        f"{owner}: expected {name} of shape {want} for input of shape {input.shape}, "
                        f"got {h.shape}"
                    )
                if h._array.dtype != dtype:
                    raise TypeError(f"{owner}: {name} dtype {h.dtype} does not match weight dtype {dtype}")
                states[j] = h if batched else Reshape.apply(h, (1, self.hidden_size))
        if nb == 0:
            return _empty_in_graph([x, *p.values(), *states], [(0, self.hidden_size)] * n_states)
        packed = fn.apply(
            x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], *states,
            reverse=False, batch_sizes=None, batch_first=False, lengths=None, **options,
        )  # fmt: skip
        # one time step: rows 2 and 3 of R are the new hidden and cell states
        rows = (2, 3)[:n_states]
        return [GetItem.apply(packed, r if batched else (r, 0)) for r in rows]


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """The next hidden state, (N, hidden_size) (or (hidden_size,) for unbatched input)."""
        return self._run(RNNLayer, input, hx, 1, relu=self.nonlinearity == "relu")[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): returns ``(h', c')``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        """The next hidden and cell states from ``hx = (h, c)`` (zeros if None)."""
        h, c = self._run(LSTMLayer, input, hx, 2)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): returns ``h'``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """The next hidden state from ``hx`` (zeros if None)."""
        return self._run(GRULayer, input, hx, 1)[0]
