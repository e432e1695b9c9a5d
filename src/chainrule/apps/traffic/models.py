"""The two neural detectors: an autoencoder that learns normal traffic, and a supervised MLP classifier.

The autoencoder never sees an attack: it is trained to reconstruct normal
connections, and a connection it reconstructs badly (high mean squared
error) is flagged. That is what lets it catch attack types absent from the
training file. The classifier learns normal vs attack from labelled records,
so it is sharp on the attacks it has seen and blind to the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.creation import randn_like
from chainrule.data import DataLoader, TensorDataset
from chainrule.models.mlp import MLP
from chainrule.optim import Adam
from chainrule.tensor import Tensor
from chainrule.train import EarlyStopping, Trainer

__all__ = [
    "Autoencoder",
    "attack_probability",
    "choose_threshold",
    "classifier_margin",
    "fit_autoencoder",
    "fit_classifier",
    "reconstruction_error",
    "reconstructions",
]

_BATCH = 4096  # rows per forward pass when scoring


class Autoencoder(nn.Module):
    """``in -> hidden... -> code -> ...hidden -> in`` with ReLU between layers and a linear output.

    The encoder and decoder are :class:`~chainrule.models.mlp.MLP` s, mirrored.
    With ``noise_std > 0`` it is a denoising autoencoder: in training mode,
    Gaussian noise of that deviation is added to the input, and the loss
    still compares the output with the clean input, so the model learns the
    normal records' structure rather than an identity map. Eval mode adds no noise.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (64,),
        code_size: int = 32,
        noise_std: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or code_size < 1 or any(h < 1 for h in hidden_sizes):
            raise ValueError(
                f"Autoencoder: sizes must be positive, got in_features={in_features}, "
                f"hidden_sizes={list(hidden_sizes)}, code_size={code_size}"
            )
        if not noise_std >= 0:
            raise ValueError(f"Autoencoder: noise_std must be >= 0, got {noise_std}")
        self.in_features = in_features
        self.hidden_sizes = [int(h) for h in hidden_sizes]
        self.code_size = int(code_size)
        self.noise_std = float(noise_std)
        self.encoder = MLP(in_features, self.hidden_sizes, code_size)
        self.decoder = MLP(code_size, self.hidden_sizes[::-1], in_features)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.noise_std > 0:
            x = x + randn_like(x) * self.noise_std
        return self.decoder(self.act(self.encoder(x)))


def _outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's outputs for the rows of ``x``, in eval mode, batch by batch, without a graph."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [model(Tensor._make(x[i : i + _BATCH], None))._array for i in range(0, len(x), _BATCH)]
    finally:
        model.train(was_training)
    return np.concatenate(parts, axis=0) if parts else np.zeros((0,), dtype=np.float32)


def reconstructions(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """The autoencoder's reconstruction of each row of ``x``, (n, features) float64."""
    return _outputs(model, x).astype(np.float64)


def reconstruction_error(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """Per-record mean squared reconstruction error, (n,) float64 (see also
    :mod:`~chainrule.apps.traffic.ensemble`, whose standardized error is the detector's score)."""
    diff = reconstructions(model, x) - x
    return np.einsum("ij,ij->i", diff, diff) / x.shape[1]


def attack_probability(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The classifier's probability of "attack" for each row of ``x``, (n,) float64 (softmax of 2 logits)."""
    logits = _outputs(model, x).astype(np.float64)
    # softmax over two classes is the logistic function of the logit difference
    return 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))


def classifier_margin(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The classifier's logit of "attack" minus its logit of "normal" for each row of ``x``, (n,) float64:
    the log-odds of attack, unbounded where the probability saturates at 0 or 1."""
    logits = _outputs(model, x).astype(np.float64)
    return logits[:, 1] - logits[:, 0]


def _loader(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool) -> DataLoader:
    data = TensorDataset(Tensor._make(x, None), Tensor._make(y, None))
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle)


def fit_autoencoder(
    x_train: np.ndarray,
    x_val: np.ndarray,
    hidden_sizes: Sequence[int] = (64,),
    code_size: int = 32,
    epochs: int = 60,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int = 6,
    progress: bool = True,
    noise_std: float = 0.0,
) -> tuple[Autoencoder, dict[str, list[float]]]:
    """Train an :class:`Autoencoder` on (normal) rows ``x_train``; early stopping on ``x_val``'s loss.

    ``noise_std > 0`` trains a denoising autoencoder (see :class:`Autoencoder`); the
    validation loss is measured without noise. Returns the model with the weights of its
    best validation epoch, and the loss history.
    """
    model = Autoencoder(x_train.shape[1], hidden_sizes, code_size, noise_std)
    trainer = Trainer(
        model,
        nn.MSELoss(),
        Adam(model.parameters(), lr=lr),
        metrics=None,
        callbacks=[EarlyStopping("val_loss", patience=patience, verbose=0)],
        progress=1 if progress else False,
    )
    history = trainer.fit(
        _loader(x_train, x_train, batch_size, True), _loader(x_val, x_val, 4096, False), epochs=epochs
    )
    return model, dict(history.history)


def fit_classifier(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    hidden_sizes: Sequence[int] = (64, 32),
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int = 4,
    progress: bool = True,
) -> tuple[MLP, dict[str, list[float]]]:
    """Train an MLP (two logits: normal, attack) with cross-entropy; early stopping on validation loss."""
    model = MLP(x_train.shape[1], hidden_sizes, 2)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        Adam(model.parameters(), lr=lr),
        metrics=("accuracy",),
        callbacks=[EarlyStopping("val_loss", patience=patience, verbose=0)],
        progress=1 if progress else False,
    )
    y_train = y_train.astype(np.int64)
    y_val = y_val.astype(np.int64)
    history = trainer.fit(
        _loader(x_train, y_train, batch_size, True), _loader(x_val, y_val, 4096, False), epochs=epochs
    )
    return model, dict(history.history)


def choose_threshold(scores_val: np.ndarray, is_attack_val: np.ndarray) -> float:
    """The alarm threshold on validation scores that maximises balanced accuracy (mean of TPR and TNR).

    Candidates are midpoints between consecutive distinct scores. Balanced
    accuracy rather than F1 or accuracy: the share of attacks in traffic to
    come is unknown (and differs between the NSL-KDD files), and balanced
    accuracy does not depend on it. Validation holds no test record.
    """
    normal = np.sort(scores_val[~is_attack_val])
    attack = np.sort(scores_val[is_attack_val])
    if len(normal) == 0 or len(attack) == 0:
        raise ValueError(
            "choose_threshold: the validation split needs both normal and attack records, got "
            f"{len(normal)} normal and {len(attack)} attack"
        )
    values = np.unique(scores_val)
    cand = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
    # alarms are score > threshold: TNR = share of normals <= t, TPR = share of attacks > t
    tnr = np.searchsorted(normal, cand, side="right") / len(normal)
    tpr = 1.0 - np.searchsorted(attack, cand, side="right") / len(attack)
    return float(cand[int(np.argmax(tnr + tpr))])
