"""`chainrule finetune` end to end (generated files, a tiny random BERT), its errors, the SST-2 loader."""

from __future__ import annotations

import hashlib
import json
import pathlib
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

import chainrule as cr
from chainrule.apps.finetune.batching import length_batches, pad_batch, tokenize
from chainrule.apps.finetune.data import LabelMap, TableError, read_table
from chainrule.apps.finetune.sst2 import SST2_SHA256, load_sst2
from chainrule.cli import main
from chainrule.data.datasets import ChecksumError

POSITIVE = ["good", "great", "fine", "happy", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "sad", "poor", "dull", "boring"]
NEUTRAL = ["film", "movie", "story", "plot", "actor", "scene", "the", "a", "was", "very", "and", "is"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A random 2-layer BERT (hidden 32) in Hugging Face's layout, with a WordPiece tokenizer.json."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    from chainrule.models.bert import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = SPECIAL + POSITIVE + NEGATIVE + NEUTRAL + [".", ",", "!", "##s", "##ly"]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.save(str(folder / "tokenizer.json"))
    cr.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def _sentences(n: int, labels: list, seed: int) -> tuple[list[str], list]:
    """Sentences whose class shows in its sentiment words (class 2, if any, has none)."""
    rng = np.random.default_rng(seed)
    texts, ys = [], []
    for i in range(n):
        k = i % len(labels)
        cue = [POSITIVE, NEGATIVE, []][k]
        words = list(rng.choice(NEUTRAL, size=rng.integers(2, 6)))
        words += list(rng.choice(cue, size=rng.integers(1, 3))) if cue else []
        rng.shuffle(words)
        texts.append(" ".join(words) + " .")
        ys.append(labels[k])
    return texts, ys


def _write(path: pathlib.Path, texts: list[str], labels: list, delimiter: str) -> pathlib.Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(f"id{delimiter}review{delimiter}sentiment\n")
        for i, (t, y) in enumerate(zip(texts, labels)):
            text = f'"{t}"' if delimiter == "," and "," in t else t
            f.write(f"{i}{delimiter}{text}{delimiter}{y}\n")
    return path


def _files(tmp_path: pathlib.Path, labels: list, ext: str, n_train: int = 96) -> tuple[str, str]:
    delimiter = "," if ext == "csv" else "\t"
    train = _write(tmp_path / f"train.{ext}", *_sentences(n_train, labels, 0), delimiter)
    test = _write(tmp_path / f"test.{ext}", *_sentences(30, labels, 1), delimiter)
    return str(train), str(test)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, ["finetune", *args], catch_exceptions=True)


def _common(model: pathlib.Path, out: pathlib.Path) -> list[str]:
    return [
        "--text-column", "review", "--label-column", "sentiment", "--model", str(model), "--out", str(out),
        "--epochs", "1", "--scratch-epochs", "1", "--batch-size", "16", "--max-length", "32", "--no-progress",
        "--threads", "1",
    ]  # fmt: skip


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize(
    ("ext", "labels", "classes"),
    [("csv", ["positive", "negative"], ["negative", "positive"]), ("tsv", [1, 0, 2], ["0", "1", "2"])],
    ids=["csv-string-labels", "tsv-int-labels-3-classes"],
)
def test_finetune_end_to_end(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path, ext: str, labels: list, classes: list[str]
) -> None:
    train, test = _files(tmp_path, labels, ext)
    out = tmp_path / "run"
    result = _invoke("--train", train, "--eval", test, *_common(tiny_model, out))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    entries = {"model": report["model"], **report["baselines"]}
    assert set(report["baselines"]) == {"bag_of_words", "transformer_from_scratch"}
    for name, figures in entries.items():
        assert 0.0 <= figures["eval_accuracy"] <= 1.0, name
        assert 0.0 <= figures["eval_f1"] <= 1.0, name
    # the cues are plain words: the bag of words must learn them (chance is 0.5 or 0.33)
    assert report["baselines"]["bag_of_words"]["eval_accuracy"] >= 0.7
    best = max(entries, key=lambda k: (entries[k]["eval_accuracy"], entries[k]["eval_f1"]))
    assert report["winner"] == best
    assert "beats" in report["summary"] or "ties with" in report["summary"]
    assert "accuracy" in report["summary"]
    assert report["task"]["classes"] == classes
    assert report["task"]["validation_sentences"] > 0
    # the terminal summary leads with the table and names the winner
    table_start = result.output.index("model ")
    assert "macro F1" in result.output[table_start:]
    assert report["summary"] in result.output
    assert "Traceback" not in result.output

    # the saved model reloads and gives the reported eval accuracy
    from chainrule.apps.finetune.batching import load_tokenizer
    from chainrule.apps.finetune.classifier import SentenceClassifier
    from chainrule.apps.finetune.finetune import evaluate
    from chainrule.models.bert import BertConfig, BertModel

    mapping = json.loads((out / "labels.json").read_text())
    assert mapping["labels"] == report["task"]["classes"]
    classifier = SentenceClassifier(BertModel(BertConfig.from_json_file(out / "config.json")), len(labels))
    classifier.load_state_dict(cr.load(out / "model.safetensors"))
    table = read_table(test, "review", "sentiment")
    y = np.array(LabelMap(mapping["labels"]).encode(table.labels, "test"))
    figures = evaluate(classifier, tokenize(load_tokenizer(out, 32), table.texts), y)
    assert figures["eval_accuracy"] == pytest.approx(report["model"]["eval_accuracy"])


