"""Sequence classifier / regressor: inputs -> (bi)directional stacked layers -> pooling -> MLP head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..kernels.dropout import Dropout
from ..layers.stacked import Stacked
from ..utils.checks import check_positive_int, check_probability
from ..utils.transfer import to_device_nowait
from .embedding_dropout import embedding_dropout
from .initial_state import LearnedInitialState
from .language_model import check_tokens
from .pooling import get_pooling, pooled_size


class RNNClassifier(nn.Module):
    """One prediction per sequence (many-to-one).

    ::

        x_t = dropout(E[tokens_t])  or  dropout(W_in f_t + b)  or  f_t    # (B, T, E)
        o_t = Stacked(cell, bidirectional)(x_t, lengths)                  # (B, T, D*H)
        z   = pool(o, lengths)                                            # (B, D*H), concat: (B, 3*D*H)
        logits = head(dropout(z))                                         # (B, num_classes)

    Args:
        num_classes: C, outputs per sequence; ``1`` gives a single regression output (B, 1).
        cell: a cell factory (class or ``functools.partial``), as for :class:`RNNLanguageModel`.
        hidden_size: H, state size of each direction.
        num_layers: L.
        bidirectional: D = 2 directions per layer when True.
        dropout: drop probability on the embedded/projected inputs (raw real-valued features are
            never dropped), between layers and before the head.
        vocab_size: token inputs: size of the embedding table. Exactly one of ``vocab_size`` and
            ``input_size`` must be given.
        embedding_dim: E. Token inputs: embedding size (default ``hidden_size``). Real-valued inputs:
            when given, a linear projection ``input_size -> E`` precedes the recurrent layers;
            when None the features enter the first layer directly (its ``W_ih`` is already linear).
        input_size: F, features per step of real-valued inputs (B, T, F).
        pooling: ``"last"`` (forward: last real step; reverse: step 0 — the final states),
            ``"mean"`` or ``"max"`` over the valid steps, or ``"concat"``, ULMFiT's ``[last; max; mean]``
            (3·D·H features). See :mod:`seqmodels.models.pooling`.
        head_hidden_size: when given, the head is ``Linear -> ReLU -> Dropout -> Linear`` with this
            hidden width; else one ``Linear``.
        padding_idx: embedding row kept at zero and out of the gradient (the vocabulary's ``<pad>``).
        backend: which code runs the recurrence, ``"auto"``, ``"custom"`` or ``"torch"``
            (see :mod:`seqmodels.layers.backends`).
        embedding_dropout: token inputs: drop whole word types from the embedding matrix with this
            probability, one draw per batch (:func:`~seqmodels.models.embedding_dropout.embedding_dropout`).
        learn_initial_state: every sequence starts from a learned state
            (:class:`~seqmodels.models.initial_state.LearnedInitialState`, initialised at zero) instead of zeros.

    ``forward(inputs, lengths=None) -> (logits (B, C), state)``; ``inputs`` (B, T) long or (B, T, F)
    float, ``lengths`` (B,) with values in [1, T]; ``state`` is the list of L*D final cell states.
    """

    def __init__(
        self,
        num_classes: int,
        cell: CellFactory,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        vocab_size: int | None = None,
        embedding_dim: int | None = None,
        input_size: int | None = None,
        pooling: str = "last",
        head_hidden_size: int | None = None,
        padding_idx: int | None = None,
        backend: str = "auto",
        embedding_dropout: float = 0.0,
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout_p = check_probability("dropout", dropout)
        self.pooling = pooling
        self.pool = get_pooling(pooling)
        if (vocab_size is None) == (input_size is None):
            raise ValueError(
                "exactly one of vocab_size (token inputs) and input_size (real-valued inputs) must be given, "
                f"got vocab_size={vocab_size!r} and input_size={input_size!r}"
            )
        self.vocab_size = vocab_size
        self.input_size = input_size
        if vocab_size is not None:
            check_positive_int("vocab_size", vocab_size)
            dim = check_positive_int("embedding_dim", embedding_dim) if embedding_dim is not None else hidden_size
            if padding_idx is not None and not (isinstance(padding_idx, int) and 0 <= padding_idx < vocab_size):
                raise ValueError(f"padding_idx must be an index in [0, {vocab_size}) or None, got {padding_idx!r}")
            self.encoder: nn.Module = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        else:
            input_size = check_positive_int("input_size", input_size)
            if padding_idx is not None:
                raise ValueError("padding_idx only applies to token inputs (vocab_size), not to input_size")
            if embedding_dim is None:
                dim = input_size
                self.encoder = nn.Identity()
            else:
                dim = check_positive_int("embedding_dim", embedding_dim)
                self.encoder = nn.Linear(input_size, dim)
        self.embedding_dim = dim
        self.rnn = Stacked(
            cell, dim, hidden_size, num_layers, bidirectional, self.dropout_p, batch_first=True, backend=backend
        )
        self.num_directions = self.rnn.num_directions
        self.embedding_dropout = check_probability("embedding_dropout", embedding_dropout)
        if self.embedding_dropout and vocab_size is None:
            raise ValueError("embedding_dropout applies to token inputs (vocab_size), not to real-valued inputs")
        self.initial_state = LearnedInitialState(self.rnn.init_state(1)) if learn_initial_state else None
        self.drop = Dropout(self.dropout_p)
        self.input_drop = nn.Identity() if isinstance(self.encoder, nn.Identity) else self.drop
        features = pooled_size(pooling, self.rnn.output_size)
        if head_hidden_size is None:
            self.head: nn.Module = nn.Linear(features, num_classes)
        else:
            check_positive_int("head_hidden_size", head_hidden_size)
            self.head = nn.Sequential(
                nn.Linear(features, head_hidden_size),
                nn.ReLU(),
                Dropout(self.dropout_p),
                nn.Linear(head_hidden_size, num_classes),
            )

    def check_inputs(self, inputs: Tensor) -> None:
        if self.vocab_size is not None:
            check_tokens(inputs, "inputs")
            return
        if not isinstance(inputs, Tensor) or inputs.dim() != 3 or not inputs.dtype.is_floating_point:
            got = (
                f"shape {tuple(inputs.shape)} dtype {inputs.dtype}"
                if isinstance(inputs, Tensor)
                else type(inputs).__name__
            )
            raise ValueError(f"inputs must be a float tensor (batch, seq, {self.input_size}), got {got}")
        if inputs.shape[-1] != self.input_size:
            raise ValueError(f"inputs have {inputs.shape[-1]} features, expected input_size={self.input_size}")

    def features(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, list[State]]:
        """The pooled representation z (B, D*H; concat: B, 3*D*H) and the final states."""
        self.check_inputs(inputs)
        if self.embedding_dropout:
            assert isinstance(self.encoder, nn.Embedding)  # embedding_dropout needs vocab_size (checked in __init__)
            x = embedding_dropout(self.encoder, inputs, self.embedding_dropout, self.training)  # (B, T, E)
        else:
            x = self.encoder(inputs)  # (B, T, E)
        x = self.input_drop(x)
        state = None if self.initial_state is None else self.initial_state(inputs.shape[0])
        out, state = self.rnn(x, state, lengths=lengths)  # (B, T, D*H); validates lengths
        if lengths is not None:
            lengths = to_device_nowait(torch.as_tensor(lengths), x.device, torch.long)
        return self.pool(out, lengths, self.num_directions), state  # (B, D*H) or (B, 3*D*H)

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, list[State]]:
        z, state = self.features(inputs, lengths)
        return self.head(self.drop(z)), state  # (B, C)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, pooling={self.pooling!r}"
