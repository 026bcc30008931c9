"""Hypothesis fuzzing of the pieces that meet arbitrary input: layers with arbitrary lengths against
torch's packed sequences, tokenizer/vocabulary/encoder files written and read back, labelled-text files
(csv, tsv, ``LABEL text``, fastText, JSON lines) written and read back, one set of labelled time series
written as UEA .ts, CSV and .npz and read back alike under each missing-value policy, word vectors written as
GloVe, .vec and word2vec .bin (struct) and read back exactly, the resumable loader
against an uninterrupted one, and checkpoint loading of damaged files.

Round trips of tokenize/detokenize, vocab build, pad-collate and bucketing are fuzzed in
test_data_tokenizers.py and test_data_classification.py; they are not repeated here.
"""

from __future__ import annotations

import csv
import functools
import json
import struct

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import RandomSampler, TensorDataset

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint
from seqmodels.data import (
    BucketBatchSampler,
    CharTokenizer,
    NGramTokenizer,
    PadCollate,
    TextClassificationFiles,
    TextEncoder,
    Vocab,
    WordTokenizer,
    tokenizer_from_dict,
)
from seqmodels.data.corpora.series_files import SeriesFiles
from seqmodels.data.language_modeling import StreamBatches, TokenArray, WindowBatches
from seqmodels.data.resumable import ResumableDataLoader
from seqmodels.data.word_vectors import read_word_vectors
from seqmodels.layers import Recurrent, Stacked
from tests.helpers import copy_torch_rnn_weights, max_abs_diff

KINDS = {
    "rnn": (RNNCell, torch.nn.RNN, {}),
    "rnn_relu": (functools.partial(RNNCell, nonlinearity="relu"), torch.nn.RNN, {"nonlinearity": "relu"}),
    "gru": (GRUCell, torch.nn.GRU, {}),
    "lstm": (LSTMCell, torch.nn.LSTM, {}),
}
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ layers vs packed sequences
@st.composite
def batches(draw):
    B = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, 9), min_size=B, max_size=B))
    T = max(lengths) + draw(st.integers(0, 2))  # padding past the longest sequence too
    return T, lengths


@FUZZ
@given(
    shape=batches(),
    kind=st.sampled_from(sorted(KINDS)),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    backend=st.sampled_from(["custom", "torch"]),
    seed=st.integers(0, 2**16),
)
@example(shape=(4, [1, 1, 1]), kind="lstm", num_layers=2, bidirectional=True, backend="custom", seed=0)
def test_stacked_with_random_lengths_equals_torch_packed(shape, kind, num_layers, bidirectional, backend, seed):
    T, lengths = shape
    I, H = 3, 4
    gen = torch.Generator().manual_seed(seed)
    factory, cls, kwargs = KINDS[kind]
    ref = cls(I, H, num_layers=num_layers, bidirectional=bidirectional, **kwargs).double()
    stack = Stacked(factory, I, H, num_layers, bidirectional, backend=backend).double()
    copy_torch_rnn_weights(stack.cells(), ref)
    x = torch.randn(T, len(lengths), I, dtype=torch.float64, generator=gen)
    lens = torch.tensor(lengths)
    packed = pack_padded_sequence(x, lens, enforce_sorted=False)
    ref_out, ref_h = ref(packed)
    ref_out, _ = pad_packed_sequence(ref_out, total_length=T)
    out, states = stack(x, None, lens)
    assert max_abs_diff(out, ref_out) <= 1e-10
    ours_h = torch.stack([s[0] if kind == "lstm" else s for s in states])
    assert max_abs_diff(ours_h, ref_h[0] if kind == "lstm" else ref_h) <= 1e-10
    if kind == "lstm":
        assert max_abs_diff(torch.stack([s[1] for s in states]), ref_h[1]) <= 1e-10


