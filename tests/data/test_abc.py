"""Folk tunes in ABC notation: the reader (seqmodels.data.corpora.abc), the tokenizer (seqmodels.data.abc_tokens)
and the conditional data module (seqmodels.data.abc_tunes).

Oracles: token lists and texts written out by hand; the Nottingham collection sizes its SOURCE.md states;
music21's ABC reader on the original and the decoded tunes (the round trip).
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqmodels.data import ABCTokenizer, TextEncoder, Vocab
from seqmodels.data.abc_tokens import (
    TOKEN_KINDS,
    default_unit_length,
    parse_length,
    parse_meter,
    parse_note,
    parse_unit_length,
    token_kind,
)
from seqmodels.data.corpora.abc import AbcCorpus, NottinghamABC, format_tune, parse_abc, read_abc, split_tunes
from seqmodels.data.tokenizers import tokenizer_from_dict

# ------------------------------------------------------------------------------------------------ tokenizer
BODY = (
    "P:A\n"
    "% a comment\n"
    '|:"Am"^c\'2 _B,/2 z3/2 x A>B c<<d|(3efg (3:2:3abc [CEG]2 {/ag}f .d ~e !trill!c +fermata+B|\n'
    "[K:D] [M:3/4] A-A (AB) Z4 y & |1 c :|2 d :: e :||: f [|g|] [1 a ||\\\n"
    'c "\n'
)
# fmt: off
TOKENS = [
    "P:A", "\n",
    "% a comment", "\n",
    "|:", '"Am"', "^c'2", "_B,/2", "z3/2", "x", "A", ">", "B", "c", "<<", "d", "|",
    "(3", "e", "f", "g", "(3:2:3", "a", "b", "c", "[", "C", "E", "G", "]2", "{/", "a", "g", "}", "f",
    ".", "d", "~", "e", "!trill!", "c", "+fermata+", "B", "|", "\n",
    "[K:D]", "[M:3/4]", "A", "-", "A", "(", "A", "B", ")", "Z4", "y", "&", "|1", "c", ":|2", "d", "::", "e",
    ":||:", "f", "[|", "g", "|]", "[1", "a", "||", "\\", "\n",
    "c", '"', "\n",
]
KINDS = [
    "field", "newline",
    "comment", "newline",
    "bar", "chord_symbol", "note", "note", "rest", "rest", "note", "broken", "note", "note", "broken", "note", "bar",
    "tuplet", "note", "note", "note", "tuplet", "note", "note", "note", "chord_start", "note", "note", "note",
    "chord_end", "grace_start", "note", "note", "grace_end", "note",
    "decoration", "note", "decoration", "note", "decoration", "note", "decoration", "note", "bar", "newline",
    "inline_field", "inline_field", "note", "tie", "note", "slur", "note", "note", "slur", "measure_rest", "char",
    "char", "bar", "note", "bar", "note", "bar", "note",
    "bar", "note", "bar", "note", "bar", "volta", "note", "bar", "continuation", "newline",
    "note", "char", "newline",
]
# fmt: on
DECODED = (
    "P:A\n"
    "% a comment\n"
    '|:"Am"^c\'2_B,/2z3/2xA>Bc<<d|(3efg(3:2:3abc[CEG]2{/ag}f.d~e!trill!c+fermata+B|\n'
    "[K:D][M:3/4]A-A(AB)Z4y&|1c:|2d::e:||:f[|g|][1a||\\\n"
    'c"\n'
)


def test_every_token_kind_on_a_hand_written_body():
    tokens = ABCTokenizer().tokenize(BODY)
    assert tokens == TOKENS
    assert [token_kind(t) for t in tokens] == KINDS
    assert set(KINDS) == set(TOKEN_KINDS) - {"space"}  # every kind met (spaces are dropped by default)


def test_decode_is_the_body_without_the_spaces_between_tokens():
    tokenizer = ABCTokenizer()
    assert tokenizer.detokenize(TOKENS) == DECODED
    assert re.sub(r"\s", "", DECODED) == re.sub(r"\s", "", BODY)  # nothing but whitespace is lost
    assert tokenizer.tokenize(DECODED) == TOKENS


def test_spaces_true_keeps_each_run_of_spaces_as_one_token():
    tokenizer = ABCTokenizer(spaces=True)
    assert tokenizer.tokenize("ABc  d2|\tef\r\n") == ["A", "B", "c", " ", "d2", "|", " ", "e", "f", "\n"]
    assert tokenizer.detokenize(tokenizer.tokenize(BODY)) == BODY  # single spaces: exact
    assert tokenizer.detokenize(tokenizer.tokenize("a  b")) == "a b"


def test_decode_keeps_tokens_apart_and_fields_on_their_own_lines():
    tokenizer = ABCTokenizer()
    assert tokenizer.detokenize(["||", "|:", "A"]) == "|| |:A"  # "|||:" would read as one bar line
    assert tokenizer.detokenize(["A", "2"]) == "A 2"  # "A2" would read as one note
    assert tokenizer.detokenize(["A", "K:D", "B", "% c", "C"]) == "A\nK:D\nB% c\nC"
    assert tokenizer.detokenize(["A", "\n", "K:D", "\n", "B"]) == "A\nK:D\nB"
    sampled = ["|:", "A", "K:D", "||", "|:", "A", "2", "P:B"]
    assert tokenizer.detokenize(sampled) == "|:A\nK:D\n|| |:A 2\nP:B"
    assert tokenizer.tokenize(tokenizer.detokenize(sampled)) == [
        "|:",
        "A",
        "\n",
        "K:D",
        "\n",
        *sampled[3:7],
        "\n",
        "P:B",
    ]


@pytest.mark.parametrize(
    ("text", "spaces", "written"),
    [
        ("A+:+", False, "A+:+"),  # a decoration after a note, not the field continuation "+:" on a line of its own
        (" +:+A", False, " +:+ A"),  # a decoration at a line start, followed on its line: indented
        (" +:+A", True, " +:+A"),
        ("+:+\nA", False, "+:+\nA"),  # the field continuation "+:" with the text "+"
        ("AA:", False, "AA :"),  # pairs are kept apart as if at a line start, where "A:" starts a field...
        ("[ A:]", False, "[A :]"),  # ... so that "[A:]" cannot read as an inline field
        ("AA:", True, "AA:"),  # with spaces kept, a space added would read as a token of its own
        (" A:", False, "A :"),  # ... and at a line start it is
        ("A |: B", True, "A |: B"),
    ],
)
def test_text_that_reads_otherwise_at_a_line_start_is_written_back_as_read(text, spaces, written):
    tokenizer = ABCTokenizer(spaces=spaces)
    tokens = tokenizer.tokenize(text)
    assert tokenizer.detokenize(tokens) == written
    assert tokenizer.tokenize(written) == tokens


@pytest.mark.parametrize("spaces", [False, True], ids=["spaces_dropped", "spaces_kept"])
def test_tokens_never_lose_text_and_read_back(spaces):
    alphabet = st.sampled_from(list("ABCDEFGabcdefgzxZ^_=,'/23|:[]{}()<>-.~!+\"%\\KMLP &y\n\t"))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(alphabet, max_size=40).map("".join))
    def check(text: str) -> None:
        tokenizer = ABCTokenizer(spaces=spaces)
        tokens = tokenizer.tokenize(text)
        decoded = tokenizer.detokenize(tokens)
        assert re.sub(r"\s", "", decoded) == re.sub(r"\s", "", text)
        assert tokenizer.tokenize(decoded) == tokens
        assert all(token_kind(t) in TOKEN_KINDS for t in tokens)

    check()


def test_the_tokenizer_is_plain_json_and_goes_into_a_text_encoder():
    tokenizer = ABCTokenizer(spaces=True)
    assert json.loads(json.dumps(tokenizer.to_dict())) == {"type": "abc", "spaces": True}
    assert tokenizer_from_dict({"type": "abc", "spaces": True}) == tokenizer
    encoder = TextEncoder(ABCTokenizer(), Vocab(["<unk>", "A", "|", '"G"'], ["<unk>"]))
    again = TextEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again.encode('"G"A B|') == [3, 1, 0, 2]
    assert again.decode([3, 1, 2]) == '"G"A|'
    with pytest.raises(ValueError, match="spaces must be true or false"):
        ABCTokenizer(spaces="yes")  # type: ignore[arg-type]


def test_cutting_text_into_pieces_gives_the_same_tokens():
    tokenizer = ABCTokenizer()
    text = (BODY + "X:2\nT:Two\nM:2/4\nK:G\nAB|cd|\n") * 30
    pieces = [text[i : i + 97] for i in range(0, len(text), 97)]
    joined = [t for block in tokenizer.iter_tokenize(pieces, block_chars=200) for t in block]
    assert joined == tokenizer.tokenize(text)


def test_token_meanings():
    assert parse_note("^c'2") == ("^", "c", 1, Fraction(2))
    assert parse_note("_B,,/2") == ("_", "B", -2, Fraction(1, 2))
    assert parse_note("=f") == ("=", "f", 0, Fraction(1))
    assert [parse_length(x) for x in ["", "2", "3/2", "/2", "/", "//", "3/", "/4"]] == [
        1,
        2,
        Fraction(3, 2),
        Fraction(1, 2),
        Fraction(1, 2),
        Fraction(1, 4),
        Fraction(3, 2),
        Fraction(1, 4),
    ]
    assert [parse_meter(m) for m in ["6/8", "2+3/8", "C", "C|", "none"]] == [Fraction(3, 4), Fraction(5, 8), 1, 1, None]
    assert parse_unit_length("1/8") == Fraction(1, 8)
    # ABC 2.1 section 3.1.7: below 3/4 a sixteenth, from 3/4 on an eighth, an eighth without a meter
    assert [default_unit_length(parse_meter(m)) for m in ["2/4", "3/8", "3/4", "6/8", "4/4", "none"]] == [
        Fraction(1, 16),
        Fraction(1, 16),
        Fraction(1, 8),
        Fraction(1, 8),
        Fraction(1, 8),
        Fraction(1, 8),
    ]
    for bad, call in [("A/0", parse_length), ("x", parse_note), ("6/0", parse_meter), ("1/0", parse_unit_length)]:
        with pytest.raises(ValueError):
            call(bad.removeprefix("A") if call is parse_length else bad)
    with pytest.raises(ValueError, match="not one ABC token"):
        token_kind("ABc")


# ------------------------------------------------------------------------------------------------ reader
FILE = """% a collection