def test_finetune_is_reproducible_with_a_seed(tmp_path: pathlib.Path, tiny_model: pathlib.Path) -> None:
    train, test = _files(tmp_path, ["yes", "no"], "csv", n_train=40)
    runs = []
    for name in ("a", "b"):
        # one of two layers unfrozen: phase 2 runs on the cached output of the frozen one
        args = ["--train", train, "--eval", test, "--seed", "3", "--unfreeze", "1"]
        args += _common(tiny_model, tmp_path / name)
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        runs.append(json.loads((tmp_path / name / "report.json").read_text()))
    assert runs[0]["model"]["cached_states_mb"] > 0
    for key in ("model", "bag_of_words", "transformer_from_scratch"):
        a = runs[0]["model"] if key == "model" else runs[0]["baselines"][key]
        b = runs[1]["model"] if key == "model" else runs[1]["baselines"][key]
        assert (a["eval_accuracy"], a["eval_f1"]) == (b["eval_accuracy"], b["eval_f1"]), key


def test_recipe_flags_and_grouped_validation(tmp_path: pathlib.Path, tiny_model: pathlib.Path) -> None:
    texts, labels = _sentences(48, ["pos", "neg"], 2)
    # each sentence followed by a phrase cut from it, with the sentence's label (as in SST-2)
    rows = [(t, y) for text, y in zip(texts, labels) for t in (text, " ".join(text.split()[1:]))]
    _, test = _files(tmp_path, ["pos", "neg"], "csv", n_train=4)
    train = _write(tmp_path / "phrases.csv", *zip(*rows), ",")
    out = tmp_path / "run"
    args = ["--train", str(train), "--eval", test, "--layer-decay", "0.5", "--warmup", "0.2"]
    result = _invoke(*args, *_common(tiny_model, out), "--epochs", "2", "--average-last", "2")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "finetune.json").read_text())["config"]
    assert (config["layer_decay"], config["warmup"], config["unfreeze"]) == (0.5, 0.2, 6)
    assert (config["epochs"], config["average_last"]) == (2, 2)
    report = json.loads((out / "report.json").read_text())
    task, model = report["task"], report["model"]
    # the mean of both epochs' weights was a candidate, and the report says which one was kept
    assert model["average_epochs"] == [1, 2] and 0 <= model["val_accuracy_average"] <= 1
    assert model["kept"] in ("epoch 1", "epoch 2", "average of epochs 1-2")
    assert "mean of the last 2 epochs' weights" in task["selection"]
    # the held-out sentences' phrases leave training: at least one a sentence, unless it lies in another
    assert task["validation_sentences"] > 0 and task["validation_phrases_left_out"] > 0
    kept = task["train_sentences"] + task["validation_sentences"] + task["validation_phrases_left_out"]
    assert kept == len(rows)
    assert "whole sentences" in task["selection"]
    bad_values = [("--layer-decay", "0"), ("--layer-decay", "1.5"), ("--warmup", "-0.1")]
    for flag, value in [*bad_values, ("--average-last", "-1")]:
        bad = _invoke("--train", str(train), "--eval", test, flag, value, *_common(tiny_model, out))
        assert bad.exit_code == 2 and flag in bad.output


