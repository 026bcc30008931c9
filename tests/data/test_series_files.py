"""SeriesFiles / SeriesClassificationData: UEA .ts, CSV (long and wide) and .npz files that the tests write,
the missing-value policies, the label set, the stratified held-out split, the standardisation and the
epoch floor. Oracles: the values written by hand, Python's statistics module, naive loops."""

from __future__ import annotations

import gzip
import re
import statistics
from pathlib import Path

import numpy as np
import pytest

from seqmodels.data.classification import ClassificationDataModule, held_out
from seqmodels.data.corpora.memory import ExampleCorpus
from seqmodels.data.corpora.series_files import SeriesFiles, fill_missing, natural_order
from seqmodels.data.from_files import SeriesClassificationData

TS_HEADER = "@problemName Toy\n@timeStamps false\n@dimensions 2\n@equalLength false\n@classLabel true b a\n@data\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def arrays(corpus: SeriesFiles, split: str = "train") -> list[list[list[float]]]:
    return [x.tolist() for x, _ in corpus.examples(split)]


# ---------------------------------------------------------------- the three formats


def test_ts_file_keeps_declared_label_order_and_variable_lengths(tmp_path: Path) -> None:
    train = write(tmp_path / "Toy_TRAIN.ts", TS_HEADER + "1,2,3:4,5,6:a\n7:8:b\n")
    corpus = SeriesFiles(train)
    assert corpus.label_names == ("b", "a") and corpus.splits == ("train",)
    assert arrays(corpus) == [[[1, 4], [2, 5], [3, 6]], [[7, 8]]]
    assert [y for _, y in corpus.examples("train")] == [1, 0]
    assert corpus.examples("train")[0][0].dtype == np.float32 and corpus.num_features == 2


def test_csv_long_layout_groups_by_id_and_sorts_by_time(tmp_path: Path) -> None:
    train = write(
        tmp_path / "train.csv",
        "series,t,label,x,y\n"
        "s1,2,10,3,30\n"
        "s2,1,2,7,70\n"  # interleaved with s1
        "s1,0,10,1,10\n"
        "s1,1,10,2,20\n"
        "s2,0,2,6,60\n",
    )
    corpus = SeriesFiles(train, id_column="series", time_column="t")
    assert arrays(corpus) == [[[1, 10], [2, 20], [3, 30]], [[6, 60], [7, 70]]]
    assert corpus.label_names == ("2", "10")  # numbers sort numerically
    assert [y for _, y in corpus.examples("train")] == [1, 0]
    assert corpus.feature_names == ["x", "y"]
    in_file_order = SeriesFiles(train, id_column="series", feature_columns=["y"])
    assert arrays(in_file_order) == [[[30], [10], [20]], [[70], [60]]]


def test_csv_long_layout_times_that_are_not_numbers_sort_as_text(tmp_path: Path) -> None:
    train = write(tmp_path / "d.csv", "id,when,label,v\na,2024-01-03,x,3\na,2024-01-01,x,1\na,2024-01-02,x,2\n")
    assert arrays(SeriesFiles(train, time_column="when")) == [[[1], [2], [3]]]  # 'id' found without id_column


def test_csv_wide_layout_ragged_rows_and_tsv(tmp_path: Path) -> None:
    train = write(tmp_path / "w.tsv", "label\tv1\tv2\tv3\nup\t1\t2\t3\ndown\t4\t5\t\n")
    corpus = SeriesFiles(train)
    assert arrays(corpus) == [[[1], [2], [3]], [[4], [5]]]
    assert corpus.label_names == ("down", "up")


def test_npz_padded_with_lengths_two_d_and_object_arrays(tmp_path: Path) -> None:
    X = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    np.savez(tmp_path / "p.npz", X=X, y=np.array([1, 0]), lengths=np.array([3, 1]))
    corpus = SeriesFiles(tmp_path / "p.npz")
    assert arrays(corpus) == [X[0].tolist(), X[1, :1].tolist()]
    assert corpus.label_names == ("0", "1") and [y for _, y in corpus.examples("train")] == [1, 0]
    np.savez(tmp_path / "u.npz", X=np.array([[1.0, 2.0], [3.0, 4.0]]), y=np.array(["a", "b"]))
    assert arrays(SeriesFiles(tmp_path / "u.npz")) == [[[1], [2]], [[3], [4]]]
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.ones((3, 2)), np.zeros((1, 2))
    np.savez(tmp_path / "r.npz", X=ragged, y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"r\.npz: X or y is an object array.*allow_pickle=true"):
        SeriesFiles(tmp_path / "r.npz").examples("train")
    assert arrays(SeriesFiles(tmp_path / "r.npz", allow_pickle=True)) == [[[1, 1]] * 3, [[0, 0]]]


