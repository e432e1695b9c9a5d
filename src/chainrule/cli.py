"""The ``chainrule`` command."""

from __future__ import annotations

import importlib

import click

# The applications' commands live beside their code and are imported only when
# run, so `chainrule --help` stays fast: name -> module defining `command`.
_APP_COMMANDS = {
    "finetune": "chainrule.apps.finetune.cli",
    "traffic": "chainrule.apps.traffic.cli",
    "maintenance": "chainrule.apps.maintenance.cli",
}


class _Commands(click.Group):
    """A group that adds the application commands on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_APP_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _APP_COMMANDS:
            return importlib.import_module(_APP_COMMANDS[name]).command
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrule")
def main() -> None:
    """chainrule: deep learning from first principles."""


@main.command()
@click.option("--epochs", default=30, show_default=True, help="passes over the training images")
@click.option(
    "--out-dir", default="runs/demo", show_default=True, help="where to write the model, curves, logs"
)
@click.option("--seed", default=0, show_default=True, help="random seed (weights, shuffling)")
def demo(epochs: int, out_dir: str, seed: int) -> None:
    """Train a small CNN (and an MLP baseline) on the digits; write curves, diagnosis and the model."""
    from chainrule.demo import run

    run(epochs=epochs, out_dir=out_dir, seed=seed)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", default=None, help="output directory (default: [output] dir in the config)")
@click.option("--device", default=None, help='where to train, e.g. "cuda" (default: [train] device or CPU)')
def train(config: str, out: str | None, device: str | None) -> None:
    """Run the experiment a TOML config describes; write checkpoints, history, curves and diagnosis."""
    from chainrule import distributed
    from chainrule.models import registry
    from chainrule.train.config import ConfigError, load_config, run_experiment

    if distributed.launched_by_mpiexec():  # mpiexec -n 2 chainrule train config.toml: data parallel
        distributed.init_process_group()
    try:
        settings = load_config(config, models=registry)
        out_dir = out or settings["output"]["dir"]
        if device is not None:
            settings["train"]["device"] = device
        history, results = run_experiment(settings, out_dir, models=registry)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    if distributed.is_initialized() and distributed.get_rank() != 0:
        return
    for split in ("train", "val", "test"):
        if split in results:
            figures = ", ".join(f"{k} {v:.4f}" for k, v in results[split].items() if v is not None)
            click.echo(f"{split:<5} {figures}")
    click.echo(f"diagnosis: {history.diagnose()}")
    click.echo(f"wrote checkpoints/, history.csv, curves.png, diagnosis.txt and results.json to {out_dir}")


@main.command("export")
@click.argument("source", type=click.Path(exists=True))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option(
    "--part", default=None, help="which model of a run that holds several (lstm/cnn, classifier/autoencoder)"
)
@click.option("--opset", default=17, show_default=True, help="ONNX opset version")
def export_command(source: str, out: str, part: str | None, opset: int) -> None:
    """Export a saved model (a `chainrule train`, `maintenance`, `traffic` or `finetune` run) to ONNX."""
    from chainrule.apps.saved_models import SourceError, describe, saved_model
    from chainrule.onnx import ExportError, export

    try:
        saved = saved_model(source, part)
        export(saved.model, saved.inputs, out, input_names=saved.input_names, output_names=saved.output_names,
               dynamic_axes=saved.dynamic_axes, opset_version=opset)  # fmt: skip
    except (SourceError, ExportError) as e:
        raise click.ClickException(str(e)) from None
    inputs = []
    for name, x in zip(saved.input_names, saved.inputs, strict=True):
        dims = ", ".join(f"{k}: {v}" for k, v in saved.dynamic_axes.get(name, {}).items())
        inputs.append(f"{name} {describe(x)} (dynamic axes {dims})")
    click.echo(f"wrote {out}: {type(saved.model).__name__}, inputs {'; '.join(inputs)}")


@main.command("inspect")
@click.argument("file")
@click.option("--target", "-t", default=None, help="the column to predict (class balance, target leakage)")
@click.option("--test", "test_file", default=None, help="a test CSV file: its rows found in FILE are leakage")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def inspect_command(file: str, target: str | None, test_file: str | None, as_json: bool) -> None:
    """Check a CSV file before training on it: missing values, duplicates, balance, scales, leakage."""
    import json

    from chainrule.data.inspection import DataError, inspect_csv

    try:
        report = inspect_csv(file, target=target, test=test_file)
    except DataError as e:
        error = click.ClickException(str(e))
        error.exit_code = 2  # bad input, as click's usage errors
        raise error from None
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else str(report))


if __name__ == "__main__":
    main()