@FUZZ
@given(shape=batches(), kind=st.sampled_from(sorted(KINDS)), seed=st.integers(0, 2**16))
def test_recurrent_gradients_with_random_lengths_equal_torch_packed(shape, kind, seed):
    T, lengths = shape
    gen = torch.Generator().manual_seed(seed)
    factory, cls, kwargs = KINDS[kind]
    ref = cls(2, 3, **kwargs).double()
    layer = Recurrent(factory(input_size=2, hidden_size=3)).double()
    copy_torch_rnn_weights([layer.cell], ref)
    x = torch.randn(T, len(lengths), 2, dtype=torch.float64, generator=gen, requires_grad=True)
    lens = torch.tensor(lengths)
    ref_out, _ = pad_packed_sequence(ref(pack_padded_sequence(x, lens, enforce_sorted=False))[0], total_length=T)
    out, _ = layer(x, None, lens)
    w = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    g_ref = torch.autograd.grad((ref_out * w).sum(), [x, ref.weight_hh_l0])
    g = torch.autograd.grad((out * w).sum(), [x, layer.cell.weight_hh])
    assert max_abs_diff(list(g), list(g_ref)) <= 1e-10


# ------------------------------------------------------------------------------ tokenizers, vocab, encoder files
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
TOKENIZERS = [
    CharTokenizer(),
    WordTokenizer(),
    WordTokenizer(lowercase=True),
    NGramTokenizer(2, CharTokenizer(), sep=""),
    NGramTokenizer(3, WordTokenizer(), sep=" "),
]


@FUZZ
@given(text=any_text, which=st.integers(0, len(TOKENIZERS) - 1))
def test_tokenizer_json_round_trip_tokenizes_alike(text, which):
    tokenizer = TOKENIZERS[which]
    rebuilt = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert type(rebuilt) is type(tokenizer)
    assert rebuilt.tokenize(text) == tokenizer.tokenize(text)


@FUZZ
@given(tokens=st.lists(st.text(max_size=6), max_size=60), extra=st.lists(st.text(max_size=6), max_size=10))
def test_vocab_file_round_trip(tmp_path_factory, tokens, extra):
    vocab = Vocab.build(tokens, specials=("<pad>", "<unk>"))
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded == vocab and loaded.itos == vocab.itos
    probe = tokens + extra
    assert loaded.encode(probe) == vocab.encode(probe)
    assert all(loaded.decode(loaded.encode([t]))[0] in (t, "<unk>") for t in probe)


@FUZZ
@given(train=any_text, probe=any_text)
def test_text_encoder_file_round_trip(tmp_path_factory, train, probe):
    tokenizer = CharTokenizer()
    encoder = TextEncoder(tokenizer, Vocab.build(tokenizer.tokenize(train), specials=("<unk>",)))
    path = tmp_path_factory.mktemp("encoder") / "encoder.json"
    encoder.save(path)
    loaded = TextEncoder.load(path)
    assert loaded == encoder
    assert loaded.encode(probe) == encoder.encode(probe)


# ------------------------------------------------------------------------------ collate: ragged batches
@FUZZ
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=16), pad=st.integers(0, 3), batch=st.integers(1, 6))
def test_bucketed_pad_collate_keeps_every_sequence_exactly(lengths, pad, batch):
    rng = np.random.default_rng(len(lengths) * 7 + pad)
    seqs = [rng.integers(4, 30, size=n).astype(np.int32) for n in lengths]
    sampler = BucketBatchSampler(
        RandomSampler(range(len(seqs)), generator=torch.Generator().manual_seed(0)),
        batch,
        False,
        lengths,
        pool_factor=2,
    )
    seen = []
    for indices in sampler:
        inputs, lens, labels = PadCollate(pad)([(seqs[i], i) for i in indices])
        assert inputs.shape == (len(indices), max(lengths[i] for i in indices))
        for row, i in enumerate(indices):
            assert int(lens[row]) == lengths[i] and int(labels[row]) == i
            assert inputs[row, : lengths[i]].tolist() == seqs[i].tolist()
            assert (inputs[row, lengths[i] :] == pad).all()
        seen.extend(indices)
    assert sorted(seen) == list(range(len(seqs)))


# ------------------------------------------------------------------------------ resumable loader
def _batches_as_lists(iterable):
    return [[t.tolist() for t in (b if isinstance(b, (tuple, list)) else [b])] for b in iterable]


