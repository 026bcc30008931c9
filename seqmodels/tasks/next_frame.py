"""Next-frame prediction of multi-hot frames (polyphonic music as piano rolls): one Bernoulli per key."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from ..checkpoints import to_plain
from ..models.pooling import valid_mask
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask

Batch = tuple[Tensor, Tensor, Tensor]  # inputs (B, T, F), lengths (B,), targets (B, T, F)


def frame_nll(logits: Tensor, targets: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """``(Σ_{b,t valid} Σ_k -log p(targets[b,t,k]), number of valid steps)``.

    ``-log p(y | l) = softplus(l) - y l`` (``binary_cross_entropy_with_logits``), summed over the F keys
    of a frame and over the valid steps; padded steps count for nothing.
    """
    nll = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)  # (B, T)
    mask = valid_mask(lengths, logits.shape[0], logits.shape[1], logits.device)[..., 0].to(nll.dtype)  # (B, T)
    return (nll * mask).sum(), mask.sum()


def frame_counts(logits: Tensor, targets: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(TP, FP, FN)`` over the valid steps, a key predicted on when ``σ(logit) > 0.5`` (``logit > 0``)."""
    mask = valid_mask(lengths, logits.shape[0], logits.shape[1], logits.device)  # (B, T, 1)
    predicted = (logits > 0) & mask
    actual = (targets > 0.5) & mask
    tp = (predicted & actual).sum()
    return tp, (predicted & ~actual).sum(), (~predicted & actual).sum()


class FrameSums(Metric):
    """Σ NLL, Σ valid steps, Σ TP and Σ (TP + FP + FN) over an evaluation epoch, summed over ranks."""

    full_state_update = False
    sums: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sums", default=torch.zeros(4, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: Tensor, targets: Tensor, lengths: Tensor) -> None:
        total, steps = frame_nll(logits, targets, lengths)
        tp, fp, fn = frame_counts(logits, targets, lengths)
        self.sums += torch.stack([total.detach(), steps, tp, tp + fp + fn]).to(self.sums)

    def compute(self) -> Tensor:
        return self.sums


class NextFrameTask(SequenceTask):
    """Trains an :class:`~seqmodels.models.RNNFrameModel` on ``(inputs, lengths, targets)`` batches of
    :class:`~seqmodels.data.next_frame.NextFrameDataModule`: inputs x_1..x_{T-1}, targets x_2..x_T.

    Loss: the negative log-likelihood of a frame under F independent Bernoullis, summed over the keys and
    averaged over the valid time steps of the batch (padding excluded)::

        NLL = 1/N Σ_{b, t < len_b} Σ_k [softplus(l_{b,t,k}) - x_{b,t+1,k} l_{b,t,k}],  N = Σ_b len_b

    in nats per time step: the figure Boulanger-Lewandowski et al. (2012) and Chung et al. (2014) report
    for polyphonic music. Evaluation averages over every valid step of the split.

    Frame-level accuracy (Bay et al. 2009), a key on when its probability exceeds 0.5, counts summed over
    all valid frames of the split before the ratio::

        ACC = Σ_t TP_t / Σ_t (TP_t + FP_t + FN_t)

    (frames where nothing sounds and nothing is predicted add nothing).

    Logged: ``train/loss``; ``val/loss`` and ``val/nll`` (the same number), ``val/acc``; ``test/*`` alike.

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
        self.val_sums = FrameSums()
        self.test_sums = FrameSums()

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits (B, T, F)."""
        return self.model(inputs, lengths)[0]

    def _check(self, batch: Batch) -> Batch:
        inputs, lengths, targets = batch
        if inputs.shape != targets.shape:
            raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} differ in shape")
        return inputs, lengths, targets

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, lengths, targets = self._check(batch)
        total, steps = frame_nll(self(inputs, lengths), targets, lengths)
        loss = total / steps
        self.log_train_loss(loss, steps.detach())
        return loss

    def _eval(self, batch: Batch, metric: FrameSums) -> None:
        inputs, lengths, targets = self._check(batch)
        metric.update(self(inputs, lengths), targets, lengths)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval(batch, self.val_sums)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval(batch, self.test_sums)

    def _log_epoch(self, stage: str, metric: FrameSums) -> None:
        if not metric.update_called:
            return
        total, steps, tp, union = metric.compute().float()
        metric.reset()
        nll = total / steps
        # compute() already summed over ranks; sync_dist=True only keeps Lightning from warning
        self.log(f"{stage}/loss", nll, prog_bar=True, sync_dist=True)
        self.log(f"{stage}/nll", nll, sync_dist=True)
        self.log(f"{stage}/acc", tp / union.clamp(min=1), prog_bar=stage == "val", sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_sums)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_sums)

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Key probabilities (B, T, F) of the next frames."""
        return torch.sigmoid(self(batch[0], batch[1]))
