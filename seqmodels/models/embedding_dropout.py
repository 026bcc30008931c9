"""Embedding dropout (Gal & Ghahramani 2016; AWD-LSTM's ``dropoute``): drop whole words."""

from __future__ import annotations

from torch import Tensor, nn


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """``E'[tokens]`` with ``E' = m ⊙ E / (1 - p)``, m (V, 1) ~ Bernoulli(1 - p) drawn once per call.

    A dropped word type loses its whole embedding vector at every position of every sequence of
    the batch, which is dropout on the one-hot input (Gal & Ghahramani 2016, §4). The embedding
    module is not changed (a tied decoder keeps the full matrix). Identity when not ``training``
    or ``p == 0``. Shapes: tokens (B, T) -> (B, T, E).
    """
    if not training or p == 0.0:
        return embedding(tokens)
    weight = embedding.weight  # (V, E)
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1.0 - p) / (1.0 - p)  # (V, 1)
    return nn.functional.embedding(
        tokens,
        weight * mask,
        embedding.padding_idx,
        embedding.max_norm,
        embedding.norm_type,
        embedding.scale_grad_by_freq,
        embedding.sparse,
    )
