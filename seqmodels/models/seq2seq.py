"""Encoder-decoder (unaligned many-to-many): a source sentence in, a target sentence of another length out.

Encoder (any cell, bidirectional allowed)::

    k_1..k_S = Stacked(cell, D)(dropout(E_src[x]), lengths)     # (B, S, K), K = D*H, zero past each length
    z        = [forward k at step len-1 ; reverse k at step 0]   # (B, K), the top layer's final states

Decoder (any cell, unidirectional), Luong et al. (2015) global attention, optionally with input feeding::

    s_0        = tanh(W_bridge z)  per decoder layer and state tensor   (zeros when bridge=False)
    u_t        = [E_tgt[y_{t-1}] ; z if no attention ; h~_{t-1} if input_feeding]
    h_t, s_t   = Stacked(decoder_cell).step(dropout(u_t), s_{t-1})       # (B, Hd)
    c_t, a_t   = attention(h_t, k, mask)   or   c_t = z without attention  # (B, K), (B, S)
    h~_t       = tanh(W_c [h_t ; c_t])                                   # (B, Hd), the attentional state
    logits_t   = W_out dropout(h~_t)                                     # (B, V_tgt)

The attention score is pluggable: :class:`~seqmodels.models.attention.AdditiveAttention`
(Bahdanau et al. 2015's score, Luong's "concat") or
:class:`~seqmodels.models.attention.MultiplicativeAttention` (Luong's "general"). Without attention
the encoder reaches the decoder only through z: the initial state and, as in Cho et al. (2014), an
input at every step and in the output layer.

Training runs all target steps in one call of the decoder layers when it can (teacher forcing and
no input feeding); scheduled sampling (Bengio et al. 2015) and input feeding go step by step.
Decoding (greedy, beam search) lives in :mod:`seqmodels.inference.decoding` and uses :meth:`Seq2Seq.encode`,
:meth:`Seq2Seq.initial_state` and :meth:`Seq2Seq.decode_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..kernels.dropout import Dropout
from ..kernels.linear import Linear
from ..layers.stacked import Stacked
from ..utils.checks import check_positive_int, check_probability
from ..utils.state import map_state
from ..utils.transfer import to_device_nowait
from .attention import Attention
from .language_model import check_tokens
from .pooling import last_pool

AttentionFactory = Callable[..., Attention]


class EncoderMemory(NamedTuple):
    """What the decoder reads from the encoder."""

    outputs: Tensor  # (B, S, K) keys and values of the attention
    mask: Tensor  # (B, S) bool, True at real source positions
    summary: Tensor  # (B, K) z, the top layer's final states
    prepared: Tensor | None  # attention.prepare(outputs), or None without attention

    def select(self, index: Tensor) -> EncoderMemory:
        """Rows ``index`` of every tensor (repeat sources for beam search, reorder them)."""
        prepared = None if self.prepared is None else self.prepared.index_select(0, index)
        return EncoderMemory(
            self.outputs.index_select(0, index),
            self.mask.index_select(0, index),
            self.summary.index_select(0, index),
            prepared,
        )


class DecoderState(NamedTuple):
    """The decoder's recurrent states (a list, one per layer) and, with input feeding, h~_{t-1} (B, Hd)."""

    rnn: list[State]
    feed: Tensor | None

    def select(self, index: Tensor) -> DecoderState:
        """Rows ``index`` of every state tensor (beam search reorders its hypotheses with this)."""
        pick = lambda t: t.index_select(0, index)  # noqa: E731
        return DecoderState(map_state(pick, self.rnn), None if self.feed is None else pick(self.feed))


def _state_leaves(template: State) -> int:
    return 1 if isinstance(template, Tensor) else len(template)


