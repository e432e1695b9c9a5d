"""A character-level GPT trained on chainrule's own source code: from gibberish to something like Python.

The corpus is every ``src/chainrule/**/*.py`` file, concatenated (so it is
there offline, wherever the library is). Each character is a token; the model
(``cr.models.GPT``) reads ``block_size`` characters and predicts, at every
position, the character that comes next. Training draws random windows of
the text through a DataLoader (a sampler with replacement over every window
start), and uses AdamW (weight decay on the matrices only), a linear warm-up
then a cosine decay of the learning rate, and gradient-norm clipping at 1.

The first 90% of the text trains, the last 10% validates. The script prints
a sample before training (random characters: the model knows nothing yet),
the train and validation loss every ``--eval-every`` steps, then saves the
model with ``cr.save`` (safetensors, the configuration and the alphabet in
the file's metadata), loads it into a fresh GPT and samples from that: indented
``def``/``return`` lines, ``self.``, docstrings. A model that only knew
character frequencies would score the unigram entropy (printed as a
baseline, about 3.3 nats); the final validation loss is far below it.

Run it with ``python examples/char_gpt.py`` (a few minutes on two cores);
``--quick`` trains a tiny model for a few steps (seconds), ``--steps`` and
``--seed`` change the run.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, RandomSampler, TensorDataset
from chainrule.models import GPT

SOURCE = Path(cr.__file__).resolve().parent
PROMPT = "def "


class CharTokenizer:
    """Characters to ids and back: the alphabet is every distinct character of the text, sorted."""

    def __init__(self, alphabet: str) -> None:
        self.chars = alphabet
        self.codes = np.array([ord(c) for c in alphabet], dtype=np.uint32)  # sorted code points

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        # one code point per character (UTF-32), looked up in the sorted alphabet by binary search
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self.codes, codes).clip(0, len(self.codes) - 1)
        unknown = self.codes[ids] != codes
        if unknown.any():
            missing = sorted({chr(c) for c in codes[unknown]})
            raise ValueError(f"CharTokenizer: characters not in the alphabet: {missing!r}")
        return ids.astype(np.int64)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.chars[i] for i in np.asarray(ids).ravel())


def read_corpus(root: Path) -> str:
    """Every ``.py`` file under ``root``, in sorted path order, each led by a comment naming it."""
    files = sorted(root.rglob("*.py"))
    if not files:
        raise FileNotFoundError(f"no .py files under {root}")
    return "".join(f"# file: {p.relative_to(root.parent)}\n{p.read_text(encoding='utf-8')}\n" for p in files)


def windows(ids: np.ndarray, block_size: int) -> TensorDataset:
    """Every (input, target) pair of the text: ``ids[s:s+T]`` and the same window shifted by one.

    Built as strided views of one array, so the million windows cost no memory;
    the DataLoader copies only the rows of each batch.
    """
    both = np.lib.stride_tricks.sliding_window_view(ids, block_size + 1)
    return TensorDataset(both[:, :-1], both[:, 1:])


def estimate_loss(model: GPT, data: TensorDataset, batches: int, batch_size: int, seed: int) -> float:
    """Mean loss over ``batches`` fixed random batches (same windows at every evaluation)."""
    rng = np.random.default_rng(seed)
    model.eval()
    losses = []
    with cr.no_grad():
        for _ in range(batches):
            x, y = data[rng.integers(0, len(data), batch_size)]
            losses.append(model(x, y)[1].item())
    model.train()
    return float(np.mean(losses))


def sample(model: GPT, tok: CharTokenizer, length: int, seed: int) -> str:
    gen = cr.Generator(seed)
    out = model.generate(tok.encode(PROMPT), length, temperature=0.8, top_k=20, generator=gen)
    return tok.decode(out.numpy())


def show(title: str, text: str) -> None:
    print(f"\n--- {title} ---\n{text}\n--- end ---")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps (default 1000)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the weights, the batches and the samples"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny model for 60 steps (a smoke test)")
    parser.add_argument("--eval-every", type=int, default=None, help="steps between loss reports")
    parser.add_argument("--out", default="char_gpt.safetensors", help="where to save the trained model")
    args = parser.parse_args()
    if args.steps < 1:
        sys.exit(f"char_gpt: --steps must be at least 1, got {args.steps}")
    if args.quick:
        config = dict(block_size=32, n_layer=2, n_head=2, n_embd=48)
        steps, batch_size, lr, sample_len = min(args.steps, 60), 16, 3e-3, 80
    else:
        config = dict(block_size=64, n_layer=3, n_head=4, n_embd=96)
        steps, batch_size, lr, sample_len = args.steps, 32, 3e-3, 300
    eval_every = args.eval_every or max(1, min(250, steps // 4))
    cr.manual_seed(args.seed)

    text = read_corpus(SOURCE)
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    split = int(0.9 * len(ids))
    train, val = windows(ids[:split], config["block_size"]), windows(ids[split:], config["block_size"])
    counts = np.bincount(ids[:split], minlength=len(tok)) / split
    unigram = float(-(counts[counts > 0] * np.log(counts[counts > 0])).sum())
    print(f"corpus: {len(text):,} characters from {SOURCE}, alphabet of {len(tok)}")
    print(
        f"train {split:,} / validation {len(ids) - split:,} characters; unigram baseline loss {unigram:.3f}"
    )

    model = GPT(len(tok), **config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"GPT: {config}, {n_params:,} parameters")
    show("sample before training", sample(model, tok, sample_len, args.seed))

    # decay the matrices (linear and embedding weights), not the biases or LayerNorm gains
    params = list(model.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = cr.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.99),
    )
    warmup = max(1, steps // 20)
    scheduler = cr.optim.lr_scheduler.SequentialLR(
        optimizer,
        [
            cr.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.05, total_iters=warmup),
            cr.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps - warmup), eta_min=lr / 10),
        ],
        milestones=[warmup],
    )
    sampler = RandomSampler(
        train, replacement=True, num_samples=steps * batch_size, generator=cr.Generator(args.seed)
    )
    loader = DataLoader(train, batch_size=batch_size, sampler=sampler)

    start = time.perf_counter()
    val_loss = float("nan")
    for step, (x, y) in enumerate(loader, start=1):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        if step % eval_every == 0 or step == steps:
            train_loss = estimate_loss(model, train, 8, batch_size, seed=1)
            val_loss = estimate_loss(model, val, 8, batch_size, seed=2)
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}: train loss {train_loss:.4f}, val loss {val_loss:.4f} ({elapsed:.0f} s)")
    print(f"final val loss: {val_loss:.4f} after {steps} steps (unigram baseline {unigram:.3f})")

    # the round trip: weights, configuration and alphabet in one safetensors file
    meta = {"config": json.dumps({"vocab_size": len(tok), **config}), "alphabet": json.dumps(tok.chars)}
    cr.save(model.state_dict(), args.out, metadata=meta)
    meta = cr.io.load_metadata(args.out)
    reloaded = GPT(**json.loads(meta["config"]))
    reloaded.load_state_dict(cr.load(args.out))
    tok = CharTokenizer(json.loads(meta["alphabet"]))
    print(f"saved to {args.out} and reloaded")
    show("sample after training (from the reloaded model)", sample(reloaded, tok, sample_len, args.seed))


if __name__ == "__main__":
    main()
