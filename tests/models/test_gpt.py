"""cr.models.GPT: a PyTorch twin, causality, generation and sampling, and learning a tiny corpus."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.models import GPT, get_model
from chainrule.models.gpt import sample_logits
from chainrule.nn.transformer import generate_square_subsequent_mask
from chainrule.runtime import limit_threads
from helpers import check_gradcheck


@pytest.fixture(autouse=True, scope="module")
def _single_threaded():
    # These GEMMs are tiny: on a busy machine the BLAS and PyTorch thread pools only add
    # synchronisation (measured 10x slower at load 8 on 2 cores). One thread gives the same numbers.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with limit_threads(1):
        yield
    torch.set_num_threads(threads)


class TorchGPT(torch.nn.Module):
    """The same architecture from torch.nn, with the same state_dict keys: the oracle."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, bias=True, tie_weights=True):
        super().__init__()
        self.tok_emb = torch.nn.Embedding(vocab_size, n_embd)
        self.pos_emb = torch.nn.Embedding(block_size, n_embd)
        self.blocks = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(
                n_embd,
                n_head,
                4 * n_embd,
                0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
                bias=bias,
            )
            for _ in range(n_layer)
        )
        self.ln_f = torch.nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = torch.nn.Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(t)
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        logits = self.lm_head(self.ln_f(x))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


def twin(model: GPT, **config) -> TorchGPT:
    theirs = TorchGPT(**config)
    state = {k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()}
    theirs.load_state_dict(state)
    return theirs


def tiny(**kw) -> GPT:
    config = dict(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8)
    return GPT(**{**config, **kw})


def ids(rng: np.random.Generator, vocab: int, *shape: int) -> np.ndarray:
    return rng.integers(0, vocab, shape).astype(np.int64)


# ------------------------------------------------------------------ forward, loss, gradients
def test_logits_shape_and_loss() -> None:
    model = tiny()
    x = cr.tensor(ids(np.random.default_rng(0), 7, 3, 5))
    logits = model(x)
    assert logits.shape == (3, 5, 7) and logits.dtype == np.float32
    out, loss = model(x, x)
    assert out.shape == (3, 5, 7) and loss.shape == ()
    # an untrained model (logits near 0) scores about log(V)
    assert abs(loss.item() - math.log(7)) < 0.2


