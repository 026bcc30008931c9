"""Pretrained word vectors (GloVe, word2vec, fastText) read from a file into the rows of a vocabulary.

Formats (``format=``; ``"auto"``, the default, decides from the file's first bytes, never from its name alone):

    glove         ``word v1 ... vD`` per line, no header (Stanford's ``glove.*.txt``). D is the first row's
                  number of values. A row with more than D + 1 space-separated fields has a word holding
                  spaces (GloVe 840B has some): its last D fields are the vector, the rest the word.
    vec           the same rows after a first line ``count dim`` (word2vec's text output, fastText's
                  ``.vec``); a row's word holds no space, so a row with more than D values is an error. A
                  header is optional when the format is forced.
    word2vec_bin  word2vec's binary output: the header ``count dim\\n``, then per word the word's bytes up to a
                  space, D little-endian float32 and an optional ``\\n`` (newlines before a word are skipped).

    auto: a file whose first line is two integers ``count dim`` has a header. After a header, a name ending in
    ``.bin`` (``.bin.gz``) is word2vec_bin; otherwise the second line decides: a text row of a word and D
    numbers is vec, anything else word2vec_bin. Without a header the file is glove (a glove file of a
    single dimension whose first word is an integer reads as a header: force ``format="glove"``).

A file starting with gzip's magic bytes is decompressed as it is read, whatever its name. Text lines may end in
``\\n`` or ``\\r\\n``; trailing spaces (fastText writes one) and blank lines are ignored; a byte-order mark
before the first line is dropped. ``encoding`` decodes every line (text) or word (binary); it must be
ASCII-compatible (UTF-8, Latin-1, cp1252, ...).

Streaming: the file is read once, line by line (entry by entry), and only the rows whose word the vocabulary
asks for are kept, in a (V, D) array; memory is proportional to the vocabulary, never to the file. The values
of the rows nobody asks for are counted, not parsed, so a non-numeric value there goes unnoticed.

Matching: a token takes the row whose word equals it exactly. With ``lowercase_fallback``, a token with no such
row takes the row of its lowercase form (``"Paris"`` takes ``"paris"``); an exact row always wins over a
lowercase one, wherever either sits in the file. Duplicate words: the first row of a word wins; later rows of a
word the vocabulary asks for are counted (``duplicates``), named in a warning and in :meth:`WordVectors.summary`
(other words are not remembered, so their duplicates are not counted).

Every refusal is a ``ValueError`` naming the file and the 1-based line (binary: the entry and its byte offset):
wrong number of values, a value that is not a finite number, a dimension that differs from the header's or from
``dim``, an empty file, a truncated binary file, undecodable bytes (naming ``encoding``).
"""

from __future__ import annotations

import codecs
import gzip
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from ..utils.progress import progress_bar

log = logging.getLogger(__name__)

FORMATS = ("auto", "glove", "vec", "word2vec_bin")
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # bytes read at a time from a binary file
MAX_WORD_BYTES = 1 << 16  # a binary entry's word longer than this means the file is not what it seems
MAX_LINE_BYTES = 1 << 24  # the second line read to tell vec from word2vec_bin
TICK = 1 << 14  # rows between progress updates
_NO, _LOWER, _EXACT = 0, 1, 2  # how a token's row was found


