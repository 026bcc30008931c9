"""The rich progress bar reads the logged figures at most once per redraw interval during training, every
step's counter still advancing, and as Lightning's at the end of an epoch."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from seqmodels.callbacks import RichProgressBar


class Regression(pl.LightningModule):
    """A linear fit logging ``train/loss`` to the progress bar every step."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Readings(RichProgressBar):
    """Counts the figure readings (``get_metrics``) per hook and the train bar's counter at each step's end."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_at_steps: list[int] = []
        self.reads_elsewhere = 0
        self.counter: list[float] = []
        self._in_step: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._in_step = batch_idx
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._in_step = None
        self.counter.append(self.train_progress_bar.completed)

    def get_metrics(self, trainer, pl_module):
        if self._in_step is None:
            self.reads_elsewhere += 1
        else:
            self.read_at_steps.append(self._in_step)
        return super().get_metrics(trainer, pl_module)


def fit(bar: RichProgressBar, steps: int) -> None:
    data = torch.utils.data.TensorDataset(torch.randn(steps * 2, 3), torch.randn(steps * 2, 1))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        callbacks=[bar],
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(Regression(), torch.utils.data.DataLoader(data, batch_size=2))


def test_figures_are_read_once_per_redraw_interval():
    """A clock that moves 40 ms a step against 10 redraws a second: readings at steps 0, 3, 6, ... (120 ms
    apart), every step counted, and the figures read again at the epoch's end."""
    bar = Readings(refresh_rate=10)
    clock = iter(0.04 * i for i in range(1000))
    bar.clock = lambda: next(clock)
    fit(bar, steps=12)
    assert bar.read_at_steps == [0, 3, 6, 9]
    assert bar.counter == list(range(1, 13))
    assert bar.reads_elsewhere >= 1  # the epoch's end


def test_a_bar_redrawing_faster_than_the_steps_reads_every_step():
    bar = Readings(refresh_rate=10)
    clock = iter(0.5 * i for i in range(1000))
    bar.clock = lambda: next(clock)
    fit(bar, steps=5)
    assert bar.read_at_steps == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ the training command, no sync per step
class ScalarReads(pl.Callback):
    """``Tensor.item()`` calls from one step's start to the next's (the step, its logging, the bar's update)."""

    def __init__(self, calls: list[int]) -> None:
        self.calls, self.per_step = calls, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.per_step.append(self.calls[0])


def train_with_counted_reads(monkeypatch, tmp_path, *overrides: str) -> tuple[list[int], dict]:
    """The default experiment, tiny, 12 steps, logged on steps 0-4 and 9 (``log_every_n_steps=5``), with the
    bar's clock stopped so that it reads its figures once, at the first step; the ``.item()`` calls of each
    step 0..10 and the result."""
    from seqmodels.commands.train import train
    from tests.helpers.configs import compose_config, shrink

    calls = [0]
    item = torch.Tensor.item

    def counted_item(self):
        calls[0] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counted_item)
    monkeypatch.setattr(RichProgressBar, "clock", staticmethod(lambda: 0.0))
    overrides = ("trainer.max_steps=12", "trainer.log_every_n_steps=5", "trainer.limit_val_batches=0", *overrides)
    cfg = shrink(compose_config(["trainer.enable_model_summary=false", "logger=csv", *overrides], tmp_path))
    reads = ScalarReads(calls)
    result = train(cfg, extra_callbacks=[reads])
    return [b - a for a, b in zip(reads.per_step, reads.per_step[1:])], result


@pytest.mark.parametrize(
    "overrides",
    [(), ("~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false")],
    ids=["our bar", "no bar"],
)
def test_a_training_step_between_logged_steps_reads_no_scalar(monkeypatch, tmp_path, overrides):
    per_step, _ = train_with_counted_reads(monkeypatch, tmp_path, *overrides)
    if not overrides:
        assert per_step[0] > 0  # the bar's first reading
    unlogged = {k: per_step[k] for k in (5, 6, 7, 8, 10)}
    assert unlogged == dict.fromkeys(unlogged, 0), per_step


def test_the_bar_still_shows_the_training_loss(monkeypatch, tmp_path):
    """train/loss reaches our bar through its own reading, and Lightning's bar (our bar removed) through
    ``prog_bar`` as before."""
    from seqmodels.commands.train import train
    from tests.helpers.configs import compose_config, shrink

    seen: dict[str, object] = {}
    get_metrics = RichProgressBar.get_metrics

    def recorded(self, trainer, pl_module):
        figures = get_metrics(self, trainer, pl_module)
        seen.update(figures)
        return figures

    monkeypatch.setattr(RichProgressBar, "get_metrics", recorded)
    overrides = [
        "trainer.enable_model_summary=false",
        "logger=csv",
        "trainer.max_steps=3",
        "trainer.limit_val_batches=0",
    ]
    train(shrink(compose_config(overrides, tmp_path / "ours")))
    assert isinstance(seen.get("train/loss"), float), seen

    class LossOnTheBar(pl.Callback):
        def on_train_end(self, trainer, pl_module):
            seen["lightning's bar"] = trainer.progress_bar_metrics.get("train/loss")

    cfg = shrink(compose_config([*overrides, "~callbacks.rich_progress_bar"], tmp_path / "lightnings"))
    train(cfg, extra_callbacks=[LossOnTheBar()])
    assert isinstance(seen["lightning's bar"], float), seen


def test_step_figures_must_be_a_list_of_names():
    with pytest.raises(TypeError, match="step_figures must be a list"):
        RichProgressBar(step_figures="train/loss")
