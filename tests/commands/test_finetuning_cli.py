"""The fine-tuning recipe from the command line: discriminative rates, gradual unfreezing, concat pooling and slanted
triangular rates together on experiment=text_classifier, a checkpoint that loads, the rates the LR monitor logged."""

from __future__ import annotations

import csv
import inspect
import logging

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint, load_model
from seqmodels.commands.app import CONFIG_DIR
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, compose_config, shrink

WORDS = {"sport": ["goal", "match", "team"], "food": ["soup", "bread", "tea"], "music": ["song", "band", "tune"]}


def rows(n: int) -> str:
    out = ["label,text"]
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = WORDS[label]
        out.append(f"{label},{words[i % 3]} {words[(i + 1) % 3]} and {words[(i + 2) % 3]}")
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_ulmfit_recipe_trains_from_the_command_line_and_its_checkpoint_loads(tmp_path, caplog):
    (tmp_path / "train.csv").write_text(rows(24), encoding="utf-8")
    overrides = [
        *QUIET,
        "experiment=text_classifier",
        "debug=fast",
        "logger=csv",
        f"data.train={tmp_path / 'train.csv'}",
        "test=false",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "trainer.min_steps=null",
        "task.layer_lr_decay=2.6",
        "task.unfreeze=gradual",
        "model.pooling=concat",
        "task/scheduler=slanted_triangular",
    ]
    cfg = shrink(compose_config(overrides, tmp_path / "run"))
    cfg.trainer.enable_progress_bar = False
    with caplog.at_level(logging.INFO, logger="seqmodels.tasks.base"):
        result = train(cfg)
    assert result["global_step"] == 4
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("unfreeze")] == [
        "unfreeze: epoch 0: training head; frozen embedding, rnn.0",
        "unfreeze: epoch 1: training rnn.0, head; frozen embedding",
    ]

    stored = load_checkpoint(result["last_model_path"])[CHECKPOINT_KEY]["config"]
    assert stored["task"]["unfreeze"] == "gradual" and stored["task"]["scheduler"]["total_steps"] is None
    model, encoder, _ = load_model(result["last_model_path"])
    assert model.pooling == "concat" and model.head.in_features == 3 * 2 * cfg.model.hidden_size
    tokens = torch.tensor([encoder.encode("goal match and team")])
    assert model(tokens, torch.tensor([tokens.shape[1]]))[0].shape == (1, 3)

    # bidirectional one layer: groups embedding, rnn.0, head; T = 2 epochs x 2 batches, cut = floor(0.4) = 0
    with open(next((tmp_path / "run").rglob("metrics.csv"))) as f:
        logged = [r for r in csv.DictReader(f) if r.get("lr-Adam/head")]
    lr = cfg.task.optimizer.lr
    for t, row in enumerate(logged):
        top = lr * (1 + (1 - t / 4) * 31) / 32  # no room to rise: a linear fall from lr to lr / 32
        assert float(row["lr-Adam/head"]) == pytest.approx(top, rel=1e-6)
        assert float(row["lr-Adam/rnn.0"]) == pytest.approx(top / 2.6, rel=1e-6)
        assert float(row["lr-Adam/embedding"]) == pytest.approx(top / 2.6**2, rel=1e-6)
    assert len(logged) == 4


TASKS = sorted(p.stem for p in (CONFIG_DIR / "task").glob("*.yaml"))  # every task config


@pytest.mark.parametrize("task", TASKS)
def test_every_task_config_takes_the_recipe_and_the_scheduler_options(task):
    cfg = compose_config([f"task={task}", "task/scheduler=slanted_triangular", "task.unfreeze={head: 0, rnn.0: 1}"])
    assert cfg.task.scheduler._target_ == "seqmodels.tasks.SlantedTriangular" and cfg.task.scheduler_interval == "step"
    assert cfg.task.unfreeze == {"head": 0, "rnn.0": 1} and cfg.task.layer_lr_decay is None
    own = OmegaConf.load(CONFIG_DIR / "task" / f"{task}.yaml")  # the task's yaml alone
    accepted = inspect.signature(hydra.utils.get_class(own._target_)).parameters
    assert {"layer_lr_decay", "unfreeze", "unfreeze_unit"} <= set(own) - {"defaults", "_target_"} <= set(accepted)


def test_one_cycle_option_builds_torchs_scheduler_with_the_rates_left_to_the_task():
    cfg = compose_config(["task/scheduler=one_cycle"])
    factory = hydra.utils.instantiate(cfg.task.scheduler)
    assert cfg.task.scheduler_interval == "step" and factory.keywords["max_lr"] is None
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    scheduler = factory(optimizer, max_lr=[0.1], total_steps=10)
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / cfg.task.scheduler.div_factor)
