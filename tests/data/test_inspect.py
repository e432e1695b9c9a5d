"""``cr.data.inspect`` and ``chainrule inspect``: every planted problem is found, clean data passes.

Each check plants one problem (missing values, infinities, a constant column,
duplicate rows, class imbalance, features on different scales, test rows copied
from the training set, a column that gives the label away) into otherwise clean
random data and asserts that the report names it, with the right counts and
rows. Duplicates and leakage are also compared with a plain-Python oracle on
data drawn by hypothesis. The command is run through click's CliRunner: the
report prints as a table or parses as JSON, and every kind of bad file gives
one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.cli import main
from chainrule.data.inspection import DataError, DataReport, inspect_csv, read_csv


def clean(n: int = 200, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features and three balanced-ish classes: nothing to report."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)).astype(np.float32), rng.integers(0, 3, n)


def mentions(report: DataReport, *words: str) -> bool:
    return any(all(w in warning for w in words) for warning in report.warnings)


# ------------------------------------------------------------------------------------------- clean data
def test_clean_data_has_no_warnings() -> None:
    X, y = clean()
    X_test, _ = clean(seed=1)
    r = cr.data.inspect(X, y, X_test=X_test)
    assert r.warnings == []
    assert (r.n_rows, r.n_columns, r.task, r.n_test_rows, r.leaked_rows) == (200, 4, "classification", 200, 0)
    assert r.missing == r.infinite == {} and r.constant_columns == [] and r.duplicate_rows == 0
    assert r.target_leaks == {} and r.standardize == []
    assert r.class_counts == {str(c): int((y == c).sum()) for c in range(3)}
    assert "no problems found" in str(r)


def test_column_statistics() -> None:
    X, _ = clean()
    X[0, 1] = np.nan
    r = cr.data.inspect(X)
    c0, c1 = r.columns[0], r.columns[1]
    assert (c0.name, c0.kind, c0.distinct) == ("x0", "numeric", 200)
    np.testing.assert_allclose([c0.mean, c0.std, c0.min, c0.max],
                               [X[:, 0].mean(dtype=np.float64), X[:, 0].std(dtype=np.float64),
                                X[:, 0].min(), X[:, 0].max()], rtol=1e-6)
    ok = X[1:, 1].astype(np.float64)
    np.testing.assert_allclose([c1.mean, c1.std], [ok.mean(), ok.std()], rtol=1e-9)
    assert r.target is None and r.class_counts is None


# ------------------------------------------------------------------------------------------- planted problems
def test_missing_and_infinite_values() -> None:
    X, y = clean()
    X[[3, 50, 77], 1] = np.nan
    X[10, 2] = np.inf
    X[11, 2] = -np.inf
    r = cr.data.inspect(X, y)
    assert r.missing == {"x1": 3} and r.infinite == {"x2": 2}
    assert (r.columns[1].missing, r.columns[2].infinite, r.columns[2].missing) == (3, 2, 0)
    assert math.isfinite(r.columns[2].max) and r.columns[2].max == X[np.isfinite(X[:, 2]), 2].max()
    assert mentions(r, "missing", "'x1' (3, 1.5%)") and mentions(r, "infinite", "'x2' (2")


def test_constant_columns() -> None:
    X, y = clean()
    X[:, 0] = 7.0
    X[:, 3] = np.nan  # entirely missing: no information either
    r = cr.data.inspect(X, y)
    assert r.constant_columns == ["x0", "x3"]
    assert mentions(r, "2 constant columns", "'x0', 'x3'")


def test_duplicate_rows() -> None:
    X, y = clean()
    X[20] = X[5]
    X[30] = X[5]
    X[40] = X[7]
    X[[8, 9], 0] = np.nan  # NaN rows equal where everything else is equal
    X[9] = X[8]
    X[60], X[61] = X[12], X[12]
    r = cr.data.inspect(X, y)
    assert r.duplicate_rows == 6
    assert r.duplicate_examples == [(8, 9), (5, 20), (5, 30), (7, 40), (12, 60), (12, 61)]
    assert mentions(r, "6 duplicate rows (3.0%)", "row 9 repeats row 8")


def test_negative_zero_equals_zero_and_conflicting_labels() -> None:
    X = np.array([[0.0, 1.0], [-0.0, 1.0], [2.0, 3.0], [2.0, 3.0]])
    r = cr.data.inspect(X, y=[0, 1, 1, 1])
    assert r.duplicate_rows == 2 and r.conflicting_duplicates == 1
    assert mentions(r, "1 repeated row carries a different label")


def test_class_imbalance() -> None:
    X, _ = clean(n=218)
    y = np.array([0] * 100 + [1] * 9 + [2] * 100 + [3] * 9)
    r = cr.data.inspect(X, y)
    assert r.class_counts == {"0": 100, "1": 9, "2": 100, "3": 9}
    assert r.imbalance_ratio == pytest.approx(100 / 9)
    assert mentions(r, "imbalanced", "class '1' has 9 rows", "class '0' has 100")
    r = cr.data.inspect(X[:210], np.array([0] * 100 + [1] * 10 + [2] * 100))  # rarest exactly 10%: fine
    assert not mentions(r, "imbalanced")


def test_text_labels_and_single_class() -> None:
    X, _ = clean(n=40)
    r = cr.data.inspect(X, ["cat"] * 3 + ["dog"] * 37)
    assert r.class_counts == {"cat": 3, "dog": 37} and mentions(r, "class 'cat' has 3 rows")
    r = cr.data.inspect(X, np.ones(40))
    assert r.class_counts == {"1": 40} and mentions(r, "single class")


def test_regression_target_and_missing_labels() -> None:
    X, _ = clean()
    y = np.random.default_rng(3).normal(size=200) * 10
    y[[4, 9]] = np.nan
    r = cr.data.inspect(X, y)
    assert (r.task, r.class_counts, r.target_missing) == ("regression", None, 2)
    assert mentions(r, "2 missing labels", "rows 4, 9")


def test_one_hot_labels() -> None:
    X, y = clean()
    r = cr.data.inspect(X, np.eye(3)[y])
    assert r.class_counts == cr.data.inspect(X, y).class_counts


def test_scale_differences() -> None:
    X, y = clean(k=5)
    X[:, 2] *= 1000.0
    r = cr.data.inspect(X, y)
    assert r.standardize == ["x2"] and r.scale_ratio > 100
    assert mentions(r, "different scales", "'x2'", "standardize")
    # steps of 10x: no column is 10x off the median scale, but the extremes are 100x apart
    X, y = clean(k=3)
    X *= np.array([1.0, 10.0, 100.0], dtype=np.float32)
    assert cr.data.inspect(X, y).standardize == ["x0", "x2"]


def test_sparse_indicator_is_not_a_scale_problem() -> None:
    # a rare 0/1 flag has a tiny std but the same range as the other features: not flagged
    X, y = clean(n=400)
    X = np.clip(X, -2, 2)
    X[:, 3] = 0.0
    X[:3, 3] = 1.0
    r = cr.data.inspect(X, y)
    assert r.standardize == [] and r.warnings == []


def test_train_test_leakage() -> None:
    X, y = clean()
    X_test, _ = clean(n=50, seed=1)
    X_test[[4, 17, 30]] = X[[0, 99, 150]]
    r = cr.data.inspect(X, y, X_test=X_test)
    assert (r.n_test_rows, r.leaked_rows, r.leaked_indices) == (50, 3, [4, 17, 30])
    assert mentions(r, "3 test rows (6.0%) also appear in the training data", "test rows 4, 17, 30")
    assert "test set: 50 rows, 3 of them also in the training data" in str(r)


def test_target_leakage() -> None:
    X, y = clean(n=100, k=5)
    X[:, 1] = y  # a copy of the label
    X[:, 3] = 2.5 * y + 1.0  # a linear function of it
    X[:, 4] = np.array([3.0, -1.0, 8.0])[y] + 0.0  # each label gets its own code: determines y
    r = cr.data.inspect(X, y)
    assert r.target_leaks == {"x1": "equal to the target", "x3": "perfectly correlated with the target",
                              "x4": r.target_leaks["x4"]}
    assert r.target_leaks["x4"].startswith("determines the target")
    assert mentions(r, "target leakage", "'x1'")


def test_target_leakage_regression_and_categorical() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=60)
    X = {"a": rng.normal(size=60), "fahrenheit": y * 1.8 + 32,
         "tier": np.where(y > 0, "high", "low"), "noise": rng.normal(size=60)}
    r = cr.data.inspect(X, y)
    assert set(r.target_leaks) == {"fahrenheit"}  # 'tier' is coarser than y: it does not determine it
    labels = np.where(y > 0, "pos", "neg")
    r = cr.data.inspect({"a": X["a"], "tier": X["tier"], "same": labels}, labels)
    assert set(r.target_leaks) == {"tier", "same"} and r.target_leaks["same"] == "equal to the target"


def test_no_false_target_leakage() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 5, 300), rng.integers(0, 40, 300)])
    assert cr.data.inspect(X, y).target_leaks == {}
    assert cr.data.inspect(X[:3], y[:3]).target_leaks == {}  # too few rows to tell
    pairs = np.repeat(np.arange(6.0), 2)[:, None]  # six values, each twice, labels agreeing by chance
    assert cr.data.inspect(pairs, np.repeat([0, 1, 1, 0, 1, 0], 2)).target_leaks == {}


def test_identifier_columns() -> None:
    X, y = clean(n=50)
    features = {f"f{j}": X[:, j] for j in range(4)}
    data = {"id": np.arange(1000, 1050), "name": [f"p{i}" for i in range(50)], **features}
    data["f0"][10] = data["f0"][3]
    for j in range(1, 4):
        data[f"f{j}"][10] = data[f"f{j}"][3]
    r = cr.data.inspect(data, y)
    assert r.identifier_columns == ["id", "name"] and mentions(r, "row identifier", "'id', 'name'")
    assert r.duplicate_rows == 1  # identifiers aside, row 10 repeats row 3
    assert r.standardize == []  # the counter does not count as a feature scale


# ------------------------------------------------------------------------------------------- input forms
class FakeFrame:
    """Just enough of a pandas DataFrame (pandas is not a dependency): columns, len, iloc, to_numpy."""

    class _ILoc:
        def __init__(self, frame: FakeFrame) -> None:
            self.frame = frame

        def __getitem__(self, key: tuple) -> FakeFrame._Series:
            return FakeFrame._Series(self.frame._array[self.frame.columns[key[1]]])

    class _Series:
        def __init__(self, values: np.ndarray) -> None:
            self.values = values

        def to_numpy(self) -> np.ndarray:
            return self.values

    def __init__(self, data: dict) -> None:
        self._array = {k: np.asarray(v) for k, v in data.items()}
        self.columns = list(self._array)
        self.iloc = FakeFrame._ILoc(self)

    def __len__(self) -> int:
        return len(next(iter(self._array.values())))

    def to_numpy(self) -> np.ndarray:
        return np.column_stack(list(self._array.values()))


def test_input_forms_agree() -> None:
    X, y = clean(n=60, k=3)
    X[2, 1] = np.nan
    X[9] = X[4]
    reference = cr.data.inspect(X, y).to_dict()
    names = ["x0", "x1", "x2"]
    forms = [cr.tensor(X), X.astype(np.float64).tolist(), {n: X[:, j] for j, n in enumerate(names)},
             FakeFrame({n: X[:, j] for j, n in enumerate(names)})]
    for form in forms:
        got = cr.data.inspect(form, cr.tensor(y)).to_dict()
        for key in ("missing", "duplicate_examples", "class_counts", "constant_columns", "warnings"):
            assert got[key] == reference[key], (type(form), key)
        stds = [c["std"] for c in got["columns"]]
        np.testing.assert_allclose(stds, [c["std"] for c in reference["columns"]], rtol=1e-6)


def test_categorical_columns_from_rows_and_frames() -> None:
    rows = [[1.5, "red", "3"], [2.0, "blue", "NA"], [None, "red", "4.5"], [4.0, None, "?"]]
    r = cr.data.inspect(rows, feature_names=["size", "colour", "weight"])
    kinds = {c.name: (c.kind, c.missing, c.distinct) for c in r.columns}
    assert kinds == {"size": ("numeric", 1, 3), "colour": ("categorical", 1, 2), "weight": ("numeric", 2, 2)}
    assert r.categorical_columns == {"colour": 2} and r.columns[1].mean is None
    assert r.missing == {"size": 1, "colour": 1, "weight": 2}
    # a DataFrame's object column with pandas-style missing values, the target taken by name
    frame = FakeFrame({"colour": np.array(["a", float("nan"), "b", "a"], dtype=object),
                       "v": [1, 2, 3, 4], "label": ["x", "y", "x", "y"]})
    r = cr.data.inspect(frame, y="label")
    assert [c.name for c in r.columns] == ["colour", "v"] and r.missing == {"colour": 1}
    assert r.target == "label" and r.class_counts == {"x": 2, "y": 2}


class NamedColumns:
    """A DataFrame without ``iloc`` (polars-like): columns are looked up by name."""

    def __init__(self, data: dict) -> None:
        self._array = data
        self.columns = list(data)

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self._array[name])

    def __len__(self) -> int:
        return len(next(iter(self._array.values())))

    def to_numpy(self) -> np.ndarray:
        return np.column_stack(list(self._array.values()))


def test_frame_by_name_and_dates() -> None:
    days = np.array(["2024-01-01", "NaT", "2024-01-02", "2024-01-01"], dtype="datetime64[D]")
    r = cr.data.inspect(NamedColumns({"day": days, "v": [1.0, 2.0, 3.0, 4.0]}))
    assert [(c.name, c.kind, c.missing, c.distinct) for c in r.columns] == [
        ("day", "categorical", 1, 2), ("v", "numeric", 0, 4)]


def test_images_are_flattened() -> None:
    X = np.random.default_rng(0).random((30, 2, 3, 3)).astype(np.float32)
    X[:, 0, 0, 0] = 0.0
    r = cr.data.inspect(X)
    assert r.n_columns == 18 and r.constant_columns == ["x0"]


def test_named_test_columns_are_aligned() -> None:
    X, y = clean(n=30, k=3)
    train = {"a": X[:, 0], "b": X[:, 1], "label": y}
    test = {"label": y[:5], "b": X[:5, 1], "a": X[:5, 0], "extra": np.zeros(5)}
    r = cr.data.inspect(train, y="label", X_test=test)
    assert r.leaked_indices == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("call", "message"), [
    (lambda x, y: cr.data.inspect(x, y[:-1]), "y has 199 labels but X has 200 rows"),
    (lambda x, y: cr.data.inspect(x, np.ones((200, 2))), "y has shape (200, 2)"),
    (lambda x, y: cr.data.inspect(x[:0]), "X has no rows"),
    (lambda x, y: cr.data.inspect(x, X_test=x[:, :2]), "X_test has 2 columns, X has 4"),
    (lambda x, y: cr.data.inspect([[1, "a"], [2]]), "row 1 of X has 1 values, row 0 has 2"),
    (lambda x, y: cr.data.inspect(x, y="label"), "X has no column 'label'; its columns are 'x0'"),
    (lambda x, y: cr.data.inspect(x, feature_names=["a"]), "1 feature_names for the 4 columns of X"),
    (lambda x, y: cr.data.inspect({"a": [1, 2]}, X_test={"b": [1]}), "X_test lacks the columns 'a'"),
    (lambda x, y: cr.data.inspect(3.0), "X is a single value"),
])
def test_bad_input_is_named(call, message: str) -> None:
    X, y = clean()
    with pytest.raises(DataError, match=re.escape("inspect: " + message)):
        call(X, y)


# ------------------------------------------------------------------------------------------- oracle
def python_first_copies(rows: list[tuple]) -> list[int]:
    """For each row, the index of its first copy: a dict over tuples (0.0 == -0.0 already; NaN and None
    are both "missing")."""
    seen: dict[tuple, int] = {}
    keys = [tuple(None if v is None or v != v else v for v in r) for r in rows]
    return [seen.setdefault(key, i) for i, key in enumerate(keys)]


@given(st.data())
def test_duplicates_and_leakage_match_python(data: st.DataObject) -> None:
    n, m, k = data.draw(st.integers(1, 30)), data.draw(st.integers(1, 15)), data.draw(st.integers(1, 3))
    numbers = [0.0, -0.0, 1.0, 2.5, np.nan, np.inf]
    values = st.sampled_from(numbers + (["a", "b", None] if data.draw(st.booleans()) else []))
    X = data.draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n))
    T = data.draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=m, max_size=m))
    r = cr.data.inspect(X, X_test=T)
    first = python_first_copies([tuple(row) for row in X + T])
    dups = [(first[i], i) for i in range(n) if first[i] != i]
    assert r.duplicate_rows == len(dups) and r.duplicate_examples == dups[:10]
    assert r.leaked_indices == [j for j in range(m) if first[n + j] < n]


# ------------------------------------------------------------------------------------------- report output
def test_to_dict_is_json_safe_and_str_is_a_table() -> None:
    X, y = clean()
    X[:, 0] = np.inf  # mean/std/min/max of a column without finite values: None, not NaN
    X[5] = X[6]
    r = cr.data.inspect(X, y)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["columns"][0]["mean"] is None and d["infinite"] == {"x0": 200}
    assert d["duplicate_examples"] == [[5, 6]] and d["warnings"] == r.warnings
    text = str(r)
    lines = text.splitlines()
    assert lines[0] == "200 rows x 4 columns (4 numeric, 0 categorical), target 'y'"
    header = next(line for line in lines if line.startswith("column"))
    assert header.split() == ["column", "kind", "missing", "inf", "distinct", "mean", "std", "min", "max"]
    row = next(line for line in lines if line.startswith("x1 "))
    assert len(row) == len(header)  # right-aligned under the header
    assert f"warnings ({len(r.warnings)}):" in text and all(w in text for w in r.warnings)


# ------------------------------------------------------------------------------------------- CSV files
def write(tmp_path, name: str, text: str | bytes):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_read_csv_parses_numbers_missing_and_text(tmp_path) -> None:
    p = write(tmp_path, "d.csv", 'a,b,c,d\n1, x,NA,"1,5"\n2.5,"y, z",,2\n-3e2,x,?,nan\n')
    cols = read_csv(p)
    assert list(cols) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(cols["a"], [1.0, 2.5, -300.0])
    assert cols["b"].tolist() == ["x", "y, z", "x"]
    assert np.isnan(cols["c"]).all()
    assert cols["d"].tolist()[:2] == ["1,5", "2"] and cols["d"][2] is None  # "1,5" is not a number


@pytest.mark.parametrize(("name", "delimiter"), [("d.tsv", "\t"), ("d.csv", ";"), ("d.txt", "|")])
def test_read_csv_sniffs_the_delimiter(tmp_path, name: str, delimiter: str) -> None:
    text = "\n".join(delimiter.join(r) for r in [["x", "y"], ["1", "a"], ["2", "b"]]) + "\n"
    cols = read_csv(write(tmp_path, name, text))
    assert list(cols) == ["x", "y"] and cols["x"].tolist() == [1.0, 2.0]


def test_single_column_and_quoted_newlines(tmp_path) -> None:
    assert read_csv(write(tmp_path, "one.csv", "v\n1\n2\n"))["v"].tolist() == [1.0, 2.0]
    cols = read_csv(write(tmp_path, "q.csv", 'id,note\n1,"two\nlines"\n2,plain\n'))
    assert cols["note"].tolist() == ["two\nlines", "plain"]


def test_inspect_csv(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = [f"{a:.6f},{b:.6f},{'yes' if lab else 'no'}" for a, b, lab in
            zip(rng.normal(size=40), rng.normal(size=40), rng.integers(0, 2, 40))]
    train = write(tmp_path, "train.csv", "a,b,label\n" + "\n".join(rows) + "\n")
    swapped = [",".join(r.split(",")[1::-1]) for r in rows[:3]]  # columns b, a: aligned by name
    test = write(tmp_path, "test.csv", "b,a\n" + "\n".join(swapped) + "\n")
    r = inspect_csv(train, target="label", test=test)
    assert r.n_columns == 2 and r.task == "classification" and set(r.class_counts) == {"no", "yes"}
    assert r.leaked_indices == [0, 1, 2]


# ------------------------------------------------------------------------------------------- the command
def run(*args: str):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def test_cli_table_and_json(tmp_path) -> None:
    p = write(tmp_path, "d.csv", "f,g,label\n1,10,a\n2,,b\n3,30,a\n1,10,a\n")
    result = run(p, "--target", "label")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("4 rows x 2 columns (2 numeric, 0 categorical), target 'label'")
    assert "1 duplicate row" in result.stdout and "'g' (1, 25.0%)" in result.stdout
    result = run(p, "--target", "label", "--json", "--test", p)
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["missing"] == {"g": 1} and d["duplicate_rows"] == 1 and d["class_counts"] == {"a": 3, "b": 1}
    assert d["leaked_indices"] == [0, 1, 2, 3]


BAD_FILES = {
    "missing file": (None, "no such file"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "not a CSV file (it holds binary data)"),
    "not utf-8": (b"a,b\n\xff\xfe,1\n", "not a CSV file (byte 4 is not UTF-8 text"),
    "empty": (b"", "the file is empty"),
    "blank": (b"\n \n", "the file is empty"),
    "header only": (b"a,b,label\n", "only a header row, no data rows"),
    "missing target": (b"a,b\n1,2\n", "no column 'label'; the columns are 'a', 'b'"),
    "ragged": (b"a,b,label\n1,2,x\n3,4,y,5\n", "line 3 has 4 fields, the header has 3"),
    "duplicate header": (b"a,a,label\n1,2,x\n", "column name 'a' appears twice"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_cli_bad_files_give_one_line_and_status_2(tmp_path, case: str) -> None:
    content, message = BAD_FILES[case]
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    result = run(path, "--target", "label")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {path}: ") and message in result.stderr


def test_cli_bad_test_file_and_directory(tmp_path) -> None:
    good = write(tmp_path, "train.csv", "a,b,label\n1,2,x\n")
    other = write(tmp_path, "test.csv", "a,c\n1,2\n")
    result = run(good, "--target", "label", "--test", other)
    assert result.exit_code == 2 and result.stderr == f"Error: {other}: lacks the columns 'b' of {good}\n"
    result = run(tmp_path)
    assert result.exit_code == 2 and result.stderr == f"Error: {tmp_path}: is a directory, not a CSV file\n"


def test_cli_in_a_real_process_prints_no_traceback(tmp_path) -> None:
    path = write(tmp_path, "bad.csv", b"a,b\n1,2\n3\n")
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "inspect", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"Error: {path}: line 3 has 1 field, the header has 2 (delimiter ',')\n"
