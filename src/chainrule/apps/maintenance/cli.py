"""``chainrule maintenance``: predict the remaining useful life of turbofan engines (NASA C-MAPSS)."""

from __future__ import annotations

import click

_MODELS = ("lstm", "cnn", "cnn_ensemble", "mlp_ensemble", "gradient_boosting", "ridge")
_DEFAULT_MODELS = ("cnn_ensemble", "mlp_ensemble", "gradient_boosting", "ridge")  # pipeline.DEFAULT_MODELS


def _fail(message: str) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = 2  # bad input, as click's usage errors
    return error


@click.command("maintenance")
@click.option("--train", "train_file", default=None, help="training engines (train_FD00x.txt)")
@click.option("--test", "test_file", default=None, help="test engines (test_FD00x.txt)")
@click.option("--rul", "rul_file", default=None, help="true RUL of the test engines (RUL_FD00x.txt)")
@click.option(
    "--subset",
    default=None,
    type=click.Choice(["FD001", "FD002", "FD003", "FD004"]),
    help="without --train/--test/--rul: download this subset from NASA (cached, checksummed)",
)
@click.option("--out", "out_dir", required=True, help="directory for the report, plots and models")
@click.option("--seed", default=0, show_default=True, help="random seed (split, weights, shuffling)")
@click.option(
    "--epochs",
    default=60,
    show_default=True,
    type=click.IntRange(1),
    help="most epochs per network (cnn_ensemble's members train for exactly this many)",
)
@click.option(
    "--service-within",
    default=30,
    show_default=True,
    type=click.IntRange(0),
    help="flag engines predicted to fail within this many cycles",
)
@click.option("--window", default=50, show_default=True, type=click.IntRange(2), help="cycles per window")
@click.option(
    "--min-history",
    default=30,
    show_default=True,
    type=click.IntRange(1),
    help="training/validation windows end at every cycle from this one on (front-padded, as test engines)",
)
@click.option(
    "--age/--no-age",
    default=True,
    show_default=True,
    help="give the models each cycle's number (the engine's age) beside the sensors",
)
@click.option("--max-rul", default=125, show_default=True, type=click.IntRange(1), help="RUL target cap")
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="BLAS/OpenMP threads (the models are small; idle threads spin on a busy machine)",
)
@click.option(
    "--patience",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="epochs without a better validation loss before a network stops early",
)
@click.option(
    "--ensemble-size",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="CNNs in cnn_ensemble, each trained without one fold of engines (held-out errors: RUL intervals)",
)
@click.option(
    "--mlp-repeats",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="MLPs per fold in mlp_ensemble (each fold's are averaged; cheap: seconds each)",
)
@click.option(
    "--models",
    "model_list",
    default=",".join(_DEFAULT_MODELS),
    show_default=True,
    help=(
        f"comma-separated models to compare, from {', '.join(_MODELS)}; with cnn_ensemble and "
        "mlp_ensemble their mix network_blend too, with cnn_ensemble and gradient_boosting their blend"
    ),
)
def command(
    train_file: str | None,
    test_file: str | None,
    rul_file: str | None,
    subset: str | None,
    out_dir: str,
    seed: int,
    epochs: int,
    service_within: int,
    window: int,
    min_history: int,
    age: bool,
    max_rul: int,
    threads: int,
    patience: int,
    ensemble_size: int,
    mlp_repeats: int,
    model_list: str,
) -> None:
    """Predict when engines fail: CNN and MLP ensembles beside ridge and gradient boosting; write DIR."""
    import warnings

    from chainrule.apps.maintenance.data import CMAPSSError, load_cmapss, load_files
    from chainrule.apps.maintenance.pipeline import run
    from chainrule.apps.maintenance.report import format_summary
    from chainrule.data.datasets import ChecksumError

    files = (train_file, test_file, rul_file)
    names = [m.strip() for m in model_list.split(",") if m.strip()]
    bad = [m for m in names if m not in _MODELS]
    if bad or not names:
        raise _fail(
            f"--models: unknown model(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(_MODELS)}"
        )
    if any(files) and not all(files):
        missing = [o for o, f in zip(("--train", "--test", "--rul"), files) if not f]
        raise _fail(f"give --train, --test and --rul together (missing {', '.join(missing)})")
    if not any(files) and subset is None:
        raise _fail("give --train FILE --test FILE --rul FILE, or --subset FD001 to download the data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            if all(files):
                click.echo(f"[1/5] reading {train_file}, {test_file}, {rul_file}")
                data = load_files(train_file, test_file, rul_file)  # type: ignore[arg-type]
            else:
                click.echo(f"[1/5] loading C-MAPSS {subset} (download on first use)")
                data = load_cmapss(subset)  # type: ignore[arg-type]
            result = run(
                data,
                out_dir,
                seed=seed,
                epochs=epochs,
                service_within=service_within,
                window=window,
                min_history=min_history,
                age=age,
                max_rul=float(max_rul),
                model_names=names,
                threads=threads,
                ensemble_size=ensemble_size,
                mlp_repeats=mlp_repeats,
                patience=patience,
                log=click.echo,
            )
    except (CMAPSSError, ChecksumError) as e:
        raise _fail(str(e)) from None
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo("")
    click.echo(format_summary(result))
    click.echo(f"Wrote report.json, predictions.csv/png, maintenance.png and models/ to {out_dir}")
