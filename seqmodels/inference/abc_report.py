"""How well a conditional language model writes folk tunes, measured as folk-rnn's tunes are judged (Sturm,
Santos, Ben-Tal & Korshunova 2016): the likelihood of held-out tunes, and what its samples under a given meter
and key look like to a musician's first checks.

**Bits on the test tunes** (:func:`tune_bits`). Each test tune is read as training read it, its body's tokens
between boundaries under its own header's condition (:meth:`~seqmodels.data.corpora.abc.AbcTune.condition`:
``M``, ``L``, ``K``), ``[start, x_1..x_n, <eos>]``; the scored tokens are ``x_1..x_n`` and the closing
``<eos>`` (the start token is context only). Over all test tunes::

    bits per token = -Σ log₂ p(x_t | x_<t, c) / Σ (n + 1)          (= the mean NLL in nats / ln 2)
    bits per char  = -Σ log₂ p(x_t | x_<t, c) / Σ (len(body') + 1)

where ``body'`` is the body as the tokenizer decodes its own tokens (``detokenize(tokenize(body))``: the body
modulo whitespace, what a sample of the model looks like) and the ``+ 1`` is the line break that ends a
tune, which ``<eos>`` stands for (:func:`~seqmodels.data.corpora.abc.format_tune` writes it). A body token
outside the training vocabulary is scored as ``<unk>`` (counted in ``unknown_tokens``).

**Samples** (:func:`sample_tunes`). For each condition (``"M:6/8 L:1/8 K:G"``; by default the ``top`` most
frequent header combinations of the training tunes, :func:`frequent_conditions`) ``n`` bodies are drawn from
the start token at ``temperature``, sample ``i`` of condition ``j`` with seed ``seed + j·n + i``, each
ending at ``<eos>`` or cut after ``max_new_tokens`` tokens (``ended`` says which), and written as a whole tune
by ``format_tune(condition, body)``.

**Checks** (:mod:`seqmodels.inference.abc_checks`, :func:`figures`): of a group of tunes, the share that
music21 parses, the share whose bars all last what their meter says (among the tunes with a bar to check), the
mean share of notes in the key's scale, and the share of tunes with at least 90 % of their notes in it ("most
notes"). The same figures are given for the test tunes themselves, written the same way
(``format_tune(their condition, their body)``): per condition the test tunes with that header, overall those in
the conditions measured and every test tune.

``python -m seqmodels.inference.abc_report CKPT [--samples 200] [--conditions "M:6/8 L:1/8 K:G" ...]
[--json out.json] [--abc samples.abc] [--render DIR [--wav]]`` prints the table (``--render``: each condition's
first sample as ``.abc`` and ``.mid``, :func:`render_tune`); the tunes are read from the checkpoint's data config
(``data.path`` or ``data.files``, its split) unless ``--data`` names ABC files or the Nottingham folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..data.conditions import Conditions
from ..data.corpora.abc import ABSENT, DEFAULT_FIELDS, DEFAULT_FRACTIONS, AbcCorpus, AbcTune, NottinghamABC, format_tune
from ..utils.progress import progress_bar
from .abc_checks import TuneCheck, check_tune, summarize
from .generation import generate_ids, score_ids, start_token

MOST_NOTES = 0.9
"""A tune stays in its key "for most notes" when at least this share of its notes lie in the key's scale."""


# ---------------------------------------------------------------------------------------------- conditions
def tune_condition(tune: AbcTune, fields: Sequence[str]) -> dict[str, str]:
    """The condition a tune is read under: its header's values of ``fields`` (``none`` for a field it lacks)."""
    values = tune.condition(fields)
    return {f: values.get(f, ABSENT) for f in fields}


def condition_text(condition: Mapping[str, Any]) -> str:
    """``{"M": "6/8", "L": "1/8", "K": "G"}`` -> ``"M:6/8 L:1/8 K:G"``."""
    return " ".join(f"{field}:{value}" for field, value in condition.items())


