"""Train the members of a seed ensemble: the same split and tokens, seeds ``seed, seed + 1, ...``.

With the cores for it, members train at the same time, each in a worker
process with its share of the threads: two members on two cores at one
thread each take about the wall time of one member on two threads, because
one fine-tuning step uses a second core poorly. The processes are the
DataLoader's workers (:mod:`chainrule.data.worker`): a dataset whose item
``k`` trains member ``k`` gives their start, the failure of one (its traceback
raised here) and their end on an interrupt, with nothing new to maintain. A
member's weights come back through a safetensors file (never a pickled
model); its figures through the result queue. With one core the members train
one after another in this process.

On SST-2 with the defaults (split seed 0), members from seeds 0 and 1, trained
at once at one thread each: 699 + 697 and 702 + 699 CPU seconds per epoch;
validation 0.913 and 0.917, the ensemble 0.913, not above the better member,
so the default stays one member (dev 0.900, 0.894, ensemble 0.897).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import runtime
from chainrule.apps.finetune.batching import TokenizedTexts
from chainrule.apps.finetune.classifier import SentenceClassifier
from chainrule.apps.finetune.finetune import FinetuneConfig, finetune
from chainrule.data.dataset import Dataset
from chainrule.data.loader import DataLoader

__all__ = ["MemberTraining", "member_seeds", "train_members", "workers_for"]


def member_seeds(seed: int, members: int) -> list[int]:
    """The training seeds of ``members`` members: ``seed, seed + 1, ...`` (member 0 is the single run)."""
    return [seed + k for k in range(members)]


def workers_for(members: int, threads: int) -> tuple[int, int]:
    """``(processes, threads each)``: at most one member per thread; 1 process means in this process."""
    workers = max(1, min(members, threads))
    return workers, max(1, threads // workers)


def _print_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class MemberTraining(Dataset):
    """Item ``k`` fine-tunes member ``k`` (seed ``config.seed + k``) and saves it to ``folder``.

    It returns the member's figures (what :func:`finetune` reports, plus its
    ``seed`` and the ``weights`` file). The encoder is read from ``model_dir``
    in the process that trains, so a worker needs no copy of a model.
    """

    model_dir: str
    num_classes: int
    train: TokenizedTexts
    train_y: np.ndarray
    val: TokenizedTexts | None
    val_y: np.ndarray | None
    config: FinetuneConfig
    members: int
    folder: str
    log: Callable[[str], None] = _print_log
    progress: bool = False

    def __len__(self) -> int:
        return self.members

    def train_one(self, k: int) -> tuple[SentenceClassifier, dict[str, Any]]:
        """Member ``k``, trained, and its figures (the classifier stays in memory)."""
        from chainrule.models.bert import BertModel

        seed = member_seeds(self.config.seed, self.members)[k]
        config = dataclasses.replace(self.config, seed=seed)
        encoder = BertModel.from_pretrained(self.model_dir)

        def log(message: str) -> None:
            self.log(f"member {k} (seed {seed}): {message}")

        wall, cpu = time.perf_counter(), time.process_time()
        classifier, info = finetune(
            encoder, self.num_classes, self.train, self.train_y, self.val, self.val_y, config,
            progress=self.progress, log=log,
        )  # fmt: skip
        figures = {"member": k, "seed": seed, "threads": runtime.get_num_threads()}
        figures["train_seconds"] = round(time.perf_counter() - wall, 2)
        figures["train_cpu_seconds"] = round(time.process_time() - cpu, 2)  # this member's process alone
        return classifier, {**figures, **{k_: v for k_, v in info.items() if k_ != "config"}}

    def __getitem__(self, k: int) -> dict[str, Any]:
        from chainrule.io import save

        if not 0 <= k < self.members:
            raise IndexError(f"MemberTraining: member {k} of {self.members}")
        classifier, info = self.train_one(k)
        path = os.path.join(self.folder, f"member{k}.safetensors")
        save(classifier.state_dict(), path)
        return {**info, "weights": path}


def train_members(
    model_dir: str | os.PathLike,
    num_classes: int,
    train: TokenizedTexts,
    train_y: np.ndarray,
    val: TokenizedTexts | None,
    val_y: np.ndarray | None,
    config: FinetuneConfig,
    members: int,
    threads: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = _print_log,
) -> list[tuple[SentenceClassifier, dict[str, Any]]]:
    """Fine-tune ``members`` classifiers with seeds ``config.seed + k``; each with its figures.

    ``threads`` (default: chainrule's current count) are shared out: up to
    that many members train at once in worker processes with
    ``threads // workers`` threads each; with one thread they train here, one
    after another (``log`` and ``progress`` then work as in :func:`finetune`;
    workers log to the error stream and draw no progress bars).
    """
    from chainrule.io import load
    from chainrule.models.bert import BertModel

    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"train_members: members must be a positive int, got {members!r}")
    threads = runtime.get_num_threads() if threads is None else threads
    workers, each = workers_for(members, threads)
    if workers == 1:
        job = MemberTraining(
            str(model_dir), num_classes, train, train_y, val, val_y, config, members, "", log, progress
        )
        return [job.train_one(k) for k in range(members)]
    seeds = ", ".join(map(str, member_seeds(config.seed, members)))
    log(f"training {members} members (seeds {seeds}) in {workers} processes, {each} thread(s) each")
    with tempfile.TemporaryDirectory(prefix="chainrule-members-") as folder:
        job = MemberTraining(str(model_dir), num_classes, train, train_y, val, val_y, config, members, folder)
        loader = DataLoader(
            job, batch_size=None, num_workers=workers, collate_fn=_as_is, prefetch_factor=1, in_order=False,
            worker_init_fn=functools.partial(_set_threads, each),
        )  # fmt: skip
        try:
            figures = list(loader)
        except Exception as e:  # the worker's own exception type, its traceback in the message
            e.add_note(f"train_members: a member failed while training in a worker process (seeds {seeds})")
            raise
        out = []
        for info in sorted(figures, key=lambda f: f["member"]):
            info = dict(info)
            state = load(pathlib.Path(info.pop("weights")))
            classifier = SentenceClassifier(BertModel.from_pretrained(model_dir), num_classes, config.dropout)
            classifier.load_state_dict(state)
            classifier.requires_grad_(False)
            out.append((classifier, info))
    return out


def _set_threads(threads: int, worker_id: int) -> None:
    runtime.set_num_threads(threads)


def _as_is(figures: dict[str, Any]) -> dict[str, Any]:
    return figures  # plain figures: nothing to convert to tensors