class Seq2Seq(nn.Module):
    """Recurrent encoder-decoder with optional attention (see the module docstring for the equations).

    Args:
        vocab_size: V_src, source vocabulary (input embedding rows).
        num_classes: V_tgt, target vocabulary: the decoder classifies every step into one target token.
        cell: encoder cell factory (class or ``functools.partial``), e.g. ``GRUCell``.
        decoder_cell: decoder cell factory (None: the same as ``cell``); may differ from the encoder's.
        embedding_dim: E, source embedding size.
        target_embedding_dim: target embedding size (default ``embedding_dim``).
        hidden_size: H, encoder state size per direction.
        decoder_hidden_size: Hd, decoder state size (default K = D*H, the encoder output size).
        num_layers: L, depth of both the encoder and the decoder.
        bidirectional: a bidirectional encoder (D = 2).
        attention: an attention factory ``attention(query_size=Hd, key_size=K) -> Attention``
            (Hydra: ``_target_: seqmodels.models.AdditiveAttention`` with ``_partial_: true``), or
            None for no attention.
        input_feeding: feed h~_{t-1} into the decoder's next step (Luong et al. 2015 §3.3); makes
            training step by step.
        bridge: start the decoder from ``tanh(W z)`` (else from zeros).
        dropout: drop probability on the embeddings, between layers and before the output layer.
        padding_idx: source ``<pad>`` id (embedding row kept at zero).
        backend: ``"auto"``, ``"custom"`` or ``"torch"`` for both stacks (see :mod:`seqmodels.layers.backends`).

    ``forward(source (B, S), source_lengths (B,), target_in (B, T), target_lengths=None,
    sampling_rate=0.0) -> (logits (B, T, V_tgt), attention weights (B, T, S) or None)``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: CellFactory,
        decoder_cell: CellFactory | None = None,
        embedding_dim: int = 256,
        target_embedding_dim: int | None = None,
        hidden_size: int = 256,
        decoder_hidden_size: int | None = None,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: AttentionFactory | None = None,
        input_feeding: bool = False,
        bridge: bool = True,
        dropout: float = 0.0,
        padding_idx: int | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.target_embedding_dim = check_positive_int("target_embedding_dim", target_embedding_dim or embedding_dim)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout_p = check_probability("dropout", dropout)
        if padding_idx is not None and (
            isinstance(padding_idx, bool) or not isinstance(padding_idx, int) or not 0 <= padding_idx < vocab_size
        ):
            raise ValueError(f"padding_idx must be an index in [0, {vocab_size}) or None, got {padding_idx!r}")
        if attention is not None and not callable(attention):
            raise ValueError(f"attention must be an attention factory (a class or partial) or None, got {attention!r}")
        self.input_feeding = bool(input_feeding)
        self.source_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.encoder = Stacked(
            cell,
            embedding_dim,
            hidden_size,
            num_layers,
            bidirectional,
            self.dropout_p,
            batch_first=True,
            backend=backend,
        )
        key_size = self.encoder.output_size
        self.key_size = key_size
        self.decoder_hidden_size = check_positive_int("decoder_hidden_size", decoder_hidden_size or key_size)
        Hd = self.decoder_hidden_size
        self.attention = attention(query_size=Hd, key_size=key_size) if attention is not None else None
        if self.attention is not None and not isinstance(self.attention, Attention):
            raise ValueError(
                f"attention(query_size, key_size) must return an Attention module, got {type(self.attention).__name__}"
            )
        decoder_input = (
            self.target_embedding_dim + (key_size if self.attention is None else 0) + (Hd if self.input_feeding else 0)
        )
        self.target_embedding = nn.Embedding(num_classes, self.target_embedding_dim)
        self.decoder = Stacked(
            decoder_cell or cell,
            decoder_input,
            Hd,
            num_layers,
            False,
            self.dropout_p,
            batch_first=True,
            backend=backend,
        )
        leaves = [_state_leaves(c.init_state(1)) for c in self.decoder.cells()]
        self.bridge = nn.ModuleList(nn.Linear(key_size, Hd) for _ in range(sum(leaves))) if bridge else None
        self.combine = nn.Linear(Hd + key_size, Hd)
        self.output = Linear(Hd, num_classes)
        self.drop = Dropout(self.dropout_p)

    # ------------------------------------------------------------------ encoder
    def encode(self, source: Tensor, source_lengths: Tensor | None = None) -> EncoderMemory:
        """Read the source: outputs (B, S, K), mask (B, S), summary z (B, K), prepared attention keys."""
        check_tokens(source, "source")
        B, S = source.shape
        out, _ = self.encoder(self.drop(self.source_embedding(source)), lengths=source_lengths)  # (B, S, K)
        lengths = (
            torch.full((B,), S, dtype=torch.long, device=source.device)
            if source_lengths is None
            else to_device_nowait(torch.as_tensor(source_lengths), source.device, torch.long)
        )
        mask = torch.arange(S, device=source.device)[None, :] < lengths[:, None]  # (B, S)
        summary = last_pool(out, lengths, self.encoder.num_directions)  # (B, K)
        prepared = self.attention.prepare(out) if self.attention is not None else None
        return EncoderMemory(out, mask, summary, prepared)

    def initial_state(self, memory: EncoderMemory) -> DecoderState:
        """s_0 = tanh(W z) for every state tensor of every decoder layer (zeros without a bridge)."""
        z = memory.summary
        B = z.shape[0]
        templates = self.decoder.init_state(B, z.device, z.dtype)
        if self.bridge is None:
            rnn = templates
        else:
            projections = iter(self.bridge)
            rnn = []
            for template in templates:
                if isinstance(template, Tensor):
                    rnn.append(torch.tanh(next(projections)(z)))  # (B, Hd)
                else:
                    rnn.append(type(template)(torch.tanh(next(projections)(z)) for _ in template))
        feed = z.new_zeros(B, self.decoder_hidden_size) if self.input_feeding else None
        return DecoderState(rnn, feed)

    # ------------------------------------------------------------------ decoder
    def _attend(self, h: Tensor, memory: EncoderMemory) -> tuple[Tensor, Tensor | None]:
        """Context (…, K) and weights (…, S) for decoder outputs h (B, Hd) or (B, T, Hd)."""
        if self.attention is None:
            context = memory.summary if h.dim() == 2 else memory.summary.unsqueeze(1).expand(-1, h.shape[1], -1)
            return context, None
        return self.attention(h, memory.outputs, memory.mask, memory.prepared)

    def _readout(self, h: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        attentional = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))  # (…, Hd)
        return self.output(self.drop(attentional)), attentional  # (…, V)

    def decode_step(
        self, tokens: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One target step: previous tokens (B,) -> (logits (B, V_tgt), new state, attention weights (B, S) or None)."""
        parts = [self.drop(self.target_embedding(tokens))]  # (B, E)
        if self.attention is None:
            parts.append(memory.summary)
        if self.input_feeding:
            parts.append(state.feed)
        h, rnn = self.decoder.step(torch.cat(parts, dim=-1), state.rnn)  # (B, Hd)
        context, weights = self._attend(h, memory)
        logits, attentional = self._readout(h, context)
        return logits, DecoderState(rnn, attentional if self.input_feeding else None), weights

    def _decode_parallel(
        self, memory: EncoderMemory, target_in: Tensor, target_lengths: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        T = target_in.shape[1]
        y = self.drop(self.target_embedding(target_in))  # (B, T, E)
        if self.attention is None:
            y = torch.cat([y, memory.summary.unsqueeze(1).expand(-1, T, -1)], dim=-1)  # (B, T, E + K)
        h, _ = self.decoder(y, self.initial_state(memory).rnn, lengths=target_lengths)  # (B, T, Hd)
        context, weights = self._attend(h, memory)  # (B, T, K), (B, T, S)
        return self._readout(h, context)[0], weights

    def _decode_steps(
        self, memory: EncoderMemory, target_in: Tensor, sampling_rate: float
    ) -> tuple[Tensor, Tensor | None]:
        state = self.initial_state(memory)
        logits: list[Tensor] = []
        weights: list[Tensor] = []  # with attention only
        tokens = target_in[:, 0]
        for t in range(target_in.shape[1]):
            if t > 0:
                tokens = target_in[:, t]
                if sampling_rate > 0.0:
                    use_model = torch.rand(tokens.shape, device=tokens.device) < sampling_rate
                    sampled = torch.multinomial(torch.softmax(logits[-1].detach().float(), dim=-1), 1).squeeze(1)
                    tokens = torch.where(use_model, sampled, tokens)
            step_logits, state, step_weights = self.decode_step(tokens, state, memory)
            logits.append(step_logits)
            if step_weights is not None:
                weights.append(step_weights)
        stacked = torch.stack(weights, dim=1) if self.attention is not None else None  # (B, T, S)
        return torch.stack(logits, dim=1), stacked  # (B, T, V)

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor | None,
        target_in: Tensor,
        target_lengths: Tensor | None = None,
        sampling_rate: float = 0.0,
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced logits for every target step.

        Args:
            source: (B, S) source ids; ``source_lengths`` (B,) their lengths (None: all S).
            target_in: (B, T) the decoder inputs, ``<bos> y_1 .. y_{n}`` (padded).
            target_lengths: (B,) lengths of ``target_in`` (optional; steps past them are ignored anyway).
            sampling_rate: scheduled sampling (Bengio et al. 2015): at every step after the first,
                each sentence's input is, with this probability, a token sampled from the model's
                own previous prediction instead of the reference one.

        Returns:
            ``(logits (B, T, V_tgt), attention weights (B, T, S) or None)``.
        """
        if (
            isinstance(sampling_rate, bool)
            or not isinstance(sampling_rate, (int, float))
            or not 0.0 <= sampling_rate <= 1.0
        ):
            raise ValueError(f"sampling_rate must be a number in [0, 1], got {sampling_rate!r}")
        check_tokens(target_in, "target_in")
        if target_in.shape[0] != source.shape[0]:
            raise ValueError(f"source has {source.shape[0]} sentences but target_in has {target_in.shape[0]}")
        memory = self.encode(source, source_lengths)
        if sampling_rate == 0.0 and not self.input_feeding:
            return self._decode_parallel(memory, target_in, target_lengths)
        return self._decode_steps(memory, target_in, float(sampling_rate))

    def extra_repr(self) -> str:
        return (
            f"vocab_size={self.vocab_size}, num_classes={self.num_classes}, input_feeding={self.input_feeding}, "
            f"bridge={self.bridge is not None}"
        )
