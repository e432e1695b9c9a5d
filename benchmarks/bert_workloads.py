"""W5: a BERT encoder shaped like all-MiniLM-L6-v2, inference, chainrule against transformers.

6 layers, hidden 384, 12 heads, FFN 1536, batch 32 x 128 tokens, eval mode and
no graph. Both models get the same random weights (transformers' initial
state dict copied into ours); the pretrained package is not needed.
"""

from __future__ import annotations

import numpy as np
from workloads import on_device

_SHAPE = {
    "vocab_size": 30522,
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
}


def minilm_inference(batch: int = 32, length: int = 128):
    """(ours_step, theirs_step): one forward pass of each model on the same token ids."""
    import torch
    import transformers

    import chainrule as cr
    from chainrule.models.bert import BertConfig, BertModel

    theirs = transformers.BertModel(transformers.BertConfig(**_SHAPE)).eval()
    ours = BertModel(BertConfig(**_SHAPE)).eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, _SHAPE["vocab_size"], (batch, length)).astype(np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    ours, theirs = on_device(ours), on_device(theirs)
    ids_o, mask_o = on_device(cr.tensor(ids)), on_device(cr.tensor(mask))
    ids_t, mask_t = on_device(torch.tensor(ids)), on_device(torch.tensor(mask))

    def ours_step():
        with cr.no_grad():
            return ours(ids_o, attention_mask=mask_o).last_hidden_state

    def theirs_step():
        with torch.no_grad():
            return theirs(input_ids=ids_t, attention_mask=mask_t).last_hidden_state

    return ours_step, theirs_step