@FUZZ
@given(
    n=st.integers(20, 300),
    batch_size=st.integers(1, 5),
    bptt=st.integers(1, 7),
    windows=st.booleans(),
    passes=st.integers(0, 2),
    cut=st.integers(0, 100),
)
def test_resumable_stream_loader_continues_exactly(n, batch_size, bptt, windows, passes, cut):
    ids = TokenArray(np.arange(n, dtype=np.int64) % 17)
    make = (
        (lambda: WindowBatches(ids, batch_size, bptt, seed=3))
        if windows
        else (lambda: StreamBatches(ids, batch_size, bptt))
    )
    kwargs = {"batch_size": None, "generator": torch.Generator().manual_seed(1)}
    original = ResumableDataLoader(make(), **kwargs)
    for _ in range(passes):
        _batches_as_lists(original)
    iterator = iter(original)
    length = len(original)
    taken = [next(iterator) for _ in range(min(cut, length))]
    position = original.position()
    assert position == {"pass": passes, "batches": len(taken)}
    rest = _batches_as_lists(iterator)
    following = _batches_as_lists(original)  # the next pass

    resumed = ResumableDataLoader(make(), **kwargs)
    resumed.resume_from(position)
    if len(taken) < length:  # in mid-pass: the rest of the pass, then the next pass
        assert _batches_as_lists(resumed) == rest
    assert _batches_as_lists(resumed) == following


@FUZZ
@given(
    size=st.integers(1, 40),
    batch_size=st.integers(1, 7),
    passes=st.integers(0, 3),
    cut=st.integers(0, 10),
    complete=st.booleans(),
)
def test_resumable_shuffled_loader_continues_exactly(size, batch_size, passes, cut, complete):
    def make():
        data = TensorDataset(torch.arange(size))
        return ResumableDataLoader(
            data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(5)
        )

    original = make()
    for _ in range(passes):
        _batches_as_lists(original)
    iterator = iter(original)
    taken = [next(iterator) for _ in range(len(original) if complete else min(cut, len(original) - 1))]
    position = {**original.position(), "complete": complete}
    rest = _batches_as_lists(iterator)
    following = _batches_as_lists(original)
    resumed = make()
    resumed.resume_from(position)
    got = _batches_as_lists(resumed)
    assert got == (following if complete else rest)
    assert len(taken) + len(rest) == len(original)


# ------------------------------------------------------------------------------ labelled-text files
cell_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)
one_line = cell_text.filter(lambda t: "\n" not in t and "\r" not in t)
CLASSES = ["pos", "neg", "0", "1", "a b", 'say "x"', "x,y", "caf\u00e9"]


@FUZZ
@given(
    rows=st.lists(st.tuples(cell_text, st.sampled_from(CLASSES), st.text(max_size=10)), min_size=1, max_size=20),
    order=st.permutations(["text", "label", "extra"]),
    crlf=st.booleans(),
    bom=st.booleans(),
)
def test_csv_rows_written_by_the_csv_module_read_back_alike(tmp_path_factory, rows, order, crlf, bom):
    """Any texts (quotes, commas, line breaks, control characters) written by Python's csv module, in any column
    order, with CRLF or LF and with or without a byte-order mark, read back as written (stripped)."""
    path = tmp_path_factory.mktemp("csv") / "rows.csv"
    # with lineterminator="\n", CPython's writer leaves a field holding a lone "\r" unquoted (it quotes only the
    # terminator's characters), and no reader can tell that "\r" from a line end: quote every field then
    quoting = csv.QUOTE_ALL if not crlf and any("\r" in "".join(map(str, row)) for row in rows) else csv.QUOTE_MINIMAL
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n" if crlf else "\n", quoting=quoting)
        writer.writerow(order)
        for text, label, extra in rows:
            writer.writerow([{"text": text, "label": label, "extra": extra}[column] for column in order])
    corpus = TextClassificationFiles(path, labels=CLASSES)
    assert corpus.paths["train"] == [(path, "csv")]
    assert [(text, CLASSES[i]) for text, i in corpus.examples("train")] == [(t.strip(), y) for t, y, _ in rows]