@dataclass(frozen=True)
class WordVectors:
    """The rows of a vocabulary found in a word-vector file.

    Attributes:
        path: the file read.
        vectors: (V, D) float32, row i the vector of ``tokens[i]``; zero where the token was not found.
        found: (V,) bool, whether ``tokens[i]`` got a row (exactly or through its lowercase form).
        dim: D, the file's dimension.
        format: ``glove``, ``vec`` or ``word2vec_bin`` (what was read, also under ``format="auto"``).
        rows_read: vectors in the file (header and blank lines not counted).
        duplicates: later rows of a word the vocabulary asks for, ignored (the first row wins).
        matched_lowercase: tokens found only through their lowercase form.
        skipped: tokens not looked up (``skip``, e.g. ``<pad>``); they are neither found nor counted as missing.
        duplicate_words: up to five of the duplicated words, for the message.
    """

    path: Path
    vectors: Tensor
    found: Tensor
    dim: int
    format: str
    rows_read: int
    duplicates: int
    matched_lowercase: int
    skipped: int = 0
    duplicate_words: tuple[str, ...] = ()

    @property
    def searched(self) -> int:
        """Tokens looked up in the file: V minus the skipped ones."""
        return len(self.found) - self.skipped

    @property
    def coverage(self) -> float:
        """Share of the looked-up tokens that were found, in [0, 1] (0 when none was looked up)."""
        return int(self.found.sum()) / self.searched if self.searched else 0.0

    def summary(self) -> str:
        """One line for the log: ``glove.6B.100d.txt: 9,412 of 10,000 tokens found (94.1 %), 120 through
        lowercase; 400,000 rows read``, then the skipped tokens and the duplicates when there are any."""
        line = (
            f"{self.path.name}: {int(self.found.sum()):,} of {self.searched:,} tokens found "
            f"({100 * self.coverage:.1f} %), {self.matched_lowercase:,} through lowercase; {self.rows_read:,} rows read"
        )
        if self.skipped:
            line += f"; {self.skipped:,} special token(s) not looked up"
        if self.duplicates:
            line += f"; {self.duplicates:,} duplicate row(s) ignored (the first row of a word wins)"
        return line


def read_word_vectors(
    path: str | Path,
    tokens: Sequence[str],
    *,
    dim: int | None = None,
    format: str = "auto",
    encoding: str = "utf-8",
    lowercase_fallback: bool = True,
    progress: bool = False,
    skip: Collection[str] = (),
    dim_name: str = "dim",
) -> WordVectors:
    """Read the vectors of ``tokens`` from a GloVe, word2vec/fastText text or word2vec binary file (``.gz`` too).

    Args:
        path: the file (the formats, the detection rule and the matching rules are in the module docstring).
        tokens: the vocabulary, V distinct strings; ``tokens[i]`` gets row i of the result.
        dim: the dimension the caller needs (a model's embedding size); a file of another dimension is refused
            before any row is read. None: whatever the file has.
        format: ``"auto"``, ``"glove"``, ``"vec"`` or ``"word2vec_bin"``.
        encoding: how words (and text lines) are decoded; ASCII-compatible.
        lowercase_fallback: let a token without an exact row take the row of its lowercase form.
        progress: show a progress bar (rich, on stderr) while reading, when stderr is a terminal.
        skip: tokens not looked up (specials such as ``<pad>`` and ``<unk>``): their rows stay zero.
        dim_name: what ``dim`` is called in the error for a dimension mismatch (``model.embedding_dim``).

    Returns:
        :class:`WordVectors`: ``vectors`` (V, D) float32, ``found`` (V,) bool and the counts.
    """
    path = Path(path)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"{dim_name} must be a positive integer, got {dim!r}")
    try:
        ascii_compatible = "\n 0".encode(encoding) == b"\n 0"
    except LookupError:
        raise ValueError(f"encoding: unknown encoding {encoding!r}") from None
    if not ascii_compatible:
        raise ValueError(f"encoding={encoding!r} is not ASCII-compatible; word-vector files need one (utf-8, latin-1)")
    matcher = _Matcher(tokens, skip, lowercase_fallback)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such word-vector file")
    with (
        open(path, "rb") as raw,
        progress_bar(f"reading {path.name}", path.stat().st_size, progress, in_bytes=True) as tick,
    ):
        stream: BinaryIO = raw
        if raw.read(2) == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]  # typeshed: GzipFile is no BinaryIO
        raw.seek(0)
        reader = _Reader(path, stream, encoding, matcher, lambda: tick(raw.tell()))
        return reader.read(format, dim, dim_name)


