"""Language-modeling text from a user's own files: each split a file, a list, a folder or a glob.

:class:`TextFiles` is a :class:`~seqmodels.data.corpora.base.TextCorpus`. A split is given as

    a file                ``notes.txt`` (``.gz`` is decompressed)
    a folder              every file under it, sub-folders included, in path order (names starting
                          with ``.`` skipped: ``.git``, ``.DS_Store``)
    a glob                ``'src/**/*.py'`` (``**`` crosses folders), matches in path order
    a list of the above   ``[a.txt, more/, 'extra/*.md']``, in the order given

A split that is not given is cut from the end of the train text: with only ``train``, the last
``val_fraction + test_fraction`` of its bytes become validation and test (in that order), cut at line
starts (a line belongs to the part its first byte lies in). With ``valid`` given, ``val_fraction`` is
not used; with ``test`` given or ``test_fraction=0``, no test text is cut.

Text is read in blocks of a quarter megabyte cut after a newline, so that a corpus of many gigabytes is never
held in memory (a single line is held whole). ``line_end`` (e.g. ``"<eos>"``) ends every line with that token,
as word-level corpora (Penn Treebank, WikiText) do.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...utils.io import file_digest
from .base import TextCorpus, check_split, decode_error, iter_blocks, open_binary

SPLITS = ("train", "valid", "test")
GLOB_CHARS = frozenset("*?[")
READ_BYTES = 1 << 18
"""Files are read, decoded and handed out in blocks of about this many bytes (cut after a newline)."""
_LINE_END = re.compile(r"\r*\n")  # what ``line.rstrip("\r\n")`` takes off a line


def _line_start(block: bytes, pos: int) -> int:
    """The first line start at or after ``pos`` in ``block`` (whole lines), or ``len(block)``."""
    if pos <= 0 or block[pos - 1] == 0x0A:
        return max(pos, 0)
    found = block.find(b"\n", pos)
    return len(block) if found < 0 else found + 1


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def expand_files(entry: Any, key: str) -> list[Path]:
    """The files ``entry`` names (a path, folder, glob, or a list of them), in order, without repeats.

    Raises ``FileNotFoundError`` naming ``key`` and the entry for a path or glob that names nothing.
    """
    if entry is None:
        raise ValueError(f"{key} is required: a text file, a folder, a glob such as 'texts/*.txt', or a list of them")
    entries = [entry] if isinstance(entry, (str, os.PathLike)) else list(entry)
    if not entries:
        raise ValueError(f"{key} is an empty list: name at least one file, folder or glob")
    files: list[Path] = []
    for item in entries:
        if not isinstance(item, (str, os.PathLike)) or not str(item).strip():
            raise ValueError(f"{key}: {item!r} is not a path, folder or glob")
        text = os.path.expanduser(str(item))
        path = Path(text)
        if any(c in GLOB_CHARS for c in text) and not path.exists():
            found = sorted(Path(p) for p in glob.glob(text, recursive=True))
            found = [p for p in found if p.is_file()]
            if not found:
                raise FileNotFoundError(f"{key}: the glob {str(item)!r} matches no file")
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _visible(p, path))
            if not found:
                raise FileNotFoundError(f"{key}: the folder {item} holds no file")
        elif path.is_file():
            found = [path]
        else:
            raise FileNotFoundError(f"{key}: {item}: no such file or folder")
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for p in files:
        resolved = p.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(p)
    return unique


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


class TextFiles(TextCorpus):
    """Text per split from files, folders and globs (see the module docstring).

    Args:
        train: the training text (required).
        valid, test: their own files; None cuts them from the end of train.
        val_fraction: share of the train bytes cut off for validation when ``valid`` is None (> 0 then).
        test_fraction: share of the train bytes cut off for test when ``test`` is None; 0: no test split.
        encoding: of every file (decode errors name ``file:line``).
        line_end: a token ending every line (``"<eos>"`` for word-level models), or None to keep the text as is.
        name: names the cache folder and messages (default: the first train file's or folder's name).
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        encoding: str = "utf-8",
        line_end: str | None = None,
        name: str | None = None,
    ) -> None:
        self.val_fraction = _fraction("val_fraction", val_fraction)
        self.test_fraction = _fraction("test_fraction", test_fraction)
        if valid is None and self.val_fraction == 0:
            raise ValueError(
                "val_fraction must be > 0 when no valid files are given (the validation text is cut from train)"
            )
        cut = (self.val_fraction if valid is None else 0.0) + (self.test_fraction if test is None else 0.0)
        if cut >= 1:
            raise ValueError(f"val_fraction + test_fraction must leave some train text, got {cut:g}")
        if line_end is not None and (
            not isinstance(line_end, str) or not line_end or any(c.isspace() for c in line_end)
        ):
            raise ValueError(f"line_end must be a token without spaces (e.g. '<eos>') or None, got {line_end!r}")
        self.files = {"train": expand_files(train, "train")}
        for key, entry in (("valid", valid), ("test", test)):
            if entry is not None:
                self.files[key] = expand_files(entry, key)
        self.carved = tuple(
            s
            for s, fraction in (("valid", self.val_fraction), ("test", self.test_fraction))
            if s not in self.files and fraction > 0
        )
        self.splits = tuple(s for s in SPLITS if s in self.files or s in self.carved)
        self.encoding = encoding
        self.line_end = line_end
        first = Path(str(train if isinstance(train, (str, os.PathLike)) else list(train)[0])).expanduser()
        self.name = name or (first.name.split(".")[0] if first.exists() else "text") or "text"
        self._bounds: dict[str, tuple[int, int]] | None = None

    # ------------------------------------------------------------------ the cut

    def _size(self, path: Path) -> int:
        """Bytes of the (decompressed) file."""
        if path.suffix != ".gz":
            return path.stat().st_size
        size = 0
        with open_binary(path) as f:
            while block := f.read(1 << 20):
                size += len(block)
        return size

    def bounds(self) -> dict[str, tuple[int, int]]:
        """Byte range ``[start, stop)`` of the train text for train and each cut split (see the module docstring)."""
        if self._bounds is None:
            total = sum(self._size(p) for p in self.files["train"])
            if total == 0:
                raise ValueError(f"train: the files {self._names('train')} are empty")
            valid = self.val_fraction if "valid" in self.carved else 0.0
            test = self.test_fraction if "test" in self.carved else 0.0
            a, b = int(total * (1 - valid - test)), int(total * (1 - test))
            self._bounds = {"train": (0, a), "valid": (a, b), "test": (b, total)}
        return self._bounds

    def _names(self, split: str) -> str:
        names = [str(p) for p in self.files[split]]
        return str(names if len(names) <= 3 else [*names[:3], f"... {len(names) - 3} more"])

    # ------------------------------------------------------------------ reading

    def _blocks(self, files: Sequence[Path], start: int = 0, stop: int | None = None) -> Iterator[str]:
        """The lines (ends kept, ``line_end`` added) of ``files`` whose first byte lies in ``[start, stop)``.

        Read in blocks of about :data:`READ_BYTES` bytes cut after a newline and decoded at once (a single line
        longer than that is held whole); the text is that of the lines one by one, a byte-order mark at the start
        of a file dropped, and a decode error names the file and line.
        """
        offset = 0  # of the current file's first byte, counted over all of ``files``
        suffix = f" {self.line_end}\n" if self.line_end else None
        for path in files:
            with open_binary(path) as f:
                pending, line, first = b"", 1, True  # bytes after the last newline; the number of the next line
                while True:
                    chunk = f.read(READ_BYTES)
                    data = pending + chunk if pending else chunk
                    cut = data.rfind(b"\n") + 1 if chunk else len(data)
                    if not cut:
                        if not chunk:
                            break
                        pending = data
                        continue
                    block, pending = data[:cut], data[cut:]
                    begin, end = 0, len(block)
                    if offset < start:  # skip the lines that start before ``start``
                        begin = _line_start(block, min(start - offset, end))
                    if stop is not None and offset + end > stop:
                        end = _line_start(block, max(stop - offset, begin))
                    if begin < end:
                        number = line + block.count(b"\n", 0, begin)
                        yield self._decode(block[begin:end], path, number, first and begin == 0, suffix)
                    first = False
                    offset += len(block)
                    line += block.count(b"\n")
                    if stop is not None and offset >= stop:
                        return

    def _decode(self, raw: bytes, path: Path, number: int, file_start: bool, suffix: str | None) -> str:
        """``raw`` (whole lines, the first numbered ``number``) as text: a leading BOM dropped, ``line_end`` added."""
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as err:
            raise decode_error(path, number + raw.count(b"\n", 0, err.start), err, self.encoding) from None
        if file_start and text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark is not text
        if suffix is None:
            return text
        body = _LINE_END.sub(suffix, text) if "\r" in text else text.replace("\n", suffix)
        if not text.endswith("\n"):  # the file's last line has no newline: it ends here
            body = body.rstrip("\r") + suffix
        return body

    def iter_text(self, split: str) -> Iterator[str]:
        check_split(split, self.splits, self.name)
        if split in self.files and not (split == "train" and self.carved):
            pieces = self._blocks(self.files[split])
        else:
            start, stop = self.bounds()[split]
            pieces = self._blocks(self.files["train"], start, stop)
        empty = True
        for block in iter_blocks(pieces, READ_BYTES):  # joins only the text of small files
            empty = False
            yield block
        if empty:
            source = self._names(split) if split in self.files else f"the end of train ({self._names('train')})"
            raise ValueError(
                f"{split}: no text in {source}"
                + ("" if split in self.files else f"; the train text has too few lines to cut a {split} share from")
            )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "corpus": "text_files",
            "encoding": self.encoding,
            "line_end": self.line_end,
            "cut": {s: self.val_fraction if s == "valid" else self.test_fraction for s in self.carved},
            "files": {s: [[p.name, file_digest(p)] for p in ps] for s, ps in self.files.items()},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, splits={self.splits})"
