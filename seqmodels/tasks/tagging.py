"""Sequence tagging: one label per token, padding-aware cross-entropy, token accuracy, chunk F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from ..checkpoints import to_plain
from ..data.tagging import IGNORE_INDEX
from ..kernels.cross_entropy import cross_entropy
from ..utils.transfer import to_device_nowait
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask
from .spans import SpanF1

Batch = tuple[
    Tensor, Tensor, Tensor
]  # inputs (B, T) or (B, T, 1+F), lengths (B,), tags (B, T) padded with IGNORE_INDEX


class TaggingTask(SequenceTask):
    """Trains an :class:`~seqmodels.models.RNNTagger` on ``(inputs, lengths, tags)`` batches.

    Loss: the mean cross-entropy over the real tokens of the batch,
    ``-1/N Σ_{b, t < len_b} log p(tag_{b,t} | sentence_b)`` with N = Σ_b len_b; padded steps carry
    the tag ``IGNORE_INDEX`` and count nowhere.

    Logged per stage: ``loss`` (exact per-token mean over the epoch at evaluation), ``acc`` (token
    accuracy: the fraction of real tokens tagged right); with ``span_f1`` also ``f1``, ``precision``
    and ``recall`` of whole chunks (conlleval's definition, :mod:`seqmodels.tasks.spans`); all as
    fractions in [0, 1] like ``val/acc`` and ``val/f1`` of classification (conlleval prints percent). After each validation epoch one tagged sentence goes to
    TensorBoard as text (``val/sample``).

    Args:
        num_classes: C tags; None takes ``model.num_classes``.
        label_names: the C tag strings (needed for span F1 and the text sample).
        span_f1: score chunks (IOB-style tags such as CoNLL-2000's) besides tokens; False for tags
            without spans (part of speech).
        feature_vocabs: the token list of each extra input column (e.g. the POS tags given to a
            chunker), kept in the checkpoint's hyper-parameters so that evaluation and prediction map
            feature strings to the ids the model was trained with.
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
        span_f1: bool = True,
        clip_grad_norm: float | None = None,
        scheduler_monitor: str = "val/loss",
        scheduler_interval: str = "epoch",
        config: dict | None = None,
        encoder: Any = None,
        feature_vocabs: Sequence[Sequence[str]] | None = None,
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
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        model_classes = getattr(model, "num_classes", num_classes)
        if model_classes != num_classes:
            raise ValueError(f"num_classes={num_classes} but the model has {model_classes} outputs")
        label_names = to_plain(label_names, "label_names")
        if label_names is not None and (
            len(label_names) != num_classes or not all(isinstance(n, str) for n in label_names)
        ):
            raise ValueError(f"label_names must be {num_classes} strings, got {label_names!r}")
        feature_vocabs = to_plain(feature_vocabs, "feature_vocabs")
        embeddings = getattr(model, "feature_embeddings", [])
        if feature_vocabs is not None and [len(v) for v in feature_vocabs] != [e.num_embeddings for e in embeddings]:
            raise ValueError(
                f"feature_vocabs of sizes {[len(v) for v in feature_vocabs]} do not fit the model's feature "
                f"embeddings {[e.num_embeddings for e in embeddings]}"
            )
        self.feature_vocabs = feature_vocabs
        if not isinstance(span_f1, bool):
            raise ValueError(f"span_f1 must be True or False, got {span_f1!r}")
        if span_f1 and label_names is None:
            raise ValueError("span_f1=True needs label_names (the tag strings, e.g. B-NP, I-NP, O) to find the chunks")
        self.num_classes = num_classes
        self.label_names = label_names
        self.span_f1 = span_f1
        self.save_hyperparameters(ignore=list(NOT_HPARAMS))
        # keyed by stage ("train" itself cannot be a ModuleDict key: it is nn.Module.train)
        self.losses = nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})
        self.accuracy = nn.ModuleDict(
            {
                f"{s}_acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE_INDEX)
                for s in ("val", "test")
            }
        )
        self.spans = nn.ModuleDict({s: SpanF1() for s in ("val", "test")})
        self._sample: tuple[list[str], list[str], list[str]] | None = None

    # the metrics of a stage, typed (to the type checker an nn.ModuleDict holds plain nn.Modules)
    def _loss(self, stage: str) -> MeanMetric:
        return cast(MeanMetric, self.losses[stage])

    def _accuracy(self, stage: str) -> MulticlassAccuracy:
        return cast(MulticlassAccuracy, self.accuracy[f"{stage}_acc"])

    def _span_f1(self, stage: str) -> SpanF1:
        return cast(SpanF1, self.spans[stage])

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits (B, T, C)."""
        return self.model(inputs, lengths)[0]

    @staticmethod
    def loss(logits: Tensor, tags: Tensor) -> Tensor:
        """Mean cross-entropy over the non-padded tokens."""
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1), ignore_index=IGNORE_INDEX)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, lengths, tags = batch
        logits = self(inputs, lengths)
        loss = self.loss(logits, tags)
        counted = (tags != IGNORE_INDEX).sum()  # the scored tokens: a tensor, no host read per step
        self.count_train_accuracy(logits, tags, counted)
        self.log_train_loss(loss, counted)
        return loss  # train/acc: at the epoch's end (on_train_epoch_end)

    def _eval_step(self, batch: Batch, stage: str) -> Tensor:
        inputs, lengths, tags = batch
        logits = self(inputs, lengths)
        self._loss(stage).update(self.loss(logits, tags), int(lengths.sum()))
        self._accuracy(stage).update(logits.reshape(-1, self.num_classes), tags.reshape(-1))
        predicted = logits.argmax(-1)  # (B, T)
        if self.label_names is not None:
            names = self.label_names
            pred_tags = [[names[i] for i in row[:n]] for row, n in zip(predicted.tolist(), lengths.tolist())]
            gold_tags = [[names[i] for i in row[:n]] for row, n in zip(tags.tolist(), lengths.tolist())]
            if self.span_f1:
                self._span_f1(stage).update(pred_tags, gold_tags)
            if stage == "val" and self._sample is None:
                word_ids = inputs[0, : int(lengths[0])]
                word_ids = word_ids if word_ids.dim() == 1 else word_ids[:, 0]  # channel 0: words; then features
                words = self.encoder.vocab.decode(word_ids) if self.encoder is not None else None
                self._sample = (words or ["?"] * len(gold_tags[0]), gold_tags[0], pred_tags[0])
        return predicted

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _log_epoch(self, stage: str) -> None:
        if not self._loss(stage).update_called:
            return
        # compute() already reduced over ranks; sync_dist=True only keeps Lightning from warning
        self.log(f"{stage}/loss", self._loss(stage).compute(), prog_bar=True, sync_dist=True)
        self.log(f"{stage}/acc", self._accuracy(stage).compute(), prog_bar=not self.span_f1, sync_dist=True)
        self._loss(stage).reset()
        self._accuracy(stage).reset()
        if self.span_f1:
            precision, recall, f1 = self._span_f1(stage).compute().tolist()
            self._span_f1(stage).reset()
            self.log(f"{stage}/f1", f1, prog_bar=True, sync_dist=True)
            self.log(f"{stage}/precision", precision, sync_dist=True)
            self.log(f"{stage}/recall", recall, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._sample = None

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")
        writer = self.tensorboard()
        if writer is not None and self._sample is not None and not self.trainer.sanity_checking:
            words, gold, pred = self._sample
            rows = ["| word | gold | predicted |", "| --- | --- | --- |"]
            rows += [f"| {w} | {g} | {p}{'' if p == g else ' ✗'} |" for w, g, p in zip(words, gold, pred)]
            writer.add_text("val/sample", "\n".join(rows), global_step=self.global_step)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Predicted tag ids (B, T); padded steps are ``IGNORE_INDEX``."""
        inputs, lengths = batch[0], batch[1]
        predicted = self(inputs, lengths).argmax(-1)
        mask = (
            torch.arange(inputs.shape[1], device=inputs.device)[None, :]
            < to_device_nowait(lengths, inputs.device)[:, None]
        )
        return predicted.masked_fill(~mask, IGNORE_INDEX)
