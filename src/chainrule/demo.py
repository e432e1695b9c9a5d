"""The main job, ``chainrule demo``: a small CNN learns the handwritten digits, next to an MLP baseline.

Both train through the Trainer on the same images, holding out part of the
training set for validation, with early stopping. The CNN sees augmented
images (small rotations, shifts and zooms, drawn afresh every epoch). The
demo writes the CNN's learning curves, a diagnosis of its run, the best
checkpoint and the final model into one directory, reloads the model from
its file and scores it again, and ends with one line comparing the two.
"""

from __future__ import annotations

from pathlib import Path

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, random_split, transforms
from chainrule.data.datasets import load_digits
from chainrule.io import atomic_write
from chainrule.models import MLP
from chainrule.train import CSVLogger, EarlyStopping, ModelCheckpoint, Trainer


def build_mlp() -> MLP:
    """Two hidden layers of ReLU units, with dropout against overfitting 1,293 images."""
    return MLP(64, [512, 256], 10, dropout=0.3)


def build_cnn() -> nn.Sequential:
    """Three 3x3 convolutions (32, 64, 128 filters) with batch norm, one 2x2 pool, global average pool."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 10),
    )  # fmt: skip


def train_mlp(seed: int, epochs: int = 60) -> float:
    """The baseline: the MLP on flattened pixels; returns its test accuracy."""
    cr.manual_seed(seed)
    train, test = load_digits()
    fit, val = random_split(train, [0.9, 0.1], generator=cr.Generator(seed))
    model = build_mlp()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        scheduler=optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),
        callbacks=[EarlyStopping(monitor="val_loss", patience=15, verbose=0)],
        progress=False,
    )
    trainer.fit(DataLoader(fit, batch_size=32, shuffle=True), DataLoader(val, batch_size=256), epochs)
    return trainer.evaluate(DataLoader(test, batch_size=256))["accuracy"]


def run(
    epochs: int = 30,
    out_dir: str | Path = "runs/demo",
    seed: int = 0,
    lr: float = 3e-3,
    progress: bool | None = None,
) -> float:
    """Train the CNN and the MLP baseline, report, save; returns the CNN's test accuracy."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cr.manual_seed(seed)
    train, test = load_digits(flatten=False)  # images of shape (1, 8, 8), pixels in [0, 1]
    fit, val = random_split(train, [0.9, 0.1], generator=cr.Generator(seed))
    print(f"digits: {len(fit)} training, {len(val)} validation and {len(test)} test images, 10 classes")
    model = build_cnn()
    print(model)
    augment = transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    train_loader = DataLoader(fit, batch_size=64, shuffle=True, transform=augment)  # training data only
    optimizer = optim.Adam(model.parameters(), lr=lr)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        metrics=("accuracy",),
        scheduler=optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(train_loader)),
        scheduler_interval="batch",
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=10),
            ModelCheckpoint(out / "checkpoints", monitor="val_loss", save_best_only=True),
            CSVLogger(out / "log.csv"),
        ],
        progress=progress,
    )
    history = trainer.fit(train_loader, DataLoader(val, batch_size=256), epochs)

    test_loader = DataLoader(test, batch_size=256)
    test_accuracy = trainer.evaluate(test_loader)["accuracy"]
    print(f"test accuracy: {test_accuracy:.4f}")
    model_file = out / "digits_cnn.safetensors"
    cr.save(model.state_dict(), model_file, metadata={"model": "chainrule.demo.build_cnn()"})
    reloaded = build_cnn()
    reloaded.load_state_dict(cr.load(model_file))
    again = Trainer(reloaded, nn.CrossEntropyLoss(), optimizer, progress=False)
    reloaded_accuracy = again.evaluate(test_loader)["accuracy"]
    print(f"reloaded from {model_file}, it scores {reloaded_accuracy:.4f}")

    history.plot(out / "curves.png")
    history.to_csv(out / "history.csv")
    diagnosis = history.diagnose()
    with atomic_write(out / "diagnosis.txt", "w") as f:
        f.write(str(diagnosis) + "\n")
    print(f"diagnosis: {diagnosis}")
    print(
        f"files in {out}/: curves.png (learning curves), diagnosis.txt, history.csv, log.csv, "
        "digits_cnn.safetensors (the model), checkpoints/ (the best epoch, to resume from)"
    )
    mlp_accuracy = train_mlp(seed)
    n = len(test)
    print(
        f"CNN {test_accuracy:.4f} vs MLP {mlp_accuracy:.4f} test accuracy: the CNN misreads "
        f"{round((1 - test_accuracy) * n)} of {n} test digits, the MLP {round((1 - mlp_accuracy) * n)}"
    )
    return test_accuracy
