"""The trainer's null profiler: a context manager for every hook call that records and reports nothing."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqmodels.callbacks import NullProfiler


def test_profile_is_a_reentrant_context_that_lets_errors_through():
    profiler = NullProfiler()
    with profiler.profile("outer"), profiler.profile("inner"):  # Lightning nests them (a hook inside a step)
        pass
    raised = False
    try:
        with profiler.profile("failing"):
            raise KeyError("a hook's own error")
    except KeyError:
        raised = True
    assert raised
    assert profiler.summary() == ""


class Regression(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class HookCounter(pl.Callback):
    def __init__(self):
        self.calls = 0

    def on_train_batch_end(self, *args):
        self.calls += 1


def test_a_trainer_with_it_runs_every_hook(tmp_path):
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(8, 3), torch.randn(8, 1)), batch_size=2)
    counter = HookCounter()
    trainer = pl.Trainer(
        profiler=NullProfiler(),
        max_epochs=2,
        callbacks=[counter],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    task = Regression()
    before = task.layer.weight.detach().clone()
    trainer.fit(task, data)
    assert counter.calls == 8 and trainer.global_step == 8
    assert not torch.equal(task.layer.weight, before)
