"""Attention over encoder outputs: additive (Bahdanau et al. 2015) and multiplicative (Luong et al. 2015).

For a query q (a decoder state) and keys k_1..k_S (encoder outputs, also the values)::

    e_s = score(q, k_s)                                  # (B, T, S)
    a   = softmax over s of e_s, with e_s = -inf where s >= source length
    c   = Σ_s a_s k_s                                     # (B, T, K), the context vector

Padded source positions get weight exactly 0 and so cannot change the context. Queries may be one
step (B, Q) or all decoder steps at once (B, T, Q) (teacher forcing runs every step in one call).

``prepare(keys)`` computes the part of the score that depends on the keys only (``W_k k`` for
additive, ``W k`` for multiplicative) once per source sentence; pass it back as ``prepared`` on
every decoder step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..utils.checks import check_positive_int


class Attention(nn.Module):
    """Base class: masking, softmax and the weighted sum; subclasses define ``prepare`` and ``score``.

    Args:
        query_size: Q, features of the query (the decoder's hidden size).
        key_size: K, features of each key (the encoder's output size).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size = check_positive_int("query_size", query_size)
        self.key_size = check_positive_int("key_size", key_size)

    def prepare(self, keys: Tensor) -> Tensor:
        """Key-only part of the score, (B, S, ·); computed once per source."""
        raise NotImplementedError

    def score(self, query: Tensor, prepared: Tensor) -> Tensor:
        """Scores (B, T, S) for queries (B, T, Q)."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None, prepared: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Context and weights.

        Args:
            query: (B, Q) or (B, T, Q).
            keys: (B, S, K), also the values.
            mask: (B, S) bool, True at real source positions (None: all real). Every row needs a True.
            prepared: ``prepare(keys)``, when already computed.

        Returns:
            ``(context, weights)``: (B, K) and (B, S) for a (B, Q) query, (B, T, K) and (B, T, S) for (B, T, Q).
        """
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)  # (B, 1, Q)
        if query.dim() != 3 or query.shape[-1] != self.query_size:
            raise ValueError(
                f"query must be (batch, {self.query_size}) or (batch, steps, {self.query_size}), got {tuple(query.shape)}"
            )
        if keys.dim() != 3 or keys.shape[-1] != self.key_size or keys.shape[0] != query.shape[0]:
            raise ValueError(f"keys must be (batch={query.shape[0]}, source, {self.key_size}), got {tuple(keys.shape)}")
        if prepared is None:
            prepared = self.prepare(keys)
        scores = self.score(query, prepared)  # (B, T, S)
        if mask is not None:
            if mask.shape != keys.shape[:2]:
                raise ValueError(f"mask must be (batch, source) = {tuple(keys.shape[:2])}, got {tuple(mask.shape)}")
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        context = torch.bmm(weights, keys)  # (B, T, K)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): ``score(q, k) = v^T tanh(W_q q + W_k k + b)`` (Luong's "concat").

    Args:
        query_size, key_size: see :class:`Attention`.
        attention_size: A, width of the hidden layer (default ``query_size``).
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None) -> None:
        super().__init__(query_size, key_size)
        self.attention_size = (
            check_positive_int("attention_size", attention_size) if attention_size is not None else query_size
        )
        self.query_proj = nn.Linear(query_size, self.attention_size, bias=False)
        self.key_proj = nn.Linear(key_size, self.attention_size, bias=True)
        self.v = nn.Linear(self.attention_size, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, S, A)

    def score(self, query: Tensor, prepared: Tensor) -> Tensor:
        hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + prepared.unsqueeze(1))  # (B, T, S, A)
        return self.v(hidden).squeeze(-1)  # (B, T, S)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, attention_size={self.attention_size}"


class MultiplicativeAttention(Attention):
    """Luong et al. (2015) "general": ``score(q, k) = q^T W k``; ``scaled`` divides by √Q
    (as Vaswani et al. 2017 do for dot products).

    Args:
        query_size, key_size: see :class:`Attention`.
        scaled: divide the scores by ``sqrt(query_size)``.
    """

    def __init__(self, query_size: int, key_size: int, scaled: bool = False) -> None:
        super().__init__(query_size, key_size)
        self.scaled = bool(scaled)
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, S, Q)

    def score(self, query: Tensor, prepared: Tensor) -> Tensor:
        scores = torch.bmm(query, prepared.transpose(1, 2))  # (B, T, S)
        return scores / math.sqrt(self.query_size) if self.scaled else scores

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, scaled={self.scaled}"
