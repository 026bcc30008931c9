"""Pretrained word vectors (GloVe, word2vec, fastText) copied into a model's embedding.

::

    E[i] = v(tokens[i])      for every token found in the file (exactly, or through its lowercase form)
    E[i] unchanged           for the others, the ``specials`` and the padding row (which stays zero)

The file is read by :func:`~seqmodels.data.word_vectors.read_word_vectors` (formats, matching and refusals
are in its module). On the command line: ``model.pretrained_embeddings=<path>`` and
``model.freeze_embeddings=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..data.word_vectors import WordVectors, read_word_vectors

log = logging.getLogger(__name__)


def load_pretrained_embeddings(
    embedding: nn.Embedding,
    tokens: Sequence[str],
    path: str | Path,
    *,
    freeze: bool = False,
    specials: Sequence[str] = (),
    encoding: str = "utf-8",
) -> WordVectors:
    """Copy the vectors of ``tokens`` found in the file at ``path`` into ``embedding.weight`` (V, E).

    Args:
        embedding: the model's token embedding, V rows of E = ``embedding_dim`` values; E must equal the
            file's dimension.
        tokens: the vocabulary in id order, ``tokens[i]`` the token of row i (V of them).
        path: a GloVe ``.txt``, word2vec/fastText ``.vec`` or word2vec ``.bin`` file, ``.gz`` too.
        freeze: keep the whole embedding out of training (``weight.requires_grad = False``).
        specials: tokens never looked up in the file (``<unk>``, ``<bos>``, ...): their rows keep their
            initial values. The padding row (``embedding.padding_idx``) is never looked up either and stays zero.
        encoding: the file's text encoding.

    Returns:
        the :class:`~seqmodels.data.word_vectors.WordVectors` read (its ``summary()`` is logged at INFO).
    """
    if not isinstance(embedding, nn.Embedding):
        raise ValueError(f"embedding must be a torch.nn.Embedding, got {type(embedding).__name__}")
    if len(tokens) != embedding.num_embeddings:
        raise ValueError(
            f"{path}: the vocabulary has {len(tokens):,} tokens but the embedding has {embedding.num_embeddings:,} rows"
        )
    skip = list(specials)
    if embedding.padding_idx is not None:
        skip.append(tokens[embedding.padding_idx])
    report = read_word_vectors(
        path,
        tokens,
        dim=embedding.embedding_dim,
        encoding=encoding,
        progress=True,  # a bar on stderr only when it is a terminal: a multi-GB file takes minutes
        skip=skip,
        dim_name="model.embedding_dim",
    )
    rows = report.found.nonzero().squeeze(1)  # (F,) ids of the tokens found
    with torch.no_grad():
        weight = embedding.weight
        weight[rows.to(weight.device)] = report.vectors[rows].to(device=weight.device, dtype=weight.dtype)
    if freeze:
        embedding.weight.requires_grad_(False)
    log.info(report.summary())
    if not rows.numel():
        log.warning(
            "%s: no token of the vocabulary is in the file; the embedding keeps its initial values "
            "(is the file for this language, and the tokenizer's casing the file's?)",
            path,
        )
    return report
