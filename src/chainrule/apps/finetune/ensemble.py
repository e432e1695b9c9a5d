"""A seed ensemble of fine-tuned sentence classifiers, as one module that predicts their mean probability.

Fine-tuning the same encoder from different seeds (head initialisation,
dropout, batch order) lands in different minima whose errors only partly
overlap; the mean of their softmax probabilities is a better classifier than
any one of them. :class:`MeanOfMembers` is that mean as an ``nn.Module``: its
output is the log of the mean probability, a valid logit vector (its softmax
is the mean, its argmax the ensemble's prediction), so evaluation, the saved
file (one safetensors file, keys ``members.0.``, ``members.1.``, ...) and ONNX
export treat it as they treat one classifier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule import nn
from chainrule.ops.shape import stack
from chainrule.tensor import Tensor

__all__ = ["MeanOfMembers", "count_members"]


class MeanOfMembers(nn.Module):
    """``log(mean_k softmax(member_k(*inputs)))``: the log of the members' mean class probabilities."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 1:
            raise ValueError("MeanOfMembers: expected at least one member, got none")
        self.members = nn.ModuleList(list(members))

    def forward(self, *inputs: Tensor) -> Tensor:
        # log mean_k p_k = logsumexp_k(log p_k) - log K: no probability is formed, so a confident
        # member's tiny p does not underflow to log 0 (the ops' own backwards give the gradient)
        logs = [member(*inputs).log_softmax(-1) for member in self.members]
        if len(logs) == 1:
            return logs[0]
        return stack(logs, 0).logsumexp(0) - math.log(len(logs))


def count_members(state: Mapping[str, Any]) -> int:
    """How many members a saved state holds: 0 for a single classifier's (no ``members.`` keys)."""
    found = {key.split(".", 2)[1] for key in state if key.startswith("members.")}
    if not found:
        return 0
    if not all(k.isdigit() for k in found) or sorted(map(int, found)) != list(range(len(found))):
        raise ValueError(f"count_members: member keys are not numbered 0..N-1: {sorted(found)[:8]}")
    return len(found)
