"""Prediction inputs of a model of real-valued series: read_series (the training formats: .ts, CSV long and wide,
.npz, plus .npy), the CSV options taken from the stored training config, and the training data's missing-value
policy applied before the standardisation (checked against the network run on series filled by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seqmodels
from seqmodels.inference.inputs import read_series, series_format
from tests.helpers.handmade_checkpoints import LSTM, write_checkpoint


def regressor(path, data=None, normalization=None):
    config = {"_target_": "seqmodels.models.RNNClassifier", "num_classes": 1, "cell": LSTM, "input_size": 2}
    return write_checkpoint(
        path, "regressor", {**config, "hidden_size": 5}, None, {}, data=data or {}, input_normalization=normalization
    )


def test_every_training_format_gives_the_same_series(tmp_path):
    a, b = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([[7.0, 8.0]])
    (tmp_path / "s.ts").write_text("@classLabel true x y\n@data\n1,3,5:2,4,6:x\n7:8:y\n", encoding="utf-8")
    long = "id,step,label,f,g\nA,2,x,5,6\nA,0,x,1,2\nA,1,x,3,4\nB,0,y,7,8\n"
    (tmp_path / "s.csv").write_text(long, encoding="utf-8")
    (tmp_path / "s.tsv").write_text(long.replace(",", "\t"), encoding="utf-8")
    padded = np.zeros((2, 3, 2))
    padded[0], padded[1, :1] = a, b
    np.savez(tmp_path / "s.npz", X=padded, y=np.array(["x", "y"]), lengths=np.array([3, 1]))
    for name in ("s.ts", "s.csv", "s.tsv", "s.npz"):
        got = [e.value for e in read_series(tmp_path / name, time_column="step" if "s.ts" != name else None)]
        assert [x.tolist() for x in got] == [a.tolist(), b.tolist()], name
    rows = list(read_series(tmp_path / "s.csv", time_column="step"))
    assert [r.position for r in rows] == [{"line": 2, "id": "A"}, {"line": 5, "id": "B"}]
    assert rows[0].where.endswith("s.csv:2 (series id='A')") and rows[0].lines.tolist() == [3, 4, 2]
    (tmp_path / "w.txt").write_text("label,v1,v2,v3\nx,1,2,3\ny,4,,\n", encoding="utf-8")  # .txt is csv, as training
    wide = list(read_series(tmp_path / "w.txt"))
    assert [e.value[:, 0].tolist() for e in wide] == [[1, 2, 3], [4]] and wide[1].position == {"line": 3}
    np.savez(tmp_path / "flat.npz", X=np.arange(6.0).reshape(2, 3))  # (N, T): one feature, as training reads it
    assert [e.value.tolist() for e in read_series(tmp_path / "flat.npz")][1] == [[3.0], [4.0], [5.0]]


def test_series_formats_are_checked(tmp_path):
    assert series_format("a.txt.gz") == "csv" and series_format("a.npy") == "npy" and series_format("x", "tsv") == "tsv"
    with pytest.raises(ValueError, match=r"cannot tell the format of its series from the suffix '\.json'"):
        series_format("a.json")
    with pytest.raises(ValueError, match=r"format=jsonl is not a format of real-valued series"):
        series_format("a.csv", "jsonl")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_series(tmp_path / "none.csv")


def test_csv_options_default_to_the_stored_training_config(tmp_path):
    regressor(tmp_path / "r.ckpt", {"id_column": "walk", "time_column": "t"})
    trained = seqmodels.load(tmp_path / "r.ckpt")
    assert trained.series_options() == {
        "label_column": "label",
        "id_column": "walk",
        "time_column": "t",
        "feature_columns": None,
        "delimiter": None,
    }
    changed = trained.series_options({"time_column": None, "feature_columns": "f"})  # None unsets a stored option
    assert changed["time_column"] is None and changed["id_column"] == "walk" and changed["feature_columns"] == ["f"]
    with pytest.raises(ValueError, match=r"unknown series option\(s\) \['idcolumn'\]"):
        trained.series_options({"idcolumn": "w"})


def test_missing_values_follow_the_training_policy_before_standardisation(tmp_path):
    mean, std = [1.0, -2.0], [2.0, 0.5]
    model = regressor(tmp_path / "f.ckpt", {"nan": "ffill", "normalize": True}, {"mean": mean, "std": std})
    x = np.array([[np.nan, 1.0], [3.0, np.nan], [5.0, 4.0]])
    filled = np.array([[3.0, 1.0], [3.0, 1.0], [5.0, 4.0]])  # ffill by hand: a leading gap takes the first value
    (result,) = seqmodels.load(tmp_path / "f.ckpt").predict([x])
    z = torch.tensor((filled - mean) / std, dtype=torch.float32)[None]
    with torch.no_grad():
        assert result["value"] == pytest.approx(float(model(z)[0][0, 0]), abs=1e-6)
    regressor(tmp_path / "e.ckpt", {"nan": "error"})
    (tmp_path / "in.csv").write_text("id,a,b\ns,1,2\ns,?,3\n", encoding="utf-8")
    predictor = seqmodels.load(tmp_path / "e.ckpt")
    with pytest.raises(
        ValueError,
        match=r"in\.csv:2 \(series id='s'\): the series has a missing value \(NaN\) at time step 1 \(counting from 0\), "
        r"feature 0, line 3; .*trained with data\.nan=error",
    ):
        next(predictor.predict_examples(read_series(tmp_path / "in.csv")))
    regressor(tmp_path / "n.ckpt")  # a checkpoint whose data names no policy: a NaN is refused, never predicted on
    with pytest.raises(ValueError, match=r"inputs\[0\]: the series has a missing value"):
        seqmodels.load(tmp_path / "n.ckpt").predict([x])