@given(
    n_layer=st.integers(1, 2),
    n_head=st.sampled_from([1, 2]),
    head_dim=st.sampled_from([2, 4]),
    vocab=st.integers(2, 11),
    block=st.integers(1, 6),
    n=st.integers(1, 3),
    bias=st.booleans(),
    tie=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_torch_twin(n_layer, n_head, head_dim, vocab, block, n, bias, tie, seed) -> None:
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, block + 1))
    config = dict(
        vocab_size=vocab, block_size=block, n_layer=n_layer, n_head=n_head, n_embd=n_head * head_dim
    )
    cr.manual_seed(seed)
    model = GPT(**config, bias=bias, tie_weights=tie)
    # larger weights than GPT-2's init, so that attention and GELU are far from linear
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    theirs = twin(model, **config, bias=bias, tie_weights=tie)
    x = ids(rng, vocab, n, t)
    y = ids(rng, vocab, n, t)
    y[rng.random(y.shape) < 0.3] = -100  # ignored positions
    y[0, 0] = 0  # at least one counted position
    logits, loss = model(cr.tensor(x), cr.tensor(y))
    tlogits, tloss = theirs(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(logits.numpy(), tlogits.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5, atol=1e-6)

    c = rng.standard_normal(logits.shape).astype(
        np.float32
    )  # a random cotangent on the logits, plus the loss
    (loss + (logits * cr.tensor(c)).sum()).backward()
    (tloss + (tlogits * torch.tensor(c)).sum()).backward()
    theirs_grads = dict(theirs.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(
            p.grad.numpy(), theirs_grads[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


def test_gradcheck_float64() -> None:
    model = tiny(vocab_size=4, block_size=4, n_embd=4, tie_weights=True).double()
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    x, y = cr.tensor(ids(rng, 4, 2, 3)), cr.tensor(ids(rng, 4, 2, 3))
    params = list(model.parameters())

    def loss(*_: cr.Tensor) -> cr.Tensor:
        return model(x, y)[1]

    assert cr.autograd.gradcheck(loss, params)
    # and through the inputs of a block alone, with the causal mask
    block = model.blocks[0]
    h = rng.normal(0, 1, (2, 3, 4))
    mask = generate_square_subsequent_mask(3, dtype=cr.float64)
    check_gradcheck(lambda a: block(a, src_mask=mask, is_causal=True), [h])


def test_causal_later_tokens_do_not_change_earlier_logits() -> None:
    model = tiny(n_layer=2)
    rng = np.random.default_rng(2)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    x = ids(rng, 7, 2, 8)
    base = model(cr.tensor(x)).numpy()
    for j in range(8):
        changed = x.copy()
        changed[:, j] = (changed[:, j] + 1) % 7
        out = model(cr.tensor(changed)).numpy()
        np.testing.assert_allclose(out[:, :j], base[:, :j], rtol=1e-6, atol=1e-6)
        assert not np.allclose(out[:, j], base[:, j])  # the changed position itself does change


def test_tied_and_untied_heads() -> None:
    tied, untied = tiny(tie_weights=True), tiny(tie_weights=False)
    assert tied.lm_head.weight is tied.tok_emb.weight
    assert untied.lm_head.weight is not untied.tok_emb.weight
    n_tied = sum(p.numel() for p in tied.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_tied == 7 * 8
    assert set(tied.state_dict()) == set(untied.state_dict())  # same keys: files load either way


def test_gpt2_initialisation() -> None:
    model = GPT(vocab_size=50, block_size=64, n_layer=3, n_head=4, n_embd=96)
    for w in (model.tok_emb.weight, model.pos_emb.weight, model.blocks[0].linear1.weight):
        assert abs(w.numpy().std() - 0.02) < 0.002
    for block in model.blocks:
        for w in (block.self_attn.out_proj.weight, block.linear2.weight):
            assert abs(w.numpy().std() - 0.02 / math.sqrt(6)) < 0.001
        assert not block.linear1.bias.numpy().any()
    assert (model.ln_f.weight.numpy() == 1).all()


def test_bias_false_drops_every_bias() -> None:
    model = tiny(bias=False)
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]


def test_bad_inputs_name_the_model() -> None:
    model = tiny()
    with pytest.raises(ValueError, match=r"GPT.*longer than block_size=8"):
        model(cr.tensor(np.zeros((1, 9), dtype=np.int64)))
    with pytest.raises(TypeError, match=r"GPT.*integer token ids"):
        model(cr.tensor(np.zeros((1, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"GPT.*shape \(N, T\)"):
        model(cr.tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"GPT: token id 7 is out of range"):
        model(cr.tensor(np.array([[1, 7]])))
    with pytest.raises(ValueError, match=r"GPT: targets must have the shape"):
        model(cr.tensor(np.zeros((2, 3), dtype=np.int64)), cr.tensor(np.zeros((2, 4), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"GPT: n_embd \(10\) must be divisible by n_head \(4\)"):
        GPT(5, 4, n_head=4, n_embd=10)
    with pytest.raises(ValueError, match=r"GPT: vocab_size must be a positive int"):
        GPT(0, 4)


# ------------------------------------------------------------------ generation
def test_generate_shapes_and_prompt_kept() -> None:
    model = tiny()
    prompt = np.array([1, 2, 3])
    out = model.generate(prompt, 5)
    assert out.shape == (8,) and out.dtype == np.int64 and not out.requires_grad
    assert (out.numpy()[:3] == prompt).all()
    assert ((out.numpy() >= 0) & (out.numpy() < 7)).all()
    batch = model.generate(cr.tensor(np.array([[1, 2], [3, 4], [5, 6]])), 4)
    assert batch.shape == (3, 6)
    assert model.generate(prompt, 0).numpy().tolist() == [1, 2, 3]


def test_generate_crops_the_context_to_block_size() -> None:
    model = tiny(block_size=4)
    rng = np.random.default_rng(3)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    long_prompt = ids(rng, 7, 2, 10)  # longer than block_size: only its last 4 tokens count
    out = model.generate(long_prompt, 6, temperature=0)
    assert out.shape == (2, 16)
    cropped = model.generate(long_prompt[:, -4:], 6, temperature=0)
    np.testing.assert_array_equal(out.numpy()[:, 10:], cropped.numpy()[:, 4:])


def test_generate_greedy_is_the_argmax() -> None:
    model = tiny()
    rng = np.random.default_rng(4)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    prompt = ids(rng, 7, 3, 2)
    greedy = model.generate(prompt, 3, temperature=0).numpy()
    np.testing.assert_array_equal(greedy, model.generate(prompt, 3, top_k=1).numpy())
    ctx = prompt
    for _ in range(3):  # the same steps by hand
        nxt = model(cr.tensor(ctx)).numpy()[:, -1].argmax(-1)
        ctx = np.concatenate([ctx, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(greedy, ctx)


def test_generate_top_k_only_draws_the_k_most_likely() -> None:
    model = tiny()
    rng = np.random.default_rng(5)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 1.0, p.shape)
    prompt = np.tile(np.array([[3, 1, 4]]), (400, 1))  # 400 draws of the next token after the same prompt
    logits = model(cr.tensor(prompt[:1])).numpy()[0, -1]
    top3 = set(np.argsort(logits)[-3:].tolist())
    drawn = model.generate(prompt, 1, temperature=2.0, top_k=3).numpy()[:, -1]
    assert set(drawn.tolist()) <= top3
    assert len(set(drawn.tolist())) == 3  # at temperature 2 all three turn up in 400 draws


def test_generate_is_deterministic_under_a_seed() -> None:
    model = tiny()
    prompt = np.array([0, 1])
    a = model.generate(prompt, 20, generator=cr.Generator(7)).numpy()
    b = model.generate(prompt, 20, generator=cr.Generator(7)).numpy()
    c = model.generate(prompt, 20, generator=cr.Generator(8)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    cr.manual_seed(3)
    d = model.generate(prompt, 20).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(d, model.generate(prompt, 20).numpy())


def test_generate_runs_in_eval_mode_and_restores_the_mode() -> None:
    model = tiny(dropout=0.5)
    rng = np.random.default_rng(6)
    for p in model.parameters():
        p._array[...] = rng.normal(0, 0.5, p.shape)
    model.train()
    a = model.generate(np.array([1, 2]), 6, temperature=0).numpy()
    assert model.training
    b = model.generate(np.array([1, 2]), 6, temperature=0).numpy()  # no dropout noise: the same tokens
    np.testing.assert_array_equal(a, b)
    model.eval()
    model.generate(np.array([1, 2]), 1)
    assert not model.training


def test_generate_bad_arguments() -> None:
    model = tiny()
    with pytest.raises(ValueError, match=r"GPT.generate: prompt must be token ids of shape"):
        model.generate(np.zeros((0,), dtype=np.int64), 3)
    with pytest.raises(TypeError, match=r"GPT.generate: prompt must hold integer token ids"):
        model.generate(np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match=r"GPT.generate: max_new_tokens must be a non-negative int"):
        model.generate(np.array([1]), -1)
    with pytest.raises(ValueError, match=r"GPT.generate: temperature"):
        model.generate(np.array([1]), 1, temperature=-1.0)
    with pytest.raises(ValueError, match=r"GPT.generate: top_k must be a positive int"):
        model.generate(np.array([1]), 1, top_k=0)


def test_sample_logits_follows_the_temperature() -> None:
    logits = np.array([[2.0, 1.0, 0.0, -1.0]])
    rows = np.repeat(logits, 20000, axis=0)
    gen = cr.Generator(0)
    for temperature in (0.5, 1.0, 2.0):
        drawn = sample_logits(rows, temperature, generator=gen)
        freq = np.bincount(drawn, minlength=4) / len(drawn)
        p = np.exp(logits[0] / temperature) / np.exp(logits[0] / temperature).sum()
        np.testing.assert_allclose(freq, p, atol=0.015)
    np.testing.assert_array_equal(sample_logits(rows[:5], 0.0), np.zeros(5))
    # top_k renormalises over the k kept tokens
    drawn = sample_logits(rows, 1.0, top_k=2, generator=gen)
    freq = np.bincount(drawn, minlength=4) / len(drawn)
    np.testing.assert_allclose(freq, [1 / (1 + math.exp(-1)), 1 - 1 / (1 + math.exp(-1)), 0, 0], atol=0.015)


# ------------------------------------------------------------------ learning
def test_overfits_a_tiny_corpus_and_greedy_generation_reproduces_it() -> None:
    text = "the cat sat on the mat."
    alphabet = sorted(set(text))
    data = np.array([alphabet.index(c) for c in text])
    x, y = cr.tensor(data[None, :-1]), cr.tensor(data[None, 1:])
    model = GPT(len(alphabet), block_size=len(text), n_layer=2, n_head=2, n_embd=32)
    optimizer = cr.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(150):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    out = model.generate(data[:4], len(text) - 4, temperature=0).numpy()
    assert "".join(alphabet[i] for i in out) == text


def test_registered_in_the_model_registry() -> None:
    model = get_model("GPT", vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    assert isinstance(model, GPT)
