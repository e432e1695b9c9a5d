"""Forecasting the sunspot cycle one year ahead: an LSTM against a seasonal-naive and a linear baseline.

The yearly sunspot numbers 1700-2008 (bundled with statsmodels) rise and fall
in cycles of about 11 years whose height and shape change from cycle to
cycle. Each model forecasts next year's number from the past 20 years:

* seasonal naive: the value one cycle (11 years) before the year forecast;
* ridge regression on the 20-year window (scikit-learn; alpha chosen on the
  validation years), a linear autoregressive model;
* an LSTM reading the window, trained with ``cr.train.Trainer`` and
  ``EarlyStopping`` on the validation loss.

The split is chronological: the first 70% of the years train, the next 15%
validate, the last 15% test, so no model sees the future. The normalisation
is fitted on the training years alone, for the same reason. The script prints
the test MAE and RMSE of the three, says which wins, and draws forecast
against actual to ``forecast.png``. The claim: the LSTM, which can follow the
steep rise and slower decay of a cycle that a linear model averages out,
beats both baselines. Run it with ``python examples/forecast.py`` (under a
minute; ``--quick`` trains fewer epochs). Needs ``pip install statsmodels``.
"""

import argparse

import numpy as np
from matplotlib.figure import Figure
from sklearn.linear_model import Ridge
from statsmodels.datasets import sunspots

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, SlidingWindowDataset, TensorDataset
from chainrule.train import EarlyStopping, Trainer

WINDOW, CYCLE, HIDDEN = 20, 11, 32


class Forecaster(nn.Module):
    """An LSTM reads the window of past values; a linear layer maps its last output to next year's value."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        out, _ = self.lstm(x)  # (batch, WINDOW, HIDDEN); the (h_n, c_n) state is not needed
        return self.head(out[:, -1])


def windows(z: np.ndarray, start: int, end: int) -> SlidingWindowDataset:
    """Samples whose targets are the years ``start .. end - 1``, each with its WINDOW years before."""
    return SlidingWindowDataset(z[start - WINDOW : end], window=WINDOW, horizon=1)


def errors(pred: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    e = pred - actual
    return float(np.abs(e).mean()), float(np.sqrt((e**2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="most epochs (EarlyStopping ends sooner)")
    parser.add_argument("--quick", action="store_true", help="at most 100 epochs, patience 15")
    parser.add_argument("--out", default="forecast.png", help="where to write the plot")
    args = parser.parse_args()
    epochs, patience = (100, 15) if args.quick else (args.epochs, 20)
    cr.manual_seed(0)

    data = sunspots.load_pandas().data
    years, series = data["YEAR"].to_numpy().astype(int), data["SUNACTIVITY"].to_numpy()
    n = len(series)
    val_start, test_start = int(0.7 * n), int(0.85 * n)
    print(
        f"sunspots {years[0]}-{years[-1]}: train to {years[val_start - 1]}, "
        f"validate to {years[test_start - 1]}, test {years[test_start]}-{years[-1]}"
    )

    # normalise with the training years' mean and spread only
    mean, std = series[:val_start].mean(), series[:val_start].std()
    z = (series - mean) / std
    train = windows(z, WINDOW, val_start)
    val, test = windows(z, val_start, test_start), windows(z, test_start, n)
    actual = series[test_start:]

    # baseline 1: the value one cycle earlier
    forecasts = {"seasonal naive": series[test_start - CYCLE : n - CYCLE]}

    # baseline 2: ridge regression on the flattened window, alpha picked on the validation years
    (x_tr, y_tr), (x_va, y_va), (x_te, _) = (
        (x.numpy().reshape(len(x), -1), y.numpy().ravel()) for x, y in (train[:], val[:], test[:])
    )
    ridges = [Ridge(alpha=a).fit(x_tr, y_tr) for a in (0.1, 1.0, 10.0, 100.0)]
    ridge = min(ridges, key=lambda r: np.mean((r.predict(x_va) - y_va) ** 2))
    forecasts[f"ridge (alpha={ridge.alpha:g})"] = ridge.predict(x_te) * std + mean

    # the LSTM, fitted with the Trainer; EarlyStopping restores the weights of the best validation epoch
    model = Forecaster()
    trainer = Trainer(
        model,
        nn.MSELoss(),
        cr.optim.Adam(model.parameters(), lr=3e-3),
        metrics=None,
        callbacks=[EarlyStopping(monitor="val_loss", patience=patience)],
        progress=False,
    )
    history = trainer.fit(
        DataLoader(TensorDataset(*train[:]), batch_size=32, shuffle=True),
        DataLoader(TensorDataset(*val[:]), batch_size=256),
        epochs=epochs,
    )
    print(f"LSTM trained for {history.epochs[-1]} epochs")
    pred = trainer.predict(DataLoader(TensorDataset(*test[:]), batch_size=256))
    forecasts["LSTM"] = pred.numpy().ravel() * std + mean

    print(f"\none-year-ahead forecasts of {len(actual)} test years (sunspot number):")
    print(f"{'model':<22} {'MAE':>7} {'RMSE':>7}")
    scores = {name: errors(f, actual) for name, f in forecasts.items()}
    for name, (mae, rmse) in scores.items():
        print(f"{name:<22} {mae:>7.2f} {rmse:>7.2f}")
    by_mae = min(scores, key=lambda k: scores[k][0])
    by_rmse = min(scores, key=lambda k: scores[k][1])
    if by_mae == by_rmse:
        print(f"winner: {by_mae}, lowest test MAE and RMSE")
    else:
        print(f"winner: {by_mae} by MAE, but {by_rmse} by RMSE (no clear winner)")

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(years[val_start:], series[val_start:], color="black", linewidth=2, label="actual")
    ax.axvline(years[test_start] - 0.5, color="gray", linestyle=":", label="validation | test")
    for (name, f), style in zip(forecasts.items(), (":", "--", "-"), strict=True):
        label = f"{name} (MAE {scores[name][0]:.1f})"
        ax.plot(years[test_start:], f, linestyle=style, marker=".", label=label)
    ax.set_xlabel("year")
    ax.set_ylabel("sunspot number")
    ax.set_title("One-year-ahead forecasts of the sunspot number on the test years")
    ax.legend(fontsize=8)
    fig.savefig(args.out, dpi=100)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
