"""Decoding a :class:`~seqmodels.models.Seq2Seq`: greedy search, beam search with length normalisation,
and sentence-in, sentence-out translation.

Both searches start every hypothesis with ``<bos>`` and end it at ``<eos>`` (which is not part of the
returned tokens) or after ``max_length`` steps. A hypothesis y_1..y_n scores

    log p(y | x) = Σ_t log p(y_t | y_<t, x)          (the ``<eos>`` step included when it was emitted)

Beam search (Sutskever et al. 2014; the bookkeeping of fairseq's ``SequenceGenerator`` and Hugging
Face's ``BeamSearchScorer``) keeps the ``beam_size`` best unfinished prefixes. At every step each of
them is extended by every token; of the best ``2 * beam_size`` extensions, those that end in
``<eos>`` *and rank within the first ``beam_size``* are finished, and the best ``beam_size`` others
continue. Hypotheses are ranked by the length-normalised score

    log p(y | x) / |y|^alpha      (|y| counts the ``<eos>`` step; alpha = ``length_penalty``)

and the ``beam_size`` best finished ones are kept. A sentence is done when it has ``beam_size``
finished hypotheses and its best unfinished prefix, scored at its current length, is no better than
the worst of them (log-probabilities only fall as a prefix grows; with alpha > 0 this is the usual
heuristic, as in Hugging Face's ``early_stopping=False``), or at ``max_length``, where the unfinished
prefixes are ranked with the finished ones.

alpha = 0 is the raw log-probability (which favours short outputs), alpha = 1 the mean per-token
log-probability. With ``beam_size=1`` beam search returns exactly the greedy output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor


class Hypotheses(NamedTuple):
    """Per source sentence: the output tokens (no ``<bos>``/``<eos>``), their log-probability and
    the attention weights (one row of S weights per output step, ``<eos>`` step included; None
    without attention)."""

    tokens: list[list[int]]
    scores: list[float]
    attention: list[Tensor | None]


def _check(model: Any, source: Tensor, source_lengths: Tensor | None, max_length: int | Tensor) -> list[int]:
    """Validate the arguments; return the step limit of every sentence."""
    if not all(callable(getattr(model, name, None)) for name in ("encode", "initial_state", "decode_step")):
        # encode -> memory with .select(rows); initial_state(memory) -> state with .select(rows);
        # decode_step(tokens (B,), state, memory) -> (logits (B, V), state, weights (B, S) or None)
        raise ValueError(
            f"model must be an encoder-decoder with encode/initial_state/decode_step (a Seq2Seq), got {type(model).__name__}"
        )
    if not isinstance(source, Tensor) or source.dim() != 2:
        raise ValueError(
            f"source must be a (batch, seq) LongTensor, got {getattr(source, 'shape', type(source).__name__)}"
        )
    B = source.shape[0]
    if B == 0 or source.shape[1] == 0:
        raise ValueError(
            f"source must hold at least one sentence of at least one token, got shape {tuple(source.shape)}"
        )
    if isinstance(max_length, Tensor):
        limits = [int(n) for n in max_length.reshape(-1).tolist()]
        if len(limits) != B:
            raise ValueError(f"max_length must be an integer or one per sentence ({B}), got {len(limits)} values")
    elif isinstance(max_length, int) and not isinstance(max_length, bool):
        limits = [max_length] * B
    else:
        raise ValueError(f"max_length must be a positive integer or a (batch,) tensor of them, got {max_length!r}")
    if min(limits, default=1) < 1:
        raise ValueError(f"max_length must be positive, got {min(limits)}")
    return limits


@torch.no_grad()
def greedy_decode(
    model: Any,
    source: Tensor,
    source_lengths: Tensor | None,
    bos_index: int,
    eos_index: int,
    max_length: int | Tensor = 100,
) -> Hypotheses:
    """Pick the most likely token at every step, for a whole batch at once.

    Args:
        model: a :class:`~seqmodels.models.Seq2Seq` (put it in eval mode first).
        source: (B, S) ids; ``source_lengths`` (B,) (None: all S).
        bos_index, eos_index: the target vocabulary's ``<bos>`` and ``<eos>``.
        max_length: the most output steps, for all sentences or per sentence ((B,) tensor), so that
            a sentence's output never depends on the batch it is decoded in.
    """
    limit_list = _check(model, source, source_lengths, max_length)
    memory = model.encode(source, source_lengths)
    state = model.initial_state(memory)
    B, device = source.shape[0], source.device
    limits = torch.tensor(limit_list, dtype=torch.long, device=device)
    tokens = torch.full((B,), bos_index, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    lengths = limits.clone()
    scores = torch.zeros(B, dtype=torch.float64, device=device)
    steps, weights = [], []
    for t in range(max(limit_list)):
        logits, state, step_weights = model.decode_step(tokens, state, memory)
        log_probs = torch.log_softmax(logits.double(), dim=-1)  # (B, V)
        tokens = log_probs.argmax(-1)  # (B,)
        scores += torch.where(finished, 0.0, log_probs.gather(1, tokens[:, None]).squeeze(1))
        steps.append(tokens)
        weights.append(step_weights)
        ended = ~finished & (tokens == eos_index)
        lengths = torch.where(ended, t + 1, lengths)
        finished |= ended | (limits <= t + 1)
        if bool(finished.all()):
            break
    out = torch.stack(steps, dim=1).tolist()  # (B, n)
    attention = torch.stack(weights, dim=1) if weights[0] is not None else None  # (B, n, S)
    result_tokens, result_attention = [], []
    for b in range(B):
        n = int(lengths[b])
        ended = out[b][n - 1] == eos_index
        result_tokens.append(out[b][: n - 1] if ended else out[b][:n])
        result_attention.append(None if attention is None else attention[b, :n].cpu())
    return Hypotheses(result_tokens, scores.tolist(), result_attention)


def keep_best(hypotheses: list, hypothesis: tuple, k: int) -> None:
    """Insert ``hypothesis`` (normalised score first) into ``hypotheses``, kept sorted best first and at most ``k`` long."""
    hypotheses.append(hypothesis)
    hypotheses.sort(key=lambda h: -h[0])
    del hypotheses[k:]


def normalised(score: float, length: int, length_penalty: float) -> float:
    """``score / length ** length_penalty`` (see the module docstring)."""
    return score / (max(length, 1) ** length_penalty)


@torch.no_grad()
def beam_search(
    model: Any,
    source: Tensor,
    source_lengths: Tensor | None,
    bos_index: int,
    eos_index: int,
    beam_size: int = 5,
    max_length: int | Tensor = 100,
    length_penalty: float = 1.0,
) -> Hypotheses:
    """Beam search for a batch of sources (see the module docstring for the rules).

    Args: as :func:`greedy_decode`, plus ``beam_size`` (k >= 1) and ``length_penalty`` (alpha >= 0).
    Returns the best hypothesis per source; ``scores`` are their raw log-probabilities.
    """
    limits = _check(model, source, source_lengths, max_length)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or length_penalty < 0:
        raise ValueError(f"length_penalty must be a number >= 0, got {length_penalty!r}")
    device = source.device
    B, k = source.shape[0], beam_size
    rows = torch.arange(B, device=device).repeat_interleave(k)  # (B*k,) source of every beam
    memory = model.encode(source, source_lengths).select(rows)
    state = model.initial_state(memory)
    tokens = torch.full((B * k,), bos_index, dtype=torch.long, device=device)
    beam_scores = torch.full((B, k), float("-inf"), dtype=torch.float64, device=device)
    beam_scores[:, 0] = 0.0  # all k beams start identical: only the first one is live at step 0
    history = torch.empty(B * k, 0, dtype=torch.long, device=device)  # (B*k, t) tokens so far
    attn_history: Tensor | None = None  # (B*k, t, S)
    finished: list[list[tuple[float, float, list[int], Tensor | None]]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(max(limits)):
        logits, state, weights = model.decode_step(tokens, state, memory)
        log_probs = torch.log_softmax(logits.double(), dim=-1)  # (B*k, V)
        V = log_probs.shape[-1]
        candidates = (beam_scores.unsqueeze(-1) + log_probs.view(B, k, V)).view(B, k * V)  # (B, k*V)
        top_scores, top_index = candidates.topk(min(2 * k, k * V), dim=1)  # (B, 2k)
        top_beam, top_token = top_index // V, top_index % V
        if weights is not None:
            attn_history = (
                weights.unsqueeze(1) if attn_history is None else torch.cat([attn_history, weights.unsqueeze(1)], dim=1)
            )
        next_rows = (rows * k).view(B, k)  # finished sentences keep their own rows (never read again)
        next_tokens = torch.full((B, k), eos_index, dtype=torch.long, device=device)
        next_scores = torch.full((B, k), float("-inf"), dtype=torch.float64, device=device)
        scores_list, beams_list, tokens_list = top_scores.tolist(), top_beam.tolist(), top_token.tolist()
        for b in range(B):
            if done[b]:
                continue
            alive = 0
            for rank, (score, beam, token) in enumerate(zip(scores_list[b], beams_list[b], tokens_list[b])):
                if score == float("-inf"):
                    break
                row = b * k + beam
                if token == eos_index:
                    if rank < k:  # an <eos> ranked below the best k would not have survived the beam
                        attn = None if attn_history is None else attn_history[row, : t + 1].cpu()
                        keep_best(
                            finished[b],
                            (normalised(score, t + 1, length_penalty), score, history[row].tolist(), attn),
                            k,
                        )
                    continue
                if alive < k:
                    next_rows[b, alive], next_tokens[b, alive], next_scores[b, alive] = row, token, score
                    alive += 1
            if alive == 0 or (
                len(finished[b]) == k
                and normalised(float(next_scores[b, 0]), t + 1, length_penalty) <= finished[b][-1][0]
            ):
                done[b] = True
        index = next_rows.view(-1)
        state = state.select(index)
        history = torch.cat([history.index_select(0, index), next_tokens.view(-1, 1)], dim=1)  # (B*k, t+1)
        if attn_history is not None:
            attn_history = attn_history.index_select(0, index)
        tokens = next_tokens.view(-1)
        beam_scores = next_scores
        for b in range(B):  # a sentence at its step limit: the live prefixes end here
            if not done[b] and t + 1 >= limits[b]:
                for beam in range(k):
                    score = float(beam_scores[b, beam])
                    if score > float("-inf"):
                        row = b * k + beam
                        attn = None if attn_history is None else attn_history[row].cpu()
                        keep_best(
                            finished[b],
                            (normalised(score, t + 1, length_penalty), score, history[row].tolist(), attn),
                            k,
                        )
                done[b] = True
        if all(done):
            break
    best = [hyps[0] for hyps in finished]
    return Hypotheses([h[2] for h in best], [h[1] for h in best], [h[3] for h in best])


def decode(
    model: Any,
    source: Tensor,
    source_lengths: Tensor | None,
    bos_index: int,
    eos_index: int,
    beam_size: int = 1,
    max_length: int | Tensor = 100,
    length_penalty: float = 1.0,
) -> Hypotheses:
    """:func:`greedy_decode` for ``beam_size == 1``, else :func:`beam_search`."""
    if beam_size == 1:
        return greedy_decode(model, source, source_lengths, bos_index, eos_index, max_length)
    return beam_search(model, source, source_lengths, bos_index, eos_index, beam_size, max_length, length_penalty)


def default_max_length(source_lengths: Tensor) -> Tensor:
    """Output steps allowed per sentence: ``2 * source length + 10``, (B,)."""
    return 2 * source_lengths.to(torch.long) + 10


@torch.no_grad()
def translate(
    model: Any,
    encoder: Any,
    texts: Sequence[str],
    beam_size: int = 5,
    max_length: int | None = None,
    length_penalty: float = 1.0,
    batch_size: int = 32,
) -> list[str]:
    """Translate ``texts`` with ``model`` and its :class:`~seqmodels.data.translation_encoder.TranslationEncoder`.

    Sources are encoded with the encoder's source side, decoded (greedy for ``beam_size=1``, else
    beam search), and written out with the target side's detokenizer. ``max_length`` None allows
    :func:`default_max_length` steps per sentence, so that a translation never depends on the
    other sentences of its batch.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be a list of strings, got {texts!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    model.eval()
    device = next(model.parameters()).device
    pad = encoder.vocab.pad_index or 0
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        ids = [encoder.encode(text) for text in texts[start : start + batch_size]]
        lengths = torch.tensor([len(i) for i in ids], dtype=torch.long, device=device)
        source = torch.full((len(ids), int(lengths.max())), pad, dtype=torch.long, device=device)  # (B, S)
        for b, row in enumerate(ids):
            source[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        steps = max_length if max_length is not None else default_max_length(lengths)
        hyps = decode(model, source, lengths, encoder.bos_index, encoder.eos_index, beam_size, steps, length_penalty)
        out.extend(encoder.decode(tokens) for tokens in hyps.tokens)
    return out


__all__ = ["Hypotheses", "greedy_decode", "beam_search", "decode", "normalised", "default_max_length", "translate"]
