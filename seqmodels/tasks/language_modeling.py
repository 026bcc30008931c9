"""Language modeling: teacher forcing, per-token cross-entropy, stateful truncated BPTT."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from ..checkpoints import to_plain
from ..checkpoints.format import CHECKPOINT_KEY
from ..checkpoints.resume import STATE_KEY
from ..inference.generation import generate
from ..kernels.cross_entropy import cross_entropy
from ..utils.state import detach_state, map_state
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask
from .conditional import conditional_loss, datamodule_conditions, is_conditional, sample_text

LN2 = math.log(2.0)


def state_batch_size(state: Any) -> int | None:
    """Batch size B of a (nested list/tuple of) (B, H) state tensors; None for no state."""
    while isinstance(state, (list, tuple)):
        if not state:
            return None
        state = state[0]
    return None if state is None else state.shape[0]


class LanguageModelingTask(SequenceTask):
    """Trains a :class:`~seqmodels.models.RNNLanguageModel` on ``(inputs, targets)`` batches.

    Loss: ``-1/(B·T) Σ_{b,t} log p(targets[b,t] | inputs[b,≤t])`` (natural log, per token).
    Metrics per stage (``train``/``val``/``test``): ``loss``; at evaluation ``ppl = exp(loss)``
    and ``bpc = loss / ln 2`` — bits per token, i.e. bits per character on character data.
    Evaluation metrics are exact per-token averages over the epoch (shorter last batch included).

    Truncated BPTT (Zaremba et al. 2014; pytorch/examples word_language_model): with
    ``carry_state`` and a contiguous data module (row b of batch k+1 continues row b of batch k),
    the final state of each batch, detached, is the initial state of the next. The state starts
    at zero at every epoch start, for every evaluation epoch (evaluation carries it within its
    own epoch, separately from training) and whenever the batch size changes. Training batches
    of a data module with ``contiguous = False`` (random windows) start from zero each.

    A conditional language model (:class:`~seqmodels.models.ConditionalLanguageModel`) trains on batch
    dicts ``{"tokens", "lengths", "condition" and/or "condition_values"}`` instead
    (:mod:`seqmodels.tasks.conditional`: the loss over each row's valid positions, no state carried); the
    data module's ``conditions`` (the fields and their values) are stored in checkpoints
    (``checkpoint["seqmodels"]["conditions"]``), and the validation sample is drawn under their typical
    condition.

    Args:
        model, optimizer, scheduler, clip_grad_norm, scheduler_monitor, scheduler_interval,
        config, encoder: see :class:`~seqmodels.tasks.base.SequenceTask`.
        carry_state: carry the hidden state across batches (in training only when the data
            module says ``contiguous = True``: random windows are independent).
        sample_prompt: prompt of the text sample logged to TensorBoard after each validation
            epoch (None: start after ``<eos>`` when it is a boundary token, else from
            :func:`seqmodels.inference.generation.default_prompt`).
        sample_length: tokens in that sample; 0 disables it.
        sample_temperature: its sampling temperature.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        clip_grad_norm: float | None = None,
        carry_state: bool = True,
        encoder: Any = None,
        sample_prompt: str | None = None,
        sample_length: int = 200,
        sample_temperature: float = 1.0,
        scheduler_monitor: str = "val/loss",
        scheduler_interval: str = "epoch",
        config: dict | None = None,
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
        if isinstance(sample_length, bool) or not isinstance(sample_length, int) or sample_length < 0:
            raise ValueError(f"sample_length must be an integer >= 0, got {sample_length!r}")
        if (
            isinstance(sample_temperature, bool)
            or not isinstance(sample_temperature, (int, float))
            or sample_temperature < 0
        ):
            raise ValueError(f"sample_temperature must be a number >= 0 (0 = greedy), got {sample_temperature!r}")
        if sample_prompt is not None and not isinstance(sample_prompt, str):
            raise ValueError(f"sample_prompt must be a string or None, got {sample_prompt!r}")
        self.carry_state = bool(carry_state)
        self.sample_prompt = sample_prompt or ""
        self.sample_length = sample_length
        self.sample_temperature = float(sample_temperature)
        self.save_hyperparameters(ignore=list(NOT_HPARAMS))
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self._states: dict[str, Any] = {}
        self._carry: dict[str, bool] = {}
        self.conditions: dict | None = None  # a conditional model's fields and values (Conditions.to_dict())

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.conditions is None:
            datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
            self.conditions = datamodule_conditions(datamodule)

    # ------------------------------------------------------------------- state
    def _stream_is_contiguous(self) -> bool:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        return bool(getattr(datamodule, "contiguous", True))

    def reset_state(self, stage: str) -> None:
        """Forget the carried state of ``stage`` and decide whether that stage carries at all.

        Training carries only over contiguous streams (a data module with ``contiguous=False``
        serves independent random windows); evaluation streams are always contiguous.
        """
        self._states[stage] = None
        self._carry[stage] = self.carry_state and (stage != "train" or self._stream_is_contiguous())

    def on_train_epoch_start(self) -> None:
        self.reset_state("train")

    # -------------------------------------------------------- exact resumption
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self._states.get("train") is not None:  # the carried state, for a resume in mid-epoch
            checkpoint[STATE_KEY] = {"train": self._states["train"]}
        if self.conditions is not None:
            checkpoint[CHECKPOINT_KEY]["conditions"] = self.conditions

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self.conditions = (checkpoint.get(CHECKPOINT_KEY) or {}).get("conditions") or self.conditions
        self._resume_state = (checkpoint.get(STATE_KEY) or {}).get("train")

    def on_train_start(self) -> None:
        super().on_train_start()
        state, self._resume_state = getattr(self, "_resume_state", None), None
        if state is not None:  # a new epoch (on_train_epoch_start) still starts from zero
            self.reset_state("train")
            if self._carry["train"]:
                self._states["train"] = map_state(lambda t: t.to(self.device), state)

    def on_validation_epoch_start(self) -> None:
        self.reset_state("val")

    def on_test_epoch_start(self) -> None:
        self.reset_state("test")

    # -------------------------------------------------------------------- steps
    def shared_step(self, batch: tuple[Tensor, Tensor] | Mapping[str, Tensor], stage: str) -> Tensor:
        """Forward with the carried state, remember the new one (detached); return the mean token loss."""
        if isinstance(batch, Mapping) or is_conditional(self.model):  # conditional rows: no state carried
            return conditional_loss(self.model, batch)[0]
        inputs, targets = batch
        carry = self._carry.get(stage, self.carry_state)
        state = self._states.get(stage) if carry else None
        if state is not None and state_batch_size(state) != inputs.shape[0]:
            state = None  # e.g. a smaller last batch: its rows are not the same streams
        logits, state = self.model(inputs, state)  # (B, T, V)
        if carry:
            self._states[stage] = detach_state(state)
        # the logits are read no more: a training step's gradient may be written over them
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), overwrite_logits=True)

    @staticmethod
    def num_targets(batch: tuple[Tensor, Tensor] | Mapping[str, Tensor]) -> int | Tensor:
        """The tokens a batch's loss averages over (a conditional batch's: its rows' lengths - 1)."""
        if isinstance(batch, Mapping):
            return (batch["lengths"] - 1).sum()
        return batch[1].numel()

    def training_step(self, batch: tuple[Tensor, Tensor] | Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.shared_step(batch, "train")
        self.log_train_loss(loss, self.num_targets(batch))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor] | Mapping[str, Tensor], batch_idx: int) -> None:
        self.val_loss.update(self.shared_step(batch, "val"), self.num_targets(batch))

    def test_step(self, batch: tuple[Tensor, Tensor] | Mapping[str, Tensor], batch_idx: int) -> None:
        self.test_loss.update(self.shared_step(batch, "test"), self.num_targets(batch))

    def _log_epoch(self, stage: str, metric: MeanMetric) -> None:
        if not metric.update_called:
            return
        loss = metric.compute()
        metric.reset()
        # compute() already reduced over ranks; sync_dist=True only keeps Lightning from warning
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
        self.log(f"{stage}/ppl", torch.exp(loss), prog_bar=stage == "val", sync_dist=True)
        self.log(f"{stage}/bpc", loss / LN2, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_loss)
        if not self.trainer.sanity_checking:
            self.log_sample()

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_loss)

    # ------------------------------------------------------------------ samples
    def log_sample(self) -> str | None:
        """Sample ``sample_length`` tokens and add them to TensorBoard as text (``val/sample``).

        Seeded with the epoch number so that logging never disturbs the training RNG.
        Returns the text, or None when there is no TensorBoard logger or no encoder.
        """
        writer = self.tensorboard()
        if writer is None or self.sample_length == 0 or self.encoder is None:
            return None
        if self.conditions is not None:  # a conditional model: under the data's typical condition
            sampling = dict(
                max_new_tokens=self.sample_length, temperature=self.sample_temperature, seed=self.current_epoch
            )
            text = sample_text(self.model, self.encoder, self.conditions, self.sample_prompt, **sampling)
            if text is None:
                return None
        else:
            text = generate(
                self.model,
                self.encoder,
                self.sample_prompt,
                max_new_tokens=self.sample_length,
                temperature=self.sample_temperature,
                seed=self.current_epoch,
            )
        markdown = "\n".join("    " + line for line in text.split("\n"))  # code block keeps spacing
        writer.add_text("val/sample", markdown, global_step=self.global_step)
        return text