class _Matcher:
    """Which words the vocabulary asks for, and the rows they fill.

    ``exact[w]`` is the index of the token ``w``; ``lower[w]`` the indices of the tokens whose lowercase form is
    ``w`` (and differs from them). ``state[i]`` says how row i was filled: not yet, through lowercase, exactly.
    """

    def __init__(self, tokens: Sequence[str], skip: Collection[str], lowercase_fallback: bool) -> None:
        if isinstance(tokens, str):
            raise ValueError("tokens must be a sequence of token strings, got one string")
        self.size = len(tokens)
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise ValueError(f"tokens[{i}] must be a string, got {type(token).__name__} {token!r}")
            if token in index:
                raise ValueError(
                    f"tokens: {token!r} is both tokens[{index[token]}] and tokens[{i}]; a vocabulary lists a token once"
                )
            index[token] = i
        skipped = set(skip)
        self.skipped = sum(token in skipped for token in index)
        self.exact = {token: i for token, i in index.items() if token not in skipped}
        self.lower: dict[str, list[int]] = {}
        if lowercase_fallback:
            for token, i in self.exact.items():
                if token.lower() != token:
                    self.lower.setdefault(token.lower(), []).append(i)
        self.state = np.zeros(self.size, dtype=np.int8)
        self.vectors = np.zeros((self.size, 0), dtype=np.float32)
        self.seen: set[str] = set()
        self.duplicates = 0
        self.duplicate_words: list[str] = []

    def wants(self, word: str) -> bool:
        return word in self.exact or word in self.lower

    def start(self, dim: int) -> None:
        self.vectors = np.zeros((self.size, dim), dtype=np.float32)  # (V, D)

    def is_duplicate(self, word: str) -> bool:
        """Whether ``word`` (one the vocabulary asks for) was read before; counts it when it was."""
        if word in self.seen:
            self.duplicates += 1
            if len(self.duplicate_words) < 5 and word not in self.duplicate_words:
                self.duplicate_words.append(word)
            return True
        self.seen.add(word)
        return False

    def put(self, word: str, vector: np.ndarray) -> None:
        """Give ``vector`` (D,) to the token ``word`` and to the tokens whose lowercase form it is, unless
        they hold an exact row already."""
        i = self.exact.get(word)
        if i is not None:
            self.vectors[i] = vector
            self.state[i] = _EXACT
        for j in self.lower.get(word, ()):
            if self.state[j] == _NO:
                self.vectors[j] = vector
                self.state[j] = _LOWER

    def result(self, path: Path, fmt: str, dim: int, rows: int) -> WordVectors:
        if self.duplicates:
            log.warning(
                "%s: %d duplicate row(s) of words the vocabulary asks for, e.g. %s; the first row of each word is kept",
                path,
                self.duplicates,
                ", ".join(repr(w) for w in self.duplicate_words),
            )
        return WordVectors(
            path=path,
            vectors=torch.from_numpy(self.vectors),
            found=torch.from_numpy(self.state != _NO),
            dim=dim,
            format=fmt,
            rows_read=rows,
            duplicates=self.duplicates,
            matched_lowercase=int((self.state == _LOWER).sum()),
            skipped=self.skipped,
            duplicate_words=tuple(self.duplicate_words),
        )


