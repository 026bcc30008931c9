"""Translation: teacher-forced cross-entropy, perplexity, corpus BLEU (sacrebleu), samples and attention maps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchmetrics import MeanMetric

from ..checkpoints import to_plain
from ..data.translation import TranslationBatch
from ..data.translation_encoder import TranslationEncoder
from ..inference.decoding import decode, default_max_length
from ..kernels.cross_entropy import cross_entropy
from .base import NOT_HPARAMS, OptimizerFactory, SchedulerFactory, SequenceTask


def corpus_bleu(hypotheses: list[str], references: list[str], lowercase: bool = False, tokenize: str = "13a") -> float:
    """sacrebleu's corpus BLEU (0-100) of ``hypotheses`` against one raw reference each.

    Hypotheses are the target tokenizer's ``detokenize`` output. For word tokens that is the words
    joined by spaces, which sacrebleu would flag as "not detokenized" (``force=True`` silences it):
    with the Multi30k word pattern, 13a re-tokenizes such text as it tokenizes the raw reference
    (the references, so written, score 99.98 BLEU against themselves on test_2016_flickr).
    """
    import sacrebleu

    if not hypotheses:
        return 0.0
    return float(
        sacrebleu.corpus_bleu(hypotheses, [references], lowercase=lowercase, tokenize=tokenize, force=True).score
    )


def gather_strings(items: list[str]) -> list[str]:
    """``items`` of every rank, concatenated in rank order (this rank's alone outside distributed runs)."""
    if (
        not (torch.distributed.is_available() and torch.distributed.is_initialized())
        or torch.distributed.get_world_size() == 1
    ):
        return items
    gathered: list[list[str] | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, items)
    return [item for part in gathered for item in (part or [])]


class TranslationTask(SequenceTask):
    """Trains a :class:`~seqmodels.models.Seq2Seq` on :class:`~seqmodels.data.translation.TranslationBatch` es.

    Loss: cross-entropy per target token (the ``<eos>`` step included, padding excluded),
    ``-1/N Σ_{b,t} log p(y_{b,t} | y_{b,<t}, x_b)``, with the reference prefix as decoder input
    (teacher forcing) or, at rate ``sampling_rate``, the model's own samples (scheduled sampling).

    Logged: ``train/loss``; ``val/loss`` and ``val/ppl = exp(val/loss)`` (exact per-token means over
    the epoch); ``val/bleu``: sacrebleu corpus BLEU (0-100) of greedy translations of the whole
    validation set against the raw reference sentences; ``test/*`` likewise, with beam search of
    ``test_beam_size``. After each validation epoch TensorBoard gets a table of sample translations
    (``val/translations``) and the attention map of the first one (``val/attention``).

    Args:
        encoder: the :class:`~seqmodels.data.translation_encoder.TranslationEncoder` (or its dict); None
            takes the data module's. Needed for BLEU and samples.
        sampling_rate: scheduled-sampling rate in [0, 1] (0: pure teacher forcing).
        label_smoothing: cross-entropy label smoothing (0: none).
        bleu_lowercase: score BLEU case-insensitively (for models that write lower case).
        bleu_tokenize: sacrebleu's tokenizer for scoring (``13a``, its default, is WMT's).
        val_bleu: decode the validation set each epoch (False: loss and perplexity only).
        val_beam_size, test_beam_size: beam size for validation/test decoding (1: greedy).
        length_penalty: alpha of the length normalisation in beam search (see :mod:`seqmodels.inference.decoding`).
        max_length: the most output tokens per sentence (None: ``2 * source length + 10``).
        num_samples: sample translations in the TensorBoard table.
        Others: see :class:`~seqmodels.tasks.base.SequenceTask`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        clip_grad_norm: float | None = None,
        sampling_rate: float = 0.0,
        label_smoothing: float = 0.0,
        bleu_lowercase: bool = False,
        bleu_tokenize: str = "13a",
        val_bleu: bool = True,
        val_beam_size: int = 1,
        test_beam_size: int = 5,
        length_penalty: float = 1.0,
        max_length: int | None = None,
        num_samples: int = 5,
        scheduler_monitor: str = "val/loss",
        scheduler_interval: str = "epoch",
        config: dict | None = None,
        encoder: Any = None,
        layer_lr_decay: float | None = None,
        unfreeze: Any = None,
        unfreeze_unit: str = "epoch",
    ) -> None:
        if isinstance(encoder, Mapping):  # a dict, or the DictConfig Hydra passes
            encoder = TranslationEncoder.from_dict(to_plain(encoder, "encoder"))
        if encoder is not None and not isinstance(encoder, TranslationEncoder):
            raise ValueError(
                f"encoder must be a TranslationEncoder (source and target sides), got {type(encoder).__name__}"
            )
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
        for name, value in (("sampling_rate", sampling_rate), ("label_smoothing", label_smoothing)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        for name, value in (("val_beam_size", val_beam_size), ("test_beam_size", test_beam_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"max_length must be None or a positive integer, got {max_length!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be an integer >= 0, got {num_samples!r}")
        from sacrebleu.metrics import BLEU

        if bleu_tokenize not in BLEU.TOKENIZERS:
            raise ValueError(
                f"bleu_tokenize must be one of sacrebleu's {sorted(BLEU.TOKENIZERS)}, got {bleu_tokenize!r}"
            )
        self.sampling_rate = float(sampling_rate)
        self.label_smoothing = float(label_smoothing)
        self.bleu_lowercase = bool(bleu_lowercase)
        self.bleu_tokenize = bleu_tokenize
        self.val_bleu = bool(val_bleu)
        self.val_beam_size = val_beam_size
        self.test_beam_size = test_beam_size
        self.length_penalty = float(length_penalty)
        self.max_length = max_length
        self.num_samples = num_samples
        self.save_hyperparameters(ignore=list(NOT_HPARAMS))
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self._outputs: dict[str, list[tuple[str, str, str]]] = {"val": [], "test": []}
        self._attention: tuple[list[str], list[str], Tensor] | None = None

    # ------------------------------------------------------------------ encoder
    @property
    def encoder(self) -> TranslationEncoder | None:
        """The source/target encoder pair (rebuilt from the stored dict on first use), or None."""
        if self._encoder_object is None and self.encoder_dict is not None:
            self._encoder_object = TranslationEncoder.from_dict(self.encoder_dict)
        return self._encoder_object

    def _require_encoder(self) -> TranslationEncoder:
        encoder = self.encoder
        if encoder is None:
            raise ValueError("TranslationTask needs the TranslationEncoder (encoder=..., or a data module with one)")
        return encoder

    def _target_pad(self) -> int:
        return self._require_encoder().pad_index

    # -------------------------------------------------------------------- steps
    def loss(self, logits: Tensor, target_out: Tensor, label_smoothing: float = 0.0) -> Tensor:
        """Mean cross-entropy over the non-padded target tokens; logits (B, T, V), target_out (B, T)."""
        return cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target_out.reshape(-1),
            ignore_index=self._target_pad(),
            label_smoothing=label_smoothing,
        )

    def _logits(self, batch: TranslationBatch, sampling_rate: float) -> Tensor:
        """Teacher-forced logits (B, T-1, V): inputs ``target[:, :-1]``, to be compared with ``target[:, 1:]``."""
        return self.model(
            batch.source, batch.source_lengths, batch.target[:, :-1], batch.target_lengths - 1, sampling_rate
        )[0]

    def training_step(self, batch: TranslationBatch, batch_idx: int) -> Tensor:
        loss = self.loss(self._logits(batch, self.sampling_rate), batch.target[:, 1:], self.label_smoothing)
        self.log_train_loss(loss, (batch.target_lengths - 1).sum())  # a tensor: no host read per step
        return loss

    def _eval_step(self, batch: TranslationBatch, stage: str) -> None:
        # no label smoothing here: perplexity needs the plain log-likelihood
        loss = self.loss(self._logits(batch, 0.0), batch.target[:, 1:])
        (self.val_loss if stage == "val" else self.test_loss).update(loss, int((batch.target_lengths - 1).sum()))
        if stage == "val" and not self.val_bleu:
            return
        beam = self.val_beam_size if stage == "val" else self.test_beam_size
        encoder = self._require_encoder()
        steps = self.max_length or default_max_length(batch.source_lengths)
        hyps = decode(
            self.model,
            batch.source,
            batch.source_lengths,
            encoder.bos_index,
            encoder.eos_index,
            beam,
            steps,
            self.length_penalty,
        )
        texts = [encoder.decode(tokens) for tokens in hyps.tokens]
        self._outputs[stage].extend(zip(batch.sources, batch.references, texts))
        if stage == "val" and self._attention is None and hyps.attention[0] is not None:
            length = int(batch.source_lengths[0])
            source_tokens = encoder.source.vocab.decode(batch.source[0, :length])
            output_tokens = encoder.target.vocab.decode(hyps.tokens[0]) + ["<eos>"]
            weights = hyps.attention[0][:, :length]  # (n, S): padded columns are 0 anyway
            self._attention = (source_tokens, output_tokens[: weights.shape[0]], weights)

    def validation_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    # ------------------------------------------------------------------ epochs
    def on_validation_epoch_start(self) -> None:
        self._outputs["val"] = []
        self._attention = None

    def on_test_epoch_start(self) -> None:
        self._outputs["test"] = []

    def _log_epoch(self, stage: str) -> list[tuple[str, str, str]]:
        metric = self.val_loss if stage == "val" else self.test_loss
        if not metric.update_called:
            return []
        loss = metric.compute()
        metric.reset()
        # compute() already reduced over ranks; sync_dist=True only keeps Lightning from warning
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
        self.log(f"{stage}/ppl", torch.exp(loss), prog_bar=stage == "val", sync_dist=True)
        outputs = self._outputs[stage]
        if stage == "test" or self.val_bleu:
            sources = gather_strings([o[0] for o in outputs])
            references = gather_strings([o[1] for o in outputs])
            hypotheses = gather_strings([o[2] for o in outputs])
            bleu = (
                corpus_bleu(hypotheses, references, self.bleu_lowercase, self.bleu_tokenize) if hypotheses else math.nan
            )
            self.log(f"{stage}/bleu", bleu, prog_bar=True, sync_dist=True)
            outputs = list(zip(sources, references, hypotheses))
        return outputs

    def on_validation_epoch_end(self) -> None:
        outputs = self._log_epoch("val")
        writer = self.tensorboard()
        if writer is None or self.trainer.sanity_checking:
            return
        if outputs and self.num_samples:
            rows = ["| source | reference | translation |", "| --- | --- | --- |"]
            rows += [f"| {_cell(s)} | {_cell(r)} | {_cell(h)} |" for s, r, h in outputs[: self.num_samples]]
            writer.add_text("val/translations", "\n".join(rows), global_step=self.global_step)
        if self._attention is not None:
            source_tokens, output_tokens, weights = self._attention
            writer.add_figure(
                "val/attention", attention_figure(weights, source_tokens, output_tokens), self.global_step
            )

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: TranslationBatch, batch_idx: int) -> list[str]:
        """Translations of the batch's sources (beam ``test_beam_size``)."""
        encoder = self._require_encoder()
        steps = self.max_length or default_max_length(batch.source_lengths)
        hyps = decode(
            self.model,
            batch.source,
            batch.source_lengths,
            encoder.bos_index,
            encoder.eos_index,
            self.test_beam_size,
            steps,
            self.length_penalty,
        )
        return [encoder.decode(tokens) for tokens in hyps.tokens]


def attention_figure(weights: Tensor, source_tokens: list[str], output_tokens: list[str]) -> Figure:
    """Heat map of attention weights (rows: output steps, columns: source tokens)."""
    values = weights.detach().float().cpu().numpy()  # (n, S)
    rows, cols = values.shape
    fig = Figure(figsize=(min(2.0 + 0.45 * cols, 16.0), min(1.5 + 0.4 * rows, 16.0)))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(cols), labels=source_tokens[:cols], rotation=60, ha="right")
    ax.set_yticks(range(rows), labels=output_tokens[:rows])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    return fig


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
