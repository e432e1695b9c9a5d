"""``chainrule traffic``: train and compare the detectors, or score new records with a saved model."""

from __future__ import annotations

import click

_EXAMPLES = """
\b
Train and compare (files are paths or NSL-KDD names, downloaded and checked):
  chainrule traffic --train KDDTrain+_20Percent --test KDDTest+ --out runs/traffic
Score new records with the saved model (41, 42 or 43 columns per row):
  chainrule traffic --model runs/traffic --score new.txt [--out scores_dir]
"""


def _fail(message: str) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = 2  # bad input, as click's usage errors
    return error


def _score(model: str, file: str, out: str | None) -> None:
    import csv
    import io
    from pathlib import Path

    from chainrule.apps.traffic.data import read_records
    from chainrule.apps.traffic.detector import Detector
    from chainrule.io import atomic_write

    detector = Detector.load(model)
    records = read_records(file, require_labels=False)
    unseen = detector.preprocessor.unseen_counts(records)
    result = detector.score(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [
        "record",
        "reconstruction_error",
        "autoencoder_alarm",
        "anomaly_score",
        "attack_probability",
        "classifier_alarm",
    ]
    mixed = detector.mixed
    if mixed:
        header += ["mixed_score", "mixed_alarm"]
    writer.writerow(header + (["label"] if records.labels is not None else []))
    for i in range(len(records)):
        row = [
            i + 1,
            f"{result['reconstruction_error'][i]:.6g}",
            int(result["autoencoder_alarm"][i]),
            f"{result['anomaly_score'][i]:.6g}",
            f"{result['attack_probability'][i]:.6g}",
            int(result["classifier_alarm"][i]),
        ]
        if mixed:
            row += [f"{result['mixed_score'][i]:.6g}", int(result["mixed_alarm"][i])]
        writer.writerow(row + ([records.labels[i]] if records.labels is not None else []))
    summary = (
        f"scored {len(records)} records from {records.source}: autoencoder alarms "
        f"{int(result['autoencoder_alarm'].sum())}, classifier alarms {int(result['classifier_alarm'].sum())}"
    )
    if mixed:
        summary += f", mixed-score alarms {int(result['mixed_alarm'].sum())}"
    if unseen:
        summary += f"; categories unseen in training (scored with an all-zero one-hot): {unseen}"
    if out is None:
        click.echo(buffer.getvalue(), nl=False)
        click.echo(summary, err=True)
        return
    path = Path(out) / "scores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())
    click.echo(f"{summary}; wrote {path}")


@click.command(epilog=_EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--train", "train_file", default=None, help="training file: a path or an NSL-KDD name")
@click.option("--test", "test_file", default=None, help="test file: a path or an NSL-KDD name")
@click.option("--out", default=None, help="output directory (model, report.json, plots; or scores.csv)")
@click.option("--model", default=None, help="a model directory written by a training run, to --score with")
@click.option("--score", "score_file", default=None, help="records to score with --model")
@click.option(
    "--seed", default=0, show_default=True, help="random seed (split, weights, shuffling, baselines)"
)
@click.option("--epochs", default=60, show_default=True, help="most epochs per network (early stopping)")
@click.option("--members", default=5, show_default=True, help="autoencoders in the seed ensemble")
@click.option(
    "--noise",
    default="0,0.1,0.2,0.3,0.5",
    show_default=True,
    help="denoising noise level(s) of the autoencoders, comma-separated, taken in turn by the members",
)
@click.option(
    "--hybrid/--ensemble-only",
    default=True,
    show_default=True,
    help="score by the ensemble averaged with the nearest-normal distance, or by the ensemble alone",
)
@click.option(
    "--clip",
    default=5.0,
    show_default=True,
    help="limit each standardized numeric input to [-CLIP, CLIP] deviations (0: no limit)",
)
@click.option(
    "--classifier-weight",
    type=float,
    default=None,
    help="weight of the classifier's calibrated margin in the mixed score (default 0.25 with --hybrid; "
    "0: no mixed score)",
)
@click.option(
    "--val-fraction", default=0.2, show_default=True, help="share of the training file for validation"
)
@click.option("--quiet", is_flag=True, help="no progress bars")
def command(
    train_file: str | None,
    test_file: str | None,
    out: str | None,
    model: str | None,
    score_file: str | None,
    seed: int,
    epochs: int,
    members: int,
    noise: str,
    hybrid: bool,
    clip: float,
    classifier_weight: float | None,
    val_fraction: float,
    quiet: bool,
) -> None:
    """Network-traffic anomaly detection on NSL-KDD: an autoencoder ensemble (with the nearest-normal
    distance: the hybrid score) mixed with an MLP classifier, against scikit-learn baselines."""
    from chainrule.apps.traffic.data import TrafficDataError

    scoring = model is not None or score_file is not None
    training = train_file is not None or test_file is not None
    if scoring == training:
        raise click.UsageError(
            "give either --train, --test and --out (train), or --model and --score (score)"
        )
    if scoring and (model is None or score_file is None):
        raise click.UsageError("scoring needs both --model DIR and --score FILE")
    if training and (train_file is None or test_file is None or out is None):
        raise click.UsageError("training needs --train FILE, --test FILE and --out DIR")
    if epochs < 1:
        raise click.UsageError(f"--epochs must be at least 1, got {epochs}")
    if members < 1:
        raise click.UsageError(f"--members must be at least 1, got {members}")
    if not 0 < val_fraction < 1:
        raise click.UsageError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    if not clip >= 0:
        raise click.UsageError(f"--clip must be >= 0 (0: no limit), got {clip}")
    if classifier_weight is not None and not classifier_weight >= 0:
        raise click.UsageError(
            f"--classifier-weight must be >= 0 (0: no mixed score), got {classifier_weight}"
        )
    if classifier_weight and not hybrid:
        raise click.UsageError(
            "--classifier-weight mixes the classifier into the hybrid score: drop --ensemble-only"
        )
    try:
        noise_std = tuple(float(v) for v in noise.split(","))
    except ValueError:
        raise click.UsageError(f"--noise must be numbers separated by commas, got {noise!r}") from None
    if any(not v >= 0 for v in noise_std):
        raise click.UsageError(f"--noise levels must be >= 0, got {noise!r}")
    try:
        if scoring:
            _score(model, score_file, out)
            return
        from chainrule.apps.traffic.pipeline import TrafficConfig, run_traffic

        config = TrafficConfig(
            seed=seed,
            epochs=epochs,
            members=members,
            noise_std=noise_std,
            hybrid=hybrid,
            clip=clip or None,
            classifier_weight=classifier_weight,
            val_fraction=val_fraction,
            progress=not quiet,
        )
        run_traffic(train_file, test_file, out, config, echo=click.echo)
    except TrafficDataError as e:
        raise _fail(str(e)) from None
    except (OSError, ImportError) as e:
        raise click.ClickException(str(e)) from None