class _Reader:
    """One pass over one (decompressed) stream."""

    def __init__(
        self, path: Path, stream: BinaryIO, encoding: str, matcher: _Matcher, tick: Callable[[], None]
    ) -> None:
        self.path, self.stream, self.encoding, self.matcher, self.tick = path, stream, encoding, matcher, tick

    # ------------------------------------------------------------------ detection
    def read(self, fmt: str, dim: int | None, dim_name: str) -> WordVectors:
        first = self.stream.readline(MAX_LINE_BYTES)
        if not first:
            raise ValueError(f"{self.path}: the file is empty")
        header_bytes = len(first)
        if codecs.lookup(self.encoding).name in ("utf-8", "utf-8-sig"):
            first = first.removeprefix(codecs.BOM_UTF8)
        header = None if fmt == "glove" else _header(first)
        if fmt == "word2vec_bin" and header is None:
            raise ValueError(
                f"{self.path}:1: a word2vec binary file starts with a line 'count dim', got {first[:60]!r}"
            )
        if header is None:
            lines = chain([first], self.stream)
            return self._text(lines, "glove" if fmt == "auto" else fmt, None, dim, dim_name, start=1)
        count, file_dim = header
        self._check_dim(file_dim, dim, dim_name)
        if fmt == "auto":
            name = self.path.name.lower().removesuffix(".gz")
            if name.endswith(".bin"):
                fmt = "word2vec_bin"
            else:
                second = self.stream.readline(MAX_LINE_BYTES)
                fmt = "vec" if not second or self._is_text_row(second, file_dim) else "word2vec_bin"
                if fmt == "vec":
                    return self._text(chain([second], self.stream), "vec", header, dim, dim_name, start=2)
                return self._binary(count, file_dim, second, header_bytes)
        if fmt == "word2vec_bin":
            return self._binary(count, file_dim, b"", header_bytes)
        return self._text(self.stream, fmt, header, dim, dim_name, start=2)

    def _check_dim(self, file_dim: int, dim: int | None, dim_name: str) -> None:
        if dim is not None and file_dim != dim:
            raise ValueError(f"{self.path}: the vectors have {file_dim} dimensions but {dim_name} is {dim}")

    def _is_text_row(self, raw: bytes, dim: int) -> bool:
        try:
            fields = raw.decode(self.encoding).rstrip("\r\n ").split(" ")
            return len(fields) == dim + 1 and all(np.isfinite(float(v)) for v in fields[1:])
        except (UnicodeDecodeError, ValueError):
            return False

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{self.path}:{number}: cannot decode byte(s) {err.object[err.start : err.end]!r} as "
                f"{self.encoding!r} ({err.reason}); pass the file's encoding (encoding='latin-1', ...)"
            ) from None

    # ------------------------------------------------------------------ text: glove, vec
    def _text(
        self,
        lines: Iterable[bytes],
        fmt: str,
        header: tuple[int, int] | None,
        dim: int | None,
        dim_name: str,
        start: int,
    ) -> WordVectors:
        """Rows ``word v1 ... vD``; ``start`` is the line number of the first of ``lines``."""
        path, matcher = self.path, self.matcher
        spaced_words = fmt == "glove"
        D = header[1] if header is not None else 0
        if header is not None:
            matcher.start(D)
        rows = 0
        number = start - 1
        for raw in lines:
            number += 1
            line = self._decode(raw, number).rstrip("\r\n ")
            if not line:
                continue
            if not D:  # the first row of a file without a header sets D
                D = line.count(" ")
                if D == 0:
                    raise ValueError(
                        f"{path}:{number}: expected a word and its values separated by spaces, got {line[:60]!r}"
                    )
                self._check_dim(D, dim, dim_name)
                matcher.start(D)
            spaces = line.count(" ")
            if spaces == D:
                word = line[: line.index(" ")]
            elif spaces > D and spaced_words:
                word = line.rsplit(" ", D)[0]
            else:
                tab = " (fields are separated by single spaces; this line holds a tab)" if "\t" in line else ""
                raise ValueError(f"{path}:{number}: expected 1 word + {D} values, got {spaces}{tab}")
            rows += 1
            if rows % TICK == 0:
                self.tick()
            if matcher.wants(word) and not matcher.is_duplicate(word):
                matcher.put(word, self._values(line[len(word) + 1 :].split(" "), f"{path}:{number}"))
        if not rows:
            raise ValueError(f"{path}: the file holds no vectors" + (" after its header" if header else ""))
        if header is not None and rows != header[0]:
            log.warning("%s: the header announces %d rows, the file holds %d", path, header[0], rows)
        return matcher.result(path, fmt, D, rows)

    def _values(self, fields: list[str], where: str) -> np.ndarray:
        """The (D,) float32 vector of a row's value fields, refusing text and non-finite values."""
        try:
            vector = np.array(fields, dtype=np.float64)
        except ValueError:
            k, bad = next((k, v) for k, v in enumerate(fields, 1) if not _is_float(v))
            raise ValueError(f"{where}: value {k} of {len(fields)} is {bad[:40]!r}, not a number") from None
        return self._finite(vector.astype(np.float32), where)

    def _finite(self, vector: np.ndarray, where: str) -> np.ndarray:
        bad = np.flatnonzero(~np.isfinite(vector))
        if bad.size:
            raise ValueError(f"{where}: value {bad[0] + 1} of {len(vector)} is {vector[bad[0]]}, not a finite number")
        return vector

    # ------------------------------------------------------------------ word2vec binary
    def _binary(self, count: int, D: int, pending: bytes, header_bytes: int) -> WordVectors:
        """``count`` entries ``word<space><D float32 LE>[\\n]``; ``pending`` holds bytes already read past the
        header (``header_bytes`` long)."""
        path, matcher = self.path, self.matcher
        matcher.start(D)
        data = _Bytes(self.stream, pending, header_bytes)
        size = 4 * D
        for entry in range(1, count + 1):
            if not data.skip_newlines():
                raise ValueError(
                    f"{path}: truncated: the header announces {count:,} entries, the file ends after {entry - 1:,} "
                    f"(byte offset {data.offset:,})"
                )
            offset = data.offset
            where = f"entry {entry} (byte offset {offset:,})"
            word_bytes = data.until_space(MAX_WORD_BYTES)
            if word_bytes is None:
                raise ValueError(
                    f"{path}: {where}: truncated: the file ends inside the word"
                    if data.available < MAX_WORD_BYTES  # None before the limit: the file ended
                    else f"{path}: {where}: no space within {MAX_WORD_BYTES:,} bytes; not a word2vec binary file "
                    f"of {D} dimensions (force another format=)"
                )
            try:
                word = word_bytes.decode(self.encoding)
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}: {where}: cannot decode byte(s) {err.object[err.start : err.end]!r} of the word as "
                    f"{self.encoding!r} ({err.reason}); pass the file's encoding (encoding='latin-1', ...)"
                ) from None
            if not data.fill(size):
                raise ValueError(
                    f"{path}: {where}: truncated: expected {size:,} bytes of {D} float32 values after the word "
                    f"{word[:40]!r}, the file ends after {data.available:,}"
                )
            if matcher.wants(word) and not matcher.is_duplicate(word):
                vector = np.frombuffer(data.buffer, dtype="<f4", count=D, offset=data.pos).astype(np.float32)
                matcher.put(word, self._finite(vector, f"{path}: {where}"))
            data.pos += size
            if entry % TICK == 0:
                self.tick()
        if not count:
            raise ValueError(f"{path}: the file holds no vectors after its header")
        if data.skip_newlines():
            log.warning(
                "%s: bytes after the %d entries the header announces (from byte offset %d) were not read",
                path,
                count,
                data.offset,
            )
        return matcher.result(path, "word2vec_bin", D, count)