def test_the_same_series_read_alike_from_ts_csv_and_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 3)).round(3) for n in (4, 2, 5)]
    labels = ["b", "a", "b"]
    ts = "@problemName T\n@dimensions 3\n@classLabel true a b\n@data\n" + "".join(
        ":".join(",".join(str(v) for v in s[:, f]) for f in range(3)) + f":{lab}\n" for s, lab in zip(series, labels)
    )
    write(tmp_path / "t.ts", ts)
    rows = ["id,step,label,f0,f1,f2"] + [
        f"s{i},{t},{lab},{','.join(str(v) for v in s[t])}"
        for i, (s, lab) in enumerate(zip(series, labels))
        for t in reversed(range(len(s)))
    ]
    write(tmp_path / "t.csv", "\n".join(rows) + "\n")
    padded = np.zeros((3, 5, 3))
    for i, s in enumerate(series):
        padded[i, : len(s)] = s
    np.savez(tmp_path / "t.npz", X=padded, y=np.array(labels), lengths=np.array([4, 2, 5]))
    read = [
        SeriesFiles(tmp_path / "t.ts"),
        SeriesFiles(tmp_path / "t.csv", time_column="step"),
        SeriesFiles(tmp_path / "t.npz"),
    ]
    for corpus in read:
        assert corpus.label_names == ("a", "b")
        for (x, y), s, lab in zip(corpus.examples("train"), series, labels):
            np.testing.assert_array_equal(x, s.astype(np.float32))
            assert corpus.label_names[y] == lab


# ---------------------------------------------------------------- missing values


def test_fill_missing_against_hand_results() -> None:
    nan = np.nan
    x = np.array([[nan, 1.0, nan], [2.0, nan, nan], [nan, 3.0, nan], [4.0, nan, nan]])
    np.testing.assert_array_equal(fill_missing(x, "zero"), [[0, 1, 0], [2, 0, 0], [0, 3, 0], [4, 0, 0]])
    np.testing.assert_array_equal(fill_missing(x, "ffill"), [[2, 1, 0], [2, 1, 0], [2, 3, 0], [4, 3, 0]])
    y = np.array([[1.0, 2.0], [nan, 5.0], [3.0, 4.0]])
    np.testing.assert_array_equal(fill_missing(y, "drop"), [[1, 2], [3, 4]])


