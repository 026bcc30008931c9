"""Sequence tagger (aligned many-to-many): tokens -> embedding -> (bi)directional stacked layers -> per-step head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..kernels.dropout import Dropout
from ..kernels.linear import Linear
from ..layers.stacked import Stacked
from ..utils.checks import check_positive_int, check_probability
from .language_model import check_tokens


class RNNTagger(nn.Module):
    """One label per input token, e.g. a chunk or part-of-speech tag.

    ::

        x_t = dropout(E[tokens_t])                         # (B, T, E)
        x_t = dropout([E[w_t]; F_1[f1_t]; ...; F_F[fF_t]]) # (B, T, E + F*Ef) with feature inputs
        o_t = Stacked(cell, bidirectional)(x, lengths)_t   # (B, T, D*H); zero past each length
        logits_t = head(dropout(o_t))                      # (B, T, C)

    With ``bidirectional=True`` the label of token t sees the whole sentence: the forward
    direction reads tokens 1..t, the reverse direction tokens T_b..t (within each sentence's length).

    Args:
        num_classes: C, tags.
        cell: a cell factory (class or ``functools.partial``), as for
            :class:`~seqmodels.models.RNNLanguageModel`.
        vocab_size: V, size of the embedding table.
        embedding_dim: E (default ``hidden_size``).
        hidden_size: H, state size of each direction.
        num_layers: L.
        bidirectional: D = 2 directions per layer when True.
        dropout: drop probability on the embeddings, between layers and before the head.
        head_hidden_size: when given, the head is ``Linear -> ReLU -> Dropout -> Linear`` with this
            hidden width; else one ``Linear``.
        padding_idx: embedding row kept at zero and out of the gradient (the vocabulary's ``<pad>``).
        backend: ``"auto"``, ``"custom"`` or ``"torch"`` (see :mod:`seqmodels.layers.backends`).
        feature_vocab_sizes: vocabulary size of each extra input column (e.g. ``[46]`` for POS tags
            beside the words when chunking); ``inputs`` are then (B, T, 1 + F) with the word ids in
            channel 0. None or empty: word ids only.
        feature_embedding_dim: Ef, the embedding size of each feature (row 0, the feature's
            ``<pad>``, stays zero).

    ``forward(inputs (B, T) or (B, T, 1 + F) long, lengths (B,) | None) -> (logits (B, T, C), state)``; logits at
    padded steps are the head applied to zeros (ignore them); ``state`` is the list of L*D final
    cell states.
    """

    def __init__(
        self,
        num_classes: int,
        cell: CellFactory,
        vocab_size: int,
        embedding_dim: int | None = None,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        head_hidden_size: int | None = None,
        padding_idx: int | None = None,
        backend: str = "auto",
        feature_vocab_sizes: Sequence[int] | None = None,
        feature_embedding_dim: int = 32,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.embedding_dim = (
            check_positive_int("embedding_dim", embedding_dim) if embedding_dim is not None else hidden_size
        )
        self.dropout_p = check_probability("dropout", dropout)
        if padding_idx is not None and (
            isinstance(padding_idx, bool) or not isinstance(padding_idx, int) or not 0 <= padding_idx < vocab_size
        ):
            raise ValueError(f"padding_idx must be an index in [0, {vocab_size}) or None, got {padding_idx!r}")
        self.embedding = nn.Embedding(vocab_size, self.embedding_dim, padding_idx=padding_idx)
        if isinstance(feature_vocab_sizes, (str, int)):
            raise ValueError(
                f"feature_vocab_sizes must be a list of vocabulary sizes or None, got {feature_vocab_sizes!r}"
            )
        sizes = [check_positive_int(f"feature_vocab_sizes[{i}]", n) for i, n in enumerate(feature_vocab_sizes or ())]
        width = check_positive_int("feature_embedding_dim", feature_embedding_dim)
        # id 0 of each feature vocabulary is its <pad> (TaggingDataModule builds them so)
        self.feature_embeddings = nn.ModuleList(nn.Embedding(n, width, padding_idx=0) for n in sizes)
        input_size = self.embedding_dim + width * len(sizes)
        self.rnn = Stacked(
            cell, input_size, hidden_size, num_layers, bidirectional, self.dropout_p, batch_first=True, backend=backend
        )
        self.drop = Dropout(self.dropout_p)
        features = self.rnn.output_size
        if head_hidden_size is None:
            self.head: nn.Module = Linear(features, num_classes)
        else:
            check_positive_int("head_hidden_size", head_hidden_size)
            self.head = nn.Sequential(
                nn.Linear(features, head_hidden_size),
                nn.ReLU(),
                Dropout(self.dropout_p),
                nn.Linear(head_hidden_size, num_classes),
            )

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, list[State]]:
        if not isinstance(inputs, Tensor):
            raise ValueError(f"inputs must be a LongTensor of shape (batch, seq), got {type(inputs).__name__}")
        channels = 1 + len(self.feature_embeddings)
        if channels > 1 or inputs.dim() == 3:
            if inputs.dim() != 3 or inputs.shape[-1] != channels:
                raise ValueError(
                    f"inputs must have shape (batch, seq, {channels}) (words and {channels - 1} feature(s)), got {tuple(inputs.shape)}"
                )
            check_tokens(inputs[..., 0], "inputs")
            parts = [self.embedding(inputs[..., 0])]
            parts += [embed(inputs[..., 1 + i]) for i, embed in enumerate(self.feature_embeddings)]
            x = self.drop(torch.cat(parts, dim=-1))  # (B, T, E + F*Ef)
        else:
            check_tokens(inputs, "inputs")
            x = self.drop(self.embedding(inputs))  # (B, T, E)
        out, state = self.rnn(x, lengths=lengths)  # (B, T, D*H); validates lengths
        return self.head(self.drop(out)), state  # (B, T, C)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, vocab_size={self.vocab_size}"