class _Bytes:
    """A window over a byte stream: ``buffer[pos:]`` is unread; ``offset`` the position of ``pos`` in the
    stream."""

    def __init__(self, stream: BinaryIO, pending: bytes, start: int) -> None:
        self.stream, self.buffer, self.pos, self.base = stream, pending, 0, start

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def available(self) -> int:
        return len(self.buffer) - self.pos

    def _more(self) -> bool:
        chunk = self.stream.read(CHUNK)
        if not chunk:
            return False
        self.base += self.pos
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def fill(self, n: int) -> bool:
        """Whether ``n`` unread bytes are there (reading more when needed)."""
        while self.available < n:
            if not self._more():
                return False
        return True

    def skip_newlines(self) -> bool:
        """Skip ``\\n`` bytes; whether anything follows them."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] == 0x0A:
                self.pos += 1
            if self.pos < len(self.buffer) or not self._more():
                return self.pos < len(self.buffer)

    def until_space(self, limit: int) -> bytes | None:
        """The bytes up to the next space (which is consumed); None when none comes within ``limit`` bytes
        or before the end."""
        searched = self.pos
        while True:
            space = self.buffer.find(b" ", searched, self.pos + limit)
            if space >= 0:
                word = self.buffer[self.pos : space]
                self.pos = space + 1
                return word
            searched = len(self.buffer)
            if self.available >= limit:
                return None
            before = self.pos
            if not self._more():
                return None
            searched -= before  # the buffer was shifted by ``before``


def _header(line: bytes) -> tuple[int, int] | None:
    """``(count, dim)`` when ``line`` is ``count dim`` (two non-negative integers, dim positive)."""
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields) and int(fields[1]) > 0:
        return int(fields[0]), int(fields[1])
    return None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
