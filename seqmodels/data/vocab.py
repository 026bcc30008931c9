"""Vocabulary: token strings <-> integer ids.

Order: the special tokens first, in the order given, then the other tokens by decreasing
frequency, ties broken by the token string (code-point order), so the same counts always give
the same ids. ``max_size`` counts the special tokens (``len(vocab) <= max_size``);
``min_freq`` drops rarer tokens. Out-of-vocabulary tokens encode to ``<unk>`` when the
vocabulary has it, else raise.

Role tokens: ``<unk>`` (unknown), ``<eos>`` (end of sentence), ``<pad>`` (padding),
``<bos>`` (beginning of sentence); ``unk_index`` etc. are their ids, ``None`` when absent.
Saved as JSON (``{"type": "vocab", "itos": [...], "specials": [...]}``), never pickled.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

UNK = "<unk>"
EOS = "<eos>"
PAD = "<pad>"
BOS = "<bos>"
DEFAULT_SPECIALS = (UNK, EOS, PAD)


def count_tokens(tokens: Iterable[Any]) -> Counter[str]:
    """Count tokens from a flat iterable of strings or an iterable of token lists (sentences)."""
    counts: Counter[str] = Counter()
    for item in tokens:
        if isinstance(item, str):
            counts[item] += 1
        elif isinstance(item, (list, tuple)):
            counts.update(item)
        else:
            raise ValueError(f"tokens must be strings or lists of strings, got {type(item).__name__}: {item!r}")
    return counts


class Vocab:
    """An immutable token <-> id map.

    Args:
        itos: the tokens in id order (unique strings).
        specials: which of them are special tokens (kept by ``build`` regardless of counts).

    Attributes:
        itos: list of tokens, id -> token.
        stoi: dict, token -> id.
        specials: tuple of special tokens.
    """

    def __init__(self, itos: Sequence[str], specials: Sequence[str] = ()) -> None:
        itos = list(itos)
        for i, token in enumerate(itos):
            if not isinstance(token, str):
                raise ValueError(f"itos[{i}] must be a string, got {type(token).__name__}: {token!r}")
        stoi = {token: i for i, token in enumerate(itos)}
        if len(stoi) != len(itos):
            dupes = sorted(t for t, c in Counter(itos).items() if c > 1)
            raise ValueError(f"itos has duplicate tokens: {dupes[:10]}")
        missing = [s for s in specials if s not in stoi]
        if missing:
            raise ValueError(f"specials {missing} are not in itos")
        self.itos = itos
        self.stoi = stoi
        self.specials = tuple(specials)

    @classmethod
    def build(
        cls,
        tokens: Iterable[Any] | Mapping[str, int],
        specials: Sequence[str] = DEFAULT_SPECIALS,
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> Vocab:
        """Build from tokens (flat strings or token lists) or a token -> count mapping.

        Args:
            tokens: the training tokens, or their counts.
            specials: special tokens, placed first in this order.
            max_size: the largest ``len(vocab)``, specials included; the most frequent tokens win.
            min_freq: keep tokens seen at least this often.
        """
        specials = tuple(specials)
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be unique, got {specials!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < len(specials)
        ):
            raise ValueError(
                f"max_size must be None or an integer >= len(specials) = {len(specials)}, got {max_size!r}"
            )
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive integer, got {min_freq!r}")
        counts = tokens if isinstance(tokens, Mapping) else count_tokens(tokens)
        special_set = set(specials)
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in special_set),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        return cls(list(specials) + ranked, specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.itos == self.itos and other.specials == self.specials

    def __hash__(self) -> int:
        return hash((tuple(self.itos), self.specials))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[:5])
        return f"Vocab(size={len(self)}, specials={self.specials!r}, itos=[{head}{', ...' if len(self) > 5 else ''}])"

    @property
    def unk_index(self) -> int | None:
        return self.stoi.get(UNK)

    @property
    def eos_index(self) -> int | None:
        return self.stoi.get(EOS)

    @property
    def pad_index(self) -> int | None:
        return self.stoi.get(PAD)

    @property
    def bos_index(self) -> int | None:
        return self.stoi.get(BOS)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token strings -> ids; unknown tokens -> ``unk_index`` (error when there is no ``<unk>``)."""
        stoi = self.stoi
        unk = self.unk_index
        if unk is not None:
            return [stoi.get(t, unk) for t in tokens]
        try:
            return [stoi[t] for t in tokens]
        except KeyError as err:
            raise ValueError(f"token {err.args[0]!r} is not in the vocabulary and it has no {UNK} token") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids (ints, or a tensor/array via ``tolist``) -> token strings."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        itos = self.itos
        n = len(itos)
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
                raise ValueError(f"id {i!r} is out of range for a vocabulary of size {n}")
            out.append(itos[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "vocab", "itos": list(self.itos), "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocab:
        if not isinstance(d, Mapping) or "itos" not in d:
            raise ValueError(
                f"a vocabulary dict needs an 'itos' list, got keys {sorted(d) if isinstance(d, Mapping) else d!r}"
            )
        return cls(d["itos"], d.get("specials", ()))

    def save(self, path: str | Path) -> None:
        """Write as JSON (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} not found")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from err
        return cls.from_dict(d)
