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


# ------------------------------------------------------------------ where the report goes
def test_report_destination_names_the_profilers_own_directory_or_the_log_files(tmp_path):
    import logging

    from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler

    from seqmodels.callbacks.profiler import report_destination

    assert report_destination(NullProfiler()) is None
    assert report_destination(PassThroughProfiler()) is None
    assert report_destination(SimpleProfiler(dirpath=tmp_path, filename="perf")) == str(tmp_path)

    lightning_log = logging.getLogger("lightning")
    handler = logging.FileHandler(tmp_path / "train.log")
    lightning_log.addHandler(handler)
    try:
        assert report_destination(SimpleProfiler()) == str(tmp_path / "train.log")
    finally:
        lightning_log.removeHandler(handler)
        handler.close()


def test_the_training_summary_says_where_the_profiler_report_is(tmp_path, capsys):
    """As under the command's logging config: Lightning's logger writes to the run's log file only."""
    import logging

    from seqmodels.commands.train import train
    from tests.helpers.configs import QUIET, compose_config, shrink

    log_file = tmp_path / "train.log"
    lightning_log = logging.getLogger("lightning")
    handler = logging.FileHandler(log_file)
    lightning_log.addHandler(handler)
    try:
        train(shrink(compose_config([*QUIET, "debug=fast", "logger=csv", "trainer.profiler=simple"], tmp_path)))
    finally:
        lightning_log.removeHandler(handler)
        handler.close()
    out = capsys.readouterr().out
    assert f"Profiler report:  {log_file}" in out, out
    assert "Profiler Report" in log_file.read_text()

    train(shrink(compose_config([*QUIET, "debug=fast", "logger=csv"], tmp_path / "unprofiled")))
    assert "Profiler report" not in capsys.readouterr().out
