"""Piano rolls out: roll -> MIDI file re-read by pretty_midi, the built-in synth (length, A4 at 440 Hz by FFT),
the WAV file read back with the standard library, and sampling frames from a model."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest
import torch

pretty_midi = pytest.importorskip("pretty_midi", reason="the music extra: pip install seqmodels[music]")

from seqmodels.cells import RNNCell  # noqa: E402
from seqmodels.data.piano_roll import read_piano_roll  # noqa: E402
from seqmodels.inference import midi as midi_module  # noqa: E402
from seqmodels.inference.frames import sample_frames  # noqa: E402
from seqmodels.inference.midi import piano_roll_to_midi, synthesize, write_midi  # noqa: E402
from seqmodels.inference.synth import additive_synth, write_wav  # noqa: E402
from seqmodels.models.frame_model import RNNFrameModel  # noqa: E402


def handmade_roll() -> np.ndarray:
    """C4 (key 39) in frames 0-1 and again in frame 3 (struck anew), A4 (key 48) in frames 1-3."""
    roll = np.zeros((4, 88), dtype=bool)
    roll[[0, 1, 3], 39] = True
    roll[[1, 2, 3], 48] = True
    return roll


def test_midi_export_reads_back_as_the_same_notes_and_frames(tmp_path):
    path = write_midi(tmp_path / "out.mid", handmade_roll(), steps_per_quarter=2, tempo=120.0)
    notes = sorted((n.pitch, n.start, n.end) for i in pretty_midi.PrettyMIDI(str(path)).instruments for n in i.notes)
    # an eighth note at 120 quarter notes per minute lasts 0.25 s
    expected = [(60, 0.0, 0.5), (60, 0.75, 1.0), (69, 0.25, 1.0)]
    assert [p for p, _, _ in notes] == [p for p, _, _ in expected]
    np.testing.assert_allclose([(s, e) for _, s, e in notes], [(s, e) for _, s, e in expected], atol=1e-6)
    np.testing.assert_array_equal(read_piano_roll(path).frames, handmade_roll())


def test_tempo_sets_the_frame_length():
    midi = piano_roll_to_midi(handmade_roll(), steps_per_quarter=4, tempo=60.0)  # a sixteenth at 60 bpm: 0.25 s
    assert midi.get_end_time() == pytest.approx(1.0)


def test_synth_output_length_and_an_a4_peaks_at_440_hz():
    sr, release = 8000, 0.05
    audio = additive_synth([(0.0, 1.0, 69, 100)], sample_rate=sr, release=release)
    assert audio.dtype == np.float32 and len(audio) == 8400  # (1.0 s + 0.05 s) * 8000
    assert 0 < np.abs(audio).max() <= 0.9 + 1e-6
    held = audio[:sr]  # the one second the note is held: 1 Hz bins
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held))))
    frequencies = np.fft.rfftfreq(len(held), 1.0 / sr)
    assert frequencies[int(spectrum.argmax())] == pytest.approx(440.0, abs=1.0)
    second = spectrum[np.argmin(np.abs(frequencies - 880.0))]
    assert second < spectrum.max() and second > 0.1 * spectrum.max()  # the 1/h harmonics are there


@pytest.mark.parametrize(("pitch", "hertz"), [(60, 261.63), (81, 880.0), (45, 110.0)])
def test_equal_temperament(pitch, hertz):
    audio = additive_synth([(0.0, 1.0, pitch, 100)], sample_rate=8000, release=0.0)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert np.fft.rfftfreq(len(audio), 1 / 8000)[int(spectrum.argmax())] == pytest.approx(hertz, abs=1.0)


def test_synth_plays_each_note_in_its_own_time():
    sr = 8000
    audio = additive_synth([(0.0, 0.25, 60, 100), (0.5, 0.75, 72, 100)], sample_rate=sr, release=0.0)
    assert len(audio) == 6000
    assert np.abs(audio[int(0.3 * sr) : int(0.45 * sr)]).max() == 0.0  # silence between the notes


def test_wav_file_holds_the_samples(tmp_path):
    samples = np.array([0.0, 0.5, -0.5, 1.5, -1.0], dtype=np.float32)
    write_wav(tmp_path / "a.wav", samples, 16000)
    with wave.open(str(tmp_path / "a.wav"), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (1, 2, 16000, 5)
        pcm = np.frombuffer(f.readframes(5), dtype="<i2")
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767]  # round(0.5 * 32767) = 16384; 1.5 clipped


def test_synthesize_falls_back_to_the_builtin_synth_without_fluidsynth(monkeypatch):
    monkeypatch.setattr(midi_module, "fluidsynth_available", lambda: False)
    midi = piano_roll_to_midi(np.eye(88, dtype=bool)[[48, 48, 48, 48]])  # A4 for 4 eighths: 1 s
    audio = synthesize(midi, sample_rate=8000)
    assert len(audio) == math.ceil(1.05 * 8000)
    spectrum = np.abs(np.fft.rfft(audio[:8000]))
    assert np.fft.rfftfreq(8000, 1 / 8000)[int(spectrum.argmax())] == pytest.approx(440.0, abs=1.0)
    with pytest.raises(RuntimeError, match="pyfluidsynth"):
        synthesize(midi, engine="fluidsynth")
    with pytest.raises(ValueError, match="engine must be one of"):
        synthesize(midi, engine="organ")


# ------------------------------------------------------------------------------------------ sampling
def biased_model(bias: float) -> RNNFrameModel:
    model = RNNFrameModel(88, RNNCell, hidden_size=4)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.fill_(bias)
    return model


def test_frames_are_bernoulli_draws_of_the_key_probabilities():
    assert sample_frames(biased_model(30.0), 5)[1:].all()  # p = 1: every key on
    assert not sample_frames(biased_model(-30.0), 5).any()  # p = 0 (and the silent first frame)
    half = sample_frames(biased_model(0.0), 200, seed=0)[1:]  # p = 1/2: 17,600 fair coins
    assert abs(half.mean() - 0.5) < 0.02
    assert half.shape == (200, 88)


def test_sampling_is_seeded_primed_and_leaves_the_model_mode():
    torch.manual_seed(0)
    model = RNNFrameModel(88, RNNCell, hidden_size=8).train()
    prime = np.eye(88, dtype=bool)[[39, 43]]
    a = sample_frames(model, 10, prime=prime, seed=3)
    b = sample_frames(model, 10, prime=prime, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:2], prime)
    assert a.shape == (12, 88) and model.training
    greedy = sample_frames(biased_model(0.5), 3, temperature=0)
    assert greedy[1:].all()
    with pytest.raises(ValueError, match="prime must be"):
        sample_frames(model, 3, prime=np.zeros((2, 12)))
