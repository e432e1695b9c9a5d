"""Models on a device: GPT's generation and BERT's masks and pooling give the CPU's results there."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule.models import GPT, BertConfig, BertModel
from chainrule.models.bert import mean_pool

DEVICE = [d for d in helpers.DEVICES if d != "cpu"][-1]


@pytest.mark.parametrize(
    "temperature,top_k", [(0.0, None), (1.0, None), (0.8, 3)], ids=["greedy", "sampled", "top_k"]
)
def test_gpt_generates_the_cpu_tokens_on_the_device(temperature, top_k):
    cr.manual_seed(0)
    cpu = GPT(13, 8, n_layer=1, n_head=2, n_embd=8)
    dev = copy.deepcopy(cpu).to(DEVICE)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    cr.manual_seed(1)
    ids_cpu = cpu.generate(prompt, 7, temperature=temperature, top_k=top_k)
    cr.manual_seed(1)
    ids_dev = dev.generate(cr.tensor(prompt, device=DEVICE), 7, temperature=temperature, top_k=top_k)
    assert ids_dev.device.type == DEVICE and ids_dev.shape == (2, 10)
    np.testing.assert_array_equal(ids_dev.cpu().numpy(), ids_cpu.numpy())


def test_bert_masks_and_mean_pool_on_the_device():
    config = BertConfig(
        vocab_size=17, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=8, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    cr.manual_seed(0)
    cpu = BertModel(config).eval()
    dev = copy.deepcopy(cpu).to(DEVICE)
    ids = np.random.default_rng(0).integers(1, 17, (3, 6))
    for mask in (np.ones((3, 6), np.int64), np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])):
        with cr.no_grad():
            out_cpu = cpu(cr.tensor(ids), cr.tensor(mask))
            # a host mask with device ids moves with them
            out_dev = dev(cr.tensor(ids, device=DEVICE), mask)
        hidden = out_dev.last_hidden_state
        assert hidden.device.type == DEVICE and out_dev.pooler_output.device.type == DEVICE
        expected = out_cpu.last_hidden_state.numpy()
        np.testing.assert_allclose(hidden.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)
        pooled = mean_pool(hidden, cr.tensor(mask, device=DEVICE))
        assert pooled.device.type == DEVICE
        np.testing.assert_allclose(
            pooled.cpu().numpy(), mean_pool(out_cpu.last_hidden_state, mask).numpy(), rtol=1e-5, atol=1e-6
        )
