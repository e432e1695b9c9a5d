"""The vanishing gradient, shown: on a 100-step task a plain RNN fails while LSTM and GRU learn it.

The adding problem (Hochreiter & Schmidhuber, 1997): each step of the input is
a pair (value, marker); the values are uniform in [0, 1], and exactly two
steps are marked, one in each half of the sequence. The target is the sum of
the two marked values. Always predicting the mean, 1.0, gives MSE = Var(U + U')
= 1/6 = 0.167: the trivial baseline. To do better a network must hold a value
seen up to 100 steps before the end.

Going back one step, a plain RNN multiplies the gradient by
``W_hh^T diag(1 - h_t^2)``; over many steps that product shrinks
geometrically, so almost no error signal reaches the early steps and the RNN
stays at the baseline. LSTM and GRU update their state additively
(``c_t = f_t * c_{t-1} + i_t * g_t``): once the forget gate learns to stay
near 1, the gradient flows back through the state nearly intact, and they
learn the task.

The script trains the three layers the same way, prints their test MSE, then
measures ``||dL/dx_t||``, the gradient of the loss with respect to the input
at each step t, before and after training, plots it on a log scale to
``vanishing_gradient.png`` and prints the ratio of the first step's gradient
norm to the last's. Run it with ``python examples/vanishing_gradient.py``
(a minute or two; ``--quick`` runs a shorter version).
"""

import argparse

import numpy as np
from matplotlib.figure import Figure

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F  # noqa: N812 (PyTorch's convention)

BASELINE = 1 / 6  # MSE of always predicting E[sum] = 1.0
HIDDEN, BATCH, LR = 32, 64, 2e-2


def adding_problem(n: int, length: int, rng: np.random.Generator) -> tuple[cr.Tensor, cr.Tensor]:
    """``n`` sequences of shape (length, 2): (value, marker); the target is the sum of the marked values."""
    values = rng.uniform(0.0, 1.0, (n, length))
    markers = np.zeros((n, length))
    rows = np.arange(n)
    markers[rows, rng.integers(0, length // 2, n)] = 1.0  # one mark in the first half
    markers[rows, rng.integers(length // 2, length, n)] = 1.0  # one in the second
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return cr.tensor(x), cr.tensor(y)


class Adder(nn.Module):
    """A recurrent layer reads the sequence; a linear layer maps its last output to the sum."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(2, HIDDEN, batch_first=True)  # nn.RNN (tanh), nn.LSTM or nn.GRU
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        out, _ = self.rnn(x)  # out: (batch, steps, hidden); the state is not needed here
        return self.head(out[:, -1])


def gradient_per_step(model: Adder, x: cr.Tensor, y: cr.Tensor) -> np.ndarray:
    """``||dL/dx_t||`` for every step t: how much of the error signal reaches each input."""
    x = x.detach().requires_grad_()
    F.mse_loss(model(x), y).backward()
    model.zero_grad()
    return np.sqrt((x.grad.numpy().astype(np.float64) ** 2).sum(axis=(0, 2)))


def train(kind: str, length: int, steps: int, probe: tuple[cr.Tensor, cr.Tensor]) -> dict:
    cr.manual_seed(0)
    rng = np.random.default_rng(0)  # every model sees the same batches
    model = Adder(kind)
    before = gradient_per_step(model, *probe)
    optimizer = cr.optim.Adam(model.parameters(), lr=LR)
    for _ in range(steps):
        x, y = adding_problem(BATCH, length, rng)
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # keeps the rare exploding step in check
        optimizer.step()
    return {"model": model, "before": before, "after": gradient_per_step(model, *probe)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100, help="sequence length (default 100)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps per model (default 1000)")
    parser.add_argument("--quick", action="store_true", help="40-step sequences, 500 training steps")
    parser.add_argument("--out", default="vanishing_gradient.png", help="where to write the plot")
    args = parser.parse_args()
    length, steps = (40, 500) if args.quick else (args.length, args.steps)

    test = adding_problem(1000, length, np.random.default_rng(1))
    probe = adding_problem(256, length, np.random.default_rng(2))
    print(f"adding problem: {length} steps; {steps} training steps of {BATCH} sequences; hidden {HIDDEN}")
    print(f"trivial baseline (always predict 1.0): test MSE {BASELINE:.3f}\n")
    print(f"||dL/dx_1|| / ||dL/dx_{length}||: the share of the error signal that reaches the first step\n")
    print(f"{'model':<6} {'test MSE':>9}   {'verdict':<34} {'grad ratio, trained':>19}   {'at init':>7}")
    results = {}
    for kind in ("RNN", "LSTM", "GRU"):
        r = train(kind, length, steps, probe)
        with cr.no_grad():
            mse = F.mse_loss(r["model"](test[0]), test[1]).item()
        verdict = "learns it" if mse < BASELINE / 4 else "fails: stays near the baseline"
        if BASELINE / 4 <= mse < 0.8 * BASELINE:
            verdict = "partly: below the baseline, not far"
        trained, init = r["after"][0] / r["after"][-1], r["before"][0] / r["before"][-1]
        print(f"{kind:<6} {mse:>9.4f}   {verdict:<34} {trained:>19.1e}   {init:>7.1e}", flush=True)
        if trained == 0:
            zero = int(np.argmax(r["after"] > 0))  # steps before this one got exactly nothing
            print(f"{'':<6} (the gradient underflows float32 to exactly 0 at steps 1..{zero})")
        results[kind] = r

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    steps_axis = np.arange(1, length + 1)
    for (kind, r), color in zip(results.items(), ("tab:red", "tab:blue", "tab:green"), strict=True):
        ax.semilogy(steps_axis, r["after"], color=color, label=f"{kind}, trained")
        ax.semilogy(steps_axis, r["before"], color=color, linestyle=":", label=f"{kind}, at initialisation")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL / dx_t||  (log scale)")
    ax.set_title(f"Gradient reaching each step of a {length}-step sequence (adding problem)")
    ax.legend(fontsize=8, ncols=2)
    fig.savefig(args.out, dpi=100)
    print(
        "\nAt initialisation the gradient fades towards the early steps in all three; training teaches the "
        "gates of LSTM and GRU to carry it back, while the plain RNN has no gate to learn.\n"
        f"plot: {args.out}"
    )


if __name__ == "__main__":
    main()
