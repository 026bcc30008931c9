"""PianoRollSamples writes an image and audio that TensorBoard's own reader (EventAccumulator) reads back."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytest.importorskip("pretty_midi", reason="the music extra: pip install seqmodels[music]")

from seqmodels.callbacks.piano_roll_samples import PianoRollSamples, piano_roll_image  # noqa: E402
from seqmodels.cells import RNNCell  # noqa: E402
from seqmodels.models import RNNClassifier  # noqa: E402
from seqmodels.models.frame_model import RNNFrameModel  # noqa: E402


def fake_trainer(logger, sanity: bool = False, epoch: int = 0):
    return SimpleNamespace(
        sanity_checking=sanity,
        is_global_zero=True,
        current_epoch=epoch,
        global_step=7,
        loggers=[logger],
        datamodule=SimpleNamespace(steps_per_quarter=2),
    )


def read(log_dir) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir), size_guidance={"images": 0, "audio": 0})
    accumulator.Reload()
    return accumulator


def every_key_on() -> RNNFrameModel:
    """A model whose every key has probability σ(30) ~ 1 in every frame."""
    model = RNNFrameModel(88, RNNCell, hidden_size=4)
    with torch.no_grad():
        model.head.bias.fill_(30.0)
    return model


def test_image_and_audio_reach_tensorboard(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    module = SimpleNamespace(model=every_key_on())
    callback = PianoRollSamples(num_frames=8, sample_rate=8000, engine="builtin", scale=2)
    callback.on_validation_epoch_end(fake_trainer(logger, sanity=True), module)  # the sanity check: nothing
    callback.on_validation_epoch_end(fake_trainer(logger), module)
    logger.experiment.flush()
    events = read(logger.log_dir)
    assert events.Tags()["images"] == ["samples/piano_roll"] and events.Tags()["audio"] == ["samples/audio"]
    (image,) = events.Images("samples/piano_roll")
    assert (image.step, image.width, image.height) == (7, 9 * 2, 88 * 2)  # the silent first frame + 8
    pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("L"))
    assert (pixels[:, :2] == 0).all() and (pixels[:, 2:] == 255).all()  # silence, then every key
    (audio,) = events.Audio("samples/audio")
    # 8 frames of eighth notes at 120 quarter notes per minute after the silent one: 2.25 s, + 0.05 s release
    assert audio.sample_rate == 8000 and audio.content_type == "audio/wav"
    assert audio.length_frames == math.ceil(2.30 * 8000)


def test_other_models_are_left_alone(tmp_path, caplog):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    module = SimpleNamespace(model=RNNClassifier(2, RNNCell, hidden_size=4, input_size=3))
    callback = PianoRollSamples(engine="builtin")
    with caplog.at_level("WARNING"):
        callback.on_validation_epoch_end(fake_trainer(logger), module)
    assert "not an RNNFrameModel" in caplog.text
    logger.experiment.flush()
    assert read(logger.log_dir).Tags()["images"] == []


def test_image_has_the_highest_key_on_top():
    roll = np.zeros((3, 88), dtype=bool)
    roll[0, 87] = True  # C8 in the first frame
    roll[2, 0] = True  # A0 in the last
    image = piano_roll_image(roll, scale=1)
    assert image.shape == (1, 88, 3) and image.dtype == np.uint8
    assert image[0, 0, 0] == 255 and image[0, 87, 2] == 255 and int(image.sum()) == 2 * 255
    assert torch.as_tensor(image).max() == 255
