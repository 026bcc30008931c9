"""Recurrent language model: tokens -> embedding -> stacked recurrent layers -> next-token logits."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..kernels.dropout import Dropout
from ..kernels.linear import Linear
from ..layers.stacked import Stacked
from ..utils.checks import check_positive_int, check_probability
from .embedding_dropout import embedding_dropout
from .initial_state import LearnedInitialState


def check_tokens(tokens: Tensor, name: str = "tokens") -> None:
    """Raise ``ValueError`` unless ``tokens`` is a (B, T) integer tensor."""
    if not isinstance(tokens, Tensor):
        raise ValueError(f"{name} must be a LongTensor of shape (batch, seq), got {type(tokens).__name__}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq), got {tuple(tokens.shape)}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {tokens.dtype}")


class RNNLanguageModel(nn.Module):
    """Next-token model ``p(x_{t+1} | x_1..x_t)`` over a vocabulary of V tokens.

    ::

        e_t = dropout(E[x_t])                      # (B, T, E), or one_hot(x_t) (B, T, V)
        h_t = Stacked(cell)(e_t, state)            # (B, T, H), dropout between layers
        logits_t = W_dec dropout(h_t) + b_dec      # (B, T, V)

    Args:
        vocab_size: V, number of tokens.
        cell: a cell factory ``cell(input_size=..., hidden_size=...)``: a class such as
            :class:`~seqmodels.cells.LSTMCell` or a ``functools.partial`` of one
            (Hydra: ``_target_: seqmodels.cells.LSTMCell`` with ``_partial_: true``).
        embedding_dim: E, size of the token embedding (unused when ``one_hot``); None: ``hidden_size``.
        hidden_size: H, size of every layer's state.
        num_layers: L, depth of the recurrent stack.
        dropout: drop probability on the embeddings (not on one-hot inputs), between layers and
            before the decoder (Zaremba et al. 2014 "medium" use 0.5).
        tie_weights: share the decoder's weight with the embedding (Press & Wolf 2017;
            Inan et al. 2017). Needs ``embedding_dim == hidden_size`` and an embedding.
        one_hot: feed one-hot vectors of size V to the first layer instead of an embedding,
            as the classic RNN-LM diagrams draw it (``W_ih`` then plays the embedding's role).
            Costs a (B, T, V) input; the embedding is the same model, cheaper.
        init_range: when given, every parameter is drawn uniform in [-r, r] (Zaremba et al.
            use 0.1; biases included); when None, each module keeps torch's default init.
        bidirectional: must be False; present so that a config asking for it fails clearly.
        backend: which code runs the recurrence, ``"auto"``, ``"custom"`` or ``"torch"``
            (see :mod:`seqmodels.layers.backends`).
        embedding_dropout: drop whole word types from the embedding matrix with this probability,
            one draw per batch (AWD-LSTM's ``dropoute``; :func:`~seqmodels.models.embedding_dropout.embedding_dropout`).
        output_dropout: drop probability before the decoder; None: ``dropout``. With regularising
            cells that drop their own inputs (e.g. :class:`~seqmodels.cells.VariationalDropout`) set
            ``dropout=0`` and keep only this one.
        learn_initial_state: the state a sequence starts from (``state=None``) is learned
            (:class:`~seqmodels.models.initial_state.LearnedInitialState`, initialised at zero)
            instead of zeros.
        extra_input_size: features a subclass concatenates to the embedding at every step (the
            condition of :class:`~seqmodels.models.ConditionalLanguageModel`): the first layer reads
            ``E + extra_input_size`` inputs. This class has nothing to concatenate: it must stay 0 here.

    ``forward(tokens (B, T) long, state=None) -> (logits (B, T, V), state)``, where ``state`` is
    the :class:`~seqmodels.layers.Stacked` list of L per-layer cell states.
    ``step(tokens (B,) long, state=None) -> (logits (B, V), state)`` is one time step, for sampling.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: CellFactory,
        embedding_dim: int | None = 200,
        hidden_size: int = 200,
        num_layers: int = 2,
        dropout: float = 0.0,
        tie_weights: bool = False,
        one_hot: bool = False,
        init_range: float | None = None,
        bidirectional: bool = False,
        backend: str = "auto",
        embedding_dropout: float = 0.0,
        output_dropout: float | None = None,
        learn_initial_state: bool = False,
        *,
        extra_input_size: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(extra_input_size, bool) or not isinstance(extra_input_size, int) or extra_input_size < 0:
            raise ValueError(f"extra_input_size must be an integer >= 0, got {extra_input_size!r}")
        if extra_input_size and type(self) is RNNLanguageModel:
            raise ValueError(
                "extra_input_size is for subclasses that concatenate features to each step's input "
                "(ConditionalLanguageModel); RNNLanguageModel has none: leave it 0"
            )
        if bidirectional:
            raise ValueError(
                "a language model cannot be bidirectional: it predicts token t+1 from tokens 1..t, and a "
                "reverse direction would read the token it has to predict. Set bidirectional=False "
                "(bidirectional layers belong in RNNClassifier)."
            )
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout_p = check_probability("dropout", dropout)
        self.one_hot = bool(one_hot)
        self.tie_weights = bool(tie_weights)
        if self.one_hot:
            if tie_weights:
                raise ValueError("tie_weights=True needs an embedding to share, but one_hot=True has none")
            self.embedding = None
            input_size = vocab_size
        else:
            embedding_dim = hidden_size if embedding_dim is None else embedding_dim
            check_positive_int("embedding_dim", embedding_dim)
            if tie_weights and embedding_dim != hidden_size:
                raise ValueError(
                    f"tie_weights=True needs embedding_dim == hidden_size, got embedding_dim={embedding_dim} "
                    f"and hidden_size={hidden_size}"
                )
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            input_size = embedding_dim
        self.embedding_dim = input_size
        self.rnn = Stacked(
            cell,
            input_size + extra_input_size,
            hidden_size,
            num_layers,
            dropout=self.dropout_p,
            batch_first=True,
            backend=backend,
        )
        self.drop = Dropout(self.dropout_p)
        self.embedding_dropout = check_probability("embedding_dropout", embedding_dropout)
        if self.embedding_dropout and self.embedding is None:
            raise ValueError("embedding_dropout needs an embedding, but one_hot=True has none")
        self.output_drop = (
            self.drop if output_dropout is None else Dropout(check_probability("output_dropout", output_dropout))
        )
        self.decoder = Linear(hidden_size, vocab_size)
        if self.tie_weights and self.embedding is not None:  # tie_weights excludes one_hot (checked above)
            self.decoder.weight = self.embedding.weight
        if init_range is not None:
            if isinstance(init_range, bool) or not isinstance(init_range, (int, float)) or init_range <= 0:
                raise ValueError(f"init_range must be a positive number or None, got {init_range!r}")
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-init_range, init_range)
        self.init_range = init_range
        # after init_range: the learned initial state starts at zero, the default state
        self.initial_state = LearnedInitialState(self.rnn.init_state(1)) if learn_initial_state else None

    def init_state(self, batch_size: int, device: torch.device | None = None) -> list[State]:
        """Initial states for ``batch_size`` streams, one per layer, on the parameters' dtype: zeros, or
        the learned ones (``learn_initial_state``)."""
        if self.initial_state is not None:
            return self.initial_state(batch_size)
        return self.rnn.init_state(batch_size, device, self.decoder.weight.dtype)

    def embed(self, tokens: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, E) inputs of the first layer (before dropout; after embedding dropout)."""
        if self.embedding is None:
            return nn.functional.one_hot(tokens, self.vocab_size).to(self.decoder.weight.dtype)  # (B, T, V)
        return embedding_dropout(self.embedding, tokens, self.embedding_dropout, self.training)  # (B, T, E)

    def forward(self, tokens: Tensor, state: list[State] | None = None) -> tuple[Tensor, list[State]]:
        check_tokens(tokens)
        x = self.embed(tokens)  # (B, T, E)
        if self.embedding is not None:
            x = self.drop(x)  # one-hot inputs are not dropped: that would drop whole tokens
        if state is None and self.initial_state is not None:
            state = self.initial_state(tokens.shape[0])
        out, state = self.rnn(x, state)  # (B, T, H), often a transposed view of (T, B, H)
        # made contiguous for the decoder (after the dropout, whose mask follows the memory layout): on a strided
        # 3-D input it runs as matmul plus a separate bias add instead of one addmm, 2-3 ms more per PTB step
        # (B 20, T 35, V 10,000) for a copy of 0.1 ms
        return self.decoder(self.output_drop(out).contiguous()), state  # (B, T, V)

    def step(self, tokens: Tensor, state: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """One time step: ``forward`` on a length-1 sequence without its time loop (generation)."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 1 or tokens.dtype.is_floating_point:
            raise ValueError(f"tokens must be a LongTensor of shape (batch,), got {getattr(tokens, 'shape', tokens)!r}")
        x = self.embed(tokens)  # (B, E)
        if self.embedding is not None:
            x = self.drop(x)
        if state is None and self.initial_state is not None:
            state = self.initial_state(tokens.shape[0])
        h, state = self.rnn.step(x, state)  # (B, H)
        return self.decoder(self.output_drop(h)), state  # (B, V)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, tie_weights={self.tie_weights}, one_hot={self.one_hot}"