@FUZZ
@given(
    rows=st.lists(
        st.tuples(one_line.filter(lambda t: "\t" not in t), st.sampled_from(["pos", "neg", "0", "1"])),
        min_size=1,
        max_size=20,
    ),
    fmt=st.sampled_from(["tsv", "label_first", "fasttext", "jsonl"]),
    crlf=st.booleans(),
)
def test_line_formats_read_back_what_was_written(tmp_path_factory, rows, fmt, crlf):
    """One example per line in tsv, ``LABEL text``, ``__label__LABEL text`` and JSON lines: texts holding any
    character but a line break (form feeds, Unicode line separators, quotes) come back as written (stripped)."""
    end = "\r\n" if crlf else "\n"
    lines = {
        "tsv": ["label\ttext", *(f"{y}\t{t}" for t, y in rows)],
        "label_first": [f"{y} {t}" for t, y in rows],
        "fasttext": [f"__label__{y} {t}" for t, y in rows],
        "jsonl": [json.dumps({"label": y, "text": t}, ensure_ascii=False) for t, y in rows],
    }[fmt]
    path = tmp_path_factory.mktemp("lines") / "rows.data"
    path.write_bytes(end.join(lines).encode("utf-8") + end.encode())
    corpus = TextClassificationFiles(path, format=fmt, labels=["pos", "neg", "0", "1"])
    assert [(text, corpus.label_names[i]) for text, i in corpus.examples("train")] == [(t.strip(), y) for t, y in rows]


# ------------------------------------------------------------------------------ damaged checkpoints
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.ckpt"
    torch.save(
        {
            CHECKPOINT_KEY: {"format_version": 1, "config": {"a": [1, 2]}, "encoder": None},
            "state_dict": {"model.w": torch.arange(64.0).reshape(8, 8)},
            "global_step": 3,
        },
        path,
    )
    return path.read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_checkpoints_load_or_fail_with_value_error(tmp_path, good_checkpoint, data):
    raw = bytearray(good_checkpoint)
    how = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        start = data.draw(st.integers(0, len(raw)))
        raw[start:start] = data.draw(st.binary(min_size=1, max_size=64))
    path = tmp_path / "damaged.ckpt"
    path.write_bytes(bytes(raw))
    try:
        checkpoint = load_checkpoint(path)
    except ValueError as error:
        assert str(path) in str(error)
    else:  # a flip inside the zip's padding or a tensor's bytes can leave a valid file
        assert CHECKPOINT_KEY in checkpoint and "state_dict" in checkpoint


# ------------------------------------------------------------------------------ series files: one set, three formats
@st.composite
def labelled_series(draw):
    """A few series (T_i, F) of float32-exact values, NaN in some places, and their labels."""
    F = draw(st.integers(1, 3))
    value = st.one_of(st.floats(-1e4, 1e4, width=32), st.just(float("nan")))
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    series = [
        np.array(draw(st.lists(st.lists(value, min_size=F, max_size=F), min_size=n, max_size=n))) for n in lengths
    ]
    labels = draw(st.lists(st.sampled_from(["a", "b", "10", "9"]), min_size=len(lengths), max_size=len(lengths)))
    return series, labels


def _cell(v: float) -> str:
    return "" if np.isnan(v) else repr(float(v))


