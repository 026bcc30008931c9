"""AbcTuneSamples writes a sampled tune as text and audio that TensorBoard's own reader (EventAccumulator) reads
back; a tune music21 cannot make MIDI of gets its text only; other models are left alone with one warning."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytest.importorskip("pretty_midi", reason="the music extra: pip install seqmodels[music]")
pytest.importorskip("music21", reason="the music extra: pip install seqmodels[music]")

from seqmodels.callbacks.abc_tune_samples import AbcTuneSamples  # noqa: E402
from seqmodels.cells import LSTMCell  # noqa: E402
from seqmodels.data import ABCTokenizer, CharTokenizer, TextEncoder, Vocab  # noqa: E402
from seqmodels.data.conditions import Conditions  # noqa: E402
from seqmodels.models import ConditionalLanguageModel  # noqa: E402

SPECIALS = ["<pad>", "<unk>", "<eos>"]
# the typical condition (defaults) is M:4/4 L:1/8 K:G, the header of the tune logged
CONDITIONS = Conditions(
    {"M": ["4/4", "6/8"], "L": ["1/8"], "K": ["D", "G"]}, defaults={"M": "4/4", "L": "1/8", "K": "G"}
)


def module(word: str, tokenizer=None) -> SimpleNamespace:
    """A task holding a tiny conditional model that always writes ``word`` (never <eos>)."""
    encoder = TextEncoder(tokenizer or ABCTokenizer(), Vocab([*SPECIALS, "G2", "z2", "|"], SPECIALS))
    model = ConditionalLanguageModel(
        len(encoder.vocab), LSTMCell, CONDITIONS.sizes, embedding_dim=4, hidden_size=4, condition_dim=2
    )
    with torch.no_grad():
        model.decoder.bias[encoder.vocab.stoi[word]] = 40.0
    return SimpleNamespace(model=model, encoder=encoder, conditions=CONDITIONS.to_dict())


def fake_trainer(logger, sanity: bool = False):
    return SimpleNamespace(
        sanity_checking=sanity, is_global_zero=True, current_epoch=0, global_step=5, loggers=[logger]
    )


def read(log_dir) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir), size_guidance={"audio": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def logged_text(events: EventAccumulator) -> str:
    (event,) = events.Tensors("samples/tune/text_summary")
    return event.tensor_proto.string_val[0].decode("utf-8")


@pytest.mark.parametrize("seconds", [10.0, 1.0])
def test_text_and_audio_reach_tensorboard(tmp_path, seconds):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    callback = AbcTuneSamples(max_new_tokens=8, seconds=seconds, sample_rate=8000, engine="builtin")
    task = module("G2")
    callback.on_validation_epoch_end(fake_trainer(logger, sanity=True), task)  # the sanity check: nothing
    callback.on_validation_epoch_end(fake_trainer(logger), task)
    logger.experiment.flush()
    events = read(logger.log_dir)
    assert events.Tags()["tensors"] == ["samples/tune/text_summary"] and events.Tags()["audio"] == [
        "samples/tune_audio"
    ]
    assert logged_text(events) == "```\nX:1\nM:4/4\nL:1/8\nK:G\nG2G2G2G2G2G2G2G2\n```"  # 8 tokens, by hand
    (audio,) = events.Audio("samples/tune_audio")
    assert audio.step == 5 and audio.sample_rate == 8000 and audio.content_type == "audio/wav"
    # eight quarter notes at 120 per minute: 4 s, + 0.05 s of the synth's release; or cut at `seconds`
    assert audio.length_frames == min(math.ceil(4.05 * 8000), int(seconds * 8000))


def test_a_tune_without_midi_gets_its_text_only(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    AbcTuneSamples(max_new_tokens=4, engine="builtin").on_validation_epoch_end(fake_trainer(logger), module("z2"))
    logger.experiment.flush()
    events = read(logger.log_dir)
    assert logged_text(events) == "```\nX:1\nM:4/4\nL:1/8\nK:G\nz2z2z2z2\n```"  # rests only: music21 finds no note
    assert events.Tags()["audio"] == []


def test_other_models_are_left_alone_with_one_warning(tmp_path, caplog):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    callback = AbcTuneSamples(engine="builtin")
    with caplog.at_level("WARNING"):
        callback.on_validation_epoch_end(fake_trainer(logger), module("G2", CharTokenizer()))
        callback.on_validation_epoch_end(fake_trainer(logger), module("G2", CharTokenizer()))
    assert caplog.text.count("AbcTuneSamples: the tokenizer is not the ABC one") == 1
    callback = AbcTuneSamples(engine="builtin")
    with caplog.at_level("WARNING"):
        callback.on_validation_epoch_end(fake_trainer(logger), SimpleNamespace(model=torch.nn.Linear(2, 2)))
    assert "the model is a Linear, not a conditional language model" in caplog.text
    logger.experiment.flush()
    assert read(logger.log_dir).Tags()["tensors"] == [] and read(logger.log_dir).Tags()["audio"] == []
