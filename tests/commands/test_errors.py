"""A user's mistake on the command line reads as one block — ``error:`` and a hint — with exit status 2."""

from __future__ import annotations

import subprocess

import pytest
import torch
from hydra.errors import MissingConfigException, OverrideParseException
from omegaconf.errors import MissingMandatoryValue

from seqmodels.commands.app import USER_ERROR_STATUS, ConfigTypeError, report
from tests.helpers.configs import cli_env, script


def missing(key: str) -> MissingMandatoryValue:
    """What OmegaConf raises for a ``???`` value read at ``key`` (it names the key in ``full_key``)."""
    error = MissingMandatoryValue(f"Missing mandatory value: {key}")
    error.full_key = key
    return error


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (ValueError("model.num_layers must be a positive integer, got 0"), "on the command line (key=value)"),
        (FileNotFoundError("data/x.txt: no such file"), "paths.data_dir"),
        (UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"), "data.encoding=latin-1"),
        (MissingConfigException("Could not find 'model/cell/nosuch'\nConfig search path:\n\tprovider=main"), "--help"),
        (MissingMandatoryValue("Missing mandatory value: ckpt_path"), "ckpt_path=logs/"),
        (missing("data.train"), "give it on the command line: data.train=<value>"),
        (OverrideParseException("x", "no viable alternative"), "+key=value"),
        (ValueError("Config group override must be a string or a list. Got NoneType"), "logger=none, callbacks=none"),
        (ConfigTypeError("model (X): __init__() got an unexpected keyword argument 'nosuch'"), "key=value"),
    ],
)
def test_each_kind_of_mistake_gets_a_block_with_a_hint(error, hint):
    lines = report(error).splitlines()
    assert lines[0].startswith("error: ") and lines[-1].startswith("hint: ")
    assert hint in lines[-1] and "HYDRA_FULL_ERROR=1" in lines[-1]
    assert "Config search path" not in report(error)


def run(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = cli_env(**env)
    if "HYDRA_FULL_ERROR" not in env:
        environment.pop("HYDRA_FULL_ERROR")
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=180)


class SystemCall:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("seqmodels-train", ["model/cell=nosuch"], "Could not find 'model/cell/nosuch'"),
        ("seqmodels-train", ["model.num_layers=0", "debug=fast"], "model.num_layers must be a positive integer, got 0"),
        ("seqmodels-train", ["model.nosuch=1"], "Could not override 'model.nosuch'"),
        ("seqmodels-train", ["logger=null", "--cfg", "job"], "Config group override must be a string"),
        ("seqmodels-eval", [], "Missing mandatory value: ckpt_path"),
        ("seqmodels-sample", ["ckpt_path=nosuch.ckpt"], "ckpt_path=nosuch.ckpt: no such file"),
        ("seqmodels-sample", ["ckpt_path=evil.ckpt"], "holds pickled Python code, which was refused and not run"),
    ],
)
def test_the_console_scripts_report_a_mistake_without_a_traceback(command, args, message, tmp_path):
    torch.save({"seqmodels": SystemCall()}, tmp_path / "evil.ckpt")
    result = run([script(command), *args], tmp_path)
    assert result.returncode == USER_ERROR_STATUS, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "\nhint: " in result.stderr
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr
    assert "weights_only=False" not in result.stderr


@pytest.mark.slow
def test_hydra_full_error_shows_the_whole_trace(tmp_path):
    result = run([script("seqmodels-train"), "model.num_layers=0", "debug=fast"], tmp_path, HYDRA_FULL_ERROR="1")
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert "model.num_layers must be a positive integer, got 0" in result.stderr


def test_logger_none_and_callbacks_none_build_nothing(tmp_path):
    from seqmodels.commands.instantiate import build_callbacks, build_loggers
    from tests.helpers.configs import compose_config

    cfg = compose_config(["logger=none", "callbacks=none"], tmp_path)
    assert build_loggers(cfg) == [] and build_callbacks(cfg) == []
    assert build_loggers(compose_config([], tmp_path)) != []  # the default: TensorBoard


def test_logger_none_keeps_the_default_callbacks_but_the_learning_rate_monitor(tmp_path):
    """`logger=none` alone trains: Lightning refuses a LearningRateMonitor without a logger at fit time."""
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    from seqmodels.commands.instantiate import build_callbacks, build_loggers, build_trainer
    from tests.helpers.configs import compose_config

    cfg = compose_config(["logger=none"], tmp_path)
    callbacks = build_callbacks(cfg)
    assert any(isinstance(c, LearningRateMonitor) for c in callbacks)  # the default callbacks have one
    trainer = build_trainer(cfg, callbacks, build_loggers(cfg))
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)
    with_logger = compose_config([], tmp_path)
    trainer = build_trainer(with_logger, build_callbacks(with_logger), build_loggers(with_logger))
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)


def test_progress_bar_off_drops_the_progress_bar_callback(tmp_path):
    """`trainer.enable_progress_bar=false` trains with the default callbacks: Lightning refuses a progress-bar
    callback beside it, so the default rich progress bar is left out."""
    from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar

    from seqmodels.commands.instantiate import build_callbacks, build_loggers, build_trainer
    from tests.helpers.configs import compose_config

    cfg = compose_config(["trainer.enable_progress_bar=false"], tmp_path)
    callbacks = build_callbacks(cfg)
    assert any(isinstance(c, ProgressBar) for c in callbacks)  # the default callbacks have one
    trainer = build_trainer(cfg, callbacks, build_loggers(cfg))
    assert trainer.progress_bar_callback is None
    assert any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)


def test_build_hands_keyword_objects_over_as_they_are():
    """The objects a command passes (a model, an encoder with a 10k-word vocabulary) reach the constructor
    themselves, not OmegaConf copies of them (wrapping such a vocabulary took seconds per command)."""
    from omegaconf import OmegaConf

    from seqmodels.commands.instantiate import build

    vocabulary = {"itos": [f"w{i}" for i in range(10_000)]}
    node = OmegaConf.create({"_target_": "builtins.dict", "a": 1})
    built = build(node, "task", encoder=vocabulary)
    assert built["encoder"] is vocabulary and built["a"] == 1
    with pytest.raises(
        ValueError, match=r"trainer \(lightning.pytorch.Trainer\): `max_epochs`"
    ):  # Lightning's MisconfigurationException, named
        build(OmegaConf.create({"_target_": "lightning.pytorch.Trainer", "max_epochs": -5}), "trainer", callbacks=[])
