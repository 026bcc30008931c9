"""The folk-tune report (seqmodels.inference.abc_report) on a tiny conditional model over hand-written ABC tunes:
the bits against the scores of each tune summed by hand and characters counted by hand, the sampled tunes
against generate() with the stated seeds, the table's shares against check_tunes on the same tunes, the default
conditions against counts made by hand, the command on a checkpoint written by hand, and a tune rendered to MIDI
read back by pretty_midi."""

from __future__ import annotations

import json
import math
import wave

import pytest
import torch

from seqmodels.cells import LSTMCell
from seqmodels.data import ABCTokenizer, TextEncoder, Vocab
from seqmodels.data.corpora.abc import AbcCorpus, format_tune, parse_abc
from seqmodels.inference.abc_checks import check_tune, check_tunes, scale_share
from seqmodels.inference.abc_report import (
    figures,
    format_table,
    frequent_conditions,
    main,
    render_tune,
    report,
    tune_bits,
)
from seqmodels.inference.generation import generate, generate_ids, score
from seqmodels.models import ConditionalLanguageModel

pytest.importorskip("music21")

# 8 tunes, 3 conditions: (6/8, 1/8, G) x3, (4/4, 1/4, D) x3, (3/4, 1/8, G) x2; the third tune says L only
# through the default (4/4 -> 1/8) and has spaces and a line break in its body
TUNES = """X:1
M:6/8
L:1/8
K:G
GAB c2d|e3 d3|

X:2
M:4/4
L:1/4
K:D
"D"DF A2|dc BA|

X:3
M:6/8
K:G
g f e  d2 B|
A3 G3|

X:4
M:3/4
L:1/8
K:G
B2 c2 d2|g6|

X:5
M:4/4
L:1/4
K:D
FA dA|FE D2|

X:6
M:6/8
L:1/8
K:G
dBG GAB|c3 B3|

X:7
M:3/4
L:1/8
K:G
G2 A2 B2|^c6|

X:8
M:4/4
L:1/4
K:D
AF DF|E2 D2|
"""
SPECIALS = ["<pad>", "<unk>", "<eos>"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    path = tmp_path_factory.mktemp("abc") / "tunes.abc"
    path.write_text(TUNES, encoding="utf-8")
    corpus = AbcCorpus(path, fractions=(0.5, 0.0, 0.5), seed=0)
    tokenizer = ABCTokenizer()
    words = sorted({t for tune in corpus.all_tunes for t in tokenizer.tokenize(tune.body)} - {"^c6"})  # one unknown
    words += ["^f", "_B", "z2"]  # tokens out of the keys' scales and a rest, made likelier below
    encoder = TextEncoder(tokenizer, Vocab([*SPECIALS, *words], SPECIALS))
    torch.manual_seed(1)
    model = ConditionalLanguageModel(
        len(encoder.vocab), LSTMCell, condition_sizes=corpus.conditions.sizes, condition_mode="both",
        embedding_dim=8, hidden_size=8, condition_dim=4, init_range=0.5,
    ).eval()  # fmt: skip
    with torch.no_grad():
        for token, bias in [("z2", 2.5), ("^f", 1.5), ("_B", 1.5), ("|", 1.5)]:
            model.decoder.bias[encoder.vocab.stoi[token]] += bias
    return path, corpus, encoder, model


def test_bits_are_the_tunes_scores_summed_over_tokens_and_characters(setup):
    _, corpus, encoder, model = setup
    tunes = corpus.all_tunes
    bits = tune_bits(model, encoder, corpus.conditions, tunes, batch_size=2)  # 3 conditions, batches of 2
    jig, reel, waltz = "M:6/8 L:1/8 K:G", "M:4/4 L:1/4 K:D", "M:3/4 L:1/8 K:G"  # the headers, read by hand
    log_prob, tokens = 0.0, 0
    for tune, condition in zip(tunes, [jig, reel, jig, waltz, reel, jig, waltz, reel]):  # each tune on its own
        (row,) = score(model, encoder, [tune.body], condition=corpus.conditions.tensors(condition))
        log_prob += row["log_prob"]
        tokens += row["num_tokens"]
    # body tokens counted by hand: 9 10 10 6 9 10 6 8 (a note with its length is one token), one <eos> each
    assert bits.tunes == 8 and bits.tokens == tokens == 68 + 8
    assert bits.unknown_tokens == 1  # ^c6
    assert bits.nats == pytest.approx(-log_prob, rel=1e-9)
    assert bits.bits_per_token == pytest.approx(-log_prob / math.log(2) / tokens, rel=1e-9)
    # the bodies without their spaces ("g f e  d2 B|\nA3 G3|" -> "gfed2B|\nA3G3|"): 12 13 13 10 10 12 11 10
    # characters, and one line end each
    assert bits.characters == 91 + 8
    assert bits.bits_per_char == pytest.approx(-log_prob / math.log(2) / 99, rel=1e-9)


def test_the_most_frequent_conditions_of_the_training_tunes(setup):
    _, corpus, _, _ = setup
    ranked = frequent_conditions(corpus.all_tunes, ["M", "L", "K"], top=2)
    # 6/8 G and 4/4 D three times each (tie: in text order, "M:4/4" < "M:6/8"), 3/4 G twice
    assert ranked == [({"M": "4/4", "L": "1/4", "K": "D"}, 3), ({"M": "6/8", "L": "1/8", "K": "G"}, 3)]
    assert frequent_conditions(corpus.all_tunes, ["K"], top=5) == [({"K": "G"}, 5), ({"K": "D"}, 3)]


def test_the_report_samples_with_its_seeds_and_its_shares_are_check_tunes(setup):
    _, corpus, encoder, model = setup
    given = ["M:6/8 L:1/8 K:G", "M:4/4 L:1/4 K:D"]
    result = report(
        model, encoder, corpus.conditions, corpus, given, samples=4, seed=5, max_new_tokens=6, progress=False
    )
    assert [e["condition"] for e in result["conditions"]] == given
    test = corpus.tunes("test")
    assert result["bits"] == tune_bits(model, encoder, corpus.conditions, test).to_dict()
    texts_all, ended_all = [], []
    for j, entry in enumerate(result["conditions"]):
        condition = corpus.conditions.tensors(entry["condition"])
        fields = dict(pair.split(":") for pair in entry["condition"].split())
        texts = [t["text"] for t in entry["tunes"]]
        for i, text in enumerate(texts):  # sample i of condition j: seed 5 + 4 j + i, numbered X:4j+i+1
            body = generate(model, encoder, "", 6, temperature=1.0, seed=5 + 4 * j + i, condition=condition)
            assert text == format_tune(fields, body, number=str(4 * j + i + 1))
            ids = generate_ids(model, [encoder.vocab.eos_index], 6, 1.0, None, None, 5 + 4 * j + i, 2, condition)
            ended_all.append(len(ids) < 6)
        got = entry["samples"]
        expected = check_tunes(texts)
        for key in ("tunes", "parse_share", "bars_checked", "bars_share", "scale_mean"):
            assert got[key] == expected[key], key
        assert len({got[k] for k in ("bars_share", "scale_mean", "scale_most_share")}) == 3  # tell keys apart
        shares = [s.share for s in map(scale_share, texts) if s.share is not None]
        assert got["scale_most_share"] == sum(s >= 0.9 for s in shares) / len(shares)
        # the test tunes of this condition, written as the samples are
        mine = [t for t in test if all(t.condition(["M", "L", "K"]).get(k) == v for k, v in fields.items())]
        assert entry["test"]["tunes"] == len(mine)
        assert (
            entry["test"]["parse_share"]
            == check_tunes([format_tune(t.condition(["M", "L", "K"]), t.body, t.number) for t in mine])["parse_share"]
        )
        assert entry["train_tunes"] == sum(
            all(t.condition(["M", "L", "K"]).get(k) == v for k, v in fields.items()) for t in corpus.tunes("train")
        )
        texts_all += texts
    overall = result["overall"]["samples"]
    assert overall["tunes"] == 8 and overall["bars_share"] == check_tunes(texts_all)["bars_share"]
    assert overall["ended_share"] == sum(ended_all) / 8
    assert result["overall"]["test_all"]["tunes"] == len(test)
    table = format_table(result)
    first = next(line for line in table.splitlines() if line.startswith("M:6/8 L:1/8 K:G"))
    assert first.split()[-5:] == [
        f"{v:.3f}" if v is not None else "-"
        for v in (figures_of(result, 0, "ended_share"), *[figures_of(result, 0, k) for k in SHARES])
    ]


SHARES = ("parse_share", "bars_share", "scale_mean", "scale_most_share")


def figures_of(result, j, key):
    return result["conditions"][j]["samples"][key]


def test_default_conditions_are_the_training_tunes_most_frequent(setup):
    _, corpus, encoder, model = setup
    result = report(model, encoder, corpus.conditions, corpus, None, samples=1, top=1, max_new_tokens=3, progress=False)
    (best, count), *_ = frequent_conditions(corpus.tunes("train"), ["M", "L", "K"], 1)
    assert [e["condition"] for e in result["conditions"]] == [" ".join(f"{k}:{v}" for k, v in best.items())]
    assert result["conditions"][0]["train_tunes"] == count


@pytest.mark.slow
def test_the_command_on_a_checkpoint(setup, tmp_path, capsys):
    path, corpus, encoder, model = setup
    model_cfg = {
        "_target_": "seqmodels.models.ConditionalLanguageModel",
        "vocab_size": len(encoder.vocab),
        "cell": {"_target_": "seqmodels.cells.LSTMCell", "_partial_": True},
        "condition_sizes": corpus.conditions.sizes,
        "condition_mode": "both",
        "embedding_dim": 8,
        "hidden_size": 8,
        "condition_dim": 4,
    }
    data = {"files": [str(path)], "fractions": [0.5, 0.0, 0.5], "split_seed": 0, "fields": ["M", "L", "K"]}
    extra = {
        "format_version": 1,
        "task": "seqmodels.tasks.language_modeling.LanguageModelingTask",
        "config": {"model": model_cfg, "data": data},
        "encoder": encoder.to_dict(),
        "conditions": corpus.conditions.to_dict(),
    }
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {}, "seqmodels": extra}, ckpt)
    out, abc = tmp_path / "r.json", tmp_path / "s.abc"
    argv = [str(ckpt), "--samples", "2", "--conditions", "M:3/4 L:1/8 K:G", "--max-new-tokens", "10"]
    assert main([*argv, "--json", str(out), "--abc", str(abc), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    expected = report(
        model, encoder, corpus.conditions, corpus, ["M:3/4 L:1/8 K:G"], 2, max_new_tokens=10, progress=False
    )
    assert result["bits"] == pytest.approx(expected["bits"])
    assert result["conditions"][0]["tunes"] == expected["conditions"][0]["tunes"]
    assert f"bits per token {expected['bits']['bits_per_token']:.4f}" in printed
    tunes = parse_abc(abc.read_text(encoding="utf-8"))
    assert [t.text for t in tunes] == [t["text"] for t in expected["conditions"][0]["tunes"]]
    with pytest.raises(SystemExit):
        main([str(ckpt), "--conditions", "M:5/4 L:1/8 K:G"])  # never seen: refused with the known values


def test_conditions_are_refused_with_the_known_values(setup):
    _, corpus, encoder, model = setup
    with pytest.raises(ValueError, match="never seen in training"):
        report(model, encoder, corpus.conditions, corpus, ["M:5/4 L:1/8 K:G"], samples=1, progress=False)


def test_figures_of_tunes_worked_out_by_hand():
    header = "X:{}\nM:4/4\nL:1/4\nK:G\n{}\n"
    tunes = [
        header.format(1, "GABc|dcBA|"),  # parses, bars right, 8 of 8 notes in G major
        header.format(2, "G^GAB|^c^d^fg|"),  # G# C# D# out: 5 of 8
        header.format(3, "z2|z2|"),  # no note: does not parse, no note to count; two short bars (first, last)
        header.format(4, "GA|B2c2d|e4|"),  # the middle bar lasts 5/4: wrong; 6 of 6
        header.format(5, "GABc|defg|^a2b2|"),  # A# out: 9 of 10, exactly 90 %
    ]
    assert figures([check_tune(t) for t in tunes]) == {
        "tunes": 5,
        "parse_share": 4 / 5,
        "bars_checked": 5,
        "bars_share": 4 / 5,
        "scale_mean": pytest.approx((1 + 5 / 8 + 1 + 9 / 10) / 4),
        "scale_checked": 4,
        "scale_most_share": 3 / 4,
    }


def test_a_tune_rendered_to_midi_and_audio(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    text = "X:1\nM:4/4\nL:1/4\nK:G\nGABc|dcB^F|\n"
    written = render_tune(text, tmp_path / "out" / "tune", audio=True)
    assert [p.name for p in written] == ["tune.abc", "tune.mid", "tune.wav"]
    assert written[0].read_text(encoding="utf-8") == text
    notes = sorted(pretty_midi.PrettyMIDI(str(written[1])).instruments[0].notes, key=lambda n: n.start)
    assert [n.pitch for n in notes] == [67, 69, 71, 72, 74, 72, 71, 66]  # G4 A4 B4 C5 D5 C5 B4 F#4
    durations = [round(n.end - n.start, 3) for n in notes]
    assert len(set(durations)) == 1 and durations[0] > 0  # eight quarter notes
    with wave.open(str(written[2])) as audio:
        assert audio.getnframes() > audio.getframerate() * 8 * durations[0] * 0.9  # the eight notes sound
    assert [p.name for p in render_tune("X:2\nM:4/4\nL:1/4\nK:G\nz2|z2|\n", tmp_path / "rests")] == ["rests.abc"]
    overfull = "X:3\nM:4/4\nL:1/4\nK:G\nG4|D2G2-|G2G4|G4|\n"  # music21 reads it, its MIDI writer fails (a sample)
    assert check_tune(overfull).parse.ok
    with pytest.warns(UserWarning, match="cannot write this tune as MIDI"):
        assert [p.name for p in render_tune(overfull, tmp_path / "overfull")] == ["overfull.abc"]
    assert not (tmp_path / "overfull.mid").exists()