def naive_ffill(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    for f in range(x.shape[1]):
        seen = [v for v in x[:, f] if not np.isnan(v)]
        last = seen[0] if seen else 0.0
        for t in range(x.shape[0]):
            if np.isnan(x[t, f]):
                out[t, f] = last
            else:
                last = x[t, f]
    return out


def test_ffill_equals_a_naive_loop_on_random_gaps() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        x = rng.normal(size=(rng.integers(1, 9), rng.integers(1, 4)))
        x[rng.random(x.shape) < 0.4] = np.nan
        np.testing.assert_array_equal(fill_missing(x, "ffill"), naive_ffill(x))


def test_nan_is_refused_by_file_series_and_step_or_handled_by_option(tmp_path: Path) -> None:
    train = write(tmp_path / "Toy_TRAIN.ts", TS_HEADER + "1,2:3,4:a\n5,?,7:8,9,10:b\n")
    with pytest.raises(
        ValueError,
        match=r"Toy_TRAIN\.ts: series #2 \(the 2nd series after @data\) has a missing value "
        r"\(NaN\) at time step 1 \(counting from 0\), feature 0; 1 such value.*nan=ffill",
    ):
        SeriesFiles(train).examples("train")
    assert arrays(SeriesFiles(train, nan="ffill"))[1] == [[5, 8], [5, 9], [7, 10]]
    assert arrays(SeriesFiles(train, nan="zero"))[1] == [[5, 8], [0, 9], [7, 10]]
    assert arrays(SeriesFiles(train, nan="drop"))[1] == [[5, 8], [7, 10]]
    long = write(tmp_path / "l.csv", "id,label,a,b\nu,x,1,2\nu,x,3,\n")
    with pytest.raises(
        ValueError,
        match=r"l\.csv: series id='u' has a missing value \(NaN\) at time step 1 "
        r"\(counting from 0\), feature 'b', line 3",
    ):
        SeriesFiles(long).examples("train")
    gone = write(tmp_path / "g.csv", "id,label,a\nu,x,nan\nv,x,1\n")
    with pytest.raises(ValueError, match=r"series id='u' has no time step without a missing value"):
        SeriesFiles(gone, nan="drop").examples("train")


def test_infinite_values_are_refused_whatever_the_nan_policy(tmp_path: Path) -> None:
    np.savez(tmp_path / "i.npz", X=np.array([[[1.0], [np.nan]], [[np.inf], [2.0]]]), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"i\.npz: series X\[1\] has an infinite value at time step 0"):
        SeriesFiles(tmp_path / "i.npz", nan="zero").examples("train")


# ---------------------------------------------------------------- labels and splits


def test_labels_only_in_test_are_refused_unless_declared(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "label,v1,v2\na,1,2\nb,3,4\n")
    test = write(tmp_path / "test.csv", "label,v1,v2\na,1,2\nc,5,6\n")
    with pytest.raises(
        ValueError,
        match=r"test\.csv: series at line 3 has label 'c', which is not in the train "
        r"file's labels \(\['a', 'b'\]\).*labels=\[\.\.\.\]",
    ):
        SeriesFiles(train, test=test).examples("test")
    corpus = SeriesFiles(train, test=test, labels=["c", "b", "a"])
    assert corpus.label_names == ("c", "b", "a") and [y for _, y in corpus.examples("test")] == [2, 0]


def test_feature_counts_must_agree_across_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", X=np.zeros((2, 3, 2)), y=np.array([0, 1]))
    np.savez(tmp_path / "b.npz", X=np.zeros((2, 3, 1)), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"b\.npz: its series have 1 features but those of the train file .*a\.npz"):
        SeriesFiles(tmp_path / "a.npz", valid=tmp_path / "b.npz").examples("train")


def test_natural_order() -> None:
    assert natural_order(["10", "9", "2", "9"]) == ["2", "9", "10"]
    assert natural_order(["b", "10", "a"]) == ["10", "a", "b"]


def test_stratified_held_out_shares_against_hand_count() -> None:
    labels = [0] * 10 + [1] * 6 + [2] * 4  # n_val = round(20 * 0.25) = 5; quotas 2.5, 1.5, 1.0
    held = held_out(labels, 0.25, seed=3, stratify=True)
    per_class = [sum(labels[i] == c for i in held) for c in range(3)]
    assert per_class == [3, 1, 1]  # floors 2, 1, 1; the one left over goes to the larger of the tied remainders
    assert held == held_out(labels, 0.25, seed=3, stratify=True)
    assert held != held_out(labels, 0.25, seed=4, stratify=True)
    singles = held_out([0, 1, 1, 2, 2, 2], 0.5, seed=0, stratify=True)  # class 0 keeps its only example
    assert 0 not in singles and len(singles) == 3
    small = [c for c in range(10) for _ in range(3)]  # n_val = round(30 * 0.1) = 3, but every class gives one
    assert sorted(small[i] for i in held_out(small, 0.1, seed=0, stratify=True)) == list(range(10))
    with pytest.raises(ValueError, match="no class has two"):
        held_out([0, 1, 2], 0.5, seed=0, stratify=True)
    assert held_out(labels, 0.25, seed=3) == set(np.random.default_rng(3).permutation(20)[:5].tolist())


def test_datamodule_holds_out_per_class_and_standardises_with_train_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 2.0, size=(12, 4, 2))
    X[:, :, 1] = 5.0  # constant in train: centred only
    y = np.array([0] * 8 + [1] * 4)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    test_X = np.full((1, 2, 2), 7.0)
    np.savez(tmp_path / "test.npz", X=test_X, y=np.array([1]))
    dm = SeriesClassificationData(
        tmp_path / "train.npz", test=tmp_path / "test.npz", normalize=True, val_fraction=0.25, stratify=True, seed=0
    )
    dm.setup()
    assert sorted(dm.datasets["valid"].labels) == [0, 0, 1]  # 3 of 12: 2 of the 8, 1 of the 4
    held = held_out(y.tolist(), 0.25, seed=0, stratify=True)
    kept = [i for i in range(12) if i not in held]
    values = [float(v) for i in kept for v in X[i, :, 0]]
    mean, std = statistics.fmean(values), statistics.pstdev(values)
    for i, x in zip(kept, dm.datasets["train"].sequences):
        np.testing.assert_allclose(x[:, 0], (X[i, :, 0] - mean) / std, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(x[:, 1], 0.0)
    np.testing.assert_allclose(dm.datasets["test"].sequences[0], [[(7 - mean) / std, 2.0]] * 2, rtol=1e-5)
    assert dm.input_size == 2 and dm.num_classes == 2


def test_min_batches_per_epoch_repeats_every_training_example_equally() -> None:
    series = [(np.full((2, 1), float(i)), i % 2) for i in range(6)]
    dm = ClassificationDataModule(
        ExampleCorpus(series, ["a", "b"], valid=series[:2]), batch_size=4, min_batches_per_epoch=5
    )
    dm.setup()
    assert dm.train_repeats == 4  # ceil(5 * 4 / 6)
    seen = [float(v) for x, _, _ in dm.train_dataloader() for v in x[:, 0, 0]]
    assert len(seen) == 24 and all(seen.count(float(i)) == 4 for i in range(6))
    assert len(dm.datasets["valid"]) == 2
    plain = ClassificationDataModule(ExampleCorpus(series, ["a", "b"], valid=series[:2]), batch_size=4)
    plain.setup()
    assert plain.train_repeats == 1 and len(plain.datasets["train"]) == 6


def test_a_bad_cell_of_a_wide_file_names_file_line_column_and_why_it_was_read_wide(tmp_path: Path) -> None:
    """Without an id column a file is read one row per series; a word among the values is most likely a
    long file missing its id column, so the message says how the file was read and how to read it long."""
    path = write(tmp_path / "w.csv", "label,v1,v2\nup,1,2\ndown,3,fast\n")
    expected = (
        f"{path}:3: column 'v2': 'fast' is not a number (this file is read one row per series, because it has "
        "no id column ('id' or id_column=<column>); for one row per time step name the series-id column with "
        "id_column=<column>)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        SeriesFiles(path).examples("train")


def test_a_delimiter_compressed_files_and_float32_after_filling(tmp_path: Path) -> None:
    semicolons = write(tmp_path / "s.csv", "label;v1;v2\nup;;2\ndown;3;4\n")
    corpus = SeriesFiles(semicolons, delimiter=";", nan="zero")
    assert arrays(corpus) == [[[0], [2]], [[3], [4]]]  # the missing v1 of "up" filled with 0
    assert {x.dtype for x, _ in corpus.examples("train")} == {np.dtype(np.float32)}
    for name, text in (("c.csv.gz", "label,v1\nup,1\ndown,2\n"), ("t.tsv.gz", "label\tv1\nup\t1\ndown\t2\n")):
        (tmp_path / name).write_bytes(gzip.compress(text.encode()))
        assert arrays(SeriesFiles(tmp_path / name)) == [[[1]], [[2]]], name


def test_series_refusals_in_full(tmp_path: Path) -> None:
    """Each message written out whole: the option or file, the value, what to do."""
    good = write(tmp_path / "g.csv", "label,v1\nup,1\ndown,2\n")

    def refused(message: str, *args, **kwargs) -> None:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            SeriesFiles(*args, **kwargs).examples("train")

    refused("delimiter must be one character (or null for ',' / tab for .tsv), got ';;'", good, delimiter=";;")
    refused("labels lists ['a', 'b'] more than once", good, labels=["a", "b", "c", "b", "a"])
    refused("train is required: the path of a .ts, .csv or .npz file", None)
    refused(
        f"train: {tmp_path / 'g.dat'}: cannot tell the format from the suffix '.dat' (known: .csv, .npz, .ts, .tsv, "
        ".txt); pass format=ts, format=csv or format=npz",
        write(tmp_path / "g.dat", "label,v1\n"),
    )
    refused(
        f"{good}: series at line 3 has label 'down', which is not in labels=['up', 'flat'] (['up', 'flat']); "
        "correct the label",
        good,
        labels=["up", "flat"],
    )
    nolabel = write(tmp_path / "n.csv", "id,v1\na,1\n")
    refused(
        f"{nolabel}:1: no label column 'label' in the header (the columns are ['id', 'v1']); "
        "name it with label_column=<column>",
        nolabel,
    )
    refused(f"{good}: feature_columns ['label'] are the label, id or time column", good, feature_columns=["label"])
    np.savez(tmp_path / "extra.npz", X=np.ones((2, 3)), y=np.array([0, 1]), w=np.ones(2))
    refused(
        f"{tmp_path / 'extra.npz'}: unknown arrays ['w'] (it holds ['X', 'y', 'w']); expected X (N, T, F) or (N, T) "
        "or an object array of (T, F) arrays, y (N,) labels, optional lengths (N,)",
        tmp_path / "extra.npz",
    )
    np.savez(tmp_path / "half.npz", X=np.ones((2, 3)), y=np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match=r"half\.npz: y\[1\] = \S*1\.5\)?: class labels must be integers or strings$"):
        SeriesFiles(tmp_path / "half.npz").examples("train")
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.ones((3, 1)), np.zeros((2, 2))
    np.savez(tmp_path / "widths.npz", X=ragged, y=np.array([0, 1]))
    widths = tmp_path / "widths.npz"
    refused(f"{widths}: X[1] has 2 features but X[0] has 1", widths, allow_pickle=True)


ORDINALS = [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st")]


@pytest.mark.parametrize(("k", "ordinal"), ORDINALS)
def test_a_ts_series_is_named_by_its_number_and_ordinal(tmp_path: Path, k: int, ordinal: str) -> None:
    """The k-th series after @data holds a missing value."""
    train = write(tmp_path / "T.ts", TS_HEADER + "1:4:a\n" * (k - 1) + "1:?:a\n")
    with pytest.raises(ValueError, match=rf"T\.ts: series #{k} \(the {ordinal} series after @data\) has a missing"):
        SeriesFiles(train).examples("train")
