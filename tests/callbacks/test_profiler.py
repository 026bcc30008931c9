"""The trainer's null profiler: a context manager for every hook call that records and reports nothing."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import lightning.pytorch as pl
import torch
from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqmodels.callbacks import NullProfiler
from seqmodels.callbacks.profiler import report_destination


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
@contextmanager
def lightning_log_to(path, level=logging.NOTSET):
    """The ``lightning`` loggers as the commands' logging config (``configs/hydra/default.yaml``, applied with
    ``logging.config.dictConfig``) leaves them: ``lightning`` writes to ``path`` only and does not propagate; its
    children (given console handlers and INFO by Lightning when imported) have no handlers or level of their own
    and propagate to it."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    loggers = {name: logging.getLogger(name) for name in names}
    saved = {name: (log.handlers[:], log.propagate, log.level) for name, log in loggers.items()}
    handler = logging.FileHandler(path)
    handler.setLevel(level)
    loggers["lightning"].handlers, loggers["lightning"].propagate = [handler], False
    for name in names[1:]:
        loggers[name].handlers, loggers[name].propagate = [], True
        loggers[name].setLevel(logging.NOTSET)
    try:
        yield
    finally:
        for name, (handlers, propagate, level) in saved.items():
            loggers[name].handlers, loggers[name].propagate = handlers, propagate
            loggers[name].setLevel(level)
        handler.close()


def test_report_destination_names_the_profilers_own_file_or_the_log_files_that_take_it(tmp_path):
    assert report_destination(NullProfiler()) is None
    assert report_destination(PassThroughProfiler()) is None

    with lightning_log_to(tmp_path / "train.log"):
        assert report_destination(SimpleProfiler()) == str(tmp_path / "train.log")
        logging.getLogger("lightning").setLevel(logging.WARNING)  # the report (INFO) goes nowhere
        try:
            assert report_destination(SimpleProfiler()) is None
        finally:
            logging.getLogger("lightning").setLevel(logging.NOTSET)
    with lightning_log_to(tmp_path / "warnings.log", level=logging.WARNING):
        assert report_destination(SimpleProfiler()) is None


def test_a_profiler_with_a_directory_writes_the_file_named(tmp_path):
    profiler = SimpleProfiler(dirpath=tmp_path, filename="perf")
    named = report_destination(profiler)
    data = DataLoader(TensorDataset(torch.randn(8, 3), torch.randn(8, 1)), batch_size=2)
    trainer = pl.Trainer(
        profiler=profiler,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Regression(), data)
    assert named == str(tmp_path / "fit-perf.txt")
    assert "Profiler Report" in (tmp_path / "fit-perf.txt").read_text()


def test_the_training_summary_says_where_the_profiler_report_is(tmp_path, capsys):
    """As under the command's logging config: Lightning's logger writes to the run's log file only."""
    from seqmodels.commands.train import train
    from tests.helpers.configs import QUIET, compose_config, shrink

    log_file = tmp_path / "train.log"
    with lightning_log_to(log_file):
        train(shrink(compose_config([*QUIET, "debug=fast", "logger=csv", "trainer.profiler=simple"], tmp_path)))
    out = capsys.readouterr().out
    assert f"Profiler report:  {log_file}" in out, out
    assert "Profiler Report" in log_file.read_text()

    train(shrink(compose_config([*QUIET, "debug=fast", "logger=csv"], tmp_path / "unprofiled")))
    assert "Profiler report" not in capsys.readouterr().out