def _write_series_formats(folder, series, labels) -> dict[str, dict[str, str]]:
    F = series[0].shape[1]
    declared = sorted(set(labels))
    ts = f"@problemName P\n@dimensions {F}\n@classLabel true {' '.join(declared)}\n@data\n" + "".join(
        ":".join(",".join("?" if np.isnan(v) else repr(float(v)) for v in s[:, f]) for f in range(F)) + f":{lab}\n"
        for s, lab in zip(series, labels)
    )
    (folder / "s.ts").write_text(ts, encoding="utf-8")
    rng = np.random.default_rng(len(series))
    steps = [rng.permutation(len(s)) for s in series]  # each series' rows out of time order (the time column
    rows = [
        (f"id{i}", t, labels[i], series[i][t])  # restores it), the series interleaved round by round
        for r in range(max(len(s) for s in series))
        for i in range(len(series))
        if r < len(series[i])
        for t in [int(steps[i][r])]
    ]
    header = "label,step,series," + ",".join(f"f{f}" for f in range(F))
    lines = [f"{lab},{t},{key}," + ",".join(_cell(v) for v in values) for key, t, lab, values in rows]
    (folder / "s.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    padded = np.full((len(series), max(len(s) for s in series), F), 123.0)
    for i, s in enumerate(series):
        padded[i, : len(s)] = s
    np.savez(folder / "s.npz", X=padded, y=np.array(labels), lengths=np.array([len(s) for s in series]))
    return {"ts": {}, "csv": {"id_column": "series", "time_column": "step"}, "npz": {}}


@FUZZ
@given(data=labelled_series(), nan=st.sampled_from(["zero", "ffill", "drop"]))
def test_series_files_read_the_same_series_from_ts_csv_and_npz(tmp_path_factory, data, nan):
    series, labels = data
    folder = tmp_path_factory.mktemp("series")
    options = _write_series_formats(folder, series, labels)
    expected = []
    for s in series:  # the oracle: each policy written out loop by loop
        out = []
        for t in range(len(s)):
            row = []
            for f in range(s.shape[1]):
                before = [v for v in s[: t + 1, f] if not np.isnan(v)]  # ffill: the last value so far, else
                after = [v for v in s[:, f] if not np.isnan(v)]  # the first in the series, else 0
                filled = before[-1] if before else after[0] if after else 0.0
                row.append(s[t, f] if not np.isnan(s[t, f]) else 0.0 if nan == "zero" else filled)
            if nan != "drop" or not np.isnan(s[t]).any():
                out.append(row)
        expected.append(np.array(out, dtype=np.float32).reshape(-1, s.shape[1]))
    for fmt, kwargs in options.items():
        corpus = SeriesFiles(folder / f"s.{fmt}", nan=nan, **kwargs)
        if nan == "drop" and any(len(e) == 0 for e in expected):
            with pytest.raises(ValueError, match="no time step without a missing value"):
                corpus.examples("train")
            continue
        got = corpus.examples("train")
        assert len(got) == len(series), fmt
        for (x, y), e, lab in zip(got, expected, labels):
            np.testing.assert_array_equal(x, e, err_msg=fmt)
            assert corpus.label_names[y] == lab, fmt


# ------------------------------------------------------------------------------ word-vector files
@FUZZ
@given(
    words=st.lists(
        st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=8),
        min_size=1,
        max_size=12,
        unique=True,
    ),
    dim=st.integers(1, 5),
    fmt=st.sampled_from(["glove", "vec", "word2vec_bin"]),
    data=st.data(),
)
def test_word_vector_files_read_back_exactly(tmp_path_factory, words, dim, fmt, data):
    """Words without whitespace or control characters, any finite float32 values: each format written by hand
    (the binary one with struct) reads back exactly, aligned by token, whatever the vocabulary's order."""
    values = data.draw(
        st.lists(
            st.floats(width=32, allow_nan=False, allow_infinity=False),
            min_size=dim * len(words),
            max_size=dim * len(words),
        )
    )
    vectors = np.array(values, dtype=np.float32).reshape(len(words), dim)
    path = tmp_path_factory.mktemp("vectors") / "v.data"
    if fmt == "word2vec_bin":
        rows = [w.encode() + b" " + struct.pack(f"<{dim}f", *v.tolist()) + b"\n" for w, v in zip(words, vectors)]
        path.write_bytes(f"{len(words)} {dim}\n".encode() + b"".join(rows))
    else:
        head = f"{len(words)} {dim}\n" if fmt == "vec" else ""
        rows = [w + "".join(f" {float(x)!r}" for x in v) + "\n" for w, v in zip(words, vectors)]
        path.write_text(head + "".join(rows), encoding="utf-8")
    tokens = data.draw(st.permutations([*words, "\u2400absent-token"]))  # longer than any word
    result = read_word_vectors(path, tokens, lowercase_fallback=False)
    assert result.format == fmt and result.rows_read == len(words) and result.dim == dim
    for i, token in enumerate(tokens):
        expected = vectors[words.index(token)] if token in words else np.zeros(dim, np.float32)
        assert bool(result.found[i]) == (token in words)
        np.testing.assert_array_equal(result.vectors[i].numpy(), expected)
