"""absolute_data_paths: the user's data files are stored in a run's config by absolute path (so that seqmodels-eval
and seqmodels-predict find them from any directory), and a path under paths.data_dir is still re-rooted by
seqmodels-eval at another paths.data_dir."""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from seqmodels.commands.data_paths import absolute_data_paths
from seqmodels.commands.evaluate import _reroot


def config(data: dict, data_dir: str = "/data") -> DictConfig:
    return OmegaConf.create({"paths": {"data_dir": data_dir}, "data": data})


def test_relative_files_lists_globs_and_home_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = os.getcwd()
    cfg = config(
        {
            "_target_": "seqmodels.data.from_files.TextClassificationData",
            "train": ["a.csv", "/abs/b.csv", "more/*.csv"],
            "valid": "~/v.csv",
            "test": None,
            "encoding": "utf-8",
        }
    )
    absolute_data_paths(cfg)
    assert list(cfg.data.train) == [f"{here}/a.csv", "/abs/b.csv", f"{here}/more/*.csv"]
    assert cfg.data.valid == os.path.expanduser("~/v.csv") and cfg.data.test is None and cfg.data.encoding == "utf-8"


def test_only_the_data_configs_over_user_files_are_touched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    builtin = config({"_target_": "seqmodels.data.ClassificationDataModule", "train": "x", "corpus": {"path": "c"}})
    absolute_data_paths(builtin)
    assert builtin.data.train == "x" and builtin.data.corpus.path == "c"
    missing = config({"_target_": "seqmodels.data.from_files.SeriesClassificationData", "train": "???"})
    absolute_data_paths(missing)  # left for the missing-value error that names data.train
    assert OmegaConf.is_missing(missing.data, "train")


def test_a_file_under_the_data_dir_is_still_rerooted_by_eval():
    cfg = config(
        {"_target_": "seqmodels.data.from_files.SeriesClassificationData", "train": "${paths.data_dir}/mine/t.ts"},
        data_dir="/old/data",
    )
    absolute_data_paths(cfg)
    assert cfg.data.train == "/old/data/mine/t.ts"
    stored = OmegaConf.to_container(cfg.data)
    assert _reroot(stored, "/old/data", "/new/data")["train"] == "/new/data/mine/t.ts"
