"""read_word_vectors: GloVe, .vec and word2vec binary files written here (text by hand, binary with
struct.pack) read back exactly and aligned by token string; header detection, .gz, lowercase precedence,
the duplicate rule, each refusal's message, and a 200k-row file read into 10 rows in bounded memory."""

from __future__ import annotations

import gzip
import logging
import random
import re
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from seqmodels.data.word_vectors import read_word_vectors

WORDS = ["the", "cat", "sat", "on", "mat", "ünïcode", "a.b", "<unk>"]


def float32_values(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """(count, dim) float32 values spread over many magnitudes and both signs."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count, dim)) * 10.0 ** rng.integers(-3, 3, (count, dim))).astype(np.float32)


def text_row(word: str, vector: np.ndarray) -> str:
    # repr of the float32 as a double: the shortest decimal that reads back to the same float32
    return word + " " + " ".join(repr(float(v)) for v in vector) + "\n"


def write_text(path: Path, words: list[str], vectors: np.ndarray, header: bool = False) -> Path:
    head = f"{len(words)} {vectors.shape[1]}\n" if header else ""
    data = (head + "".join(text_row(w, v) for w, v in zip(words, vectors))).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def bin_bytes(words: list[str], vectors: np.ndarray, newline: bool = True, count: int | None = None) -> bytes:
    """word2vec's binary layout, written with struct (independent of the reader's numpy)."""
    out = [f"{len(words) if count is None else count} {vectors.shape[1]}\n".encode()]
    for word, vector in zip(words, vectors):
        out.append(word.encode("utf-8") + b" " + struct.pack(f"<{len(vector)}f", *vector.tolist()))
        if newline:
            out.append(b"\n")
    return b"".join(out)


def write_bin(path: Path, words: list[str], vectors: np.ndarray, newline: bool = True) -> Path:
    data = bin_bytes(words, vectors, newline)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def vocabulary() -> list[str]:
    """Every word of the file plus two it lacks, in a shuffled order."""
    tokens = [*WORDS, "absent", "missing"]
    random.Random(1).shuffle(tokens)
    return tokens


def check_aligned(result, tokens: list[str], vectors: np.ndarray) -> None:
    for i, token in enumerate(tokens):
        if token in WORDS:
            assert bool(result.found[i]), token
            assert np.array_equal(result.vectors[i].numpy(), vectors[WORDS.index(token)]), token
        else:
            assert not bool(result.found[i]), token
            assert not result.vectors[i].any(), token


# ------------------------------------------------------------------------------ formats, exact values
@pytest.mark.parametrize(
    "name, header, expected",
    [("v.txt", False, "glove"), ("v.vec", True, "vec"), ("v.txt", True, "vec"), ("v.txt.gz", False, "glove")],
)
def test_text_files_read_back_exactly_and_aligned_by_token(tmp_path: Path, name, header, expected) -> None:
    vectors = float32_values(len(WORDS), 7)
    path = write_text(tmp_path / name, WORDS, vectors, header=header)
    tokens = vocabulary()
    result = read_word_vectors(path, tokens)
    assert result.format == expected and result.dim == 7 and result.rows_read == len(WORDS)
    assert result.vectors.dtype.is_floating_point and result.vectors.shape == (len(tokens), 7)
    assert str(result.vectors.dtype) == "torch.float32" and result.found.dtype.__str__() == "torch.bool"
    check_aligned(result, tokens, vectors)
    assert result.coverage == len(WORDS) / len(tokens) and result.matched_lowercase == 0


@pytest.mark.parametrize("name", ["w.bin", "w.bin.gz", "w.data"])
@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary_reads_back_exactly_with_or_without_newlines(tmp_path: Path, name, newline) -> None:
    vectors = float32_values(len(WORDS), 5, seed=2)
    path = write_bin(tmp_path / name, WORDS, vectors, newline)
    tokens = vocabulary()
    result = read_word_vectors(path, tokens)
    assert result.format == "word2vec_bin" and result.dim == 5 and result.rows_read == len(WORDS)
    check_aligned(result, tokens, vectors)


def test_binary_entry_whose_bytes_hold_newlines_and_spaces(tmp_path: Path) -> None:
    # 10.0 packs to 00 00 20 41 (a space), 2.5e-44 etc. hold 0x0a: the values must not be split at them
    tricky = np.array([[10.0, struct.unpack("<f", b"\n\n\n\n")[0], struct.unpack("<f", b"  \n ")[0]]], np.float32)
    path = write_bin(tmp_path / "t.bin", ["x"], tricky, newline=False)
    result = read_word_vectors(path, ["x"])
    assert np.array_equal(result.vectors.numpy(), tricky)


def test_header_detection_and_forced_formats(tmp_path: Path) -> None:
    # a one-dimensional GloVe file whose first word is an integer looks like a header: format="glove" says not
    path = tmp_path / "one.txt"
    path.write_text("7 1\nthe 1.5\n", encoding="utf-8")
    assert read_word_vectors(path, ["7", "the"], format="glove").vectors.tolist() == [[1.0], [1.5]]
    auto = read_word_vectors(path, ["7", "the"])
    assert auto.format == "vec" and auto.found.tolist() == [False, True] and auto.rows_read == 1
    # a .vec file without its header (format forced: the header is optional)
    bare = tmp_path / "bare.vec"
    bare.write_text("the 1 2\ncat 3 4\n", encoding="utf-8")
    result = read_word_vectors(bare, ["cat"], format="vec")
    assert result.format == "vec" and result.vectors.tolist() == [[3.0, 4.0]] and result.rows_read == 2
    # auto: a header followed by a text row is vec, by binary bytes word2vec_bin (whatever the name)
    vectors = float32_values(2, 3)
    text = write_text(tmp_path / "h.bin.txt", ["the", "cat"], vectors, header=True)
    assert read_word_vectors(text, ["cat"]).format == "vec"
    binary = write_bin(tmp_path / "h.txt", ["the", "cat"], vectors)
    assert read_word_vectors(binary, ["cat"]).format == "word2vec_bin"
    with pytest.raises(ValueError, match=r"bare\.vec:1: a word2vec binary file starts with a line 'count dim'"):
        read_word_vectors(bare, ["cat"], format="word2vec_bin")
    with pytest.raises(ValueError, match=r"format must be one of auto, glove, vec, word2vec_bin, got 'txt'"):
        read_word_vectors(bare, ["cat"], format="txt")


def test_text_details_crlf_bom_trailing_spaces_blank_lines_and_spaced_words(tmp_path: Path) -> None:
    path = tmp_path / "glove.840B.txt"
    path.write_bytes(b"\xef\xbb\xbfthe 1 2 \r\n\r\nat name@domain.com 3 4\r\n. . . 5 6\n  \nc\xc3\xa4t -0.5 1e-3\n")
    result = read_word_vectors(path, ["the", "at name@domain.com", ". . .", "cät", "at"])
    assert result.vectors.tolist() == [[1, 2], [3, 4], [5, 6], [-0.5, np.float32(1e-3).item()], [0, 0]]
    assert result.rows_read == 4 and result.found.tolist() == [True, True, True, True, False]
    # a .vec file's words hold no space: an extra field is an error there
    vec = tmp_path / "x.vec"
    vec.write_text("2 2\nthe 1 2\nat name 3 4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{vec}:3: expected 1 word + 2 values, got 3")):
        read_word_vectors(vec, ["the"])


# ------------------------------------------------------------------------------ matching
@pytest.mark.parametrize("exact_first", [True, False])
def test_an_exact_row_wins_over_a_lowercase_one_wherever_it_is(tmp_path: Path, exact_first: bool) -> None:
    rows = ["Paris 1 1\n", "paris 2 2\n"]
    path = tmp_path / "v.txt"
    path.write_text("".join(rows if exact_first else rows[::-1]) + "PARIS 3 3\nrome 4 4\n", encoding="utf-8")
    tokens = ["Paris", "PaRiS", "Rome", "ROME", "paris", "Berlin"]
    result = read_word_vectors(path, tokens)
    assert result.vectors[:, 0].tolist() == [1, 2, 4, 4, 2, 0]
    assert result.found.tolist() == [True, True, True, True, True, False]
    assert result.matched_lowercase == 3  # PaRiS, Rome, ROME
    strict = read_word_vectors(path, tokens, lowercase_fallback=False)
    assert strict.vectors[:, 0].tolist() == [1, 0, 0, 0, 2, 0] and strict.matched_lowercase == 0


def test_the_first_row_of_a_duplicated_word_wins_and_is_reported(tmp_path: Path, caplog) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("the 1 1\nfoo 2 2\nthe 3 3\nfoo 4 4\ncat 5 5\nthe 6 6\ncat 7 7\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="seqmodels.data.word_vectors"):
        result = read_word_vectors(path, ["cat", "the"])
    assert result.vectors[:, 0].tolist() == [5, 1]
    assert result.duplicates == 3 and result.duplicate_words == ("the", "cat")  # foo: not asked for, not counted
    assert result.rows_read == 7
    assert result.summary() == (
        "dup.txt: 2 of 2 tokens found (100.0 %), 0 through lowercase; 7 rows read; "
        "3 duplicate row(s) ignored (the first row of a word wins)"
    )
    assert f"{path}: 3 duplicate row(s) of words the vocabulary asks for, e.g. 'the', 'cat'" in caplog.text


def test_summary_coverage_and_skipped_tokens(tmp_path: Path) -> None:
    path = tmp_path / "glove.6B.2d.txt"
    path.write_text("<unk> 9 9\nthe 1 2\ncat 3 4\nmouse 5 6\n", encoding="utf-8")
    result = read_word_vectors(path, ["<pad>", "<unk>", "The", "dog", "cat"], skip=["<pad>", "<unk>", "<s>"])
    assert result.found.tolist() == [False, False, True, False, True]
    assert not result.vectors[1].any()  # skipped although the file has it
    assert result.skipped == 2 and result.searched == 3 and result.coverage == 2 / 3
    assert result.summary() == (
        "glove.6B.2d.txt: 2 of 3 tokens found (66.7 %), 1 through lowercase; 4 rows read; "
        "2 special token(s) not looked up"
    )


def test_a_vocabulary_listing_a_token_twice_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "v.txt", ["a"], float32_values(1, 2))
    with pytest.raises(ValueError, match=r"tokens: 'b' is both tokens\[1\] and tokens\[3\]"):
        read_word_vectors(path, ["a", "b", "c", "b"])


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "content, message",
    [
        ("the 1 2 3\ncat 1 2\n", "{path}:2: expected 1 word + 3 values, got 2"),
        (
            "the 1 2 3\n\ncat\t1\t2\t3\n",
            "{path}:3: expected 1 word + 3 values, got 0 (fields are separated by single spaces; this line holds a tab)",
        ),
        ("3 3\nthe 1 2 3\ncat 1 2 3 4\n", "{path}:3: expected 1 word + 3 values, got 4"),
        ("3 3\nthe 1 2 3\ncat 1 2\n", "{path}:3: expected 1 word + 3 values, got 2"),
        ("the 1 2 3\ncat 1 abc 3\n", "{path}:2: value 2 of 3 is 'abc', not a number"),
        ("the 1 2 3\ncat 1 2 nan\n", "{path}:2: value 3 of 3 is nan, not a finite number"),
        ("", "{path}: the file is empty"),
        ("\n\n", "{path}: the file holds no vectors"),
        ("5 3\n", "{path}: the file holds no vectors after its header"),
        ("the\n", "{path}:1: expected a word and its values separated by spaces, got 'the'"),
    ],
)
def test_malformed_text_files_are_refused_naming_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_word_vectors(path, ["the", "cat"])
    assert str(error.value) == message.format(path=path)


def test_undecodable_bytes_name_the_line_and_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("the 1 2\ncaf\xe9 3 4\n".encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: cannot decode byte(s) b'\\xe9' as 'utf-8'")):
        read_word_vectors(path, ["the"])
    assert read_word_vectors(path, ["café"], encoding="latin-1").vectors.tolist() == [[3.0, 4.0]]
    binary = tmp_path / "latin.bin"
    binary.write_bytes(b"2 1\nthe " + struct.pack("<f", 1.0) + b"\ncaf\xe9 " + struct.pack("<f", 2.0) + b"\n")
    with pytest.raises(
        ValueError,
        match=re.escape(f"{binary}: entry 2 (byte offset 13): cannot decode byte(s) b'\\xe9' of the word as 'utf-8'"),
    ):
        read_word_vectors(binary, ["the"])
    with pytest.raises(ValueError, match=r"encoding='utf-16' is not ASCII-compatible"):
        read_word_vectors(path, ["the"], encoding="utf-16")


@pytest.mark.parametrize("name, header", [("d.txt", False), ("d.vec", True), ("d.bin", True)])
def test_a_dimension_other_than_the_models_is_refused_before_reading(tmp_path: Path, name, header) -> None:
    vectors = float32_values(2, 4)
    if name.endswith(".bin"):
        path = write_bin(tmp_path / name, ["the", "cat"], vectors)
    else:
        path = write_text(tmp_path / name, ["the", "cat"], vectors, header=header)
    with pytest.raises(ValueError) as error:
        read_word_vectors(path, ["the"], dim=3, dim_name="model.embedding_dim")
    assert str(error.value) == f"{path}: the vectors have 4 dimensions but model.embedding_dim is 3"
    assert read_word_vectors(path, ["the"], dim=4).dim == 4


def test_truncated_and_damaged_binary_files(tmp_path: Path) -> None:
    vectors = float32_values(3, 4)
    data = bin_bytes(["the", "cat", "sat"], vectors)  # header 4 bytes, entries 4 + 16 + 1 = 21 bytes
    path = tmp_path / "t.bin"
    path.write_bytes(data[:-8])
    with pytest.raises(ValueError) as error:
        read_word_vectors(path, ["the"])
    assert str(error.value) == (
        f"{path}: entry 3 (byte offset 46): truncated: expected 16 bytes of 4 float32 values after the word 'sat', "
        "the file ends after 9"
    )
    path.write_bytes(data[:-19])
    with pytest.raises(
        ValueError, match=re.escape(f"{path}: entry 3 (byte offset 46): truncated: the file ends inside the word")
    ):
        read_word_vectors(path, ["the"])
    path.write_bytes(bin_bytes(["the", "cat", "sat"], vectors, count=5))
    with pytest.raises(ValueError) as error:
        read_word_vectors(path, ["the"])
    assert (
        str(error.value) == f"{path}: truncated: the header announces 5 entries, the file ends after 3 (byte offset 67)"
    )
    path.write_bytes(b"2 4\n" + b"x" * 70_000)
    with pytest.raises(ValueError, match=re.escape(f"{path}: entry 1 (byte offset 4): no space within 65,536 bytes")):
        read_word_vectors(path, ["the"])
    path.write_bytes(b"1 2\nthe " + struct.pack("<2f", 1.0, float("inf")))
    with pytest.raises(
        ValueError, match=re.escape(f"{path}: entry 1 (byte offset 4): value 2 of 2 is inf, not a finite number")
    ):
        read_word_vectors(path, ["the"])


def test_rows_beyond_or_short_of_a_text_header_are_read_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "head.vec"  # `head -n 3 big.vec` keeps the header of the whole file
    path.write_text("1000 2\nthe 1 2\ncat 3 4\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="seqmodels.data.word_vectors"):
        result = read_word_vectors(path, ["cat"])
    assert result.rows_read == 2 and result.vectors.tolist() == [[3.0, 4.0]]
    assert f"{path}: the header announces 1000 rows, the file holds 2" in caplog.text


# ------------------------------------------------------------------------------ streaming
def test_a_large_file_is_streamed_keeping_only_the_vocabulary_rows(tmp_path: Path) -> None:
    rows = 200_000
    path = tmp_path / "big.txt"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"w{k} {k % 7} -{k % 5}.5\n" for k in range(rows))  # about 3.5 MB
    tokens = [f"w{k}" for k in range(0, rows, rows // 10)]
    result = read_word_vectors(path, tokens)
    assert result.rows_read == rows and result.vectors.shape == (10, 2) and bool(result.found.all())
    assert result.vectors[3].tolist() == [60_000 % 7, -(60_000 % 5) - 0.5]
    # the peak of a read traced on the first 20k rows (tracing slows Python down tenfold): a list of those
    # lines alone would take > 1.2 MB (about 60 bytes per str); a streamed read holds a few rows at a time
    head = tmp_path / "head.txt"
    with open(path, "rb") as f, open(head, "wb") as out:
        out.writelines(line for _, line in zip(range(20_000), f))
    tracemalloc.start()
    try:
        small = read_word_vectors(head, tokens)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert small.rows_read == 20_000 and small.found.tolist() == [True] + [False] * 9
    assert peak < 200_000
