"""One neuron, then two layers: what a perceptron can learn, and why depth needs a non-linearity.

A single neuron computes ``sigmoid(w . x + b)``: it draws one straight line
through the input plane. AND and OR are separable by a line, so it learns
them; XOR is not, so it cannot. Two layers with a non-linearity (tanh) between
them bend the boundary and solve XOR. Two layers *without* it do not: W2 (W1 x
+ b1) + b2 is again one linear map, so stacking linear layers adds nothing.
"""

import chainrule as cr
from chainrule import nn

INPUTS = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TRUTH_TABLES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


def train(model: nn.Module, targets: list[int], epochs: int = 2000, lr: float = 0.1) -> float:
    """Fit ``model`` to one truth table with binary cross-entropy; return its accuracy on the four inputs."""
    y = cr.tensor(targets, dtype=cr.float32).unsqueeze(1)
    optimizer = cr.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss_fn(model(INPUTS), y).backward()
        optimizer.step()
    with cr.no_grad():
        predictions = (model(INPUTS) > 0).float()  # logit > 0 means probability > 0.5
    return (predictions == y).float().mean().item()


def main() -> None:
    cr.manual_seed(0)
    print("one neuron (a perceptron): sigmoid(w . x + b)")
    for name, table in TRUTH_TABLES.items():
        accuracy = train(nn.Linear(2, 1), table)
        verdict = "learned" if accuracy == 1.0 else "cannot learn it: not linearly separable"
        print(f"  {name:<4} accuracy {accuracy:.2f}  {verdict}")

    print("two layers on XOR")
    deep_nonlinear = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    deep_linear = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 1))
    accuracy = train(deep_nonlinear, TRUTH_TABLES["XOR"])
    print(f"  with tanh between them:   accuracy {accuracy:.2f}")
    accuracy = train(deep_linear, TRUTH_TABLES["XOR"])
    print(f"  without a non-linearity:  accuracy {accuracy:.2f}")

    # The two linear layers collapse into one: W = W2 W1, b = W2 b1 + b2.
    first, second = deep_linear[0], deep_linear[1]
    with cr.no_grad():
        collapsed = nn.Linear(2, 1)
        collapsed.weight.copy_(second.weight @ first.weight)
        collapsed.bias.copy_(second.weight @ first.bias + second.bias)
        gap = (collapsed(INPUTS) - deep_linear(INPUTS)).abs().max().item()
    print(f"  the linear pair equals one layer W2 W1 (largest difference {gap:.1e})")


if __name__ == "__main__":
    main()
