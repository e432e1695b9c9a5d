"""The main job, ``chainrule demo``: an MLP learns the handwritten digits, then is saved and reloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader
from chainrule.data.datasets import load_digits
from chainrule.models import MLP


def accuracy(model: nn.Module, dataset: cr.data.TensorDataset) -> float:
    """The fraction of ``dataset`` that ``model`` classifies correctly (eval mode, no graph)."""
    images, labels = dataset.tensors
    model.eval()
    with cr.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


def run(
    epochs: int = 60, out: str | Path = "digits_mlp.safetensors", seed: int = 0, lr: float = 1e-3
) -> float:
    """Train, report, save; returns the test accuracy."""
    from tqdm import tqdm

    cr.manual_seed(seed)
    train, test = load_digits()  # 8x8 images flattened to 64 pixels in [0, 1]
    print(f"digits: {len(train)} training and {len(test)} test images, 10 classes")
    # one hidden layer of 512 ReLU units, with dropout against overfitting 1,437 images
    model = MLP(64, [512], 10, dropout=0.3)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)  # lr glides to 0
    loader = DataLoader(train, batch_size=32, shuffle=True)

    # The bar shows where it is on a terminal; elsewhere a line every few epochs does.
    interactive = sys.stderr.isatty()
    bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not interactive)
    for epoch in bar:
        model.train()
        total = 0.0
        for images, labels in loader:
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        schedule.step()
        bar.set_postfix(loss=f"{total / len(train):.4f}")
        if not interactive and (epoch % 10 == 0 or epoch == 1):
            print(f"epoch {epoch:>3}  loss {total / len(train):.4f}")
    bar.close()

    test_accuracy = accuracy(model, test)
    print(f"test accuracy: {test_accuracy:.4f}")
    cr.save(
        model.state_dict(), out, metadata={"model": "MLP(64, [512], 10, dropout=0.3)", "dataset": "digits"}
    )
    reloaded = MLP(64, [512], 10, dropout=0.3)
    reloaded.load_state_dict(cr.load(out))
    print(f"saved to {out}; reloaded, it scores {accuracy(reloaded, test):.4f} again")
    return test_accuracy
