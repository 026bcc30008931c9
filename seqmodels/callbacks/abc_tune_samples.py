"""A Lightning callback that lets you read and hear the folk tunes a conditional ABC model writes, in TensorBoard.

After each validation epoch (not the sanity check), on global rank 0 with a TensorBoard logger, it samples one
tune body from the task's :class:`~seqmodels.models.ConditionalLanguageModel` under the data's typical condition
(``conditions.defaults``: each header field's most frequent training value, e.g. ``M:6/8 L:1/8 K:G``), from the
start token until ``<eos>`` or ``max_new_tokens`` tokens, seeded with ``seed + epoch`` on a generator of its own
(:func:`~seqmodels.inference.abc_report.sample_tunes`: the training RNG is untouched), and logs:

* ``samples/tune`` — the whole tune, ``format_tune(condition, body)`` (TEXT tab, as a code block);
* ``samples/tune_audio`` — the tune played back (AUDIO tab): music21's MIDI of it
  (:func:`~seqmodels.inference.abc_report.render_tune`) rendered by :func:`~seqmodels.inference.midi.synthesize`,
  its first ``seconds`` seconds. A tune music21 cannot read or write as MIDI gets its text only.

Only a conditional language model whose tokenizer is :class:`~seqmodels.data.abc_tokens.ABCTokenizer` and whose
conditions have defaults is sampled; for anything else one warning, then nothing. music21 and pretty_midi are the
``seqmodels[music]`` extra.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import lightning.pytorch as pl
import torch

from ..data.abc_tokens import ABCTokenizer
from ..data.conditions import as_conditions
from ..inference.abc_report import render_tune, sample_tunes
from ..inference.conditional import is_conditional
from ..inference.midi import ENGINES, synthesize
from ..tasks.base import tensorboard_writer
from ..utils.checks import check_positive_int

log = logging.getLogger(__name__)


class AbcTuneSamples(pl.Callback):
    """Log a sampled folk tune as text and as audio after each validation (see the module docstring).

    Args:
        max_new_tokens: the longest body sampled, in tokens (a Nottingham tune has ~150-250).
        every_n_epochs: log after every n-th validation epoch.
        temperature: sampling temperature (1: the model's probabilities).
        seed: the tune of epoch e is drawn with seed ``seed + e``.
        seconds: the audio's length at most.
        sample_rate: audio samples per second.
        engine: ``auto``, ``fluidsynth`` or ``builtin`` (see :func:`~seqmodels.inference.midi.synthesize`).
    """

    def __init__(
        self,
        max_new_tokens: int = 300,
        every_n_epochs: int = 1,
        temperature: float = 1.0,
        seed: int = 0,
        seconds: float = 10.0,
        sample_rate: int = 16000,
        engine: str = "auto",
    ) -> None:
        super().__init__()
        self.max_new_tokens = check_positive_int("max_new_tokens", max_new_tokens)
        self.every_n_epochs = check_positive_int("every_n_epochs", every_n_epochs)
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
        if not float(seconds) > 0:
            raise ValueError(f"seconds must be positive, got {seconds!r}")
        self.engine = engine
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.seconds = float(seconds)
        self._warned = False

    def _skip(self, why: str) -> None:
        if not self._warned:
            log.warning("AbcTuneSamples: %s; nothing logged", why)
            self._warned = True

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        model, encoder = getattr(pl_module, "model", None), getattr(pl_module, "encoder", None)
        conditions = as_conditions(getattr(pl_module, "conditions", None))
        if not isinstance(model, torch.nn.Module) or not is_conditional(model):
            return self._skip(f"the model is a {type(model).__name__}, not a conditional language model")
        if not isinstance(getattr(encoder, "tokenizer", None), ABCTokenizer):
            return self._skip("the tokenizer is not the ABC one (data/tokenizer=abc)")
        if conditions is None or conditions.defaults is None:
            return self._skip("the conditions have no typical value to sample under")
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        (tune,) = sample_tunes(
            model, encoder, conditions, conditions.defaults, 1, self.seed + trainer.current_epoch,
            self.max_new_tokens, self.temperature,
        )  # fmt: skip
        step = trainer.global_step
        writer.add_text("samples/tune", "```\n" + tune.text + "```", step)
        with tempfile.TemporaryDirectory() as folder:
            files = render_tune(tune.text, Path(folder) / "tune")
            if len(files) < 2:  # music21 cannot make MIDI of it: the text only
                return
            from ..data.piano_roll import import_pretty_midi

            midi = import_pretty_midi().PrettyMIDI(str(files[1]))
        audio = synthesize(midi, self.sample_rate, self.engine)[: int(self.seconds * self.sample_rate)]
        writer.add_audio("samples/tune_audio", torch.from_numpy(audio)[None], step, sample_rate=self.sample_rate)
