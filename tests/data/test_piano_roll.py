"""MIDI -> piano roll: quantisation against MIDI files written here with known notes at known beats, the
88-key range, the named errors, the split by file, next-frame batches, and a real Nottingham file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi", reason="the music extra: pip install seqmodels[music]")
mido = pytest.importorskip("mido")

from seqmodels.data.corpora.midi import MidiFiles, Nottingham  # noqa: E402
from seqmodels.data.next_frame import NextFrameCollate, NextFrameDataModule  # noqa: E402
from seqmodels.data.piano_roll import MidiFileError, read_piano_roll  # noqa: E402
from tests.helpers.paths import resolve_data_dir  # noqa: E402


def write_midi(path: Path, notes, tempo: float = 120.0, resolution: int = 480, drums=()) -> Path:
    """A one-instrument MIDI file of ``notes`` = [(pitch, start beat, end beat), ...] at ``tempo``."""
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    beat = 60.0 / tempo
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=90, pitch=p, start=s * beat, end=e * beat) for p, s, e in notes]
    midi.instruments.append(piano)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(velocity=90, pitch=p, start=s * beat, end=e * beat) for p, s, e in drums]
        midi.instruments.append(kit)
    midi.write(str(path))
    return path


def roll_from_sets(frames: list[set[int]]) -> np.ndarray:
    """The expected (T, 88) roll, written as the MIDI pitches sounding in each frame."""
    roll = np.zeros((len(frames), 88), dtype=bool)
    for t, pitches in enumerate(frames):
        for pitch in pitches:
            roll[t, pitch - 21] = True
    return roll


# C4 a quarter from beat 0; E4 an eighth from beat 0.5; G4 a quarter from beat 1; A4 + C5 an eighth from beat 2
SCORE = [(60, 0.0, 1.0), (64, 0.5, 1.0), (67, 1.0, 2.0), (69, 2.0, 2.5), (72, 2.0, 2.5)]


@pytest.mark.parametrize("tempo", [120.0, 90.0])
def test_eighth_note_grid_gives_the_frames_by_hand(tmp_path, tempo):
    roll = read_piano_roll(write_midi(tmp_path / "a.mid", SCORE, tempo=tempo), steps_per_quarter=2)
    expected = roll_from_sets([{60}, {60, 64}, {67}, {67}, {69, 72}])
    np.testing.assert_array_equal(roll.frames, expected)
    assert roll.frames.dtype == bool and roll.notes == 5 and roll.out_of_range == 0 and roll.off_grid == 0


def test_sixteenth_note_grid(tmp_path):
    roll = read_piano_roll(write_midi(tmp_path / "a.mid", SCORE, resolution=220), steps_per_quarter=4)
    expected = roll_from_sets([{60}, {60}, {60, 64}, {60, 64}, {67}, {67}, {67}, {67}, {69, 72}, {69, 72}])
    np.testing.assert_array_equal(roll.frames, expected)


def test_onsets_round_to_the_nearest_step_and_short_notes_keep_one_frame(tmp_path):
    # beat 0.3 -> 0.6 eighths -> frame 1; its end 0.9 -> 1.8 -> 2: frame 1 only.
    # beat 0.25 -> 0.5 eighths, half way: rounds up to frame 1; its end 0.75 -> 1.5 -> 2: frame 1 only.
    # beat 1.0-1.1 (a fifth of an eighth): frame 2 and no more.
    notes = [(60, 0.3, 0.9), (64, 0.25, 0.75), (62, 1.0, 1.1)]
    roll = read_piano_roll(write_midi(tmp_path / "a.mid", notes), steps_per_quarter=2)
    np.testing.assert_array_equal(roll.frames, roll_from_sets([set(), {60, 64}, {62}]))
    assert roll.off_grid == 2


def test_the_grid_follows_ticks_through_a_tempo_change(tmp_path):
    """A quarter note at 120 bpm, the tempo halves, another quarter: two frames each on the eighth grid."""
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    track.append(mido.Message("note_on", note=62, velocity=90, time=0))
    track.append(mido.Message("note_off", note=62, velocity=0, time=480))
    mid.save(str(tmp_path / "tempo.mid"))
    roll = read_piano_roll(tmp_path / "tempo.mid")
    np.testing.assert_array_equal(roll.frames, roll_from_sets([{60}, {60}, {62}, {62}]))


def test_keys_run_from_a0_to_c8_and_the_rest_is_dropped_and_counted(tmp_path):
    notes = [(20, 0, 0.5), (21, 0, 0.5), (108, 0.5, 1.0), (109, 0.5, 1.0), (127, 0, 1.0)]
    roll = read_piano_roll(write_midi(tmp_path / "a.mid", notes, drums=[(60, 0, 1.0), (38, 0, 0.5)]))
    expected = np.zeros((2, 88), dtype=bool)
    expected[0, 0] = True  # A0, the lowest key
    expected[1, 87] = True  # C8, the highest
    np.testing.assert_array_equal(roll.frames, expected)
    assert (roll.notes, roll.out_of_range, roll.drum_notes) == (2, 3, 2)


def test_empty_file_is_a_named_error(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    with pytest.raises(MidiFileError, match=r"empty\.mid.*empty"):
        read_piano_roll(path)


def test_a_text_file_is_not_midi(tmp_path):
    path = tmp_path / "tune.mid"
    path.write_text("X:1\nT:Not MIDI\nK:G\nGABc|\n")
    with pytest.raises(MidiFileError, match=r"tune\.mid: not a readable MIDI file"):
        read_piano_roll(path)


def test_no_note_in_range_is_a_named_error(tmp_path):
    path = write_midi(tmp_path / "low.mid", [(12, 0, 1), (115, 1, 2)])
    with pytest.raises(MidiFileError, match=r"low\.mid: no note in the piano's range.*2 note\(s\) outside"):
        read_piano_roll(path)
    silent = write_midi(tmp_path / "silent.mid", [])
    with pytest.raises(MidiFileError, match=r"silent\.mid: no note in the piano's range.*no notes"):
        read_piano_roll(silent)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mid"):
        read_piano_roll(tmp_path / "nope.mid")


# ------------------------------------------------------------------------------------------ corpora
def tune_folder(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_midi(folder / f"tune{i:02d}.mid", [(60 + i, 0, 1 + i % 3)]) for i in range(n)]


def test_split_by_file_is_seeded_disjoint_and_complete(tmp_path):
    files = tune_folder(tmp_path, 20)
    corpus = MidiFiles(tmp_path, valid_fraction=0.1, test_fraction=0.2, seed=3)
    splits = {s: corpus.files(s) for s in ("train", "valid", "test")}
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [14, 2, 4]
    assert sorted(sum(splits.values(), []), key=str) == sorted(files, key=str)
    assert all(splits[s] == sorted(splits[s], key=str) for s in splits)
    again = MidiFiles(tmp_path, valid_fraction=0.1, test_fraction=0.2, seed=3)
    assert {s: again.files(s) for s in splits} == splits
    others = [MidiFiles(tmp_path, valid_fraction=0.1, test_fraction=0.2, seed=s).files("test") for s in range(4, 8)]
    assert any(o != splits["test"] for o in others)
    # each roll is its own file's: tune i sounds pitch 60 + i
    for roll, path in zip(corpus.rolls("test"), splits["test"]):
        assert np.flatnonzero(roll.frames[0]).tolist() == [60 + int(path.stem[4:]) - 21]


def test_max_files_takes_a_subset(tmp_path):
    tune_folder(tmp_path, 20)
    corpus = MidiFiles(tmp_path, valid_fraction=0.2, test_fraction=0.2, max_files=5)
    assert sum(len(corpus.files(s)) for s in ("train", "valid", "test")) == 5


def test_corpus_errors_name_the_folder_and_the_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matching"):
        MidiFiles(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        MidiFiles(tmp_path / "missing")
    tune_folder(tmp_path, 3)
    with pytest.raises(ValueError, match="none for training"):
        MidiFiles(tmp_path, valid_fraction=0.5, test_fraction=0.5)
    (tmp_path / "tune01.mid").write_bytes(b"")
    corpus = MidiFiles(tmp_path, valid_fraction=0.0, test_fraction=0.0)
    with pytest.raises(MidiFileError, match="tune01.mid"):
        corpus.rolls("train")


def test_nottingham_variants_read_their_own_folder(tmp_path):
    tune_folder(tmp_path / "MIDI", 4)
    tune_folder(tmp_path / "MIDI" / "melody", 3)
    full = Nottingham(tmp_path, valid_fraction=0.0, test_fraction=0.0)
    assert len(full.files("train")) == 4  # the sub-folders are other variants
    melody = Nottingham(tmp_path / "MIDI", variant="melody", valid_fraction=0.0, test_fraction=0.0)
    assert [p.parent.name for p in melody.files("train")] == ["melody"] * 3
    with pytest.raises(ValueError, match="variant must be one of"):
        Nottingham(tmp_path, variant="bass")


# ------------------------------------------------------------------------------------ next-frame batches
def test_collate_shifts_by_one_frame_and_pads_with_silence():
    a = np.eye(88, dtype=bool)[[0, 1, 2, 3]]  # (4, 88): keys 0, 1, 2, 3 in turn
    b = np.eye(88, dtype=bool)[[10, 11]]  # (2, 88)
    inputs, lengths, targets = NextFrameCollate()([(a, 0), (b, 0)])
    assert inputs.shape == targets.shape == (2, 3, 88) and lengths.tolist() == [3, 1]
    assert [int(i) for i in inputs[0].argmax(-1)] == [0, 1, 2]
    assert [int(i) for i in targets[0].argmax(-1)] == [1, 2, 3]
    assert int(inputs[1, 0].argmax()) == 10 and int(targets[1, 0].argmax()) == 11
    assert inputs[1, 1:].sum() == 0 and targets[1, 1:].sum() == 0
    with pytest.raises(ValueError, match="T >= 2"):
        NextFrameCollate()([(a[:1], 0)])


def test_data_module_serves_every_split(tmp_path):
    tune_folder(tmp_path, 10)
    data = NextFrameDataModule(MidiFiles(tmp_path, valid_fraction=0.2, test_fraction=0.2), batch_size=3)
    data.setup("fit")
    assert data.input_size == 88 and data.steps_per_quarter == 2
    sizes = {}
    for split, loader in [("train", data.train_dataloader()), ("valid", data.val_dataloader())]:
        sizes[split] = sum(int(x.shape[0]) for x, _, _ in loader)
    assert sizes == {"train": 6, "valid": 2}
    assert sum(int(x.shape[0]) for x, _, _ in data.test_dataloader()) == 2


# ------------------------------------------------------------------------------------------ real data
def test_a_nottingham_file_quantises_to_its_score():
    """ashover1.mid (3/4, 120 bpm): two beats' rest, then the melody E5 (76) for a quarter and D5 (74) for a
    half, the chord G2-B2-D3 (43, 47, 50) entering under the D (the first eight eighth-note frames)."""
    path = resolve_data_dir() / "nottingham" / "MIDI" / "ashover1.mid"
    if not path.is_file():
        pytest.skip(f"{path} not found (set SEQMODELS_DATA_DIR)")
    roll = read_piano_roll(path)
    expected = roll_from_sets([set()] * 4 + [{76}, {76}, {74, 43, 47, 50}, {74, 43, 47, 50}])
    np.testing.assert_array_equal(roll.frames[:8], expected)
    assert roll.out_of_range == 0 and roll.drum_notes == 0
