"""Conditional language model: a condition (class label, categorical fields, a real-valued vector) steers
every step of a recurrent language model, so that one condition yields a whole sequence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..utils.state import map_state
from .language_model import RNNLanguageModel, check_tokens

CONDITION_MODES = ("init", "input", "both")
Condition = Tensor | tuple[Tensor, Tensor]


class ConditionalLanguageModel(RNNLanguageModel):
    """``p(x_{t+1} | x_1..x_t, c)``: an :class:`~seqmodels.models.RNNLanguageModel` told a condition.

    The condition is K categorical fields ``k_1..k_K`` (field j takes ``n_j`` values) and/or a real-valued
    vector ``v`` (F,). Its embedding (each field its own table of D-vectors)::

        c = [U_1[k_1]; ...; U_K[k_K]; v]                   # (B, C), C = K·D + F

    enters the recurrence in one or both of two places (``condition_mode``):

    * ``init``: the initial state of every layer l, each of its state tensors s (LSTM: h and c), is
      ``s_0^l = tanh(W_s^l c + b_s^l)`` (B, H) instead of zeros;
    * ``input``: every step reads ``[e_t; c]`` (B, E + C) instead of the token embedding ``e_t`` alone,
      the first layer's ``W_ih`` then being (G·H, E + C) with the condition's columns last;
    * ``both``: the two together.

    The rest is the language model's::

        h_t = Stacked(cell)([e_t; c] or e_t, state)         # (B, T, H)
        logits_t = W_dec dropout(h_t) + b_dec               # (B, T, V)

    The recurrent weights keep torch's names and layout (``rnn.layers.<l>.cell.weight_ih`` …), so with
    the condition's contribution zero (``W_s^l = 0``, ``b_s^l = 0``, or ``c = 0``) the network is exactly a
    ``torch.nn.LSTM`` reading ``[e_t; 0]``.

    Args:
        vocab_size: V.
        cell: a cell factory, as for :class:`~seqmodels.models.RNNLanguageModel`.
        condition_sizes: ``[n_1, ..., n_K]``, the number of values of each categorical field (from the
            data: ``Conditions.sizes``); None or ``[]``: no categorical field.
        condition_features: F, the size of the real-valued condition vector (0 or None: none).
        condition_dim: D, the embedding size of each categorical field.
        condition_mode: ``init``, ``input`` or ``both`` (see above).
        **options: :class:`~seqmodels.models.RNNLanguageModel`'s other arguments (``embedding_dim``,
            ``hidden_size``, ``num_layers``, ``dropout``, ``tie_weights``, ``one_hot``, ``init_range``,
            ``backend``, ...). ``learn_initial_state`` is refused with ``init``/``both``: there the
            condition gives the initial state (its bias ``b`` is the learned part).

    ``forward(tokens (B, T) long, condition, state=None) -> (logits (B, T, V), state)`` and
    ``step(tokens (B,) long, condition, state=None) -> (logits (B, V), state)``, where ``condition`` is the
    (B, K) long ids when the model has only categorical fields, the (B, F) floats when it has only
    real-valued ones, and the pair ``(ids (B, K), values (B, F))`` when it has both. A ``state`` given
    replaces the condition's initial state (a sequence continued); in ``input`` mode the condition is still
    read at every step.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: CellFactory,
        condition_sizes: Sequence[int] | None = None,
        condition_features: int | None = 0,
        condition_dim: int = 32,
        condition_mode: str = "init",
        **options: Any,
    ) -> None:
        if condition_mode not in CONDITION_MODES:
            raise ValueError(f"condition_mode must be one of {list(CONDITION_MODES)}, got {condition_mode!r}")
        sizes = [] if condition_sizes is None else list(condition_sizes)
        condition_features = 0 if condition_features is None else condition_features
        for j, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"condition_sizes[{j}] must be a positive integer (values of field {j}), got {n!r}")
        if isinstance(condition_features, bool) or not isinstance(condition_features, int) or condition_features < 0:
            raise ValueError(f"condition_features must be an integer >= 0, got {condition_features!r}")
        if isinstance(condition_dim, bool) or not isinstance(condition_dim, int) or condition_dim < 1:
            raise ValueError(f"condition_dim must be a positive integer, got {condition_dim!r}")
        if not sizes and not condition_features:
            raise ValueError(
                "a conditional language model needs a condition: condition_sizes (categorical fields) and/or "
                "condition_features > 0 (a real-valued vector); both are empty (seqmodels-train fills them from a "
                "conditional data module, e.g. data=conditional_text, which the configured data is not)"
            )
        if condition_mode != "input" and options.get("learn_initial_state"):
            raise ValueError(
                f"learn_initial_state=True with condition_mode={condition_mode!r}: the initial state is computed "
                "from the condition there (its bias is the learned part); set learn_initial_state=false or "
                "condition_mode=input"
            )
        condition_size = len(sizes) * condition_dim + condition_features  # C
        reads_input = condition_mode in ("input", "both")
        super().__init__(vocab_size, cell, extra_input_size=condition_size if reads_input else 0, **options)
        self.condition_sizes = sizes
        self.condition_features = condition_features
        self.condition_dim = condition_dim
        self.condition_mode = condition_mode
        self.condition_size = condition_size
        self.condition_embeddings = nn.ModuleList(nn.Embedding(n, condition_dim) for n in sizes)
        self.init_projections: nn.ModuleList | None = None
        if condition_mode in ("init", "both"):
            leaves: list[Tensor] = []

            def record(t: Tensor) -> Tensor:
                leaves.append(t)
                return t

            map_state(record, self.rnn.init_state(1))  # layer by layer, (h, c) within an LSTM layer
            self.init_projections = nn.ModuleList(nn.Linear(condition_size, t.shape[-1]) for t in leaves)
        if self.init_range is not None:  # the language model drew its own parameters; these are new
            with torch.no_grad():
                for module in (self.condition_embeddings, self.init_projections):
                    for p in module.parameters() if module is not None else ():
                        p.uniform_(-self.init_range, self.init_range)

    # ------------------------------------------------------------------ the condition
    def embed_condition(self, condition: Condition) -> Tensor:
        """``c = [U_1[k_1]; ...; U_K[k_K]; v]`` (B, C) from the condition as :meth:`forward` takes it."""
        ids, values = self._split_condition(condition)
        parts = [table(ids[:, j]) for j, table in enumerate(self.condition_embeddings)] if ids is not None else []
        if values is not None:
            parts.append(values.to(self.decoder.weight.dtype))
        return torch.cat(parts, dim=-1)  # (B, C)

    def _split_condition(self, condition: Any) -> tuple[Tensor | None, Tensor | None]:
        """``(ids (B, K) or None, values (B, F) or None)``, checked against the fields the model has."""
        K, F = len(self.condition_sizes), self.condition_features
        want = (
            "a pair (ids (B, K) long, values (B, F) float)"
            if K and F
            else ("ids (B, K) long" if K else "values (B, F) float")
        )
        if K and F:
            if not isinstance(condition, (tuple, list)) or len(condition) != 2:
                raise ValueError(f"condition must be {want} (K={K}, F={F}), got {type(condition).__name__}")
            ids, values = condition
        elif K:
            ids, values = condition, None
        else:
            ids, values = None, condition
        if ids is not None:
            if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.shape[1] != K or ids.dtype.is_floating_point:
                raise ValueError(f"condition ids must be a (B, K={K}) integer tensor, got {_describe(ids)}; {want}")
            for j, n in enumerate(self.condition_sizes):
                column = ids[:, j]
                if column.numel() and (int(column.min()) < 0 or int(column.max()) >= n):
                    raise ValueError(
                        f"condition ids of field {j} must lie in [0, {n}), got {int(column.min())}..{int(column.max())}"
                    )
        if values is not None and (
            not isinstance(values, Tensor)
            or values.dim() != 2
            or values.shape[1] != F
            or not values.is_floating_point()
        ):
            raise ValueError(f"condition values must be a (B, F={F}) float tensor, got {_describe(values)}; {want}")
        if ids is not None and values is not None and ids.shape[0] != values.shape[0]:
            raise ValueError(
                f"condition ids and values disagree on the batch size: {ids.shape[0]} vs {values.shape[0]}"
            )
        return ids, values

    def condition_state(self, c: Tensor) -> list[State]:
        """The initial state from the condition embedding c (B, C): ``tanh(W_s^l c + b_s^l)`` for every layer l
        and state tensor s, in :class:`~seqmodels.layers.Stacked`'s structure (LSTM: a list of (h, c))."""
        assert self.init_projections is not None
        projections = iter(self.init_projections)
        return map_state(lambda _: torch.tanh(next(projections)(c)), self.rnn.init_state(1))  # (B, H) each

    def _start(self, c: Tensor, state: list[State] | None, batch_size: int) -> list[State] | None:
        if state is not None:
            return state
        if self.init_projections is not None:
            return self.condition_state(c)
        return self.initial_state(batch_size) if self.initial_state is not None else None

    # ------------------------------------------------------------------ forward
    def forward(  # type: ignore[override]  # the condition is an argument the language model does not have
        self, tokens: Tensor, condition: Condition, state: list[State] | None = None
    ) -> tuple[Tensor, list[State]]:
        check_tokens(tokens)
        B, T = tokens.shape
        c = self.embed_condition(condition)  # (B, C)
        if c.shape[0] != B:
            raise ValueError(f"condition has batch size {c.shape[0]} but tokens {B}")
        x = self.embed(tokens)  # (B, T, E)
        if self.embedding is not None:
            x = self.drop(x)
        if self.condition_mode != "init":
            x = torch.cat([x, c[:, None, :].expand(B, T, c.shape[1])], dim=-1)  # (B, T, E + C)
        out, state = self.rnn(x, self._start(c, state, B))  # (B, T, H)
        return self.decoder(self.output_drop(out)), state  # (B, T, V)

    def step(  # type: ignore[override]
        self, tokens: Tensor, condition: Condition, state: list[State] | None = None
    ) -> tuple[Tensor, list[State]]:
        """One time step (generation): ``forward`` on a length-1 sequence without its time loop."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 1 or tokens.dtype.is_floating_point:
            raise ValueError(f"tokens must be a LongTensor of shape (batch,), got {getattr(tokens, 'shape', tokens)!r}")
        c = self.embed_condition(condition)  # (B, C)
        x = self.embed(tokens)  # (B, E)
        if self.embedding is not None:
            x = self.drop(x)
        if self.condition_mode != "init":
            x = torch.cat([x, c.expand(x.shape[0], -1)], dim=-1)  # (B, E + C)
        h, state = self.rnn.step(x, self._start(c, state, tokens.shape[0]))  # (B, H)
        return self.decoder(self.output_drop(h)), state  # (B, V)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, condition_sizes={self.condition_sizes}, "
            f"condition_features={self.condition_features}, condition_mode={self.condition_mode!r}"
        )


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