def frequent_conditions(tunes: Sequence[AbcTune], fields: Sequence[str], top: int) -> list[tuple[dict[str, str], int]]:
    """The ``top`` most frequent conditions of ``tunes`` with their counts, most frequent first (ties in the
    order of :func:`condition_text`)."""
    counts = Counter(tuple(tune_condition(t, fields).items()) for t in tunes)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], condition_text(dict(item[0]))))
    return [(dict(key), count) for key, count in ranked[:top]]


# ---------------------------------------------------------------------------------------------- bits
@dataclass(frozen=True)
class Bits:
    """The test tunes' likelihood (see the module docstring): ``tunes``, scored ``tokens`` (body tokens and one
    ``<eos>`` each), ``characters`` (decoded bodies and one line break each), ``unknown_tokens`` (scored as
    ``<unk>``), ``nats`` (the summed negative log-likelihood)."""

    tunes: int
    tokens: int
    characters: int
    unknown_tokens: int
    nats: float

    @property
    def bits_per_token(self) -> float:
        return self.nats / math.log(2) / self.tokens

    @property
    def bits_per_char(self) -> float:
        return self.nats / math.log(2) / self.characters

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bits_per_token": self.bits_per_token, "bits_per_char": self.bits_per_char}


def tune_bits(
    model: nn.Module,
    encoder: Any,
    conditions: Conditions,
    tunes: Sequence[AbcTune],
    batch_size: int = 32,
) -> Bits:
    """:class:`Bits` of ``tunes`` under ``model`` (a conditional language model), each tune under its own
    condition; the tunes of one condition are scored together, ``batch_size`` at a time."""
    if not tunes:
        raise ValueError("no tune to score")
    fields = list(conditions.fields)
    start, eos = start_token(encoder), encoder.vocab.eos_index
    unk = getattr(encoder.vocab, "unk_index", None)
    groups: dict[str, list[list[int]]] = {}
    tokens = characters = unknown = 0
    for tune in tunes:
        ids = list(encoder.encode(tune.body))
        groups.setdefault(condition_text(tune_condition(tune, fields)), []).append([start, *ids, eos])
        tokens += len(ids) + 1
        characters += len(encoder.tokenizer.detokenize(encoder.tokenizer.tokenize(tune.body))) + 1
        unknown += sum(1 for i in ids if i == unk) if unk is not None else 0
    device = next(model.parameters()).device
    nats = 0.0
    for text, sequences in groups.items():
        condition = conditions.tensors(text, device=device)
        for first in range(0, len(sequences), batch_size):
            rows = score_ids(model, sequences[first : first + batch_size], condition)
            nats -= math.fsum(row["log_prob"] for row in rows)
    return Bits(len(tunes), tokens, characters, unknown, nats)


# ---------------------------------------------------------------------------------------------- samples
@dataclass(frozen=True)
class Sample:
    """A sampled tune: its ``text`` (``format_tune``), whether it ``ended`` with ``<eos>``, its ``seed``."""

    text: str
    ended: bool
    seed: int


def sample_tunes(
    model: nn.Module,
    encoder: Any,
    conditions: Conditions,
    condition: Mapping[str, str],
    n: int,
    seed: int = 0,
    max_new_tokens: int = 1000,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    number: int = 1,
    tick: Any = None,
) -> list[Sample]:
    """``n`` tunes sampled under ``condition`` (a mapping of every field), sample ``i`` with seed ``seed + i``
    (as :meth:`~seqmodels.inference.predictor.Predictor.sample` draws it), numbered ``X:number+i``; ``tick()``
    is called after each."""
    device = next(model.parameters()).device
    tensors = conditions.tensors(dict(condition), device=device)
    start, eos = start_token(encoder), encoder.vocab.eos_index
    samples = []
    for i in range(n):
        ids = generate_ids(model, [start], max_new_tokens, temperature, top_k, top_p, seed + i, eos, tensors)
        text = format_tune(condition, encoder.decode(ids), number=str(number + i))
        samples.append(Sample(text, len(ids) < max_new_tokens, seed + i))
        if tick is not None:
            tick()
    return samples


