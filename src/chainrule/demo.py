"""The main job, ``chainrule demo``: an MLP learns the handwritten digits through the Trainer.

It holds out part of the training images for validation, trains with early
stopping and a cosine learning-rate schedule, then writes the learning curves,
a diagnosis of the run, the best checkpoint and the final model into one
directory, reloads the model from its file and scores it again.
"""

from __future__ import annotations

from pathlib import Path

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, random_split
from chainrule.data.datasets import load_digits
from chainrule.io import atomic_write
from chainrule.models import MLP
from chainrule.train import CSVLogger, EarlyStopping, ModelCheckpoint, Trainer


def build_model() -> MLP:
    """Two hidden layers of ReLU units, with dropout against overfitting 1,293 images."""
    return MLP(64, [512, 256], 10, dropout=0.3)


def run(
    epochs: int = 60,
    out_dir: str | Path = "runs/demo",
    seed: int = 0,
    lr: float = 1e-3,
    progress: bool | None = None,
) -> float:
    """Train, report, save; returns the test accuracy."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cr.manual_seed(seed)
    train, test = load_digits()  # 8x8 images flattened to 64 pixels in [0, 1]
    fit, val = random_split(train, [0.9, 0.1], generator=cr.Generator(seed))
    print(f"digits: {len(fit)} training, {len(val)} validation and {len(test)} test images, 10 classes")
    model = build_model()
    print(model)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        metrics=("accuracy",),
        scheduler=optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),  # lr glides to 0
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=15),
            ModelCheckpoint(out / "checkpoints", monitor="val_loss", save_best_only=True),
            CSVLogger(out / "log.csv"),
        ],
        progress=progress,
    )
    history = trainer.fit(
        DataLoader(fit, batch_size=32, shuffle=True), DataLoader(val, batch_size=256), epochs
    )

    test_accuracy = trainer.evaluate(DataLoader(test, batch_size=256))["accuracy"]
    print(f"test accuracy: {test_accuracy:.4f}")
    model_file = out / "digits_mlp.safetensors"
    cr.save(model.state_dict(), model_file, metadata={"model": "MLP(64, [512, 256], 10, dropout=0.3)"})
    reloaded = build_model()
    reloaded.load_state_dict(cr.load(model_file))
    again = Trainer(reloaded, nn.CrossEntropyLoss(), optimizer, progress=False)
    reloaded_accuracy = again.evaluate(DataLoader(test, batch_size=256))["accuracy"]
    print(f"reloaded from {model_file}, it scores {reloaded_accuracy:.4f}")

    history.plot(out / "curves.png")
    history.to_csv(out / "history.csv")
    diagnosis = history.diagnose()
    with atomic_write(out / "diagnosis.txt", "w") as f:
        f.write(str(diagnosis) + "\n")
    print(f"diagnosis: {diagnosis}")
    print(
        f"files in {out}/: curves.png (learning curves), diagnosis.txt, history.csv, log.csv, "
        "digits_mlp.safetensors (the model), checkpoints/ (the best epoch, to resume from)"
    )
    return test_accuracy
