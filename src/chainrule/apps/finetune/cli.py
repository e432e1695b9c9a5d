"""``chainrule finetune``: fine-tune a pretrained sentence encoder on a CSV/TSV file, next to two baselines.

Only click is imported here; the library, scikit-learn and the tokenizer load
when the command runs, so ``chainrule --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

__all__ = ["command"]


def _fail(message: str) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = 2  # bad input, as click's own usage errors
    return error


@click.command("finetune")
@click.option("--train", "train_file", type=click.Path(dir_okay=False), help="training data (.csv or .tsv)")
@click.option("--eval", "eval_file", type=click.Path(dir_okay=False), help="evaluation data (.csv or .tsv)")
@click.option("--text-column", default=None, help="the column holding the sentences")
@click.option("--label-column", default=None, help="the column holding the labels (strings or integers)")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="pretrained encoder directory (HF layout) [default: the installed all-MiniLM-L6-v2]",
)
@click.option(
    "--epochs",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="fine-tuning epochs (the best one on validation is kept)",
)
@click.option(
    "--average-last",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="also score the mean of the last N epochs' weights on validation and keep it if it beats "
    "the best epoch (0 or 1: off)",
)
@click.option(
    "--members",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="a seed ensemble: N classifiers fine-tuned with seeds seed, seed+1, ... (at the same time, one per "
    "thread, when --threads allows), predicting their mean probability",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--dataset", type=click.Choice(["sst2"]), default=None, help="a known dataset instead of files")
@click.option("--data-dir", default=None, help="local copy of --dataset (default: download and cache it)")
@click.option(
    "--unfreeze",
    default=6,
    show_default=True,
    type=click.IntRange(min=0),
    help="top encoder layers fine-tuned (all-MiniLM-L6-v2 has 6; the embeddings stay frozen)",
)
@click.option(
    "--lr",
    default=1e-4,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="learning rate of the top encoder layer (the head's is 10x)",
)
@click.option(
    "--layer-decay",
    default=0.9,
    show_default=True,
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="each layer below the top trains at this times the learning rate of the layer above",
)
@click.option(
    "--warmup",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, max=1),
    help="fraction of the fine-tuning steps with a rising learning rate (then linear decay to 0)",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="sentences")
@click.option("--max-length", default=128, show_default=True, type=click.IntRange(min=8), help="tokens")
@click.option("--max-train", default=None, type=click.IntRange(min=2), help="use a random subset of N rows")
@click.option(
    "--scratch-epochs", default=3, show_default=True, type=click.IntRange(min=1), help="from-scratch baseline"
)
@click.option("--seed", default=0, show_default=True, help="random seed (split, initialisation, order)")
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(min=1),
    help="BLAS threads (1 is fastest on a busy machine) [default: BLAS's own]",
)
@click.option("--progress/--no-progress", default=None, help="progress bars [default: on a terminal]")
def command(
    train_file: str | None,
    eval_file: str | None,
    text_column: str | None,
    label_column: str | None,
    model_dir: str | None,
    epochs: int,
    average_last: int,
    members: int,
    out_dir: str,
    dataset: str | None,
    data_dir: str | None,
    unfreeze: int,
    lr: float,
    layer_decay: float,
    warmup: float,
    batch_size: int,
    max_length: int,
    max_train: int | None,
    scratch_epochs: int,
    seed: int,
    threads: int | None,
    progress: bool | None,
) -> None:
    """Fine-tune a pretrained encoder with a classification head; compare it with two baselines.

    Phase 1 trains the head with the encoder frozen; phase 2 unfreezes the top
    layers at a smaller learning rate, smaller still for each layer further
    down (--layer-decay). Whole training sentences, with the phrases cut out of
    them, are held out to choose the best epoch. The baselines (bag-of-words
    logistic regression, a small Transformer from scratch) train on the same
    sentences. Writes OUT/report.json, the fine-tuned weights and the label map.
    """
    from chainrule.apps.finetune.pipeline import FinetuneError, Options, run

    if data_dir is not None and dataset is None:
        raise click.UsageError("--data-dir goes with --dataset (e.g. --dataset sst2 --data-dir DIR)")
    if dataset == "sst2":
        from chainrule.apps.finetune import sst2

        try:
            files = sst2.load_sst2(data_dir)
        except OSError as e:
            raise _fail(str(e)) from None
        train_file = train_file or str(files["train"])
        eval_file = eval_file or str(files["dev"])
        text_column = text_column or sst2.TEXT_COLUMN
        label_column = label_column or sst2.LABEL_COLUMN
    missing = [
        flag
        for flag, value in (
            ("--train", train_file),
            ("--eval", eval_file),
            ("--text-column", text_column),
            ("--label-column", label_column),
        )
        if value is None
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or pass --dataset sst2)")
    options = Options(
        train_file=train_file,
        eval_file=eval_file,
        text_column=text_column,
        label_column=label_column,
        model_dir=model_dir,
        out_dir=out_dir,
        epochs=epochs,
        average_last=average_last,
        members=members,
        unfreeze=unfreeze,
        lr=lr,
        layer_decay=layer_decay,
        warmup=warmup,
        batch_size=batch_size,
        max_length=max_length,
        max_train=max_train,
        scratch_epochs=scratch_epochs,
        seed=seed,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    from chainrule.runtime import limit_threads

    try:
        with limit_threads(threads):  # restored when the run ends
            report = run(options, log=lambda message: click.echo(message, err=True))
    except FinetuneError as e:
        raise _fail(str(e)) from None
    except OSError as e:  # the output directory filled up or vanished, a file became unreadable, ...
        raise click.ClickException(f"finetune: {e}") from None
    from chainrule.apps.finetune.report import format_table

    click.echo(format_table(report))
    click.echo(f"wrote report.json, model.safetensors, labels.json and the tokenizer to {out_dir}")
