"""Tokenizers, vocabulary and TextEncoder: round trips (Hypothesis), JSON persistence, errors."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from seqmodels.data import (
    TOKENIZERS,
    BPETokenizer,
    CharTokenizer,
    NGramTokenizer,
    SentenceTokenizer,
    TextEncoder,
    Vocab,
    WordTokenizer,
    build_vocab,
    ngrams,
    one_hot,
    split_sentences,
    tokenizer_from_dict,
)

TRAIN_TEXT = (
    "def train(model, data):\n    for batch in data:\n        loss = model(batch)\n        loss.backward()\n"
    "The quick brown fox jumps over the lazy dog. The dog sleeps.\n\nUnicode: café, naïve, 東京, emoji 😀.\n"
    "trailing spaces a  \nb  \n  \nc\n"  # whitespace runs that end in a newline: merges across a naive cut
) * 20

_BPE: BPETokenizer | None = None


def trained_bpe() -> BPETokenizer:
    """A small BPE trained once per test session (Hypothesis tests cannot take function fixtures)."""
    global _BPE
    if _BPE is None:
        _BPE = BPETokenizer(vocab_size=300, min_frequency=2).train(TRAIN_TEXT.splitlines(keepends=True))
    return _BPE


# text with many newlines/spaces so that chunk boundaries and whitespace runs are exercised
ws_text = st.lists(st.sampled_from(list("ab c\n\t.'é😀XY ") + ["\n\n", "  ", "The ", "dog"]), max_size=40).map("".join)
any_text = st.text(max_size=60)


# ---------------------------------------------------------------- char and word


@given(any_text)
def test_char_round_trip_is_exact(text: str) -> None:
    tok = CharTokenizer()
    assert tok.tokenize(text) == list(text)
    assert tok.detokenize(tok.tokenize(text)) == text


@given(any_text)
def test_word_round_trip_normalises_whitespace(text: str) -> None:
    tok = WordTokenizer()
    assert tok.detokenize(tok.tokenize(text)) == " ".join(text.split())


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), min_size=1), max_size=10)
)
def test_word_tokenize_inverts_detokenize(words: list[str]) -> None:
    words = [w for w in words if w.split() == [w]]
    tok = WordTokenizer()
    assert tok.tokenize(tok.detokenize(words)) == words


def test_word_lowercase_and_regex() -> None:
    assert WordTokenizer(lowercase=True).tokenize("The  Cat\nSat") == ["the", "cat", "sat"]
    tok = WordTokenizer(pattern=r"\w+|[^\w\s]")
    assert tok.tokenize("Hello, world!") == ["Hello", ",", "world", "!"]
    assert tok.detokenize(["a", "b"]) == "a b"


@pytest.mark.parametrize("pattern", ["(", r"(\w+)", ""])
def test_word_bad_pattern_names_it(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        WordTokenizer(pattern=pattern)


# ---------------------------------------------------------------- sentences and n-grams


def test_split_sentences() -> None:
    text = 'Hello there. How are you? I am "fine." Thanks!\n\nnew paragraph'
    assert split_sentences(text) == ["Hello there.", "How are you?", 'I am "fine."', "Thanks!", "new paragraph"]
    assert split_sentences("version 3.11 is out. Yes") == ["version 3.11 is out.", "Yes"]
    assert split_sentences("") == []
    tok = SentenceTokenizer()
    assert tok.detokenize(tok.tokenize("A b. C d.")) == "A b. C d."


def test_ngrams() -> None:
    assert ngrams("abcd", 2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert ngrams([1, 2], 3) == []
    with pytest.raises(ValueError, match="n must"):
        ngrams("ab", 0)
    tok = NGramTokenizer(2)
    assert tok.tokenize("the cat sat") == ["the cat", "cat sat"]
    chars = NGramTokenizer(3, CharTokenizer(), sep="")
    assert chars.tokenize("hello") == ["hel", "ell", "llo"]
    assert chars.tokenize("hi") == ["hi"]


@given(any_text, st.integers(1, 4))
def test_ngram_round_trip(text: str, n: int) -> None:
    chars = NGramTokenizer(n, CharTokenizer(), sep="")
    assert chars.detokenize(chars.tokenize(text)) == text
    words = NGramTokenizer(n, WordTokenizer())
    assert words.detokenize(words.tokenize(text)) == " ".join(text.split())


# ---------------------------------------------------------------- BPE


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_text)
def test_bpe_round_trip_is_exact(text: str) -> None:
    bpe = trained_bpe()
    assert bpe.detokenize(bpe.tokenize(text)) == text


def test_bpe_learns_merges_and_saves_library_json(tmp_path) -> None:
    bpe = trained_bpe()
    tokens = bpe.tokenize("loss = model(batch)")
    assert len(tokens) < len("loss = model(batch)")  # merges were learned
    assert len(bpe.vocabulary()) == 300
    path = tmp_path / "bpe.json"
    bpe.save(path)
    import tokenizers

    assert tokenizers.Tokenizer.from_file(str(path)).encode("the dog").tokens == bpe.tokenize("the dog")
    loaded = BPETokenizer.load(path)
    assert loaded.tokenize(TRAIN_TEXT) == bpe.tokenize(TRAIN_TEXT)
    again = tokenizer_from_dict(json.loads(json.dumps(bpe.to_dict())))
    assert isinstance(again, BPETokenizer) and again == bpe
    assert again.tokenize(TRAIN_TEXT) == bpe.tokenize(TRAIN_TEXT)


def test_bpe_untrained_and_bad_args() -> None:
    bpe = BPETokenizer(vocab_size=300)
    assert not bpe.is_trained and bpe.to_dict()["model"] is None
    with pytest.raises(RuntimeError, match="train"):
        bpe.tokenize("x")
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer(vocab_size=10)
    with pytest.raises(ValueError, match="model"):
        BPETokenizer(model={"not": "a tokenizer"})


def test_bpe_lowercase() -> None:
    bpe = BPETokenizer(vocab_size=280, lowercase=True).train(["Hello World hello world"] * 5)
    assert bpe.detokenize(bpe.tokenize("HeLLo")) == "hello"
    assert BPETokenizer.from_dict(bpe.to_dict()).tokenize("HeLLo") == bpe.tokenize("HeLLo")


# ---------------------------------------------------------------- chunked tokenization == whole


def _tokenizers() -> list:
    return [
        CharTokenizer(),
        WordTokenizer(),
        WordTokenizer(lowercase=True, pattern=r"\w+|[^\w\s]"),
        NGramTokenizer(2),
        NGramTokenizer(3, CharTokenizer(), sep=""),
        SentenceTokenizer(),
        trained_bpe(),
    ]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=60)
@given(ws_text, st.lists(st.integers(0, 80), max_size=6), st.integers(1, 12))
@example("a  \nb  \nc", [], 1)  # a whitespace run before a newline: a naive cut there changes BPE tokens
@example("x\n\ny z\n q.\n", [2, 5], 3)
def test_iter_tokenize_equals_tokenize(text: str, cuts: list[int], block: int) -> None:
    bounds = sorted({0, len(text), *[min(c, len(text)) for c in cuts]})
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    for tok in _tokenizers():
        pieces = list(tok.iter_tokenize(iter(chunks), block_chars=block))
        assert [t for p in pieces for t in p] == tok.tokenize(text), tok


# ---------------------------------------------------------------- registry and JSON


def test_registry_round_trips_every_tokenizer() -> None:
    assert set(TOKENIZERS) >= {"char", "word", "bpe", "sentence", "ngram"}
    for tok in _tokenizers():
        d = json.loads(json.dumps(tok.to_dict()))
        assert tokenizer_from_dict(d) == tok


def test_tokenizer_from_dict_errors_list_known_types() -> None:
    with pytest.raises(ValueError, match="known types.*char"):
        tokenizer_from_dict({"type": "nope"})
    with pytest.raises(ValueError, match="'type'"):
        tokenizer_from_dict({})
    with pytest.raises(ValueError, match="WordTokenizer"):
        tokenizer_from_dict({"type": "word", "bogus": 1})


# ---------------------------------------------------------------- Vocab


def test_vocab_order_ties_max_size_min_freq() -> None:
    counts = Counter({"b": 3, "a": 3, "c": 5, "d": 1, "<unk>": 7})
    v = Vocab.build(counts, specials=("<unk>", "<eos>"))
    assert v.itos == ["<unk>", "<eos>", "c", "a", "b", "d"]  # specials first, then -count, then string
    assert Vocab.build(counts, specials=("<unk>",), max_size=3).itos == ["<unk>", "c", "a"]
    assert Vocab.build(counts, specials=("<unk>",), min_freq=3).itos == ["<unk>", "c", "a", "b"]
    # the same multiset in another order gives the same vocabulary
    assert Vocab.build(list("abcabcc")) == Vocab.build(list("ccbbaac"))
    assert Vocab.build([["x", "y"], ["y"]], specials=()).itos == ["y", "x"]


def test_vocab_special_indices_and_oov() -> None:
    v = Vocab.build("a b a".split(), specials=("<pad>", "<unk>", "<eos>", "<bos>"))
    assert (v.pad_index, v.unk_index, v.eos_index, v.bos_index) == (0, 1, 2, 3)
    assert v.encode(["a", "zzz", "b"]) == [4, 1, 5]
    bare = Vocab.build("a b".split(), specials=())
    assert bare.unk_index is None and bare.eos_index is None
    with pytest.raises(ValueError, match="'zzz' is not in the vocabulary"):
        bare.encode(["zzz"])
    with pytest.raises(ValueError, match="out of range"):
        v.decode([99])
    assert v.decode(torch.tensor([4, 5])) == ["a", "b"]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"max_size": 1}, "max_size"), ({"min_freq": 0}, "min_freq"), ({"specials": ("<unk>", "<unk>")}, "unique")],
)
def test_vocab_bad_args(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Vocab.build(["a"], **kwargs)


def test_vocab_from_dict_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Vocab.from_dict({"itos": ["a", "a"]})


@given(st.lists(st.text(max_size=5), max_size=30), st.integers(3, 12), st.integers(1, 3))
def test_vocab_round_trips(tokens: list[str], max_size: int, min_freq: int) -> None:
    v = Vocab.build(tokens, max_size=max_size, min_freq=min_freq)
    assert len(v) <= max_size
    ids = v.encode(tokens)
    decoded = v.decode(ids)
    assert decoded == [t if t in v else "<unk>" for t in tokens]
    assert Vocab.from_dict(json.loads(json.dumps(v.to_dict()))) == v


def test_vocab_save_load_is_exact_json(tmp_path) -> None:
    v = Vocab.build("é 東 😀 a a \u2028".split(" "))
    path = tmp_path / "vocab.json"
    v.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["itos"] == v.itos
    assert Vocab.load(path) == v
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Vocab.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{\n oops", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json:2"):
        Vocab.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- TextEncoder and one-hot


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_text)
def test_text_encoder_round_trip(text: str) -> None:
    tok = CharTokenizer()
    enc = TextEncoder(tok, Vocab.build(tok.tokenize(text), specials=("<unk>",)))
    assert enc.decode(enc.encode(text)) == text
    again = TextEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again == enc and again.encode(text) == enc.encode(text)


def test_text_encoder_bpe_save_load(tmp_path) -> None:
    bpe = trained_bpe()
    enc = TextEncoder(bpe, build_vocab(bpe, Counter(bpe.tokenize(TRAIN_TEXT)), specials=("<unk>", "<eos>")))
    assert len(enc.vocab) == 2 + len(bpe.vocabulary()) and enc.vocab.itos[2:] == bpe.vocabulary()
    enc.save(tmp_path / "enc.json")
    loaded = TextEncoder.load(tmp_path / "enc.json")
    assert loaded.encode(TRAIN_TEXT) == enc.encode(TRAIN_TEXT)
    assert loaded.decode(enc.encode(TRAIN_TEXT)) == TRAIN_TEXT
    assert enc.decode(enc.encode_array("the dog 🦊")) == "the dog 🦊"  # no <unk>: all 256 bytes are in
    with pytest.raises(ValueError, match="max_size"):
        build_vocab(bpe, Counter(), max_size=100)
    plain = build_vocab(CharTokenizer(), Counter("abca"), specials=("<unk>",), max_size=2)
    assert plain.itos == ["<unk>", "a"]
    word = TextEncoder(WordTokenizer(), Vocab.build(["a", "b"], specials=("<pad>", "<unk>")))
    assert word.decode([2, 0, 3, 0], skip=["<pad>"]) == "a b"


def test_one_hot() -> None:
    out = one_hot([[0, 2], [1, 1]], 3)
    assert out.shape == (2, 2, 3) and out.dtype == torch.float32
    assert torch.equal(out.argmax(-1), torch.tensor([[0, 2], [1, 1]]))
    assert torch.equal(out.sum(-1), torch.ones(2, 2))
    with pytest.raises(ValueError, match="num_classes=3"):
        one_hot([3], 3)
    with pytest.raises(ValueError, match="integers"):
        one_hot(torch.tensor([0.5]), 3)


@settings(deadline=None, max_examples=30)
@given(ws_text, st.integers(1, 10))
def test_split_at_safe_cuts_and_parallel_bpe(text: str, size: int) -> None:
    from seqmodels.data.tokenizer_base import split_at_safe_cuts

    pieces = split_at_safe_cuts(text, size)
    assert "".join(pieces) == text and all(p for p in pieces)
    bpe = trained_bpe()
    import seqmodels.data.bpe as bpe_module

    whole = bpe._tok.encode(text, add_special_tokens=False).tokens  # one call into the library
    old = bpe_module.PARALLEL_PIECE
    bpe_module.PARALLEL_PIECE = size  # force the parallel path on short texts
    try:
        assert bpe.tokenize(text) == whole
    finally:
        bpe_module.PARALLEL_PIECE = old


@pytest.mark.parametrize("piece", [16, 64, 1 << 13])
def test_bpe_trained_on_safe_pieces_learns_the_library_merges(monkeypatch, piece: int) -> None:
    """Training cuts long texts into pieces (for the library's parallelism); the merges are those the library
    learns from the uncut texts, trained here directly."""
    import tokenizers as hf

    import seqmodels.data.bpe as bpe_module

    texts = [TRAIN_TEXT * 3, "one more text\n  with  spaces\n\nand blank lines " * 20]
    monkeypatch.setattr(bpe_module, "PARALLEL_PIECE", piece)
    ours = BPETokenizer(vocab_size=400, min_frequency=2).train(iter(texts))
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = hf.trainers.BpeTrainer(
        vocab_size=400, min_frequency=2, initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    library = json.loads(tok.to_str())["model"]
    assert ours.to_dict()["model"]["model"]["merges"] == library["merges"]
    assert ours.to_dict()["model"]["model"]["vocab"] == library["vocab"]
    text = texts[0][:3000]
    np.testing.assert_array_equal(ours.encode_ids(text), tok.encode(text).ids)
