"""The rich progress bar reads the logged figures at most once per redraw interval during training, every
step's counter still advancing, and as Lightning's at the end of an epoch."""

from __future__ import annotations

import lightning.pytorch as pl
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
