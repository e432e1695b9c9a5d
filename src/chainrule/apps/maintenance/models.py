"""The neural RUL regressors, their training on windows, and their files (safetensors, never pickle).

Both read windows shaped (batch, window, channels) and return the predicted
RUL divided by ``max_rul`` (targets are scaled to [0, 1] for training, so one
learning rate suits every subset; :func:`predict` scales back to cycles).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.tensor import Tensor
from chainrule.train import EarlyStopping, History, Trainer

__all__ = [
    "CNNRegressor",
    "LSTMRegressor",
    "SummaryMLP",
    "build_model",
    "fit_model",
    "load_model",
    "predict",
    "predict_members",
    "save_model",
]


class LSTMRegressor(nn.Module):
    """Stacked LSTM over the window; its last hidden state goes through a small MLP to one RUL value."""

    def __init__(
        self, n_features: int, hidden_size: int = 64, num_layers: int = 2, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.head = nn.Sequential(
            nn.Linear(hidden_size, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 1)
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


class CNNRegressor(nn.Module):
    """The deep 1-D CNN of Li et al. 2018: 4 tanh convolutions in time, one to a single map, dense layers.

    Channels are the sensors; every convolution is "same"-padded, so the dense
    head sees where in the window a change happened. Few filters and dropout
    before the dense layer keep it from memorizing the strongly overlapping
    windows (a 32-filter ReLU variant overfit within 5 epochs on FD001).
    """

    def __init__(
        self,
        n_features: int,
        window: int = 30,
        filters: int = 10,
        kernel_size: int = 10,
        hidden: int = 100,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv1d(n_features if i == 0 else filters, filters, kernel_size, padding="same"),
                nn.Tanh(),
            ]
        self.features = nn.Sequential(*layers, nn.Conv1d(filters, 1, 3, padding="same"), nn.Tanh())
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(window, hidden), nn.Tanh(), nn.Linear(hidden, 1)
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x.permute(0, 2, 1)))


class SummaryMLP(nn.Module):
    """An MLP on what an engineer reads in a window: per channel the last value, mean, std, min, max, slope.

    These are the summaries gradient boosting reads (:func:`.baselines.summary_features`,
    same order), made here with chainrule ops so that the saved model maps a window
    to a RUL on its own. They are standardized by buffers that :meth:`fit_scaling`
    sets from the training windows. The MLP sees a window's levels and trends, not
    where in it a change happened, so its errors differ from the CNNs': their mean
    beats either (see :mod:`.ensemble`).
    """

    def __init__(self, n_features: int, window: int = 30, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        d = 6 * n_features
        t = np.arange(window, dtype=np.float64)
        t -= t.mean()
        # slope of a least-squares line through the window: sum_t (t - mean t) x_t / sum_t (t - mean t)^2
        weights = (t / (t @ t)).astype(np.float32).reshape(-1, 1)
        self.register_buffer("slope_weights", cr.from_numpy(weights), persistent=False)
        self.register_buffer("feature_mean", cr.zeros(d))
        self.register_buffer("feature_std", cr.ones(d))
        self.net = nn.Sequential(
            nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def summarize(self, x: Tensor) -> Tensor:
        """(n, window, channels) windows -> (n, 6 * channels): last, mean, std, min, max, slope."""
        slope = (x * self.slope_weights).sum(1)  # a product and a sum: ONNX export reads it as written
        return cr.cat([x[:, -1], x.mean(1), x.std(1, correction=0), x.amin(1), x.amax(1), slope], dim=1)

    def _summaries(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        with cr.no_grad():
            return np.concatenate([
                self.summarize(cr.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))).numpy()
                for i in range(0, len(x), batch_size)
            ])  # fmt: skip

    def fit_scaling(self, x: np.ndarray, batch_size: int = 4096) -> SummaryMLP:
        """Standardize the summaries by their mean and std over the training windows ``x``; returns self."""
        f = self._summaries(x, batch_size).astype(np.float64)
        std = f.std(axis=0)
        with cr.no_grad():
            self.feature_mean.copy_(cr.from_numpy(f.mean(axis=0).astype(np.float32)))
            self.feature_std.copy_(cr.from_numpy(np.where(std > 1e-6, std, 1.0).astype(np.float32)))
        return self

    def features(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """The standardized summaries of windows ``x``, (n, 6 * channels): what ``self.net`` reads.

        The summaries hold no parameter, so training ``self.net`` on these, computed
        once, is training the whole model, without summarizing every window again
        in every epoch (that took five sixths of the time).
        """
        with cr.no_grad():
            f = cr.from_numpy(self._summaries(x, batch_size))
            return ((f - self.feature_mean) / self.feature_std).numpy()

    def forward(self, x: Tensor) -> Tensor:
        return self.net((self.summarize(x) - self.feature_mean) / self.feature_std)


_ARCHITECTURES = {"lstm": LSTMRegressor, "cnn": CNNRegressor, "mlp": SummaryMLP}


def build_model(kind: str, n_features: int, window: int, **options: Any) -> nn.Module:
    """A fresh ``"lstm"``, ``"cnn"`` or ``"mlp"`` regressor for windows of ``window`` x ``n_features``."""
    if kind == "lstm":
        return LSTMRegressor(n_features, **options)
    if kind == "cnn":
        return CNNRegressor(n_features, window, **options)
    if kind == "mlp":
        return SummaryMLP(n_features, window, **options)
    raise ValueError(f"build_model: unknown model {kind!r}; expected one of {', '.join(_ARCHITECTURES)}")


def _loader(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool) -> DataLoader:
    data = TensorDataset(cr.from_numpy(np.ascontiguousarray(x)), cr.from_numpy(y.reshape(-1, 1)))
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle)


def fit_model(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    max_rul: float,
    epochs: int = 40,
    batch_size: int = 256,
    lr: float = 2e-3,
    patience: int = 8,
    progress: int = 2,
    schedule: str = "plateau",
) -> History:
    """Train on (windows, RUL) with Adam and MSE on RUL/max_rul.

    ``schedule="plateau"``: the learning rate is halved when the validation
    loss stalls for 3 epochs; EarlyStopping ends training after ``patience``
    epochs without improvement and keeps the best validation epoch's weights.
    ``schedule="cosine"``: the learning rate falls along a half cosine from
    ``lr`` to ``lr / 50`` over exactly ``epochs`` epochs and the last weights
    are kept; no epoch is picked on the (noisy) validation loss, which stays an
    honest estimate.
    """
    (xt, yt), (xv, yv) = train, val
    opt = optim.Adam(model.parameters(), lr=lr)
    if schedule == "plateau":
        scheduler: Any = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
        callbacks = [EarlyStopping("val_loss", patience=patience, verbose=progress)]
    elif schedule == "cosine":
        scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr / 50)
        callbacks = []
    else:
        raise ValueError(f"fit_model: schedule must be 'plateau' or 'cosine', got {schedule!r}")
    trainer = Trainer(
        model,
        nn.MSELoss(),
        opt,
        metrics=None,
        scheduler=scheduler,
        callbacks=callbacks,
        grad_clip=1.0,
        progress=progress,
    )
    scale = np.float32(1.0 / max_rul)
    return trainer.fit(
        _loader(xt, yt * scale, batch_size, True), _loader(xv, yv * scale, 1024, False), epochs=epochs
    )


def predict(model: nn.Module, x: np.ndarray, max_rul: float, batch_size: int = 1024) -> np.ndarray:
    """Predicted RUL in cycles (clipped to [0, max_rul]) for windows ``x`` (n, window, channels)."""
    model.eval()
    out = []
    with cr.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model(cr.from_numpy(np.ascontiguousarray(x[i : i + batch_size])))._array[:, 0])
    return np.clip(np.concatenate(out).astype(np.float64) * max_rul, 0.0, max_rul)


def predict_members(members: list[nn.Module], x: np.ndarray, max_rul: float) -> np.ndarray:
    """Each ensemble member's predicted RUL in cycles, stacked: shape (members, n)."""
    if not members:
        raise ValueError("predict_members: expected at least one ensemble member, got none")
    return np.stack([predict(m, x, max_rul) for m in members])


def save_model(model: nn.Module, path: str | os.PathLike, kind: str, config: dict[str, Any]) -> None:
    """Write the weights as safetensors (atomic), with the architecture and its options in the metadata."""
    meta = {"kind": kind, "config": json.dumps(config)}
    cr.save(model.state_dict(), path, metadata=meta)


def load_model(path: str | os.PathLike) -> tuple[nn.Module, str]:
    """The model :func:`save_model` wrote (rebuilt from its metadata, weights loaded) and its kind."""
    from chainrule.io import load_metadata

    meta = load_metadata(path)
    if "kind" not in meta or "config" not in meta:
        raise ValueError(f"load_model: {Path(path)} holds no maintenance-model metadata (kind, config)")
    config = json.loads(meta["config"])
    model = build_model(meta["kind"], **config)
    model.load_state_dict(cr.load(path))
    model.eval()
    return model, meta["kind"]