# ---------------------------------------------------------------------------------------------- figures
def figures(checks: Sequence[TuneCheck]) -> dict[str, Any]:
    """:func:`~seqmodels.inference.abc_checks.summarize` of the checks, with ``scale_checked`` (tunes with a
    note) and ``scale_most_share`` (the share of those with at least :data:`MOST_NOTES` of their notes in scale)."""
    shares = [s for c in checks if (s := c.scale.share) is not None]
    return {
        **summarize(checks),
        "scale_checked": len(shares),
        "scale_most_share": sum(s >= MOST_NOTES for s in shares) / len(shares) if shares else None,
    }


def _with_ended(checks: Sequence[TuneCheck], samples: Sequence[Sample]) -> dict[str, Any]:
    return {**figures(checks), "ended_share": sum(s.ended for s in samples) / len(samples) if samples else None}


def report(
    model: nn.Module,
    encoder: Any,
    conditions: Conditions,
    corpus: AbcCorpus,
    condition_list: Sequence[str | Mapping[str, Any]] | None = None,
    samples: int = 200,
    top: int = 4,
    seed: int = 0,
    max_new_tokens: int = 1000,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Bits on ``corpus``'s test tunes, ``samples`` tunes per condition and the checks' figures beside the test
    tunes' (see the module docstring). ``condition_list``: the conditions (command-line strings or mappings);
    None: the ``top`` most frequent of the training tunes.

    Returns a dict: ``bits`` (:class:`Bits` as a dict), ``settings``, ``conditions`` (one entry per condition:
    ``condition``, ``train_tunes``, ``samples`` and ``test`` figures, the sampled ``tunes``), ``overall``
    (``samples``; ``test``: the test tunes in the conditions measured; ``test_all``: every test tune) and
    ``seconds`` (bits, sampling, checks).
    """
    fields = list(conditions.fields)
    train, test = corpus.tunes("train"), corpus.tunes("test")
    train_counts = Counter(condition_text(tune_condition(t, fields)) for t in train)
    if condition_list is None:
        chosen = [c for c, _ in frequent_conditions(train, fields, top)]
    else:
        chosen = [conditions.parse(c) for c in condition_list]
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    bits = tune_bits(model, encoder, conditions, test)
    seconds["bits"] = time.perf_counter() - clock

    clock = time.perf_counter()
    sampled: list[list[Sample]] = []
    with progress_bar("sampling tunes", samples * len(chosen), progress) as tick:
        for j, condition in enumerate(chosen):
            sampled.append(
                sample_tunes(
                    model,
                    encoder,
                    conditions,
                    condition,
                    samples,
                    seed + j * samples,
                    max_new_tokens,
                    temperature,
                    top_k,
                    top_p,
                    number=j * samples + 1,
                    tick=tick,
                )  # fmt: skip
            )
    seconds["sampling"] = time.perf_counter() - clock

    clock = time.perf_counter()
    test_checks = {
        id(t): check_tune(format_tune(tune_condition(t, fields), t.body, t.number)) for t in test
    }  # each test tune written as the samples are
    entries, all_sample_checks, in_conditions = [], [], []
    for condition, group in zip(chosen, sampled):
        text = condition_text(condition)
        checks = [check_tune(s.text) for s in group]
        mine = [test_checks[id(t)] for t in test if condition_text(tune_condition(t, fields)) == text]
        all_sample_checks += checks
        in_conditions += mine
        entries.append(
            {
                "condition": text,
                "train_tunes": train_counts.get(text, 0),
                "samples": _with_ended(checks, group),
                "test": figures(mine),
                "tunes": [asdict(s) for s in group],
            }
        )
    seconds["checks"] = time.perf_counter() - clock
    every = [s for group in sampled for s in group]
    return {
        "bits": bits.to_dict(),
        "settings": {
            "samples": samples,
            "seed": seed,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "conditions_from": "given"
            if condition_list is not None
            else f"the {top} most frequent of the training tunes",
            "train_tunes": len(train),
            "test_tunes": len(test),
        },
        "conditions": entries,
        "overall": {
            "samples": _with_ended(all_sample_checks, every),
            "test": figures(in_conditions),
            "test_all": figures(list(test_checks.values())),
        },
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------- output
def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(result: Mapping[str, Any]) -> str:
    """The report as text: the bits, then one row per condition and source (samples, test tunes)."""
    bits, settings = result["bits"], result["settings"]
    lines = [
        f"test tunes: {bits['tunes']}; {bits['tokens']} tokens (body + <eos>; {bits['unknown_tokens']} unknown), "
        f"{bits['characters']} characters (decoded body + line end)",
        f"bits per token {bits['bits_per_token']:.4f}   bits per character {bits['bits_per_char']:.4f}",
        f"samples: {settings['samples']} per condition, seed {settings['seed']}, temperature "
        f"{settings['temperature']}, at most {settings['max_new_tokens']} tokens; conditions: "
        f"{settings['conditions_from']}",
        "",
    ]
    header = ("condition", "tunes of", "n", "ended", "parse", "bars right", "in scale", ">=90% in scale")
    rows = []

    def row(name: str, source: str, f: Mapping[str, Any]) -> None:
        rows.append(
            (
                name,
                source,
                str(f["tunes"]),
                _share(f.get("ended_share")),
                _share(f["parse_share"]),
                _share(f["bars_share"]),
                _share(f["scale_mean"]),
                _share(f["scale_most_share"]),
            )  # fmt: skip
        )

    for entry in result["conditions"]:
        row(entry["condition"], "samples", entry["samples"])
        row("", f"test ({entry['train_tunes']} train)", entry["test"])
    overall = result["overall"]
    row("all above", "samples", overall["samples"])
    row("", "test", overall["test"])
    row("every test tune", "test", overall["test_all"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def render_tune(text: str, stem: str | Path, audio: bool = False) -> list[Path]:
    """Write one tune as ``stem.abc`` and, when music21 reads it, as ``stem.mid`` (music21's MIDI writer) and
    with ``audio`` as ``stem.wav`` (:func:`~seqmodels.inference.midi.write_audio`: FluidSynth when installed,
    else the built-in synthesizer). Returns the files written. A tune music21 reads but cannot write as MIDI
    (music21 10 fails on some overfull bars followed by a tie) gets its ``.abc`` only, with a warning."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = [stem.with_suffix(".abc")]
    written[0].write_text(text, encoding="utf-8")
    if not check_tune(text).parse.ok:
        return written
    from ..data.piano_roll import import_pretty_midi
    from .abc_checks import music21
    from .midi import write_audio

    midi = stem.with_suffix(".mid")
    try:
        music21().converter.parse(text, format="abc").write("midi", fp=str(midi))
    except Exception as error:  # music21's writer raises many kinds; the tune is then left without MIDI
        midi.unlink(missing_ok=True)
        warnings.warn(f"{midi}: music21 cannot write this tune as MIDI ({type(error).__name__}: {error})", stacklevel=2)
        return written
    written.append(midi)
    if audio:
        written.append(write_audio(stem.with_suffix(".wav"), import_pretty_midi().PrettyMIDI(str(midi))))
    return written


def corpus_from_config(
    data: Mapping[str, Any], conditions: Conditions, paths: Sequence[str] | None = None
) -> AbcCorpus:
    """The tunes a checkpoint was trained on, from its stored ``data`` config (``files`` or ``path``, ``fractions``,
    ``split_seed``, ``fields``, ``encoding``), or from ``paths`` (ABC files or folders, or the Nottingham folder)
    with the stored split."""
    fractions = data.get("fractions") or DEFAULT_FRACTIONS
    split_seed = data.get("split_seed", 0)
    fields = data.get("fields") or DEFAULT_FIELDS
    encoding = data.get("encoding") or "utf-8"
    if paths:
        folder = Path(paths[0])
        if len(paths) == 1 and (folder / "ABC_cleaned").is_dir():
            return NottinghamABC(folder, fractions, split_seed, fields, encoding, conditions)
        return AbcCorpus(list(paths), fractions, split_seed, fields, encoding, conditions)
    if data.get("files"):
        return AbcCorpus(data["files"], fractions, split_seed, fields, encoding, conditions)
    if data.get("path"):
        return NottinghamABC(data["path"], fractions, split_seed, fields, encoding, conditions)
    raise ValueError("the checkpoint's data config names no ABC tunes (data.path or data.files); pass --data")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seqmodels.inference.abc_report CKPT ...``: the table on stdout (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m seqmodels.inference.abc_report",
        description="Bits on the test tunes and checks of sampled tunes of a conditional ABC language model.",
    )
    parser.add_argument("ckpt_path", help="a checkpoint of a conditional language model trained on ABC tunes")
    parser.add_argument("--samples", type=int, default=200, help="tunes sampled per condition (default 200)")
    parser.add_argument(
        "--conditions", nargs="+", default=None, help='conditions such as "M:6/8 L:1/8 K:G" (default: --top)'
    )
    parser.add_argument("--top", type=int, default=4, help="without --conditions: the most frequent training ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=1000, help="a sample without <eos> by then is cut")
    parser.add_argument("--data", nargs="+", default=None, help="ABC files/folders instead of the stored data path")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="write the figures and the sampled tunes here")
    parser.add_argument("--abc", default=None, help="write the sampled tunes here as one ABC file")
    parser.add_argument(
        "--render", default=None, help="write each condition's first sampled tune here as .abc and .mid (music21)"
    )
    parser.add_argument("--wav", action="store_true", help="with --render: also a .wav of each")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.top < 1:
        parser.error("--samples and --top must be at least 1")

    from .predictor import load  # loads checkpoints: Hydra, imported when the command runs

    try:
        predictor = load(args.ckpt_path, device=args.device)
        if predictor.kind != "language_model" or predictor.conditions is None:
            raise ValueError(f"{args.ckpt_path} is not a conditional language model (it stores no condition fields)")
        corpus = corpus_from_config(predictor.data_config, predictor.conditions, args.data)
        result = report(
            predictor.model, predictor.encoder, predictor.conditions, corpus, args.conditions, args.samples,
            args.top, args.seed, args.max_new_tokens, args.temperature, args.top_k, args.top_p, not args.no_progress,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    result["checkpoint"] = str(args.ckpt_path)
    print(format_table(result))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.abc:
        texts = [t["text"] for entry in result["conditions"] for t in entry["tunes"]]
        Path(args.abc).write_text("\n".join(texts), encoding="utf-8")
    if args.render:
        for entry in result["conditions"]:
            first = entry["tunes"][0]
            stem = Path(args.render) / (
                "tune_" + entry["condition"].replace(" ", "_").replace(":", "").replace("/", "")
            )
            print("wrote", ", ".join(str(p) for p in render_tune(first["text"], stem, args.wav)))
    return 0


__all__ = [
    "MOST_NOTES",
    "Bits",
    "Sample",
    "condition_text",
    "corpus_from_config",
    "figures",
    "format_table",
    "frequent_conditions",
    "main",
    "render_tune",
    "report",
    "sample_tunes",
    "tune_bits",
    "tune_condition",
]


if __name__ == "__main__":
    sys.exit(main())