X:1
T:First
% a header comment
M:6/8
K:G
|:"G"GAB c2d:|
M:3/4
B2 c|

X: 2
T:Second
M:2/4
K:Ador
A4|
"""


def test_a_file_splits_into_tunes_with_header_and_body():
    first, second = parse_abc(FILE, "f.abc")
    assert (first.source, first.line, first.number) == ("f.abc", 3, "1")
    assert first.header == (("X", "1"), ("T", "First"), ("M", "6/8"), ("K", "G"))
    assert first.header_text == "X:1\nT:First\n% a header comment\nM:6/8\nK:G"
    assert first.body == '|:"G"GAB c2d:|\nM:3/4\nB2 c|'
    assert first.text == first.header_text + "\n" + first.body + "\n"
    assert first.field("T") == "First" and first.field("L") is None
    assert first.name == "f.abc: tune X:1"
    assert (second.line, second.number, second.body) == (12, "2", "A4|")
    # M:3/4 comes after music: the tune starts in 6/8; no L: gives the standard's default (1/8 from 6/8, 1/16 from 2/4)
    assert first.condition(["M", "L", "K"]) == {"M": "6/8", "L": "1/8", "K": "G"}
    assert second.condition(["M", "L", "K", "R"]) == {"M": "2/4", "L": "1/16", "K": "Ador"}


def test_a_field_line_before_the_first_music_sets_the_condition():
    (tune,) = parse_abc("X:4\nM:4/4\nK:G\nM:6/8\nP:A\n% note\nd/2c/2|B2B Bgf|\nM:3/4\nA3|\n")
    assert tune.field("M") == "4/4"
    assert tune.condition(["M", "L", "K"]) == {"M": "6/8", "L": "1/8", "K": "G"}


def test_format_tune_writes_the_condition_as_a_header():
    assert format_tune({"M": "6/8", "K": "G", "L": "1/8"}, "abc|") == "X:1\nM:6/8\nL:1/8\nK:G\nabc|\n"
    (tune,) = parse_abc(format_tune({"K": "D", "M": "2/4"}, "A2|\nB2|", number="7"))
    assert (tune.number, tune.condition(["M", "K"]), tune.body) == ("7", {"M": "2/4", "K": "D"}, "A2|\nB2|")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"f\.abc: the file is empty"),
        ("  \n\n", r"f\.abc: the file is empty"),
        ("% only a comment\n", r"f\.abc: no tune \(no line starts with X:\)"),
        ("abc|\nX:1\nK:G\nA|\n", r"f\.abc:1: 'abc\|' is not in a tune: every tune starts with an X: line.*before it"),
        (
            "X:1\nK:G\nabc|\n\ndef|\nX:2\nK:G\nA|\n",
            r"f\.abc:5: 'def\|' is not in a tune.*after the blank line \(line 4\)",
        ),
        ("X:1\nT:a\n\nX:2\nK:G\nA|\n", r"f\.abc: tune X:1 \(line 1\) has no K: field.*before line 3"),
        ("X:1\nT:a\nX:2\nK:G\nA|\n", r"f\.abc: tune X:1 \(line 1\) has no K: field.*before line 3"),
        ("X:1\nT:a\nM:6/8", r"f\.abc: tune X:1 \(line 1\) has no K: field.*before line 4"),
        ("X:7\nT:a\nabc|\nK:G\n", r"f\.abc:3: tune X:7: 'abc\|' in the header is neither a field"),
    ],
)
def test_bad_files_are_refused_naming_the_place(text, message):
    with pytest.raises(ValueError, match=message):
        parse_abc(text, "f.abc")


def test_undecodable_bytes_name_the_line_and_the_encoding_option(tmp_path):
    path = tmp_path / "latin.abc"
    path.write_bytes(b"X:1\nT:Caf\xe9\nK:G\nA|\n")
    with pytest.raises(ValueError, match=r"latin\.abc:2: cannot decode.*encoding="):
        read_abc(path)
    assert read_abc(path, encoding="latin-1")[0].field("T") == "Café"


def test_empty_file_and_folder_errors(tmp_path):
    (tmp_path / "empty.abc").write_text("")
    with pytest.raises(ValueError, match="empty.abc: the file is empty"):
        AbcCorpus(tmp_path / "empty.abc")
    (tmp_path / "none").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.abc file in"):
        AbcCorpus(tmp_path / "none")


# ------------------------------------------------------------------------------------------------ split
def _tunes(n: int):
    return parse_abc("".join(f"X:{i}\nM:2/4\nK:G\nA{i % 3 + 1}|\n\n" for i in range(n)), "many.abc")


def test_the_split_is_seeded_disjoint_and_complete():
    tunes = _tunes(10)
    split = split_tunes(tunes, (0.8, 0.1, 0.1), seed=0)
    assert [len(split[s]) for s in ("train", "valid", "test")] == [8, 1, 1]
    numbers = [t.number for s in ("train", "valid", "test") for t in split[s]]
    assert sorted(numbers, key=int) == [str(i) for i in range(10)]  # each tune in exactly one split
    for tunes_of_split in split.values():  # each split keeps the file order
        assert [t.line for t in tunes_of_split] == sorted(t.line for t in tunes_of_split)
    order = np.random.default_rng(0).permutation(10)  # the documented rule
    assert {t.number for t in split["train"]} == {str(i) for i in order[:8]}
    assert split_tunes(tunes, (0.8, 0.1, 0.1), seed=0) == split
    assert any(split_tunes(tunes, (0.8, 0.1, 0.1), seed=s) != split for s in range(1, 4))


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), "abc"])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="fractions must be three numbers >= 0 summing to 1"):
        split_tunes(_tunes(4), fractions)


# ------------------------------------------------------------------------------------------------ corpus, data
COLLECTION = """X:1
T:a
M:6/8
K:G
d|gdB GBd|
X:2
T:b
M:4/4
L:1/4
K:D
A2 B2|c4|
X:3
T:c
M:2/4
K:Ador
A4|B4|

