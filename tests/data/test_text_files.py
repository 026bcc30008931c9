"""TextFiles / TextData: splits from files, folders, globs and lists; validation and test cut off the end of
train at line starts (against a hand count); line_end; .gz; errors naming the split and the file; the
cache key; a corpus read in bounded memory (tracemalloc); blocks that hold exactly the text of the lines."""

from __future__ import annotations

import gzip
import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqmodels.data import CharTokenizer, WordTokenizer
from seqmodels.data.corpora import text_files
from seqmodels.data.corpora.text_files import TextFiles, expand_files
from seqmodels.data.from_files import TextData


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_files_folders_globs_and_lists_in_order_without_hidden_or_repeated_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "a\n")
    write(tmp_path / "dir" / "z.py", "z\n")
    write(tmp_path / "dir" / "sub" / "b.py", "b\n")
    write(tmp_path / "dir" / ".git" / "HEAD", "ref\n")
    write(tmp_path / "dir" / ".hidden.py", "h\n")
    folder = [p.relative_to(tmp_path).as_posix() for p in expand_files(tmp_path / "dir", "train")]
    assert folder == ["dir/sub/b.py", "dir/z.py"]
    globbed = expand_files(str(tmp_path / "dir" / "**" / "*.py"), "train")
    assert [p.name for p in globbed] == ["b.py", "z.py"]
    listed = expand_files([str(tmp_path / "dir" / "z.py"), a, str(a)], "train")
    assert [p.name for p in listed] == ["z.py", "a.txt"]
    corpus = TextFiles([a, tmp_path / "dir"], valid=a, test_fraction=0)
    assert corpus.read("train") == "a\nb\nz\n" and corpus.splits == ("train", "valid")


def test_valid_and_test_are_cut_from_the_end_of_train_at_line_starts(tmp_path: Path) -> None:
    lines = [f"line {k}\n" for k in range(10)]  # 7 bytes each, 70 in all
    train = write(tmp_path / "t.txt", "".join(lines))
    corpus = TextFiles(train, val_fraction=0.2, test_fraction=0.1)
    # train: bytes [0, 49) -> lines starting at 0..42; valid: [49, 63) -> lines at 49, 56; test: [63, 70)
    assert corpus.read("train") == "".join(lines[:7])
    assert corpus.read("valid") == "".join(lines[7:9])
    assert corpus.read("test") == lines[9]
    assert corpus.splits == ("train", "valid", "test")
    given = TextFiles(train, valid=train, val_fraction=0.5, test_fraction=0.0)
    assert given.read("train") == "".join(lines) and given.splits == ("train", "valid")
    middle = TextFiles(train, val_fraction=0.15, test_fraction=0.0)  # cut at byte 59, inside line 8
    assert middle.read("train") == "".join(lines[:9]) and middle.read("valid") == lines[9]


def test_line_end_gz_and_byte_order_mark(tmp_path: Path) -> None:
    plain = write(tmp_path / "p.txt", "\ufeffone two\n\nthree")
    packed = tmp_path / "q.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("four\n")
    corpus = TextFiles([plain, packed], valid=packed, test_fraction=0, line_end="<eos>")
    assert corpus.read("train") == "one two <eos>\n <eos>\nthree <eos>\nfour <eos>\n"
    assert WordTokenizer().tokenize(corpus.read("valid")) == ["four", "<eos>"]