# ------------------------------------------------------------------ errors: one line, non-zero exit
def _assert_clean_failure(result: object, *fragments: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_missing_column_names_the_columns(tmp_path: pathlib.Path, tiny_model: pathlib.Path) -> None:
    train, test = _files(tmp_path, ["a", "b"], "csv", n_train=20)
    args = _common(tiny_model, tmp_path / "out")
    args[args.index("review")] = "text"
    result = _invoke("--train", train, "--eval", test, *args)
    _assert_clean_failure(result, "no text column 'text'", "'review'", "'sentiment'")


@pytest.mark.parametrize(
    ("content", "name", "fragments"),
    [
        (None, "absent.csv", ["no such file"]),
        ("", "empty.csv", ["is empty"]),
        ("review,sentiment\n", "header.csv", ["no data rows"]),
        ("review,sentiment\ngood,pos\nbad\n", "short.csv", ["line 3", "expected 2 fields"]),
        ("review,sentiment\ngood,pos\nbad,pos\n", "one.csv", ["single class", "'pos'"]),
        ("review,sentiment\ngood,pos\nbad,neg\n", "data.txt", ["expected a .csv or .tsv"]),
        ("review,sentiment\ngood,pos\nbad,\n", "nolabel.csv", ["line 3", "label is empty"]),
    ],
)
def test_bad_training_file(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path, content: str | None, name: str, fragments: list[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    _, test = _files(tmp_path, ["pos", "neg"], "csv", n_train=4)
    result = _invoke("--train", str(path), "--eval", test, *_common(tiny_model, tmp_path / "out"))
    _assert_clean_failure(result, str(path), *fragments)


def test_eval_label_unknown_to_training(tmp_path: pathlib.Path, tiny_model: pathlib.Path) -> None:
    train, _ = _files(tmp_path, ["pos", "neg"], "csv", n_train=20)
    test = tmp_path / "odd.csv"
    test.write_text("id,review,sentiment\n0,good film,pos\n1,meh,neutral\n")
    result = _invoke("--train", train, "--eval", str(test), *_common(tiny_model, tmp_path / "out"))
    _assert_clean_failure(result, "'neutral'", "training labels")


def test_model_dir_without_files(tmp_path: pathlib.Path, tiny_model: pathlib.Path) -> None:
    train, test = _files(tmp_path, ["pos", "neg"], "csv", n_train=20)
    empty = tmp_path / "empty_model"
    empty.mkdir()
    result = _invoke("--train", train, "--eval", test, *_common(empty, tmp_path / "out"))
    _assert_clean_failure(result, "config.json", "model.safetensors", "tokenizer.json")
    result = _invoke("--train", train, "--eval", test, *_common(tmp_path / "nowhere", tmp_path / "out"))
    _assert_clean_failure(result, "does not exist")


def test_missing_options_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    result = _invoke("--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "--train" in result.output and "--dataset sst2" in result.output


# ------------------------------------------------------------------ the pieces
def test_read_table_quoting_and_label_order(tmp_path: pathlib.Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text('text,label\n"hello, world",10\n\nplain,2\n"say ""hi""",10\n')
    table = read_table(csv_path, "text", "label")
    assert table.texts == ["hello, world", "plain", 'say "hi"']
    labels = LabelMap(table.labels)
    assert labels.names == ["2", "10"]  # numeric order, not string order
    assert labels.encode(table.labels, "t") == [1, 0, 1]
    tsv_path = tmp_path / "t.tsv"
    tsv_path.write_text('sentence\tlabel\nit \'s "quoted" \t1\nno\t0\n')  # GLUE style: quotes are text
    assert read_table(tsv_path, "sentence", "label").texts == ['it \'s "quoted"', "no"]
    with pytest.raises(TableError, match="single class"):
        LabelMap(["x", "x"])


def test_length_batches_cover_every_sentence_once() -> None:
    lengths = np.array([5, 1, 9, 3, 3, 7, 2, 8, 4, 6, 1])
    rng = np.random.default_rng(0)
    batches = length_batches(lengths, 4, rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for b in length_batches(lengths, 4):  # unshuffled: sorted by length
        assert np.all(np.diff(lengths[b]) >= 0)

    class Texts:  # the interface pad_batch reads
        def __init__(self, rows: list[list[int]]) -> None:
            self.rows = rows
            self.lengths = np.array([len(r) for r in rows])

        def row(self, i: int) -> np.ndarray:
            return np.array(self.rows[i])

    ids, mask = pad_batch(Texts([[2, 7, 3], [2, 3], [2, 5, 6, 3]]), np.array([1, 0]))
    np.testing.assert_array_equal(ids, [[2, 3, 0], [2, 7, 3]])
    np.testing.assert_array_equal(mask, [[1, 1, 0], [1, 1, 1]])


# ------------------------------------------------------------------ SST-2 loader
def _sst2_zip(tmp_path: pathlib.Path) -> tuple[pathlib.Path, dict[str, str]]:
    files = {
        "train.tsv": b"sentence\tlabel\na charming film \t1\ndull and flat \t0\n",
        "dev.tsv": b"sentence\tlabel\nlovely \t1\n",
    }
    archive = tmp_path / "SST-2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"SST-2/{name}", data)
        zf.writestr("SST-2/test.tsv", b"index\tsentence\n")
    return archive, {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def test_sst2_download_extract_and_cache(tmp_path: pathlib.Path) -> None:
    archive, sums = _sst2_zip(tmp_path)
    cache = tmp_path / "cache"
    files = load_sst2(root=cache, url=archive.as_uri(), checksums=sums)
    assert set(files) == {"train", "dev"}
    table = read_table(files["train"], "sentence", "label")
    assert table.texts == ["a charming film", "dull and flat"] and table.labels == ["1", "0"]
    archive.unlink()  # a second call needs no download
    assert load_sst2(root=cache, url=archive.as_uri(), checksums=sums) == files


def test_sst2_checksum_mismatch_discards_the_download(tmp_path: pathlib.Path) -> None:
    archive, sums = _sst2_zip(tmp_path)
    wrong = {**sums, "dev.tsv": "0" * 64}
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"dev\.tsv"):
        load_sst2(root=cache, url=archive.as_uri(), checksums=wrong)
    assert not (cache / "sst2" / "SST-2.zip").exists()
    assert not (cache / "sst2" / "dev.tsv").exists()


def test_sst2_local_directory(tmp_path: pathlib.Path) -> None:
    archive, sums = _sst2_zip(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    files = load_sst2(tmp_path / "SST-2", checksums=sums)
    assert files["dev"] == tmp_path / "SST-2" / "dev.tsv"
    with pytest.raises(ChecksumError, match=r"train\.tsv"):
        load_sst2(tmp_path / "SST-2")  # the real sums: these small files are not GLUE's
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_sst2(tmp_path / "nowhere")


def test_sst2_cli_reports_a_bad_copy(tmp_path: pathlib.Path) -> None:
    result = _invoke("--dataset", "sst2", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    _assert_clean_failure(result, "train.tsv")


SHARED_SST2 = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "sst2"


@pytest.mark.skipif(not SHARED_SST2.is_dir(), reason="no shared SST-2 copy at ../shared/data/text/sst2")
def test_real_sst2_copy_loads() -> None:
    files = load_sst2(SHARED_SST2)
    assert {p.name for p in files.values()} == set(SST2_SHA256)
    dev = read_table(files["dev"], "sentence", "label")
    assert len(dev) == 872 and sorted(set(dev.labels)) == ["0", "1"]


def test_top_layers_on_cached_states_match_the_whole_classifier(tiny_model: pathlib.Path) -> None:
    from chainrule.apps.finetune.batching import load_tokenizer
    from chainrule.apps.finetune.classifier import SentenceClassifier, TopLayers
    from chainrule.models.bert import BertModel

    classifier = SentenceClassifier(BertModel.from_pretrained(tiny_model), 3)
    texts = tokenize(load_tokenizer(tiny_model, 32), ["good film .", "a very dull story", "the plot"])
    ids, mask = pad_batch(texts, np.arange(3))
    ids_t, mask_t = cr.tensor(ids), cr.tensor(mask)
    classifier.eval()
    with cr.no_grad():
        whole = classifier(ids_t, mask_t)._array
        cached = classifier.hidden_states(ids_t, mask_t, stop=1)
    top = TopLayers(classifier, 1)
    top.eval()
    np.testing.assert_allclose(top(cached, mask_t)._array, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(top(ids_t, mask_t)._array, whole, rtol=1e-5, atol=1e-6)
    # training from ids: the frozen layer runs in eval mode, the trained ones keep training mode
    top.train()
    classifier.requires_grad_(False)
    top.requires_grad_(True)
    top(ids_t, mask_t).sum().backward()
    assert top.layers[0].training and not classifier.encoder.encoder.layer[0].training
    assert classifier.head.weight.grad is not None and top.layers[0].output.dense.weight.grad is not None
    assert classifier.encoder.encoder.layer[0].output.dense.weight.grad is None


def test_several_epochs_keep_the_best_one_on_validation(tiny_model: pathlib.Path) -> None:
    from chainrule.apps.finetune.batching import load_tokenizer
    from chainrule.apps.finetune.finetune import FinetuneConfig, evaluate, finetune
    from chainrule.models.bert import BertModel

    tokenizer = load_tokenizer(tiny_model, 32)
    train_texts, train_y = _sentences(64, [1, 0], 0)
    val_texts, val_y = _sentences(24, [1, 0], 1)
    train, val = tokenize(tokenizer, train_texts), tokenize(tokenizer, val_texts)
    train_y, val_y = np.array(train_y), np.array(val_y)
    # (layer_decay pinned: with these seeds the outcomes below are what the assertions need)
    config = FinetuneConfig(epochs=4, head_epochs=1, batch_size=16, lr=3e-3, layer_decay=0.8, seed=0)
    classifier, info = finetune(BertModel.from_pretrained(tiny_model), 2, train, train_y, val, val_y, config)
    per_epoch = info["val_accuracy_per_epoch"]
    assert len(per_epoch) == 4 and info["phase2_steps"] == 4 * 4
    assert info["val_accuracy"] == max(per_epoch)
    assert per_epoch[info["best_epoch"] - 1] == max(per_epoch)
    assert max(per_epoch[: info["best_epoch"] - 1], default=-1.0) < max(per_epoch)  # the first best epoch
    assert len(info["phase2_epoch_seconds"]) == len(info["phase2_epoch_cpu_seconds"]) == 4
    assert all(s > 0 for s in info["phase2_epoch_cpu_seconds"])
    # the classifier returned holds the best epoch's weights, not the last epoch's (with this seed the
    # last epoch is worse than the best, so the weights must have been brought back)
    assert per_epoch[-1] < max(per_epoch)
    assert evaluate(classifier, val, val_y)["eval_accuracy"] == pytest.approx(info["val_accuracy"])


@pytest.mark.parametrize(("seed", "expected"), [(1, "average of epochs 2-3"), (0, "epoch 3")])
def test_averaged_weights_compete_with_the_best_epoch(
    tiny_model: pathlib.Path, monkeypatch: pytest.MonkeyPatch, seed: int, expected: str
) -> None:
    import importlib

    from chainrule.apps.finetune.averaging import LastWeights, average_states
    from chainrule.apps.finetune.batching import load_tokenizer
    from chainrule.apps.finetune.classifier import TopLayers
    from chainrule.apps.finetune.finetune import FinetuneConfig, evaluate, finetune
    from chainrule.models.bert import BertModel

    every: list[dict[str, np.ndarray]] = []

    class Spy(LastWeights):  # keeps what LastWeights keeps, and every epoch's weights beside
        def on_epoch_end(self, trainer: object, epoch: int, logs: dict | None = None) -> None:
            super().on_epoch_end(trainer, epoch, logs)
            every.append(self.states[-1])

    # the submodule, not the function of the same name that the package exports
    monkeypatch.setattr(importlib.import_module("chainrule.apps.finetune.finetune"), "LastWeights", Spy)
    tokenizer = load_tokenizer(tiny_model, 32)
    train_texts, train_y = _sentences(64, [1, 0], 0)
    val_texts, val_y = _sentences(60, [1, 0], 1)
    train, val = tokenize(tokenizer, train_texts), tokenize(tokenizer, val_texts)
    train_y, val_y = np.array(train_y), np.array(val_y)
    config = FinetuneConfig(
        epochs=3, head_epochs=1, batch_size=16, lr=1e-2, warmup=0.0, average_last=2, layer_decay=0.8,
        seed=seed,
    )
    classifier, info = finetune(BertModel.from_pretrained(tiny_model), 2, train, train_y, val, val_y, config)
    per_epoch, average = info["val_accuracy_per_epoch"], info["val_accuracy_average"]
    assert len(every) == 3 and info["average_epochs"] == [2, 3]
    assert info["val_accuracy"] == max(max(per_epoch), average)
    assert evaluate(classifier, val, val_y)["eval_accuracy"] == pytest.approx(info["val_accuracy"])
    # the classifier holds the averaged weights exactly when they beat every epoch (an epoch wins a tie)
    wins = average > max(per_epoch)
    kept = average_states(every[1:]) if wins else every[info["best_epoch"] - 1]
    assert info["kept"] == ("average of epochs 2-3" if wins else f"epoch {info['best_epoch']}")
    assert info["kept"] == expected  # with this seed: both ways are tested
    state = TopLayers(classifier, 0).state_dict()  # both layers were trained: the same keys as phase 2's
    assert set(state) == set(kept)
    for key, value in kept.items():
        np.testing.assert_array_equal(state[key]._array, value, err_msg=key)
