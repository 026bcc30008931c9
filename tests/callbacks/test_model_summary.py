"""The model summary at the start of a run: Lightning's table and totals, with FLOPs only when they were counted
(a module with an ``example_input_array``), and the one a run's trainer gets unless it has its own or none."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from torch import nn

from seqmodels.callbacks import ModelSummary


class Affine(L.LightningModule):
    def __init__(self, example: torch.Tensor | None = None) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 4)
        self.example_input_array = example

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        return self(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def summary_of(module: L.LightningModule, tmp_path, capsys) -> str:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        callbacks=[ModelSummary()], default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(torch.ones(2, 3), batch_size=2))
    return capsys.readouterr().out


def test_without_an_example_input_there_are_no_flops(tmp_path, capsys):
    out = summary_of(Affine(), tmp_path, capsys)
    assert "Linear" in out and "Total params: 16" in out and "Trainable params: 16" in out
    assert "Modules in train mode:" in out and "Modules in eval mode: 0" in out
    assert "FLOPs" not in out


def test_with_an_example_input_the_flops_are_shown(tmp_path, capsys):
    out = summary_of(Affine(example=torch.ones(5, 3)), tmp_path, capsys)
    # a (5, 3) @ (3, 4) product: 5 * 4 dot products of 3 multiply-adds, 2 FLOPs each (torch's FlopCounterMode)
    assert "Total FLOPs: 120" in out
    assert "In sizes" in out and "[5, 3]" in out


def test_a_run_gets_it_unless_it_has_a_summary_of_its_own_or_none(tmp_path):
    from seqmodels.commands.instantiate import build_callbacks, build_loggers, build_trainer
    from tests.helpers.configs import compose_config

    def summaries(overrides, extra=()):
        cfg = compose_config(overrides, tmp_path)
        trainer = build_trainer(cfg, [*build_callbacks(cfg), *extra], build_loggers(cfg))
        return [type(c) for c in trainer.callbacks if isinstance(c, LightningModelSummary)]

    assert summaries([]) == [ModelSummary]
    assert summaries(["callbacks=none"]) == [ModelSummary]
    assert summaries([], extra=[LightningModelSummary(max_depth=2)]) == [LightningModelSummary]
    assert summaries(["trainer.enable_model_summary=false"]) == []


@pytest.mark.parametrize("flops", [0, 7])
def test_the_columns_match_the_rows(flops, capsys):
    data = [(" ", ["0"]), ("Name", ["rnn"]), ("Type", ["LSTM"]), ("Params", ["1 K"]), ("Mode", ["train"])]
    data.append(("FLOPs", [str(flops)]))
    ModelSummary.summarize(data, 1000, 1000, 0.004, {"train": 1, "eval": 0}, flops)
    out = capsys.readouterr().out
    assert "LSTM" in out and "1 K" in out and ("FLOPs" in out) == bool(flops)