@pytest.mark.parametrize(
    "make, kwargs, error, match",
    [
        (lambda d: d / "missing.txt", {}, FileNotFoundError, r"train: .*missing\.txt: no such file or folder"),
        (lambda d: str(d / "*.nothing"), {}, FileNotFoundError, r"train: the glob .*\*\.nothing' matches no file"),
        (
            lambda d: (d / "empty_dir").mkdir() or d / "empty_dir",
            {},
            FileNotFoundError,
            r"the folder .*empty_dir holds no file",
        ),
        (lambda d: [], {}, ValueError, r"train is an empty list"),
        (
            lambda d: write(d / "x.txt", "x\n"),
            {"val_fraction": 0.0},
            ValueError,
            r"val_fraction must be > 0 when no valid",
        ),
        (
            lambda d: write(d / "x.txt", "x\n"),
            {"val_fraction": 0.6, "test_fraction": 0.5},
            ValueError,
            r"val_fraction \+ test_fraction must leave some train text, got 1\.1",
        ),
        (
            lambda d: write(d / "x.txt", "x\n"),
            {"test_fraction": 1.0},
            ValueError,
            r"test_fraction must be a number in \[0, 1\)",
        ),
        (
            lambda d: write(d / "x.txt", "x\n"),
            {"line_end": "<e os>"},
            ValueError,
            r"line_end must be a token without spaces",
        ),
    ],
)
def test_bad_splits_and_options(tmp_path: Path, make, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        TextFiles(make(tmp_path), **kwargs)


def test_empty_text_undecodable_bytes_and_a_text_too_short_to_cut(tmp_path: Path) -> None:
    empty = write(tmp_path / "e.txt", "")
    with pytest.raises(ValueError, match=r"train: the files \[.*e\.txt'\] are empty"):
        TextFiles(empty).read("valid")
    one_line = write(tmp_path / "one.txt", "a single line without an end")
    with pytest.raises(ValueError, match=r"^valid: no text in the end of train .*too few lines to cut a valid"):
        TextFiles(one_line).read("valid")
    bad = write(tmp_path / "ok.txt", "fine\n")
    (tmp_path / "bad.txt").write_bytes(b"good\nbad \xff\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: cannot decode byte\(s\) b'\\xff' as 'utf-8'"):
        TextFiles([bad, tmp_path / "bad.txt"], valid=bad).read("train")


def test_fingerprint_follows_the_content_not_the_folder(tmp_path: Path) -> None:
    a = write(tmp_path / "x" / "t.txt", "some text\n")
    b = write(tmp_path / "y" / "t.txt", "some text\n")
    assert TextFiles(a).fingerprint() == TextFiles(b).fingerprint()
    write(b, "other text\n")
    assert TextFiles(a).fingerprint() != TextFiles(b).fingerprint()
    assert TextFiles(a).fingerprint() != TextFiles(a, line_end="<eos>").fingerprint()


def test_text_data_tokenizes_every_split_once_and_caches(tmp_path: Path) -> None:
    text = "".join(f"{k} the quick brown fox\n" for k in range(200))
    train = write(tmp_path / "t.txt", text)
    dm = TextData(train, tokenizer=CharTokenizer(), cache_dir=tmp_path / "cache", batch_size=2, bptt=8)
    dm.prepare_data()
    dm.setup()
    corpus = dm.corpus
    for split in ("train", "valid", "test"):
        assert dm.encoder.decode(dm.ids(split).tolist()) == corpus.read(split)
    assert "".join(corpus.read(s) for s in ("train", "valid", "test")) == text
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 8) and (x[:, 1:] == y[:, :-1]).all()
    assert (tmp_path / "cache" / "lm").is_dir() and len(list((tmp_path / "cache" / "lm").iterdir())) == 1


