"""Sequence classification: one label per sequence, cross-entropy, accuracy, macro-F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from ..checkpoints import to_plain
from ..kernels.cross_entropy import cross_entropy
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask
from .class_report import class_report
from .figures import confusion_matrix_figure

Batch = tuple[Tensor, Tensor, Tensor]  # inputs (B, T) or (B, T, F), lengths (B,), labels (B,)


class ClassificationTask(SequenceTask):
    """Trains an :class:`~seqmodels.models.RNNClassifier` on ``(inputs, lengths, labels)`` batches.

    Loss: mean cross-entropy over the batch. Logged: ``train/loss`` (step and epoch),
    ``train/acc`` (epoch); ``val/loss``, ``val/acc`` (fraction of sequences classified right, i.e.
    micro-averaged; torchmetrics' default would be the macro mean of per-class recalls),
    ``val/f1`` (macro-averaged F1: the mean of the
    per-class F1 scores, so rare classes count as much as frequent ones) and ``test/*`` likewise.
    After each validation epoch the confusion matrix goes to TensorBoard as an image
    (``val/confusion_matrix``) when a TensorBoard logger is present. After each validation or test
    epoch ``class_report`` holds that epoch's per-class precision, recall, F1, support and confusion
    matrix with the label names (:func:`~seqmodels.tasks.class_report.class_report`; what
    ``seqmodels-eval`` prints and writes).

    Args:
        num_classes: C; None takes ``model.num_classes``. Must be >= 2 (use
            :class:`~seqmodels.tasks.RegressionTask` for a single output).
        label_names: names of the C classes for the confusion matrix (default ``0..C-1``).
        Others: see :class:`~seqmodels.tasks.base.SequenceTask`.
    """

    lengths_position = 1  # (inputs, lengths, ...): the lengths stay on the host

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int | None = None,
        label_names: Sequence[str] | None = None,
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
        if num_classes is None:
            num_classes = getattr(model, "num_classes", None)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"num_classes must be an integer >= 2 (RegressionTask handles one output), got {num_classes!r}"
            )
        model_classes = getattr(model, "num_classes", num_classes)
        if model_classes != num_classes:
            raise ValueError(f"num_classes={num_classes} but the model has {model_classes} outputs")
        label_names = to_plain(label_names, "label_names")
        if label_names is not None and (
            len(label_names) != num_classes or not all(isinstance(n, str) for n in label_names)
        ):
            raise ValueError(f"label_names must be {num_classes} strings, got {label_names!r}")
        self.num_classes = num_classes
        self.label_names = label_names
        self.save_hyperparameters(ignore=list(NOT_HPARAMS))
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.class_report: dict | None = None  # of the last validation or test epoch

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits (B, C)."""
        return self.model(inputs, lengths)[0]

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, lengths, labels = batch
        logits = self(inputs, lengths)
        loss = cross_entropy(logits, labels)
        self.count_train_accuracy(logits, labels, labels.shape[0])
        self.log_train_loss(loss, labels.shape[0])
        return loss  # train/acc: at the epoch's end (on_train_epoch_end)

    def _eval_step(self, batch: Batch, stage: str) -> Tensor:
        inputs, lengths, labels = batch
        logits = self(inputs, lengths)
        loss_metric = self.val_loss if stage == "val" else self.test_loss
        loss_metric.update(cross_entropy(logits, labels), labels.shape[0])
        self.log(f"{stage}/loss", loss_metric, on_step=False, on_epoch=True, prog_bar=True)
        return logits

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits, labels = self._eval_step(batch, "val"), batch[2]
        self.val_acc.update(logits, labels)
        self.val_f1.update(logits, labels)
        self.val_confusion.update(logits, labels)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/f1", self.val_f1, on_step=False, on_epoch=True)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        logits, labels = self._eval_step(batch, "test"), batch[2]
        self.test_acc.update(logits, labels)
        self.test_f1.update(logits, labels)
        self.test_confusion.update(logits, labels)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
        self.log("test/f1", self.test_f1, on_step=False, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        if not self.val_confusion.update_called:
            return
        matrix = self.val_confusion.compute()  # (C, C), rows true, columns predicted
        self.val_confusion.reset()
        self.class_report = class_report(matrix, self.label_names)
        writer = self.tensorboard()
        if writer is not None and not self.trainer.sanity_checking:
            writer.add_figure(
                "val/confusion_matrix", confusion_matrix_figure(matrix, self.label_names), self.global_step
            )

    def on_test_epoch_end(self) -> None:
        if self.test_confusion.update_called:
            self.class_report = class_report(self.test_confusion.compute(), self.label_names)
            self.test_confusion.reset()

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Class probabilities (B, C)."""
        inputs, lengths = batch[0], batch[1]
        return torch.softmax(self(inputs, lengths), dim=-1)
