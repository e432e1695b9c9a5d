"""See the chain rule at work: the graph behind a loss, and where its gradient fades.

A deep stack of sigmoid layers is the classic vanishing-gradient network:
each sigmoid multiplies the gradient on its way back by at most 1/4, so the
first layers learn far more slowly than the last. This script builds one,
runs one backward pass, and draws two pictures with ``cr.viz``:

- ``graph.svg``: every op the forward pass recorded, the parameters by name,
  and on each arrow the norm of the gradient flowing back along it;
- ``gradient_flow.png``: each parameter's gradient norm on a log scale,
  falling by orders of magnitude from the last layer to the first.

It prints the ratio of the first layer's weight gradient to the last's. Run
it with ``python examples/see_the_gradients.py [--out DIR]``.
"""

import argparse
from pathlib import Path

import chainrule as cr
from chainrule import nn


def deep_sigmoid_net(depth: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(8, width), nn.Sigmoid()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.Sigmoid()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the pictures")
    args = parser.parse_args()
    cr.manual_seed(0)
    model = deep_sigmoid_net(depth=8, width=16)
    x, y = cr.randn(32, 8), cr.randn(32, 1)
    loss = nn.functional.mse_loss(model(x), y)

    # draw the graph before backward() frees it; the labels are the gradients backward will compute
    picture = cr.viz.graph(loss, params=dict(model.named_parameters()))
    picture.save(args.out / "graph.svg")
    loss.backward()
    fig = cr.viz.gradient_flow(model)
    fig.savefig(args.out / "gradient_flow.png")

    first, last = model[0].weight.grad, model[-1].weight.grad
    ratio = float(first.norm() / last.norm())
    ops = sum(1 for n in picture.nodes if n.kind == "op")
    print(f"graph: {ops} ops, {len(picture.nodes) - ops} leaves -> {args.out / 'graph.svg'}")
    print(f"gradient flow -> {args.out / 'gradient_flow.png'}")
    print(f"first layer's weight gradient / last layer's: {ratio:.2e}")


if __name__ == "__main__":
    main()
