"""The ``chainrule`` command."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrule")
def main() -> None:
    """chainrule: deep learning from first principles."""


@main.command()
@click.option("--epochs", default=60, show_default=True, help="passes over the training images")
@click.option("--out", default="digits_mlp.safetensors", show_default=True, help="where to save the model")
@click.option("--seed", default=0, show_default=True, help="random seed (weights, shuffling)")
def demo(epochs: int, out: str, seed: int) -> None:
    """Train an MLP on the handwritten digits, print its test accuracy, save it."""
    from chainrule.demo import run

    run(epochs=epochs, out=out, seed=seed)


if __name__ == "__main__":
    main()