def test_a_large_text_is_read_in_bounded_memory(tmp_path: Path) -> None:
    line = "x" * 99 + "\n"
    path = tmp_path / "big.txt"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(120):
            f.write(line * 1000)  # 12 MB in all
    corpus = TextFiles(path, valid=path, test_fraction=0)
    tracemalloc.start()
    try:
        total = sum(len(block) for block in corpus.iter_text("train"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 12_000_000
    assert peak < 4_000_000  # about one block of 1 MB (plus its lines), never the 12 MB file


def lines_one_by_one(corpus: TextFiles, split: str) -> list[str]:
    """The split's text read a line at a time (how TextFiles read before it read blocks): the oracle."""
    files = corpus.files["train"] if split in corpus.carved or (split == "train" and corpus.carved) else None
    files = files or corpus.files[split]
    start, stop = corpus.bounds()[split] if files is corpus.files["train"] and corpus.carved else (0, None)
    out, offset = [], 0
    for path in files:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                first, offset = offset, offset + len(raw)
                if first < start or (stop is not None and first >= stop):
                    continue
                line = raw.decode("utf-8")
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                out.append(line if corpus.line_end is None else line.rstrip("\r\n") + f" {corpus.line_end}\n")
    return out


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60)
@given(
    texts=st.lists(st.text(alphabet="ab \r\n\ufeffé", min_size=1, max_size=60), min_size=1, max_size=3),
    read_bytes=st.integers(1, 16),
    line_end=st.sampled_from([None, "<eos>"]),
    fractions=st.sampled_from([(0.05, 0.05), (0.3, 0.2), (0.5, 0.0)]),
)
def test_blocks_hold_the_same_text_as_lines_one_by_one(tmp_path, monkeypatch, texts, read_bytes, line_end, fractions):
    """Any cut of the files into blocks (down to a byte each) gives the lines' text exactly: \\r\\n and lone \\r,
    a last line without a newline, byte-order marks, line_end, and the valid/test cuts at line starts."""
    monkeypatch.setattr(text_files, "READ_BYTES", read_bytes)
    folder = tmp_path / f"t{abs(hash((tuple(texts), read_bytes, line_end, fractions)))}"
    paths = [folder / f"{k}.txt" for k in range(len(texts))]
    for path, text in zip(paths, texts):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    corpus = TextFiles(paths, val_fraction=fractions[0], test_fraction=fractions[1], line_end=line_end)
    for split in corpus.splits:
        expected = lines_one_by_one(corpus, split)
        if expected:
            assert corpus.read(split) == "".join(expected), split
        else:
            with pytest.raises(ValueError, match=f"{split}: no text"):
                corpus.read(split)


def test_a_decode_error_names_its_line_whatever_the_block(tmp_path, monkeypatch) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"".join(b"line %d\n" % k for k in range(1, 40)) + b"bad \xff\n" + b"after\n")
    for read_bytes in (1, 7, 64, 1 << 18):
        monkeypatch.setattr(text_files, "READ_BYTES", read_bytes)
        with pytest.raises(ValueError, match=r"bad\.txt:40: cannot decode byte\(s\) b'\\xff'"):
            TextFiles(path, valid=path, test_fraction=0).read("train")


def test_the_fingerprint_tells_the_cuts_apart_and_repr_names_the_splits(tmp_path: Path) -> None:
    """Swapping the valid and test shares cuts other text: the cache key must change with it."""
    a = write(tmp_path / "t.txt", "some text\n")
    assert TextFiles(a, val_fraction=0.1, test_fraction=0.2).fingerprint()["cut"] == {"valid": 0.1, "test": 0.2}
    assert TextFiles(a, test=a, val_fraction=0.3).fingerprint()["cut"] == {"valid": 0.3}
    assert repr(TextFiles(a, test=a)) == "TextFiles(name='t', splits=('train', 'valid', 'test'))"


def test_an_empty_train_file_beside_its_own_valid_and_test_files_has_no_text(tmp_path: Path) -> None:
    """Nothing is cut from train here, so it is read whole, and found to hold no text."""
    empty, ok = write(tmp_path / "e.txt", ""), write(tmp_path / "ok.txt", "fine\n")
    corpus = TextFiles(empty, valid=ok, test=ok)
    assert corpus.read("valid") == "fine\n"
    with pytest.raises(ValueError, match=rf"^train: no text in \['{re.escape(str(empty))}'\]$"):
        corpus.read("train")


def test_a_list_of_files_is_named_after_the_first(tmp_path: Path) -> None:
    a, b = write(tmp_path / "alpha.txt", "a\n"), write(tmp_path / "beta.txt", "b\n")
    assert TextFiles([a, b]).name == "alpha" and TextFiles(str(b)).name == "beta"
    assert TextFiles([a, b], name="both").name == "both"
