"""Where the console scripts find configs: the project's own, and the user's folders searched beside them."""

from __future__ import annotations

import os
import subprocess

import pytest
from omegaconf import OmegaConf

from seqmodels.commands.app import CONFIG_DIR, CONFIG_PATH_ENV, user_config_dirs, with_user_configs
from tests.helpers.configs import cli_env, script


def test_the_config_dir_is_the_repository_configs_folder_in_a_checkout():
    assert (CONFIG_DIR / "train.yaml").is_file() and CONFIG_DIR.name == "configs"


def test_user_config_dirs_env_first_then_working_directory(tmp_path):
    a, b, cwd = tmp_path / "a", tmp_path / "b", tmp_path / "project"
    for folder in (a, b, cwd / "configs"):
        folder.mkdir(parents=True)
    env = {CONFIG_PATH_ENV: f"{a}{os.pathsep}{b}"}
    assert user_config_dirs(cwd, env) == [a, b, cwd / "configs"]
    assert user_config_dirs(cwd, {}) == [cwd / "configs"]
    assert user_config_dirs(tmp_path, {}) == []  # no ./configs there
    # the package's own folder is never added twice (running from the repository root)
    assert user_config_dirs(CONFIG_DIR.parent, {}) == []


def test_a_missing_user_config_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{CONFIG_PATH_ENV}=.*nosuch is not a folder"):
        user_config_dirs(tmp_path, {CONFIG_PATH_ENV: str(tmp_path / "nosuch")})


def test_searchpath_override_added_unless_given(tmp_path):
    argv = ["model/cell=mgu"]
    assert with_user_configs(argv, []) == argv
    assert with_user_configs(argv, [tmp_path]) == [*argv, f"hydra.searchpath=[file://{tmp_path}]"]
    own = ["hydra.searchpath=[file://elsewhere]", "model/cell=mgu"]
    assert with_user_configs(own, [tmp_path]) == own


@pytest.mark.slow
@pytest.mark.parametrize("how", ["env", "cwd"])
def test_a_users_experiment_is_found_without_searchpath(tmp_path, how):
    """A new experiment in the user's folder composes with the project's groups from any directory."""
    folder = tmp_path / "mine" / "configs" / "experiment"
    folder.mkdir(parents=True)
    (folder / "my_run.yaml").write_text(
        "# @package _global_\nname: my_run\nmodel:\n  hidden_size: 17\n", encoding="utf-8"
    )
    env = cli_env(**({CONFIG_PATH_ENV: str(tmp_path / "mine" / "configs")} if how == "env" else {}))
    cwd = tmp_path / "mine" if how == "cwd" else tmp_path
    result = subprocess.run(
        [script("seqmodels-train"), "--cfg", "job", "experiment=my_run"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = OmegaConf.create(result.stdout)
    assert cfg.name == "my_run" and cfg.model.hidden_size == 17
