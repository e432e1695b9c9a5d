"""The fine-tuning recipe's parts: the sentence-grouped validation split and phase 2's parameter groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.apps.finetune.classifier import SentenceClassifier, TopLayers
from chainrule.apps.finetune.finetune import FinetuneConfig, param_groups
from chainrule.apps.finetune.split import grouped_split, phrase_groups

WORDS = ["the", "film", "is", "a", "good", "bad", "very", "plot", "story", "dull", "fun", "cast"]


# ------------------------------------------------------------------ phrase groups
def test_sub_phrases_join_the_longest_sentence_holding_them() -> None:
    texts = [
        "a very good film",  # 0: root
        "very good",  # 1: inside 0
        "the plot is a very good film indeed",  # 2: root, holds 0 and 1 too
        "good",  # 3
        "dull  plot ",  # 4: spacing differs from 5's words, still inside 5
        "a dull plot , sadly",  # 5: root
        "cat",  # 6: a word of its own, not "a" inside "cast"
        "a",  # 7: a whole word of 2
        "ast",  # 8: only part of a word: a root
    ]
    root = phrase_groups(texts)
    assert root.tolist() == [2, 2, 2, 2, 5, 5, 6, 2, 8]


def test_unrelated_sentences_are_their_own_roots() -> None:
    texts = ["good film", "bad plot", "dull story", "", "fun cast"]
    assert phrase_groups(texts).tolist() == [0, 1, 2, 3, 4]


def _phrases(seed: int, sentences: int) -> list[str]:
    """Sentences of random words, each followed by random runs of its own words (as SST-2's phrases)."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(sentences):
        words = list(rng.choice(WORDS, size=rng.integers(3, 9)))
        texts.append(" ".join(words))
        for _ in range(rng.integers(0, 4)):
            a = int(rng.integers(0, len(words)))
            b = int(rng.integers(a + 1, len(words) + 1))
            texts.append(" ".join(words[a:b]))
    order = rng.permutation(len(texts))
    return [texts[i] for i in order]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sentences=st.integers(1, 12))
def test_every_row_lies_inside_its_root_and_roots_hold_no_other(seed: int, sentences: int) -> None:
    texts = _phrases(seed, sentences)
    root = phrase_groups(texts)
    padded = [" " + " ".join(t.split()) + " " for t in texts]
    roots = set(root.tolist())
    for i, r in enumerate(root):
        assert padded[i] in padded[r]
        assert root[r] == r
        # the root is a longest row holding it: no root longer than it holds it
        assert not any(padded[i] in padded[o] and len(padded[o]) > len(padded[r]) for o in roots)
    for r in roots:  # no root lies inside another
        assert not any(o != r and padded[r] in padded[o] for o in roots)


# ------------------------------------------------------------------ grouped split
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sentences=st.integers(25, 50))
def test_no_phrase_of_a_validation_sentence_is_trained_on(seed: int, sentences: int) -> None:
    texts = _phrases(seed, sentences)
    train, val = grouped_split(texts, 0.25, 1000, np.random.default_rng(seed))
    root = phrase_groups(texts)
    roots = np.unique(root)
    # a random sentence may lie inside another: count the roots, not the sentences
    assert len(val) == (int(len(roots) * 0.25) if len(roots) >= 20 else 0)
    assert set(val.tolist()) <= set(roots.tolist())  # validation scores whole sentences only
    assert not set(root[train].tolist()) & set(val.tolist())
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    # every row is trained on, validated on, or a phrase of a validation sentence
    left_out = set(range(len(texts))) - set(train.tolist()) - set(val.tolist())
    assert all(root[i] in set(val.tolist()) for i in left_out)


def test_split_limit_and_small_files() -> None:
    texts = [f"sentence number {i}" for i in range(100)]
    rng = np.random.default_rng(0)
    train, val = grouped_split(texts, 0.5, 7, rng)
    assert len(val) == 7 and len(train) == 93
    train, val = grouped_split(texts[:19], 0.5, 7, rng)  # under 20 sentences: nothing held out
    assert len(val) == 0 and train.tolist() == list(range(19))
    a = grouped_split(texts, 0.1, 100, np.random.default_rng(5))
    b = grouped_split(texts, 0.1, 100, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------ phase 2's parameter groups
@pytest.fixture(scope="module")
def classifier() -> SentenceClassifier:
    from chainrule.models.bert import BertConfig, BertModel

    cr.manual_seed(0)
    config = BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16,
    )  # fmt: skip
    return SentenceClassifier(BertModel(config), 2)


@pytest.mark.parametrize("start", [0, 1, 3])
def test_layer_wise_learning_rates_and_no_decay_on_biases(classifier: SentenceClassifier, start: int) -> None:
    config = FinetuneConfig(lr=1e-4, layer_decay=0.5, head_lr_scale=10.0, weight_decay=0.01)
    top = TopLayers(classifier, start)
    classifier.requires_grad_(False)
    top.requires_grad_(True)
    groups = param_groups(top, config)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    trained = list(top.parameters())
    # every trained parameter exactly once, nothing else
    assert sorted(lr_of) == sorted(id(p) for p in trained)
    assert sum(len(g["params"]) for g in groups) == len(trained)
    layers = classifier.encoder.encoder.layer
    for index in range(start, 3):
        for name, p in layers[index].named_parameters():
            assert lr_of[id(p)] == pytest.approx(1e-4 * 0.5 ** (2 - index)), (index, name)
            one_d = "bias" in name or "LayerNorm" in name
            assert decay_of[id(p)] == (0.0 if one_d else 0.01), name
    assert lr_of[id(classifier.head.weight)] == pytest.approx(1e-3)
    assert decay_of[id(classifier.head.weight)] == 0.01 and decay_of[id(classifier.head.bias)] == 0.0
    # the optimizer and its warmup schedule take the groups as they are
    optimizer = cr.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in groups]
