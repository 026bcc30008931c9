"""What every corpus shares: reading local files with errors that name ``file:line``, and the two
corpus interfaces.

Language-modeling corpora (:class:`TextCorpus`) give each split as text: ``read(split) -> str``,
or the same text in pieces with ``iter_text(split)`` so a corpus larger than memory can stream.
Classification corpora (:class:`ClassificationCorpus`) give ``examples(split) -> list[(x, label)]``
with ``x`` a string or a float array ``(T, F)`` and ``label`` an index into ``label_names``.

Files ending in ``.gz`` are decompressed on the fly. Bytes are decoded with the corpus's
``encoding`` (UTF-8 by default); undecodable bytes raise ``ValueError`` naming the file, the
line and the ``encoding`` option.
"""

from __future__ import annotations

import gzip
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ...utils.io import file_digest

BLOCK_CHARS = 1 << 20
"""Text is streamed in pieces of about this many characters."""


def open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing ``.gz`` files."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # typeshed's GzipFile is no typing.BinaryIO
    return open(path, "rb")


def decode_error(path: Path, line: int, err: UnicodeDecodeError, encoding: str) -> ValueError:
    """The error for undecodable bytes at ``path:line``."""
    return ValueError(
        f"{path}:{line}: cannot decode byte(s) {err.object[err.start : err.end]!r} as {encoding!r} ({err.reason}); "
        f"pass the file's encoding with the corpus's encoding= option (e.g. encoding='latin-1')"
    )


def iter_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` (1-based, line ends kept) of a text or ``.gz`` file.

    Lines are split on ``b"\\n"`` before decoding, so ``encoding`` must be ASCII-compatible
    (UTF-8, Latin-1, cp1252, ...); a decode error names the exact line.
    """
    with open_binary(path) as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise decode_error(path, number, err, encoding) from None


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole (decompressed) file as text; decode errors name the line."""
    with open_binary(path) as f:
        raw = f.read()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise decode_error(path, line, err, encoding) from None


def iter_blocks(pieces: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """Join small strings (lines) into blocks of at least ``block_chars`` characters (the last may be shorter)."""
    buf: list[str] = []
    size = 0
    for piece in pieces:
        buf.append(piece)
        size += len(piece)
        if size >= block_chars:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def require_file(path: Path, what: str, how: str) -> Path:
    """Return ``path`` if it is a non-empty file; else raise naming it and how to get the data."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file {path} not found. {how}")
    if path.stat().st_size == 0:
        raise ValueError(f"{what}: file {path} is empty. {how}")
    return path


def find_file(root: Path, candidates: Sequence[str], what: str, how: str) -> Path:
    """The first of ``root/candidate`` that exists, else ``FileNotFoundError`` listing what was tried."""
    for name in candidates:
        p = root / name
        if p.is_file():
            return require_file(p, what, how)
    tried = ", ".join(str(root / c) for c in candidates)
    raise FileNotFoundError(f"{what}: none of {tried} found. {how}")


def require_dir(path: str | os.PathLike[str] | None, what: str, how: str) -> Path:
    """``path`` as an existing folder, else an error naming it and how to get the data."""
    if path is None:
        raise ValueError(f"{what}: no path given. {how}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what}: path {p} not found. {how}")
    return p


def check_split(split: str, splits: Sequence[str], name: str) -> str:
    if split not in splits:
        raise ValueError(f"split {split!r} is not one of {name}'s splits {tuple(splits)}")
    return split


class TextCorpus(ABC):
    """A language-modeling corpus: text per split.

    Subclasses set ``name`` and ``splits`` and implement :meth:`iter_text` and :meth:`fingerprint`.
    """

    name: str = ""
    splits: tuple[str, ...] = ("train", "valid", "test")

    @abstractmethod
    def iter_text(self, split: str) -> Iterator[str]:
        """The split's text in pieces (concatenate them to get :meth:`read`)."""

    def read(self, split: str) -> str:
        """The split's whole text."""
        return "".join(self.iter_text(split))

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able identity of the data and settings (content hashes), used as a cache key."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ClassificationCorpus(ABC):
    """A classification corpus: ``examples(split)`` and ``label_names``."""

    name: str = ""
    splits: tuple[str, ...] = ("train", "test")
    label_names: tuple[str, ...] = ()

    @abstractmethod
    def examples(self, split: str) -> list[tuple[Any, int]]:
        """``[(text or float array (T, F), label index), ...]`` of one split, in file order."""

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def files_fingerprint(files: Iterable[Path]) -> list[list[str]]:
    """``[[file name, content digest], ...]`` for a cache key (names only, so moving the data keeps the key)."""
    return [[p.name, file_digest(p)] for p in files]
