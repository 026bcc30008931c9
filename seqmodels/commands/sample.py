"""``seqmodels-sample``: generate text from a language-model checkpoint.

seqmodels-sample ckpt_path=… prompt="ROMEO:" max_new_tokens=500 temperature=0.7 top_k=20 num_samples=3

A conditional language model's samples need a condition, ``field:value`` pairs (:mod:`seqmodels.data.conditions`):
seqmodels-sample ckpt_path=… condition=label:pos        seqmodels-sample ckpt_path=… condition="meter:6/8 key:G"

A piano-roll model's checkpoint gives music instead (:mod:`.sample_music`):
seqmodels-sample ckpt_path=… output_file=tune.mid num_frames=128   (output_file=tune.wav: audio too)

A conditional model over ABC tokens (experiment=nottingham_folk_rnn) writes whole tunes (:mod:`.sample_abc`):
seqmodels-sample ckpt_path=… condition="M:6/8 L:1/8 K:G" output_file=tune.abc   (tune.mid, tune.wav: MIDI, audio)
"""

from __future__ import annotations

from omegaconf import DictConfig

from ..checkpoints import load_language_model
from ..inference.conditional import condition_input, is_conditional, load_conditions
from ..inference.generation import generate
from .app import hydra_command
from .options import check_ckpt_path
from .sample_abc import is_abc_model, tune_paths, tune_text, write_tune
from .sample_music import frame_model_from_checkpoint, sample_music


def sample(cfg: DictConfig) -> list[str]:
    """Print ``cfg.num_samples`` texts generated from the checkpoint's language model; return them.

    A piano-roll model's checkpoint writes ``cfg.output_file`` (MIDI, and WAV when it ends in ``.wav``)
    instead; the files written are returned. So does a conditional model over ABC tokens given ``cfg.output_file``
    (``.abc``, ``.mid``, ``.wav``): each sample is printed and written as a whole tune.
    """
    frame_model = frame_model_from_checkpoint(check_ckpt_path(cfg.ckpt_path))
    if frame_model is not None:
        return [str(p) for p in sample_music(cfg, *frame_model)]
    path = check_ckpt_path(cfg.ckpt_path)
    model, encoder, _ = load_language_model(path)
    conditions = load_conditions(path) if is_conditional(model) else None
    condition = condition_input(model, conditions, cfg.get("condition"), path)
    num = int(cfg.get("num_samples", 1))
    if num < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num}")
    output_file = cfg.get("output_file")
    paths = None
    if output_file is not None and str(output_file).strip():
        if not is_abc_model(model, encoder):
            raise ValueError(
                f"output_file={output_file}: {path} holds a {type(model).__name__} that samples text; only a piano-roll "
                "model (.mid, .wav) or a conditional language model over ABC tokens (.abc, .mid, .wav) writes a file. "
                "Drop output_file to print the samples"
            )
        paths = tune_paths(output_file, num)
    seed = cfg.get("seed")
    texts, written = [], []
    for i in range(num):
        text = generate(
            model,
            encoder,
            str(cfg.get("prompt") or ""),
            max_new_tokens=int(cfg.max_new_tokens),
            temperature=float(cfg.temperature),
            top_k=cfg.get("top_k"),
            top_p=cfg.get("top_p"),
            seed=None if seed is None else int(seed) + i,
            condition=condition,
        )
        if paths is not None:
            assert conditions is not None  # condition_input refused a conditional model without them
            text = tune_text(conditions, cfg.get("condition"), text, number=i + 1)
            files = write_tune(text, paths[i])
            written += [str(f) for f in files]
        texts.append(text)
        print(text, flush=True)
        if paths is not None:
            missing = len(files) == 1 and paths[i].suffix.lower() != ".abc"
            note = " only: music21 cannot read or write this tune as MIDI" if missing else ""
            print(f"wrote {', '.join(map(str, files))}{note}", flush=True)
        if i + 1 < num:
            print("-" * 72, flush=True)
    return texts if paths is None else written


@hydra_command("sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)
