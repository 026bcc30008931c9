"""The streaming series parsers that training and prediction share: TsReader (UEA .ts) and CsvSeries (CSV, long
and wide), and clean_series (the missing-value policy). Each series is checked against values written by hand;
streaming is checked by reading a series before a broken line further on is reached."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seqmodels.data.corpora.series_files import clean_series
from seqmodels.data.corpora.series_readers import CsvSeries, read_csv_set
from seqmodels.data.corpora.timeseries import TsReader

TS = "# toy\n@problemName T\n@dimensions 2\n@classLabel true a b\n@data\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- .ts
def test_ts_reader_yields_each_series_before_reading_further(tmp_path):
    path = write(tmp_path / "s.ts", TS + "1,2,3:4,5,6:a\n\n7,?:8,9:b\n1,oops:2,3:a\n")
    reader = iter(TsReader(path))
    first = next(reader)
    assert first.line == 6 and first.label == "a" and first.values.dtype == np.float64
    np.testing.assert_array_equal(first.values, [[1, 4], [2, 5], [3, 6]])  # (T, F): a dimension per column
    second = next(reader)
    assert second.line == 8 and second.label == "b" and math.isnan(second.values[1, 0]) and second.values[1, 1] == 9
    with pytest.raises(ValueError, match=r"s\.ts:9: 'oops' is not a number"):
        next(reader)


def test_ts_labels_required_for_training_optional_for_prediction(tmp_path):
    labelled = write(tmp_path / "l.ts", TS + "1:2:c\n")
    with pytest.raises(ValueError, match=r"l\.ts:6: unknown label 'c' \(declared: \['a', 'b'\]\)"):
        list(TsReader(labelled))
    (row,) = TsReader(labelled, labels="optional")  # a prediction input's label is not its business
    assert row.label == "c" and row.values.tolist() == [[1.0, 2.0]]
    unlabelled = write(tmp_path / "u.ts", "@dimensions 2\n@data\n1,2:3,4\n")
    with pytest.raises(ValueError, match=r"u\.ts: no '@classLabel true <labels\.\.\.>' header"):
        list(TsReader(unlabelled))
    reader = TsReader(unlabelled, labels="optional")
    (row,) = reader
    assert row.label is None and row.values.tolist() == [[1, 3], [2, 4]] and reader.class_labels is None


@pytest.mark.parametrize(
    "text, match",
    [
        ("@dimensions two\n@data\n1:2\n", r"d\.ts:1: @dimensions must be a positive integer, got 'two'"),
        ("@dimensions 2\n@data\n1:2:3\n", r"d\.ts:3: expected 2 dimensions separated by ':', got 3"),
        ("@data\n1,2:3\n", r"d\.ts:2: dimensions have different lengths \[1, 2\]"),
        ("@data\n1:2\n1:2:3\n", r"d\.ts:3: expected 2 dimensions"),  # the first series sets it without @dimensions
        ("@timeStamps true\n@data\n", r"d\.ts:1: @timeStamps true is not supported"),
        ("@problemName T\n1,2\n", r"d\.ts:2: expected a '@key value' header line or @data"),
        ("@problemName T\n", r"d\.ts: no @data line"),
    ],
)
def test_ts_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        list(TsReader(write(tmp_path / "d.ts", text), labels="optional"))


# ---------------------------------------------------------------- CSV
LONG = "walk,t,label,x\nw1,0,a,1\nw1,1,a,2\nw2,1,b,30\nw2,0,b,20\nw3,0,a,5\nw3,1,a,bad\n"


def test_streaming_long_csv_yields_a_series_when_the_next_begins(tmp_path):
    path = write(tmp_path / "l.csv", LONG)
    reader = CsvSeries(path, id_column="walk", time_column="t", labels="optional", stream=True)
    records = iter(reader)
    w1, w2 = next(records), next(records)  # w3's broken cell is not reached yet
    assert (w1.id, w1.line, w1.label, w1.values.tolist()) == ("w1", 2, "a", [[1.0], [2.0]])
    assert w2.values.tolist() == [[20.0], [30.0]] and w2.step_lines.tolist() == [5, 4]  # sorted by t
    assert reader.features == ["x"] and reader.series_id == "walk"
    with pytest.raises(ValueError, match=r"l\.csv:7: column 'x': 'bad' is not a number"):
        next(records)


def test_streaming_refuses_a_series_whose_rows_are_apart_but_training_joins_them(tmp_path):
    path = write(tmp_path / "apart.csv", "id,label,x\ns1,a,1\ns2,b,2\ns1,a,3\n")
    with pytest.raises(ValueError, match=r"apart\.csv:4: a row of series id='s1', whose rows began at line 2.*sort"):
        list(CsvSeries(path, labels="optional", stream=True))
    data = read_csv_set(path)  # training reads the whole file: s1 is rows 2 and 4
    assert [s.tolist() for s in data.series] == [[[1.0], [3.0]], [[2.0]]] and data.where == ["id='s1'", "id='s2'"]


def test_prediction_files_need_no_labels(tmp_path):
    wide = write(tmp_path / "w.csv", "v1,v2,v3\n1,2,3\n4,5,\n")  # no label column: every column is a value
    rows = list(CsvSeries(wide, labels="optional", stream=True))
    assert [r.values[:, 0].tolist() for r in rows] == [[1, 2, 3], [4, 5]] and [r.label for r in rows] == [None, None]
    with pytest.raises(ValueError, match=r"w\.csv:1: no label column 'label' in the header"):
        list(CsvSeries(wide))
    labelled = write(tmp_path / "l.csv", "v1,label,v2\n1,,2\n")  # a label column is left out of the values
    (row,) = CsvSeries(labelled, labels="optional", stream=True)
    assert row.values[:, 0].tolist() == [1, 2] and row.label == "" and row.id is None and row.line == 2
    mixed = write(tmp_path / "m.csv", "id,label,x\ns,a,1\ns,b,2\n")  # prediction ignores the labels' agreement
    assert len(list(CsvSeries(mixed, labels="optional", stream=True))) == 1
    with pytest.raises(ValueError, match=r"m\.csv:3: series id='s' has label 'b' here but 'a' at line 2"):
        list(CsvSeries(mixed))


# ---------------------------------------------------------------- the missing-value policy
def test_clean_series_against_hand_results():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [3.0, 4.0]])
    np.testing.assert_array_equal(clean_series(x, "ffill", "s"), [[2, 1], [2, 1], [3, 4]])
    np.testing.assert_array_equal(clean_series(x, "zero", "s"), [[0, 1], [2, 0], [3, 4]])
    np.testing.assert_array_equal(clean_series(x, "drop", "s"), [[3, 4]])
    assert clean_series(x, "zero", "s").dtype == np.float32
    with pytest.raises(ValueError, match=r"^f:3: the series has a missing value \(NaN\) at time step 0 .*feature 0"):
        clean_series(x, "error", "f:3: the series")
    with pytest.raises(ValueError, match=r"s has an infinite value at time step 1 .*feature 'b', line 9"):
        clean_series(np.array([[1.0, 2.0], [3.0, -np.inf]]), "zero", "s", ["a", "b"], np.array([8, 9]))
    with pytest.raises(ValueError, match=r"s has a value beyond float32's range .* at time step 0"):
        clean_series(np.array([[1e39]]), "zero", "s")  # finite in float64, infinite as the model's float32
    with pytest.raises(ValueError, match=r"s has no time step without a missing value, so nan=drop leaves it empty"):
        clean_series(np.array([[np.nan]]), "drop", "s")
