"""chainrule.apps.traffic: the NSL-KDD loader, preprocessing, threshold, model files and the CLI end to end.

Synthetic files in the real format (43 columns, no header) stand in for
NSL-KDD; the real files are checked (loader + checksum only) when present.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import chainrule as cr
from chainrule.apps.traffic import data as kdd
from chainrule.apps.traffic.data import FEATURES, NUMERIC, TrafficDataError, load_nsl_kdd, read_records
from chainrule.apps.traffic.models import Autoencoder, choose_threshold, reconstruction_error
from chainrule.apps.traffic.preprocess import Preprocessor
from chainrule.cli import main
from chainrule.data.datasets import ChecksumError, file_sha256

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nsl-kdd"


# ------------------------------------------------------------------ synthetic files
def _record(rng: np.random.Generator, label: str, service: str | None = None) -> list[str]:
    """One 43-column row: normal web traffic, or an attack with its own signature."""
    row = dict.fromkeys(FEATURES, "0")
    row.update(protocol_type="tcp", service=service or "http", flag="SF", logged_in="1")
    row["src_bytes"] = str(int(rng.integers(150, 400)))
    row["dst_bytes"] = str(int(rng.integers(500, 9000)))
    row["count"] = str(int(rng.integers(1, 10)))
    row["srv_count"] = row["count"]
    row["same_srv_rate"] = "1.00"
    row["dst_host_count"] = str(int(rng.integers(10, 255)))
    row["dst_host_srv_count"] = "255"
    row["dst_host_same_srv_rate"] = f"{rng.uniform(0.9, 1):.2f}"
    if label == "neptune":  # SYN flood
        row.update(flag="S0", service=service or "private", src_bytes="0", dst_bytes="0", logged_in="0")
        row.update(count=str(int(rng.integers(100, 500))), serror_rate="1.00", dst_host_serror_rate="1.00")
        row["same_srv_rate"] = f"{rng.uniform(0, 0.1):.2f}"
    elif label == "mscan":  # a scan of many services, absent from the training file
        row.update(flag="REJ", src_bytes="0", dst_bytes="0", logged_in="0", rerror_rate="1.00")
        row.update(diff_srv_rate=f"{rng.uniform(0.5, 1):.2f}", dst_host_rerror_rate="1.00")
        row["dst_host_srv_count"] = str(int(rng.integers(1, 20)))
    return [row[f] for f in FEATURES] + [label, str(int(rng.integers(5, 21)))]


def _write(path: Path, rows: list[list[str]], newline: str = "\r\n", final: bool = True) -> Path:
    text = newline.join(",".join(r) for r in rows) + (newline if final else "")
    path.write_bytes(text.encode())
    return path


def _rows(seed: int, n_normal: int, attacks: dict[str, int], service: str | None = None) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = [_record(rng, "normal") for _ in range(n_normal)]
    for label, n in attacks.items():
        rows += [_record(rng, label, service) for _ in range(n)]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("kdd")
    train = _write(d / "train.txt", _rows(0, 160, {"neptune": 100}))
    test_rows = _rows(1, 60, {"neptune": 30, "mscan": 30})
    test_rows[0][2] = "tftp_u"  # a service never seen in training
    test = _write(d / "test.txt", test_rows, newline="\n", final=False)
    return {"train": train, "test": test, "dir": d}


@pytest.fixture(scope="module")
def trained(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run") / "out"
    args = ["traffic", "--train", str(files["train"]), "--test", str(files["test"]), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--epochs", "3", "--quiet", "--seed", "1"])
    return out, result


# ------------------------------------------------------------------ loader
def test_reader_crlf_lf_and_no_final_newline_agree(tmp_path: Path) -> None:
    rows = _rows(3, 5, {"neptune": 4})
    a = read_records(_write(tmp_path / "a.txt", rows, "\r\n", True))
    b = read_records(_write(tmp_path / "b.txt", rows, "\n", False))
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.numeric.shape == (9, 38) and a.categorical.shape == (9, 3)
    assert a.is_attack.sum() == 4 and a.difficulty.dtype == np.int64


def test_reader_float_formats_header_blank_lines_and_kdd99_labels(tmp_path: Path) -> None:
    rows = _rows(4, 3, {})
    rows[0][FEATURES.index("src_bytes")] = "2.5e2"
    rows[1][FEATURES.index("serror_rate")] = " .50"
    rows = [r[:42] for r in rows]  # KDD'99 layout: no difficulty column
    rows[2][41] = "normal."
    text = ",".join(FEATURES) + ",label\n\n" + "\n".join(",".join(r) for r in rows) + "\n\n"
    (tmp_path / "f.txt").write_text(text)
    rec = read_records(tmp_path / "f.txt")
    assert rec.numeric[0, NUMERIC.index("src_bytes")] == 250.0
    assert rec.numeric[1, NUMERIC.index("serror_rate")] == 0.5
    assert list(rec.labels) == ["normal"] * 3 and rec.difficulty is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.__setitem__(4, "12x"), "line 3: column 'src_bytes' should be a number, got '12x'"),
        (lambda r: r.__setitem__(4, "nan"), "line 3: column 'src_bytes' should be a finite number"),
        (lambda r: r.pop(), "line 3: has 42 columns but the rows before it have 43"),
        (lambda r: r.__setitem__(slice(None), r[:40]), "line 3: expected 42 or 43 comma-separated columns"),
        (
            lambda r: r.append("7"),
            "line 3: expected 42 or 43 comma-separated columns (41 features, the label",
        ),
        (lambda r: r.__setitem__(2, ""), "line 3: column 'service' is empty"),
    ],
)
def test_reader_reports_bad_rows_with_line_numbers(tmp_path: Path, edit, message: str) -> None:
    rows = _rows(5, 4, {})
    edit(rows[2])
    with pytest.raises(TrafficDataError, match="bad.txt " + _re(message)):
        read_records(_write(tmp_path / "bad.txt", rows))


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_reader_missing_empty_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(TrafficDataError, match="no such file"):
        read_records(tmp_path / "absent.txt")
    (tmp_path / "empty.txt").write_text("\r\n")
    with pytest.raises(TrafficDataError, match=r"empty\.txt: no records"):
        read_records(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TrafficDataError, match="not a text file"):
        read_records(tmp_path / "bin.txt")


def test_features_only_rows_need_require_labels_false(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.txt", [r[:41] for r in _rows(6, 3, {})])
    with pytest.raises(TrafficDataError, match="line 1: expected 42 or 43"):
        read_records(path)
    rec = read_records(path, require_labels=False)
    assert rec.labels is None and len(rec) == 3
    with pytest.raises(TrafficDataError, match="no label column"):
        _ = rec.is_attack


# ------------------------------------------------------------------ download
def test_download_checks_the_sum_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write(tmp_path / "KDDTest+.txt", _rows(7, 3, {"neptune": 2}))
    url = src.as_uri()
    with pytest.raises(ChecksumError, match="checksum mismatch"):  # the real KDDTest+ sum, a fake file
        kdd.nsl_kdd_path("KDDTest+", root=tmp_path / "cache", url=url)
    assert not (tmp_path / "cache" / "nsl-kdd" / "KDDTest+.txt").exists()
    monkeypatch.setitem(kdd.NSL_KDD_FILES, "KDDTest+", file_sha256(src))
    monkeypatch.setattr(
        kdd, "NSL_KDD_URL", str(tmp_path / "{name}.txt").replace(str(tmp_path), tmp_path.as_uri())
    )
    rec = load_nsl_kdd("KDDTest+", root=tmp_path / "cache")
    assert len(rec) == 5 and (tmp_path / "cache" / "nsl-kdd" / "KDDTest+.txt").is_file()
    src.unlink()  # a second load is served from the cache
    assert len(load_nsl_kdd("KDDTest+.txt", root=tmp_path / "cache")) == 5


def test_download_without_a_known_sum_warns(tmp_path: Path) -> None:
    src = _write(tmp_path / "KDDTest-21.txt", _rows(8, 2, {}))
    with pytest.warns(UserWarning, match="no published sha256 for KDDTest-21"):
        path = kdd.nsl_kdd_path("KDDTest-21", root=tmp_path / "c", url=src.as_uri())
    assert path.read_bytes() == src.read_bytes()
    with pytest.raises(TrafficDataError, match="unknown NSL-KDD file 'KDDTrain'"):
        kdd.nsl_kdd_path("KDDTrain")


# ------------------------------------------------------------------ preprocessing
def test_preprocessor_log_scales_drops_constants_and_zeroes_unseen(tmp_path: Path) -> None:
    rec = read_records(_write(tmp_path / "t.txt", _rows(9, 30, {"neptune": 20})))
    pre = Preprocessor().fit(rec)
    assert "num_outbound_cmds" not in pre.keep  # constant in training
    assert "src_bytes" in pre.log_scaled and "serror_rate" not in pre.log_scaled  # counts vs rates
    x = pre.transform(rec)
    assert x.dtype == np.float32 and x.shape == (50, len(pre.feature_names))
    n = len(pre.keep)
    np.testing.assert_allclose(x[:, :n].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:, :n].std(0), 1, atol=1e-4)
    j = pre.keep.index("src_bytes")
    raw = np.log1p(rec.numeric[:, NUMERIC.index("src_bytes")])
    np.testing.assert_allclose(x[:, j], (raw - raw.mean()) / raw.std(), rtol=1e-5, atol=1e-5)
    assert np.all(x[:, n:].sum(1) == 3)  # one hot per categorical column
    new = rec.subset(np.arange(2))
    new.categorical = new.categorical.astype(object)  # room for longer names
    new.categorical[0] = ["icmp_new", "tftp_u", "SH"]
    xn = pre.transform(new)
    assert xn[0, n:].sum() == 0 and xn[1, n:].sum() == 3
    assert pre.unseen_counts(new) == {
        "protocol_type": {"icmp_new": 1},
        "service": {"tftp_u": 1},
        "flag": {"SH": 1},
    }
    pre.save(tmp_path / "p.json")
    np.testing.assert_array_equal(Preprocessor.load(tmp_path / "p.json").transform(new), xn)


def test_preprocessor_rejects_bad_state(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"format": "something else"}')
    with pytest.raises(TrafficDataError, match="not a traffic preprocessing file"):
        Preprocessor.load(tmp_path / "p.json")
    with pytest.raises(RuntimeError, match="call fit"):
        _ = Preprocessor().feature_names


def test_preprocessor_clip_limits_the_standardized_columns(tmp_path: Path) -> None:
    rows = _rows(15, 40, {"neptune": 10})
    rows[0][FEATURES.index("duration")] = "50000"  # one record far out in a column that is 0 elsewhere
    rec = read_records(_write(tmp_path / "t.txt", rows))
    free, clipped = Preprocessor().fit(rec), Preprocessor(clip=2.5).fit(rec)
    np.testing.assert_array_equal(free.mean, clipped.mean)  # fitted the same; clipped when transforming
    x, xc = free.transform(rec), clipped.transform(rec)
    n = len(free.keep)
    assert np.abs(x[:, :n]).max() > 2.5 and np.abs(xc[:, :n]).max() == np.float32(2.5)
    np.testing.assert_array_equal(xc[:, :n], np.clip(x[:, :n], -2.5, 2.5))
    np.testing.assert_array_equal(xc[:, n:], x[:, n:])  # the one-hot blocks are left alone
    clipped.save(tmp_path / "p.json")
    loaded = Preprocessor.load(tmp_path / "p.json")
    assert loaded.clip == 2.5
    np.testing.assert_array_equal(loaded.transform(rec), xc)
    state = clipped.to_dict()
    del state["clip"]  # a file written before clipping existed scores as it did: no limit
    assert Preprocessor.from_dict(state).clip is None
    state["clip"] = -1
    with pytest.raises(TrafficDataError, match="clip must be a positive number or null, got -1"):
        Preprocessor.from_dict(state)
    with pytest.raises(ValueError, match="Preprocessor: clip must be a positive number"):
        Preprocessor(clip=0)


# ------------------------------------------------------------------ threshold and model
def test_choose_threshold_maximises_balanced_accuracy() -> None:
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(0, 1, 300), rng.normal(2, 1, 100)]
    y = np.r_[np.zeros(300, bool), np.ones(100, bool)]
    t = choose_threshold(scores, y)

    def balanced(thr: float) -> float:
        return ((scores[~y] <= thr).mean() + (scores[y] > thr).mean()) / 2

    assert balanced(t) == pytest.approx(max(balanced(c) for c in np.unique(scores)))
    assert choose_threshold(np.array([0.1, 0.2, 5.0, 6.0]), np.array([0, 0, 1, 1], bool)) == pytest.approx(
        2.6
    )
    with pytest.raises(ValueError, match="needs both normal and attack"):
        choose_threshold(scores[:5], np.zeros(5, bool))


def test_reconstruction_error_is_per_record_mse() -> None:
    model = Autoencoder(7, (5,), 3)
    x = np.random.default_rng(0).normal(size=(9, 7)).astype(np.float32)
    out = model(__import__("chainrule").tensor(x))._array
    np.testing.assert_allclose(reconstruction_error(model, x), ((out - x) ** 2).mean(1), rtol=1e-5)
    with pytest.raises(ValueError, match="Autoencoder: sizes must be positive"):
        Autoencoder(7, (0,), 3)


# ------------------------------------------------------------------ end to end
def test_cli_trains_and_writes_the_report(trained: tuple[Path, object]) -> None:
    out, result = trained
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    names = {
        "mixed_score",
        "autoencoder",
        "autoencoder_ensemble",
        "classifier",
        "isolation_forest",
        "nearest_normal",
        "logistic_regression",
        "random_forest",
    }
    assert set(report["models"]) == names
    for m in report["models"].values():
        for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "unseen_attack_detection_rate"):
            assert 0 <= m[key] <= 1
        assert m["accuracy"] <= m["best_threshold_accuracy"] <= 1
        assert m["unseen_attack_records"] == 30
    assert set(report["unseen_attack_types"]) == {"mscan"}
    assert report["data"]["unseen_test_categories"] == {"service": {"tftp_u": 1}, "flag": {"REJ": 30}}
    # the separable synthetic attacks are found by the supervised models
    assert report["models"]["random_forest"]["seen_attack_detection_rate"] == 1.0
    for name in (
        "roc_pr.png",
        "reconstruction_error.png",
        "autoencoder_0.safetensors",
        "autoencoder_4.safetensors",
        "classifier.safetensors",
        "normals.safetensors",
    ):
        assert (out / name).stat().st_size > 0
    ae = report["models"]["autoencoder"]
    assert ae["score"].startswith("hybrid") and ae["noise_std"] == [0.0, 0.1, 0.2, 0.3, 0.5]
    # the novelty detectors are validated on the validation normals plus all the training file's attacks
    assert report["data"]["novelty_validation_records"] == report["data"]["validation_records"] + 80
    assert report["data"]["input_clip"] == 5.0
    # the mixed score: hybrid + 0.25 x the classifier's margin, judged by leaving attack types out
    mixed = report["models"]["mixed_score"]
    assert mixed["weight"] == 0.25 and mixed["score"].startswith("hybrid + 0.25")
    lto = report["leave_types_out"]
    assert lto["held_out_types"] == [["neptune"]]  # one attack type: one fold
    for member in ("autoencoder", "classifier", "mixed_score"):
        assert 0 <= lto[member]["unseen_detection_rate"] <= 1 and 0 <= lto[member]["false_positive_rate"] <= 1
    assert lto["mixed_score"]["seen_detection_rate"] is None  # no type left to have been seen
    assert "leaving attack types out (validation only)" in result.output
    table_at = result.output.index("model ")
    assert result.output.index("Use the ") > table_at  # the summary leads with the table, then the advice
    assert "autoencoder *" in result.output[table_at:] and "mixed_score *" in result.output[table_at:]


def test_cli_scores_new_records(trained: tuple[Path, object], files: dict[str, Path], tmp_path: Path) -> None:
    out, result = trained
    assert result.exit_code == 0, result.output
    rows = _rows(11, 3, {"mscan": 2})
    rows[1][2] = "never_seen_service"
    path = _write(tmp_path / "new.txt", [r[:41] for r in rows])
    scored = CliRunner().invoke(main, ["traffic", "--model", str(out), "--score", str(path)])
    assert scored.exit_code == 0, scored.output
    lines = scored.stdout.strip().splitlines()
    assert lines[0].startswith("record,reconstruction_error,autoencoder_alarm") and len(lines) == 6
    assert lines[0].endswith(",mixed_score,mixed_alarm") and "mixed-score alarms" in scored.stderr
    assert "never_seen_service" in scored.stderr
    report = json.loads((out / "report.json").read_text())
    errors = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.all(errors >= 0) and report["models"]["autoencoder"]["threshold"] > 0
    written = CliRunner().invoke(
        main, ["traffic", "--model", str(out), "--score", str(files["test"]), "--out", str(tmp_path / "s")]
    )
    assert written.exit_code == 0, written.output
    csv_lines = (tmp_path / "s" / "scores.csv").read_text().splitlines()
    assert len(csv_lines) == 121 and csv_lines[0].endswith(",label")


def _bad_file(tmp_path: Path, kind: str) -> Path:
    rows = _rows(12, 20, {"neptune": 10})
    if kind == "malformed":
        rows[6][10] = "??"
    elif kind == "columns":
        rows = [r[:30] for r in rows]
    return _write(tmp_path / f"{kind}.txt", rows)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("malformed", "malformed.txt line 7: column 'num_failed_logins' should be a number, got '??'"),
        ("columns", "columns.txt line 1: expected 42 or 43 comma-separated columns"),
        ("missing", "missing.txt: no such file"),
    ],
)
def test_cli_bad_training_file_is_a_clear_error(
    files: dict[str, Path], tmp_path: Path, kind: str, message
) -> None:
    bad = tmp_path / "missing.txt" if kind == "missing" else _bad_file(tmp_path, kind)
    args = ["traffic", "--train", str(bad), "--test", str(files["test"]), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_cli_bad_score_inputs_and_usage(trained: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = trained
    bad = _write(tmp_path / "short.txt", [r[:20] for r in _rows(13, 2, {})])
    for args, message in [
        (["--model", str(out), "--score", str(bad)], "short.txt line 1: expected 41, 42 or 43"),
        (["--model", str(tmp_path), "--score", str(bad)], "not a traffic model directory"),
        (["--model", str(out)], "scoring needs both --model DIR and --score FILE"),
        (["--model", str(out), "--score", str(bad), "--noise", "0,x"], "--noise must be numbers"),
        (["--model", str(out), "--score", str(bad), "--noise", "-1"], "--noise levels must be >= 0"),
        (["--model", str(out), "--score", str(bad), "--clip", "-2"], "--clip must be >= 0"),
        (["--model", str(out), "--score", str(bad), "--classifier-weight", "-1"], "--classifier-weight must"),
        (
            ["--model", str(out), "--score", str(bad), "--ensemble-only", "--classifier-weight", "0.5"],
            "drop --ensemble-only",
        ),
        (["--train", str(bad)], "training needs --train FILE, --test FILE and --out DIR"),
        ([], "give either"),
    ]:
        result = CliRunner().invoke(main, ["traffic", *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_training_file_without_attacks_is_refused(files: dict[str, Path], tmp_path: Path) -> None:
    train = _write(tmp_path / "normal_only.txt", _rows(14, 30, {}))
    args = ["traffic", "--train", str(train), "--test", str(files["test"]), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "has only normal records" in result.output


# ------------------------------------------------------------------ the real files
@pytest.mark.skipif(not (REAL / "KDDTest+.txt").is_file(), reason="the real NSL-KDD files are absent")
def test_real_files_match_their_checksums_and_counts() -> None:
    for name, rows, attacks in (("KDDTrain+_20Percent", 25192, 11743), ("KDDTest+", 22544, 12833)):
        path = REAL / f"{name}.txt"
        assert file_sha256(path) == kdd.NSL_KDD_FILES[name]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = load_nsl_kdd(path)
        assert len(rec) == rows and int(rec.is_attack.sum()) == attacks


def test_training_is_reproducible_with_a_seed() -> None:
    import chainrule as cr
    from chainrule.apps.traffic.baselines import fit_baselines
    from chainrule.apps.traffic.models import fit_autoencoder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = np.arange(120) % 3 == 0
    runs = []
    for _ in range(2):
        cr.manual_seed(5)
        model, _ = fit_autoencoder(x[~y][:60], x[~y][60:], (4,), 2, epochs=2, batch_size=16, progress=False)
        base = fit_baselines(x[:80], y[:80], x[80:], y[80:], x, seed=5)
        runs.append((reconstruction_error(model, x), {k: v[0] for k, v in base.items()}))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for name in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][name], runs[1][1][name])


def test_export_writes_the_detector_models_as_onnx(trained: tuple[Path, object], tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from chainrule.apps.traffic.detector import Detector

    out, _ = trained
    model_dir = next(out.rglob("detector.json")).parent
    detector = Detector.load(model_dir)
    n_in = len(detector.preprocessor.feature_names)
    x = np.random.default_rng(0).standard_normal((3, n_in)).astype(np.float32)
    for part in ("classifier", "autoencoder"):
        path = tmp_path / f"{part}.onnx"
        result = CliRunner().invoke(main, ["export", str(model_dir), str(path), "--part", part])
        assert result.exit_code == 0, result.output
        got = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
        model = getattr(detector, part).eval()
        np.testing.assert_allclose(got, model(cr.tensor(x))._array, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ ensemble, type-balanced threshold
def test_type_balanced_threshold_weighs_each_attack_type_alike() -> None:
    from chainrule.apps.traffic.thresholds import choose_type_balanced_threshold

    # 100 normals at 0..3, a big easy attack type at 10, a small subtle one among the top normals
    scores = np.r_[np.linspace(0, 3, 100), np.full(200, 10.0), np.linspace(2, 3, 20)]
    labels = np.array(["normal"] * 100 + ["flood"] * 200 + ["probe"] * 20)
    assert choose_type_balanced_threshold(scores, labels) < 2.0  # gives up normals to catch the probes
    # pooled (balanced accuracy), the probes are 10% of the attacks and not worth a third of the normals
    assert choose_threshold(scores, labels != "normal") > 3.0
    assert choose_type_balanced_threshold(scores, labels, min_count=50) > 3.0  # only the flood counts
    few = np.array(["normal"] * 100 + ["flood"] * 200 + ["rare"] * 20)
    assert choose_type_balanced_threshold(scores, few, min_count=500) == pytest.approx(
        choose_threshold(scores, few != "normal")
    )  # no type has enough records: all attacks count as one
    with pytest.raises(ValueError, match="both normal and attack"):
        choose_type_balanced_threshold(scores[:100], labels[:100])


def test_ensemble_score_is_the_geometric_mean_of_standardized_errors() -> None:
    from chainrule.apps.traffic.ensemble import (
        AutoencoderEnsemble,
        fit_ensemble,
        residual_scale,
        standardized_error,
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    ens, histories = fit_ensemble(x[:40], x[40:], members=2, seed=3, hidden_sizes=(4,), code_size=2,
                                  epochs=2, batch_size=16, progress=False)  # fmt: skip
    assert len(ens.members) == 2 and len(histories) == 2
    scale = residual_scale(ens.members[0], x[:40])
    np.testing.assert_allclose(scale, ens.scales[0])
    r = (ens.members[0](cr.tensor(x))._array.astype(np.float64) - x) ** 2
    np.testing.assert_allclose(standardized_error(ens.members[0], x, scale), (r / scale).mean(1), rtol=1e-5)
    # on the rows that fixed the scale, each member's standardized error averages to 1
    assert standardized_error(ens.members[1], x[:40], ens.scales[1]).mean() == pytest.approx(1.0, rel=1e-4)
    members = [standardized_error(m, x, s) for m, s in zip(ens.members, ens.scales)]
    np.testing.assert_allclose(ens.score(x), np.sqrt(members[0] * members[1]), rtol=1e-5)
    again, _ = fit_ensemble(x[:40], x[40:], members=2, seed=3, hidden_sizes=(4,), code_size=2, epochs=2,
                            batch_size=16, progress=False)  # fmt: skip
    np.testing.assert_array_equal(again.score(x), ens.score(x))
    with pytest.raises(ValueError, match="one scale per member"):
        AutoencoderEnsemble(ens.members, ens.scales[:1])


def test_validation_metrics_report_what_chose_the_threshold() -> None:
    from chainrule.apps.traffic.evaluate import validation_metrics

    scores = np.array([0.1, 0.2, 0.3, 0.9, 5.0, 6.0, 0.25] + [7.0] * 10)
    labels = np.array(["normal"] * 4 + ["flood", "flood", "probe"] + ["smurf"] * 10)
    m = validation_metrics(scores, 0.5, labels, min_count=2)
    assert m["false_positive_rate"] == 0.25 and m["detection_rate_by_type"] == {"flood": 1.0, "smurf": 1.0}
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 12 / 13) / 2)
    assert m["type_balanced_accuracy"] == pytest.approx((0.75 + 1.0) / 2)


def test_best_threshold_accuracy_is_the_best_cut_between_distinct_scores() -> None:
    from chainrule.apps.traffic.evaluate import best_threshold_accuracy

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40):
        scores = rng.integers(0, 5, n).astype(float)  # ties: a cut inside a tie is no threshold
        y = rng.random(n) < 0.5
        cuts = np.concatenate([[scores.min() - 1], np.unique(scores)])
        brute = max(float(((scores > t) == y).mean()) for t in cuts)
        assert best_threshold_accuracy(scores, y) == pytest.approx(brute)
    # all tied: the only thresholds alarm on everything or on nothing
    assert best_threshold_accuracy(np.zeros(4), np.array([1, 1, 1, 0], bool)) == 0.75
    assert best_threshold_accuracy(np.array([3.0, 1.0, 2.0]), np.array([1, 0, 1], bool)) == 1.0
    with pytest.raises(ValueError, match="one non-empty 1-D shape"):
        best_threshold_accuracy(np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError, match="NaN"):
        best_threshold_accuracy(np.array([0.0, np.nan]), np.array([0, 1], bool))


def test_detector_directory_round_trips_and_refuses_old_or_broken_files(
    trained: tuple[Path, object], files: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from chainrule.apps.traffic.detector import Detector

    out, result = trained
    assert result.exit_code == 0, result.output
    detector = Detector.load(out)
    report = json.loads((out / "report.json").read_text())
    assert len(detector.ensemble.members) == report["models"]["autoencoder"]["members"] == 5
    assert report["models"]["autoencoder"]["validation"]["type_balanced_accuracy"] > 0.5
    records = read_records(files["test"])
    scored = detector.score(records)
    assert np.array_equal(scored["autoencoder_alarm"], scored["anomaly_score"] > detector.threshold)
    assert detector.hybrid and detector.noise_std == (0.0, 0.1, 0.2, 0.3, 0.5)
    from chainrule.apps.traffic.hybrid import hybrid_score

    x = detector.preprocessor.transform(records)
    np.testing.assert_allclose(scored["ensemble_score"], detector.ensemble.score(x))
    expected = hybrid_score(scored["ensemble_score"], scored["nearest_distance"], detector.calibrations)
    np.testing.assert_allclose(scored["anomaly_score"], expected)
    from chainrule.apps.traffic.models import classifier_margin

    assert detector.mixed and detector.mix_weight == 0.25
    assert detector.mix_threshold == report["models"]["mixed_score"]["threshold"]
    margin = classifier_margin(detector.classifier, x)
    np.testing.assert_allclose(scored["classifier_z"], detector.classifier_calibration(margin))
    np.testing.assert_allclose(scored["mixed_score"], expected + 0.25 * scored["classifier_z"])
    assert np.array_equal(scored["mixed_alarm"], scored["mixed_score"] > detector.mix_threshold)
    np.testing.assert_allclose(scored["attack_probability"], 1 / (1 + np.exp(-margin)))
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # a directory of the previous format (no mixed score) loads and scores the hybrid as before
    config = json.loads((copy / "detector.json").read_text())
    unmixed = {**config, "format": "chainrule.apps.traffic.Detector/3"}
    del unmixed["mixed"]
    (copy / "detector.json").write_text(json.dumps(unmixed))
    before = Detector.load(copy)
    assert before.hybrid and not before.mixed and "mixed_score" not in before.score(records)
    broken = json.loads(json.dumps(config))
    broken["mixed"]["classifier_calibration"]["iqr"] = 0.0
    (copy / "detector.json").write_text(json.dumps(broken))
    with pytest.raises(TrafficDataError, match="the mixed score needs the hybrid, a classifier iqr > 0"):
        Detector.load(copy)
    (copy / "detector.json").write_text(json.dumps(config))
    (copy / "normals.safetensors").unlink()
    with pytest.raises(TrafficDataError, match=r"lacks normals\.safetensors"):
        Detector.load(copy)
    # a directory of the previous format (the ensemble alone) loads and scores with the ensemble
    config = json.loads((copy / "detector.json").read_text())
    old = {**config, "format": "chainrule.apps.traffic.Detector/2"}
    del old["hybrid"]
    (copy / "detector.json").write_text(json.dumps(old))
    ensemble_only = Detector.load(copy)
    assert not ensemble_only.hybrid
    np.testing.assert_allclose(ensemble_only.score(records)["anomaly_score"], scored["ensemble_score"])
    config["autoencoder"]["residual_scales"][0][0] = -1.0
    (copy / "detector.json").write_text(json.dumps(config))
    with pytest.raises(TrafficDataError, match="residual scales must be"):
        Detector.load(copy)
    (copy / "detector.json").write_text(json.dumps({"format": "chainrule.apps.traffic.Detector/1"}))
    with pytest.raises(TrafficDataError, match="older chainrule"):
        Detector.load(copy)


def test_nearest_normal_baseline_scores_the_distance_to_the_closest_training_normal() -> None:
    from chainrule.apps.traffic.baselines import fit_baselines

    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 4))
    y = np.arange(90) % 3 == 0
    x[y] += 4.0  # attacks sit away from the normals
    labels = np.where(y, "flood", "normal")
    out = fit_baselines(x[:60], y[:60], x[60:], y[60:], x, seed=0, val_labels=labels[60:])
    scores, alarms, extra = out["nearest_normal"]
    normals = x[:60][~y[:60]]
    expected = np.linalg.norm(x[:, None, :] - normals[None], axis=2).min(1)
    np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)
    assert np.array_equal(alarms, scores > extra["threshold"])
    assert extra["validation"]["type_balanced_accuracy"] > 0.9 and alarms[y].mean() > 0.9


def test_denoising_autoencoder_adds_noise_in_training_only() -> None:
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32))
    model = Autoencoder(5, (4,), 2, noise_std=0.5)
    clean = Autoencoder(5, (4,), 2)
    assert list(model.state_dict()) == list(clean.state_dict())  # the noise adds no parameter
    model.train()
    assert not np.allclose(model(x)._array, model(x)._array)  # fresh noise each forward
    model.eval()
    np.testing.assert_array_equal(model(x)._array, model(x)._array)
    clean.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(model(x)._array, clean(x)._array)  # eval: the plain autoencoder
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        Autoencoder(5, (4,), 2, noise_std=-0.1)


def test_noise_levels_repeat_one_level_or_cycle_a_mix() -> None:
    from chainrule.apps.traffic.ensemble import noise_levels

    assert noise_levels(0.2, 3) == [0.2, 0.2, 0.2]
    assert noise_levels((0.0, 0.1), 5) == [0.0, 0.1, 0.0, 0.1, 0.0]
    for bad in ((), (0.1, -1.0), float("nan")):
        with pytest.raises(ValueError, match="noise_std must be one or more levels >= 0"):
            noise_levels(bad, 2)


def test_nearest_normal_matches_brute_force_across_chunks() -> None:
    from chainrule.apps.traffic import hybrid

    rng = np.random.default_rng(2)
    normals = rng.normal(size=(50, 6)).astype(np.float32)
    x = rng.normal(size=(2500, 6)).astype(np.float32)  # more rows than one distance block
    x[:3] = normals[:3]  # records identical to a stored normal: distance 0, not NaN
    got = hybrid.NearestNormal(normals).score(x)
    expected = np.linalg.norm(x[:, None, :].astype(np.float64) - normals[None], axis=2).min(1)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    assert np.all(got[:3] < 1e-5)
    with pytest.raises(ValueError, match="expected rows of 6 features"):
        hybrid.NearestNormal(normals).score(x[:, :4])
    with pytest.raises(ValueError, match="non-empty"):
        hybrid.NearestNormal(np.zeros((0, 6)))


def test_robust_z_and_hybrid_score() -> None:
    from chainrule.apps.traffic.hybrid import RobustZ, hybrid_score

    normal = np.exp(np.arange(1.0, 101.0) / 10)  # logs 0.1 ... 10.0
    cal = RobustZ.fit(normal)
    logs = np.log(normal + 1e-9)
    assert cal.median == pytest.approx(np.median(logs))
    assert cal.iqr == pytest.approx(np.subtract(*np.percentile(logs, [75, 25])))
    np.testing.assert_allclose(cal(normal), (logs - cal.median) / cal.iqr)
    other = RobustZ(1.0, 2.0)
    a, b = np.array([1.0, 10.0]), np.array([3.0, 0.5])
    np.testing.assert_allclose(hybrid_score(a, b, (cal, other)), (cal(a) + other(b)) / 2)
    with pytest.raises(ValueError, match="all equal"):
        RobustZ.fit(np.ones(5))
    with pytest.raises(ValueError, match="at least 2"):
        RobustZ.fit(np.ones(1))


def test_novelty_validation_adds_the_training_attacks_only() -> None:
    from chainrule.apps.traffic.pipeline import novelty_validation

    x_val, x_tr = np.zeros((3, 2)), np.arange(8.0).reshape(4, 2)
    val_labels = np.array(["normal", "smurf", "normal"])
    tr_labels = np.array(["normal", "neptune", "normal", "back"])
    x, labels = novelty_validation(x_val, val_labels, x_tr, tr_labels)
    assert labels.tolist() == ["normal", "smurf", "normal", "neptune", "back"]
    np.testing.assert_array_equal(x, np.vstack([x_val, x_tr[[1, 3]]]))


def test_ensemble_only_run_scores_with_the_ensemble(files: dict[str, Path], tmp_path: Path) -> None:
    from chainrule.apps.traffic.detector import Detector
    from chainrule.apps.traffic.pipeline import TrafficConfig, run_traffic

    config = TrafficConfig(seed=2, epochs=2, members=2, noise_std=0.1, hybrid=False, progress=False)
    report = run_traffic(files["train"], files["test"], tmp_path / "o", config, echo=lambda _: None)
    ae = report["models"]["autoencoder"]
    assert ae["score"] == "ensemble" and ae["noise_std"] == [0.1, 0.1]
    assert "autoencoder_ensemble" not in report["models"] and "mixed_score" not in report["models"]
    assert report["leave_types_out"] is None  # no mixed score without the hybrid
    assert not (tmp_path / "o" / "normals.safetensors").exists()
    detector = Detector.load(tmp_path / "o")
    assert not detector.hybrid and detector.noise_std == (0.1, 0.1)
    scored = detector.score(read_records(files["test"]))
    np.testing.assert_array_equal(scored["anomaly_score"], scored["ensemble_score"])
    assert "nearest_distance" not in scored and "mixed_score" not in scored
    with pytest.raises(ValueError, match="it needs hybrid=True"):
        run_traffic(
            files["train"], files["test"], tmp_path / "p", TrafficConfig(hybrid=False, classifier_weight=1)
        )
