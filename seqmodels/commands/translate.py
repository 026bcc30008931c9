"""``seqmodels-translate``: translate a sentence (``text=...``) or a file (``input_file=...``) with an
encoder–decoder checkpoint.

    seqmodels-translate ckpt_path=… text="ein Mann fährt Fahrrad ." beam_size=5
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from ..checkpoints import load_translator
from ..inference.decoding import translate as translate_texts
from .app import hydra_command
from .options import check_ckpt_path, short


def translate(cfg: DictConfig) -> list[str]:
    """Translate ``cfg.text`` (a sentence or a list) or the lines of ``cfg.input_file`` with a
    translation checkpoint; print the translations (or write them to ``cfg.output_file``), one per line."""
    text, input_file = cfg.get("text"), cfg.get("input_file")
    if (text is None) == (input_file is None):
        raise ValueError(
            'give exactly one of text="a sentence" (or a list) and input_file=<path, one sentence per line>'
        )
    if input_file is not None:
        path = Path(str(input_file)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"input_file={input_file}: no such file")
        texts = path.read_text(encoding="utf-8").splitlines()
    else:
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(
                f'text must be a sentence or a list of sentences, e.g. text="ein Hund läuft .", got {short(text)}'
            )
    model, encoder, _ = load_translator(check_ckpt_path(cfg.ckpt_path), str(cfg.get("device", "cpu")))
    max_length = cfg.get("max_length")
    translations = translate_texts(
        model,
        encoder,
        texts,
        beam_size=int(cfg.get("beam_size", 5)),
        max_length=None if max_length is None else int(max_length),
        length_penalty=float(cfg.get("length_penalty", 1.0)),
        batch_size=int(cfg.get("batch_size", 32)),
    )
    if cfg.get("output_file"):
        Path(str(cfg.output_file)).expanduser().write_text("".join(t + "\n" for t in translations), encoding="utf-8")
    else:
        for line in translations:
            print(line, flush=True)
    return translations


def quote_text_override(argv: list[str]) -> list[str]:
    """``text=ein Mann fährt Fahrrad .`` (what the shell makes of ``text="..."``) as a quoted Hydra value.

    Hydra's override grammar refuses unquoted values with characters such as ``ä`` or ``,``; any
    ``text=`` value that is not already quoted or a list is single-quoted, with ``\\`` and ``'`` escaped.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "text" and value and value[0] not in "'\"[":
            arg = f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        out.append(arg)
    return out


@hydra_command("translate")
def _main(cfg: DictConfig) -> None:
    translate(cfg)


def main() -> None:
    """The console script: ``text=`` values quoted for Hydra's grammar, then the Hydra app."""
    sys.argv[1:] = quote_text_override(sys.argv[1:])
    _main()
