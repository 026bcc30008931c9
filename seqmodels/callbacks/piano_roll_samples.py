"""A Lightning callback that lets you see and hear what a piano-roll model has learned, in TensorBoard.

After each validation epoch (not the sanity check), on global rank 0 with a TensorBoard logger, it
samples ``num_frames`` frames from the task's :class:`~seqmodels.models.RNNFrameModel` (starting from a
silent frame, keys drawn from their Bernoulli probabilities, :func:`~seqmodels.inference.frames.sample_frames`,
seeded with ``seed + epoch`` on a generator of its own, so the training RNG is untouched) and logs:

* ``samples/piano_roll`` — image (IMAGES tab): time left to right, the 88 keys bottom (A0) to top (C8),
  a sounding key white, each frame and key ``scale`` pixels;
* ``samples/audio`` — the roll played back (AUDIO tab): MIDI at 120 quarter notes per minute on the data's
  grid (``steps_per_quarter``), rendered by :func:`~seqmodels.inference.midi.synthesize`.

32 frames on the eighth-note grid are 8 seconds of music. Other tasks' models are left alone (one warning).
"""

from __future__ import annotations

import logging

import lightning.pytorch as pl
import numpy as np
import torch

from ..inference.frames import sample_frames
from ..inference.midi import ENGINES, piano_roll_to_midi, synthesize
from ..models.frame_model import RNNFrameModel
from ..tasks.base import tensorboard_writer
from ..utils.checks import check_positive_int

log = logging.getLogger(__name__)


def piano_roll_image(frames: np.ndarray, scale: int = 4) -> np.ndarray:
    """(1, K·scale, T·scale) uint8 image of a (T, K) roll: the highest key on the top row, sounding keys 255."""
    roll = (np.asarray(frames) > 0.5).T[::-1]  # (K, T), highest key first
    image = np.repeat(np.repeat(roll, scale, axis=0), scale, axis=1).astype(np.uint8) * 255
    return image[None]  # (1, K*scale, T*scale)


class PianoRollSamples(pl.Callback):
    """Log a sampled piano roll as an image and as audio after each validation (see the module docstring).

    Args:
        num_frames: frames to sample.
        every_n_epochs: log after every n-th validation epoch.
        temperature: sampling temperature of the key logits (1: the model's probabilities).
        seed: the sample of epoch e is drawn with seed ``seed + e``.
        sample_rate: audio samples per second.
        tempo: quarter notes per minute of the playback.
        engine: ``auto``, ``fluidsynth`` or ``builtin`` (see :func:`~seqmodels.inference.midi.synthesize`).
        scale: pixels per frame and per key in the image.
    """

    def __init__(
        self,
        num_frames: int = 32,
        every_n_epochs: int = 1,
        temperature: float = 1.0,
        seed: int = 0,
        sample_rate: int = 16000,
        tempo: float = 120.0,
        engine: str = "auto",
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.num_frames = check_positive_int("num_frames", num_frames)
        self.every_n_epochs = check_positive_int("every_n_epochs", every_n_epochs)
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.scale = check_positive_int("scale", scale)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
        self.engine = engine
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.tempo = float(tempo)
        self._warned = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        model = getattr(pl_module, "model", None)
        if not isinstance(model, RNNFrameModel):
            if not self._warned:
                log.warning(
                    "PianoRollSamples: the model is a %s, not an RNNFrameModel; nothing logged", type(model).__name__
                )
                self._warned = True
            return
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        steps_per_quarter = int(getattr(getattr(trainer, "datamodule", None), "steps_per_quarter", 2))
        roll = sample_frames(
            model, self.num_frames, temperature=self.temperature, seed=self.seed + trainer.current_epoch
        )
        step = trainer.global_step
        writer.add_image("samples/piano_roll", piano_roll_image(roll, self.scale), step, dataformats="CHW")
        audio = synthesize(piano_roll_to_midi(roll, steps_per_quarter, self.tempo), self.sample_rate, self.engine)
        writer.add_audio("samples/audio", torch.from_numpy(audio)[None], step, sample_rate=self.sample_rate)
