"""Sequence regression (e.g. the adding problem): one real value (or K) per sequence, mean squared error."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics import MeanMetric

from ..checkpoints import to_plain
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask

Batch = tuple[Tensor, Tensor, Tensor]  # inputs (B, T, F), lengths (B,), targets (B,) or (B, K)


class RegressionTask(SequenceTask):
    """Trains a network with K outputs (an :class:`~seqmodels.models.RNNClassifier` with
    ``num_classes=K``) on ``(inputs, lengths, targets)`` batches.

    Loss: ``MSE = mean_b,k (y_hat - y)^2``. Targets (B,) are compared with the single output
    (B, 1) squeezed to (B,). Logged: ``train/loss``, ``val/loss`` and ``val/mse`` (the same
    number under its name; for the adding problem, predicting the constant 1 scores 0.167),
    ``test/loss``, ``test/mse``.

    Args: see :class:`~seqmodels.tasks.base.SequenceTask`.
    """

    lengths_position = 1  # (inputs, lengths, ...): the lengths stay on the host

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        clip_grad_norm: float | None = None,
        scheduler_monitor: str = "val/loss",
        scheduler_interval: str = "epoch",
        config: dict | None = None,
        encoder: Any = None,
        layer_lr_decay: float | None = None,
        unfreeze: Any = None,
        unfreeze_unit: str = "epoch",
    ) -> None:
        unfreeze = to_plain(unfreeze, "unfreeze")  # plain data in hparams (Hydra passes a DictConfig)
        super().__init__(
            model,
            optimizer,
            scheduler,
            clip_grad_norm,
            scheduler_monitor,
            scheduler_interval,
            config,
            encoder,
            layer_lr_decay=layer_lr_decay,
            unfreeze=unfreeze,
            unfreeze_unit=unfreeze_unit,
        )
        self.save_hyperparameters(ignore=list(NOT_HPARAMS))
        self.val_mse = MeanMetric()
        self.test_mse = MeanMetric()

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Predictions (B, K)."""
        return self.model(inputs, lengths)[0]

    def loss(self, batch: Batch) -> Tensor:
        inputs, lengths, targets = batch
        predictions = self(inputs, lengths)  # (B, K)
        if targets.dim() == 1:
            if predictions.shape[-1] != 1:
                raise ValueError(
                    f"targets have shape {tuple(targets.shape)} but the model gives {predictions.shape[-1]} outputs"
                )
            predictions = predictions.squeeze(-1)  # (B,)
        if predictions.shape != targets.shape:
            raise ValueError(
                f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} differ in shape"
            )
        return nn.functional.mse_loss(predictions, targets.to(predictions.dtype))

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.loss(batch)
        self.log_train_loss(loss, batch[2].shape[0])
        return loss

    def _eval(self, batch: Batch, stage: str) -> None:
        metric = self.val_mse if stage == "val" else self.test_mse
        metric.update(self.loss(batch), batch[2].shape[0])  # epoch mean over sequences, synced across ranks

    def _log_epoch(self, stage: str, metric: MeanMetric) -> None:
        if metric.update_called:
            mse = metric.compute()
            metric.reset()
            # already the same on every rank; sync_dist=True only keeps Lightning from warning
            self.log(f"{stage}/loss", mse, prog_bar=True, sync_dist=True)
            self.log(f"{stage}/mse", mse, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_mse)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_mse)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self(batch[0], batch[1])
