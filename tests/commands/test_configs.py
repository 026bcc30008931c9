"""The packaged Hydra configs: every group composes, every _target_ exists, the documented values hold.

No training here (see test_train.py): these tests compose and instantiate only.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import subprocess
import sys
import zipfile

import pytest
import torch
from hydra.errors import MissingConfigException
from hydra.utils import get_object, instantiate
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from seqmodels.cells import RecurrentCell
from tests.helpers.configs import CELLS, CONFIG_DIR, EXPERIMENTS, cli_env, compose_config, script

TARGET_SECTIONS = ("data", "model", "task", "trainer")


def all_targets(node, where=""):
    """(key, _target_) for every mapping with a _target_ inside ``node`` (a plain container)."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield where, node["_target_"]
        for key, value in node.items():
            yield from all_targets(value, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_targets(value, f"{where}[{i}]")


def test_configs_are_where_the_commands_look():
    root = CONFIG_DIR
    for name in ("train.yaml", "eval.yaml", "sample.yaml", "score.yaml", "translate.yaml", "predict.yaml"):
        assert root.joinpath(name).is_file(), name
    for group in (
        "paths",
        "hydra",
        "data",
        "model",
        "task",
        "trainer",
        "logger",
        "callbacks",
        "experiment",
        "debug",
        "hparams_search",
    ):
        assert root.joinpath(group).is_dir(), group
    assert root.joinpath("model", "cell", "lstm.yaml").is_file()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_its_targets_exist(experiment, tmp_path):
    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    assert cfg.name == experiment, "each experiment names its run directory after itself"
    container = OmegaConf.to_container(cfg, resolve=True)
    targets = list(all_targets(container))
    assert {key.split(".")[0] for key, _ in targets} >= set(TARGET_SECTIONS)
    for key, target in targets:
        assert callable(get_object(target)), f"{experiment}: {key}._target_={target} is not callable"
    for section in ("logger", "callbacks"):
        for name, node in cfg[section].items():
            assert node is None or "_target_" in node, f"{section}.{name} of {experiment} has no _target_"


def test_the_default_run_is_the_default_experiment(tmp_path):
    assert OmegaConf.to_container(compose_config([], tmp_path), resolve=True) == OmegaConf.to_container(
        compose_config(["experiment=default"], tmp_path), resolve=True
    )


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_config_builds_a_cell(cell):
    cfg = compose_config([f"model/cell={cell}"])
    factory = instantiate(cfg.model.cell)
    made = factory(input_size=3, hidden_size=5)
    assert isinstance(made, RecurrentCell)
    h, _ = made(torch.randn(2, 3))
    assert h.shape == (2, 5)


def test_cell_options_mean_what_they_say():
    def cell(name):
        return instantiate(compose_config([f"model/cell={name}"]).model.cell)(input_size=2, hidden_size=3)

    assert cell("gru").reset_after is True
    assert cell("gru_textbook").reset_after is False
    assert type(cell("gru_simplified")).__name__ == "SimplifiedGRUCell"
    assert cell("rnn_relu").nonlinearity == "relu"
    assert cell("rnn").nonlinearity == "tanh"
    assert {"rnn", "rnn_relu", "gru", "gru_textbook", "gru_simplified", "lstm"} <= set(CELLS)


def test_unknown_cell_lists_the_available_ones():
    with pytest.raises(MissingConfigException) as info:
        compose_config(["model/cell=nosuchcell"])
    message = str(info.value)
    assert "nosuchcell" in message
    for name in ("lstm", "gru", "gru_textbook", "rnn_relu"):
        assert name in message


def test_zaremba_small_and_medium_are_the_published_setups(tmp_path):
    small = compose_config(["experiment=ptb_word_lstm_small"], tmp_path)
    assert (small.model.num_layers, small.model.hidden_size, small.model.embedding_dim) == (2, 200, 200)
    assert (small.data.bptt, small.data.batch_size, small.trainer.max_epochs) == (20, 20, 13)
    # the paper's lr 1 and clip 5 act on the loss summed over the BPTT steps; ours is the per-token mean
    assert small.model.init_range == 0.1 and small.model.dropout == 0.0 and small.task.clip_grad_norm == 5.0 / 20
    assert small.task.optimizer._target_ == "torch.optim.SGD" and small.task.optimizer.lr == 1.0 * 20
    schedule = instantiate(small.task.scheduler)(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    rates = []
    for _ in range(13):
        rates.append(schedule.get_last_lr()[0])
        schedule.optimizer.step()
        schedule.step()
    assert rates == pytest.approx([1, 1, 1, 1] + [0.5**k for k in range(1, 10)])

    medium = compose_config(["experiment=ptb_word_lstm_medium"], tmp_path)
    assert (medium.model.num_layers, medium.model.hidden_size, medium.model.dropout) == (2, 650, 0.5)
    assert (medium.data.bptt, medium.data.batch_size, medium.trainer.max_epochs) == (35, 20, 39)
    assert (medium.task.scheduler.decay, medium.task.scheduler.max_epoch_before_decay) == (0.8, 6)
    assert medium.task.optimizer.lr == 1.0 * 35 and medium.task.clip_grad_norm == pytest.approx(5.0 / 35, rel=1e-5)


def test_data_dir_comes_from_the_environment(monkeypatch):
    from hydra import compose, initialize_config_dir

    monkeypatch.setenv("SEQMODELS_DATA_DIR", "/somewhere/data")
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=ptb_word_lstm_small"])
    assert cfg.paths.data_dir == "/somewhere/data"
    assert cfg.data.corpus.path == "/somewhere/data/ptb"
    monkeypatch.delenv("SEQMODELS_DATA_DIR")
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=ptb_word_lstm_small"])
    assert cfg.paths.data_dir == "data"


@pytest.mark.parametrize("name", ["ddp_sim", "cpu", "default", "ddp"])
def test_trainer_configs(name, tmp_path):
    cfg = compose_config([f"trainer={name}"], tmp_path)
    if name == "ddp_sim":
        assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.strategy) == ("cpu", 2, "ddp_spawn")
        trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert trainer.num_devices == 2 and isinstance(trainer.strategy, DDPStrategy)
        assert trainer.strategy._start_method == "spawn"
    elif name == "ddp":
        assert cfg.trainer.strategy == "ddp" and "num_nodes" in cfg.trainer
    else:
        trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert trainer.num_devices == 1


@pytest.mark.parametrize("name", ["eval", "sample", "score", "translate", "predict"])
def test_checkpoint_commands_require_ckpt_path(name, tmp_path):
    cfg = compose_config([], tmp_path, config_name=name)
    with pytest.raises(MissingMandatoryValue):
        _ = cfg.ckpt_path


def test_debug_configs_compose_over_every_experiment(tmp_path):
    for experiment in EXPERIMENTS:
        fast = compose_config([f"experiment={experiment}", "debug=fast"], tmp_path)
        assert fast.trainer.limit_train_batches == 3 and fast.trainer.max_time is None
        overfit = compose_config([f"experiment={experiment}", "debug=overfit"], tmp_path)
        assert overfit.trainer.overfit_batches == 1 and overfit.callbacks.early_stopping is None


def test_hparams_search_config_composes(tmp_path):
    try:
        found = importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        pytest.skip("hydra-optuna-sweeper not installed (pip install 'seqmodels[sweep]')")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=lm_optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "minimize"
    assert set(sweeper.params) == {"task.optimizer.lr", "model.hidden_size", "model.num_layers"}
    assert cfg.monitor.metric == "val/loss"


@pytest.mark.slow
def test_wheel_carries_the_configs(tmp_path):
    """A non-editable install must find the configs: the wheel holds every yaml of seqmodels/configs."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(CONFIG_DIR.parent),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("seqmodels-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"seqmodels/configs/{p.relative_to(CONFIG_DIR).as_posix()}" for p in CONFIG_DIR.rglob("*.yaml")}
    assert expected and expected <= names, sorted(expected - names)[:5]
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for command, target in [
        ("seqmodels-train", "console:train"),
        ("seqmodels-eval", "console:evaluate"),
        ("seqmodels-sample", "sample:main"),
        ("seqmodels-score", "score:main"),
        ("seqmodels-translate", "translate:main"),
        ("seqmodels-predict", "predict:main"),
    ]:
        assert f"{command} = seqmodels.commands.{target}" in entry_points


def test_console_script_composes_from_any_directory(tmp_path):
    result = subprocess.run(
        [script("seqmodels-train"), "--cfg", "job", "experiment=ptb_word_lstm_small"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = OmegaConf.create(result.stdout)
    assert cfg.name == "ptb_word_lstm_small" and cfg.model.cell._target_ == "seqmodels.cells.LSTMCell"


def test_the_default_progress_bar_redraws_ten_times_a_second(tmp_path):
    """Lightning's RichProgressBar redraws 100 times a second on a thread of its own, which on a small CPU
    slows the training step (docs/PERFORMANCE.md); the default bar redraws 10 times, and is ours, which reads
    the logged figures once per redraw rather than after every step."""
    from lightning.pytorch.callbacks import ProgressBar

    from seqmodels.callbacks import RichProgressBar
    from seqmodels.commands.instantiate import build_callbacks

    bars = [c for c in build_callbacks(compose_config([], tmp_path)) if isinstance(c, ProgressBar)]
    assert len(bars) == 1 and isinstance(bars[0], RichProgressBar) and bars[0].refresh_rate == 10


def test_the_trainer_profiles_nothing_unless_asked(tmp_path):
    """The default trainer's profiler is the cheap null one (Lightning wraps ~120 hook calls a step in it);
    ``trainer.profiler=simple`` still gives Lightning's own."""
    from lightning.pytorch.profilers import SimpleProfiler

    from seqmodels.callbacks import NullProfiler
    from seqmodels.commands.instantiate import build_trainer

    default = build_trainer(compose_config([], tmp_path / "a"), [], [])
    assert isinstance(default.profiler, NullProfiler)
    asked = build_trainer(compose_config(["trainer.profiler=simple"], tmp_path / "b"), [], [])
    assert isinstance(asked.profiler, SimpleProfiler)


def test_early_stopping_waits_for_a_validation(tmp_path):
    """A run stopped by max_steps inside its first epoch, validated only at epochs' ends, has no val/loss when
    that epoch ends: the configured early stopping checks after validations, so the run ends cleanly (checked
    at the training epoch's end, Lightning's default here, it raised for the missing metric)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping

    from seqmodels.commands.instantiate import build_callbacks

    (stopping,) = [c for c in build_callbacks(compose_config([], tmp_path)) if isinstance(c, EarlyStopping)]

    class Fit(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch, batch_idx):
            self.log("val/loss", self.layer(batch[0]).pow(2).mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(40, 2)), batch_size=2)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=5,  # of an epoch of 20
        callbacks=[stopping],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Fit(), loader, loader)
    assert trainer.global_step == 5
