"""``seqmodels-sample`` for piano-roll models: frames drawn key by key, written as MIDI (and WAV).

    seqmodels-sample ckpt_path=…/best.ckpt output_file=tune.mid num_frames=128 temperature=1.0
    seqmodels-sample ckpt_path=…/best.ckpt output_file=tune.wav      # tune.wav and tune.mid beside it

:func:`frame_model_from_checkpoint` recognises a checkpoint of an :class:`~seqmodels.models.RNNFrameModel`
(anything else: None, and ``seqmodels-sample`` samples text as before); :func:`sample_music` writes the
files. The grid (``steps_per_quarter``) is the training data's, read from the stored config; playback
is at 120 quarter notes per minute. ``num_samples`` > 1 writes ``tune_1.mid``, ``tune_2.mid``, …
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig

from ..checkpoints import CHECKPOINT_KEY, load_checkpoint, model_from_checkpoint
from ..checkpoints.trust import check_targets
from ..inference.frames import sample_frames
from ..inference.midi import piano_roll_to_midi, write_audio
from ..models.frame_model import RNNFrameModel

MIDI_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav",)


def frame_model_from_checkpoint(path: str) -> tuple[RNNFrameModel, dict] | None:
    """``(model, stored config)`` when ``path`` holds a piano-roll model, else None."""
    checkpoint = load_checkpoint(path)
    extra = checkpoint.get(CHECKPOINT_KEY)
    config = extra.get("config") if isinstance(extra, dict) else None
    model_cfg = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model_cfg, dict) or not isinstance(model_cfg.get("_target_"), str):
        return None
    check_targets({"_target_": model_cfg["_target_"]}, path, "config.model")  # trusted before it is imported
    if not issubclass(get_class(model_cfg["_target_"]), RNNFrameModel):
        return None
    model, _, config = model_from_checkpoint(checkpoint, path)
    return model, config


def steps_per_quarter(config: dict) -> int:
    """The training data's grid, from the stored config (2, eighth notes, when it does not say)."""
    data = config.get("data")
    corpus = data.get("corpus") if isinstance(data, dict) else None
    value = corpus.get("steps_per_quarter") if isinstance(corpus, dict) else None
    return int(value) if value is not None else 2


def output_paths(output_file: Any, num: int) -> list[Path]:
    """One path per sample: ``output_file`` itself, or ``<stem>_<i><suffix>`` for ``num`` > 1."""
    if output_file is None or not str(output_file).strip():
        raise ValueError(
            "output_file is required to sample a piano-roll model: output_file=tune.mid (MIDI) or tune.wav (audio too)"
        )
    path = Path(str(output_file)).expanduser()
    if path.suffix.lower() not in MIDI_SUFFIXES + AUDIO_SUFFIXES:
        raise ValueError(f"output_file={output_file} must end in one of {list(MIDI_SUFFIXES + AUDIO_SUFFIXES)}")
    if num == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(1, num + 1)]


def sample_music(cfg: DictConfig, model: RNNFrameModel, config: dict) -> list[Path]:
    """Sample ``cfg.num_samples`` rolls of ``cfg.num_frames`` frames; write MIDI (and WAV); return the files."""
    num = int(cfg.get("num_samples", 1))
    if num < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num}")
    num_frames = cfg.get("num_frames", 128)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    grid = steps_per_quarter(config)
    seed = cfg.get("seed")
    written: list[Path] = []
    for i, path in enumerate(output_paths(cfg.get("output_file"), num)):
        roll = sample_frames(
            model, num_frames, temperature=float(cfg.temperature), seed=None if seed is None else int(seed) + i
        )
        midi = piano_roll_to_midi(roll, grid)
        path.parent.mkdir(parents=True, exist_ok=True)
        midi_path = path if path.suffix.lower() in MIDI_SUFFIXES else path.with_suffix(".mid")
        midi.write(str(midi_path))
        files = [midi_path]
        if path.suffix.lower() in AUDIO_SUFFIXES:
            files.append(write_audio(path, midi))
        notes = sum(len(instrument.notes) for instrument in midi.instruments)
        print(f"{len(roll)} frames, {notes} notes: {', '.join(map(str, files))}", flush=True)
        written.extend(files)
    return written