X:4
T:d
M:6/8
K:G
B3 A3|
X:5
T:e
K:Em
E2 F2|
"""


def test_the_corpus_gives_conditions_pairs_and_examples(tmp_path):
    (tmp_path / "c.abc").write_text(COLLECTION)
    corpus = AbcCorpus(tmp_path, fractions=(0.6, 0.2, 0.2), seed=0)
    assert corpus.conditions.fields == {
        "M": ("2/4", "4/4", "6/8", "none"),
        "L": ("1/16", "1/4", "1/8"),
        "K": ("Ador", "D", "Em", "G"),
    }
    assert [len(corpus.tunes(s)) for s in corpus.splits] == [3, 1, 1]
    by_number = {t.number: t for s in corpus.splits for t in corpus.tunes(s)}
    for split in corpus.splits:
        for (condition, tokens), tune in zip(corpus.pairs(split), corpus.tunes(split)):
            expected = {
                "1": {"M": "6/8", "L": "1/8", "K": "G"},
                "2": {"M": "4/4", "L": "1/4", "K": "D"},
                "3": {"M": "2/4", "L": "1/16", "K": "Ador"},
                "4": {"M": "6/8", "L": "1/8", "K": "G"},
                "5": {"M": "none", "L": "1/8", "K": "Em"},  # no M: free meter, an eighth
            }[tune.number]
            assert condition == expected
            assert tokens == ABCTokenizer().tokenize(by_number[tune.number].body)
        for (body, (ids, values)), (condition, _) in zip(corpus.examples(split), corpus.pairs(split)):
            assert values == () and body in {t.body for t in corpus.tunes(split)}
            assert {f: corpus.conditions.fields[f][i] for f, i in zip("MLK", ids)} == condition
    with pytest.raises(ValueError, match="fields must be header letters"):
        AbcCorpus(tmp_path, fields=["meter"])


def test_the_data_module_batches_tokens_lengths_and_condition(tmp_path):
    from seqmodels.data.abc_tunes import AbcTuneData

    (tmp_path / "c.abc").write_text(COLLECTION)
    data = AbcTuneData(files=tmp_path, fractions=(0.6, 0.2, 0.2), tokenizer=ABCTokenizer(), batch_size=8)
    data.setup()
    corpus = data.corpus
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"tokens", "lengths", "condition"}
    tokens, lengths, condition = batch["tokens"], batch["lengths"], batch["condition"]
    assert tokens.dtype == lengths.dtype == condition.dtype == torch.long
    assert tokens.shape == (3, int(lengths.max())) and condition.shape == (3, 3)
    eos, pad = data.vocab.stoi["<eos>"], data.vocab.stoi["<pad>"]
    assert pad == 0 and data.condition_sizes == [4, 3, 4]
    seen = set()
    for row, n, ids in zip(tokens.tolist(), lengths.tolist(), condition.tolist()):
        assert row[0] == eos and row[n - 1] == eos and all(t == pad for t in row[n:])
        body = data.encoder.vocab.decode(row[1 : n - 1])
        tune = next(t for t in corpus.tunes("train") if ABCTokenizer().tokenize(t.body) == body)
        values = {f: corpus.conditions.fields[f][i] for f, i in zip("MLK", ids)}
        assert values == tune.condition(["M", "L", "K"]) | ({"M": "none"} if tune.field("M") is None else {})
        seen.add(tune.number)
    assert seen == {t.number for t in corpus.tunes("train")}
    with pytest.raises(ValueError, match="give path"):
        AbcTuneData(tokenizer=ABCTokenizer())


# ------------------------------------------------------------------------------------------------ the real tunes
@pytest.fixture(scope="module")
def nottingham(data_dir: Path) -> NottinghamABC:
    folder = data_dir / "nottingham"
    if not (folder / "ABC_cleaned").is_dir():
        pytest.skip(f"{folder}/ABC_cleaned not found: the Nottingham ABC files are not in the shared data")
    return NottinghamABC(folder)


def test_nottingham_tunes_per_collection_and_split(nottingham):
    per_file: dict[str, int] = {}
    for tune in nottingham.all_tunes:
        per_file[Path(tune.source).stem] = per_file.get(Path(tune.source).stem, 0) + 1
    # the collection sizes stated in the data's SOURCE.md
    assert per_file == {
        "ashover": 46, "hpps": 65, "jigs": 340, "morris": 31, "playford": 15, "reelsa-c": 81, "reelsd-g": 84,
        "reelsh-l": 90, "reelsm-q": 80, "reelsr-t": 92, "reelsu-z": 34, "slip": 11, "waltzes": 52, "xmas": 13,
    }  # fmt: skip
    places = {s: {(t.source, t.line) for t in nottingham.tunes(s)} for s in nottingham.splits}
    assert [len(places[s]) for s in nottingham.splits] == [827, 103, 104]
    assert not (
        places["train"] & places["valid"] or places["train"] & places["test"] or places["valid"] & places["test"]
    )
    assert NottinghamABC(nottingham.files[0].parent).tunes("test") == nottingham.tunes("test")


def test_every_nottingham_body_reads_back_from_its_tokens(nottingham):
    tokenizer = ABCTokenizer()
    chars = set()
    for tune in nottingham.all_tunes:
        tokens = tokenizer.tokenize(tune.body)
        decoded = tokenizer.detokenize(tokens)
        assert re.sub(r"\s", "", decoded) == re.sub(r"\s", "", tune.body), tune.name
        assert decoded.count("\n") == tune.body.count("\n"), tune.name
        assert tokenizer.tokenize(decoded) == tokens, tune.name
        chars |= {t for t in tokens if token_kind(t) == "char"}
    assert chars == {"+"}  # the only character no rule names: "[+GB]" in reelsd-g X:1


def _music21_notes(text: str):
    """(midi pitches, quarter length) of every note, chord and rest music21 reads, chord symbols left out."""
    m21 = pytest.importorskip("music21", reason="the round trip compares music21's reading: pip install music21")
    score = m21.converter.parse(text, format="abc")
    out = []
    for n in score.flatten().notesAndRests:
        if isinstance(n, m21.harmony.ChordSymbol):
            continue
        out.append((tuple(p.midi for p in n.pitches), Fraction(n.quarterLength)))
    return out


@pytest.mark.slow
def test_tokens_decode_to_the_same_music_as_music21_reads_it(nottingham):
    from seqmodels.inference.abc_checks import read_tune

    tokenizer = ABCTokenizer()
    sample = random.Random(0).sample(nottingham.all_tunes, 30)
    for tune in sample:
        original = _music21_notes(tune.text)
        decoded = tune.header_text + "\n" + tokenizer.detokenize(tokenizer.tokenize(tune.body)) + "\n"
        assert _music21_notes(decoded) == original, tune.name
        assert len(original) > 10, tune.name
        # the checks' own reading against music21's: the same lengths note for note (music21 drops the note
        # before "::"), and the same pitches in tunes without accidentals (music21 applies an accidental to its
        # own note only, the checks to the rest of the bar)
        if "::" not in tune.body:
            events = read_tune(tune.text).events
            assert [e.length * 4 for e in events] == [q for _, q in original], tune.name
            if not re.search(r"[\^_=]", re.sub(r'"[^"]*"', "", tune.body)):
                assert [tuple(sorted(e.midi)) for e in events] == [tuple(sorted(p)) for p, _ in original], tune.name


def test_the_data_config_builds_the_tunes_with_the_abc_tokenizer(nottingham, tmp_path):
    from hydra.utils import instantiate

    from tests.helpers.configs import compose_config

    cfg = compose_config(["experiment=conditional_lm", "data=nottingham_abc", "data/tokenizer=abc"], tmp_path)
    assert cfg.data.tokenizer._target_ == "seqmodels.data.ABCTokenizer"
    data = instantiate(cfg.data)
    data.setup()
    assert isinstance(data.encoder.tokenizer, ABCTokenizer)
    sizes = [len(data.datasets[s]) for s in ("train", "valid", "test")]
    assert sizes == [827 * data.train_repeats, 103, 104]  # the experiment repeats a small train split
    assert data.conditions.fields == nottingham.conditions.fields
    assert data.condition_sizes == [len(v) for v in nottingham.conditions.fields.values()]
    counts: dict[str, int] = {}
    for tune in nottingham.tunes("train"):
        for token in ABCTokenizer().tokenize(tune.body):
            counts[token] = counts.get(token, 0) + 1
    assert data.vocab_size == len(counts) + 3  # every train token, <pad>, <unk>, <eos>
