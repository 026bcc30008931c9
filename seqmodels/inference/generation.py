"""Sampling from and scoring with a recurrent language model.

Both carry the recurrent state: :func:`generate` feeds the prompt once, then one token per
step with the state of the previous step (no re-run of the prefix), so a sample of N tokens
costs N steps (through ``model.step(tokens (B,), state)`` when the model has it, else
``model(tokens (B, 1), state)``). :func:`score` computes ``log p(sentence) = Σ_t log p(w_t | w_<t)`` for a batch
of sentences in one forward pass (a unidirectional model never looks at the padding after a
sentence's end).

Sentence boundaries. Word corpora such as Penn Treebank end every line with ``<eos>`` (Mikolov
et al.), so there a sentence is read after an ``<eos>`` and ends with one: the context before the
first token is ``<eos>``, and :func:`score` counts ``p(<eos> | sentence)`` as the last token.
With ``boundary=None`` (the default) this happens when the ``<eos>`` token can occur in the
training stream, i.e. when the vocabulary has it *and* the tokenizer reads the text ``"<eos>"``
as that one token (word tokenizers: yes; a character tokenizer splits it into 5 characters, so a
character model has never seen it, even when its vocabulary lists it as a special).
:func:`generate` stops at ``<eos>`` whenever the vocabulary has one.

Conditional models (:class:`~seqmodels.models.ConditionalLanguageModel`) get their ``condition`` (the
model's tensors for a batch of one; :func:`seqmodels.inference.conditional.condition_input` makes them from
``"field:value"`` text) at every call. Their sequences are always read between boundaries, as their data
module wrote them: ``[start, x_1..x_n, <eos>]`` with ``start`` = ``<bos>`` when the vocabulary has it, else
``<eos>`` (:func:`start_token`); ``boundary`` is then not used.

An ``encoder`` is anything with ``encode(text) -> list[int]``, ``decode(ids) -> str`` and a
``vocab`` with ``eos_index`` (None when absent) — :class:`seqmodels.data.TextEncoder`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..utils.state import map_state


def _eos_index(encoder: Any) -> int | None:
    vocab = getattr(encoder, "vocab", None)
    return getattr(vocab, "eos_index", None)


def boundary_token(encoder: Any) -> int | None:
    """The ``<eos>`` id when the tokenizer can produce it from text (see the module docstring), else None."""
    eos = _eos_index(encoder)
    if eos is None:
        return None
    return eos if list(encoder.encode(encoder.decode([eos]))) == [eos] else None


def default_prompt(encoder: Any) -> str:
    """Text to start from when the prompt is empty and there is no ``<eos>`` boundary to start after.

    A line break when the vocabulary has it as a token (a character model then starts a new line,
    as nanoGPT's samples do), else the vocabulary's first ordinary token (the most frequent one for
    a frequency-sorted :class:`~seqmodels.data.Vocab`).
    """
    vocab = encoder.vocab
    newline = list(encoder.encode("\n"))
    if len(newline) == 1 and newline[0] != getattr(vocab, "unk_index", None):
        return "\n"
    first = len(getattr(vocab, "specials", ()))
    if first >= len(vocab):
        raise ValueError("prompt is empty and the vocabulary holds only special tokens; give a prompt")
    return encoder.decode([first])


def start_token(encoder: Any) -> int:
    """The id a conditional sequence starts from: ``<bos>`` when the vocabulary has it, else ``<eos>``."""
    vocab = encoder.vocab
    start = getattr(vocab, "bos_index", None)
    start = _eos_index(encoder) if start is None else start
    if start is None or _eos_index(encoder) is None:
        raise ValueError(
            "a conditional language model's vocabulary needs an <eos> token (the end of a sequence, and its start "
            f"when there is no <bos>); its specials are {list(getattr(vocab, 'specials', ()))}"
        )
    return int(start)


def _use_boundary(encoder: Any, boundary: bool | None) -> int | None:
    """The boundary token id to use, or None."""
    eos = _eos_index(encoder)
    if boundary is None:
        return boundary_token(encoder)
    if boundary and eos is None:
        raise ValueError("boundary=True needs a vocabulary with an <eos> token, but vocab.eos_index is None")
    return eos if boundary else None


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the top-k and outside the nucleus of mass ``top_p``.

    Top-p (Holtzman et al. 2020) keeps the smallest set of most likely tokens whose
    probabilities sum to at least ``top_p``. ``logits`` (..., V); the most likely token always stays.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # probability of the better tokens
        remove_sorted = mass_before >= top_p
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def _check_sampling(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


class _EvalMode:
    """Context: the model in eval mode under inference_mode, its previous mode restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.was_training = self.model.training
        self.model.eval()
        self.inference = torch.inference_mode()
        self.inference.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.inference.__exit__(*exc)
        self.model.train(self.was_training)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def generate_ids(
    model: nn.Module,
    context: Sequence[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_token: int | None = None,
    condition: Any = None,
) -> list[int]:
    """Sample up to ``max_new_tokens`` ids after ``context`` (non-empty ids), one step at a time.

    Each step draws ``x ~ softmax(filter(logits / temperature))``; ``temperature == 0`` takes the
    argmax. ``seed`` makes the draw reproducible without touching torch's global generator.
    Stops after ``stop_token`` (not included in the result). ``condition``: what a conditional model
    (:class:`~seqmodels.models.ConditionalLanguageModel`) is told at every call, for a batch of one
    (``model(tokens, condition, state)``, ``model.step(tokens, condition, state)``); None for a plain one.

    Returns the new ids only.
    """
    _check_sampling(max_new_tokens, temperature, top_k, top_p)
    if len(context) == 0:
        raise ValueError("context must hold at least one token id to condition on")
    device = _device(model)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed))
    new: list[int] = []
    conditioned = () if condition is None else (condition,)  # the arguments between tokens and state
    with _EvalMode(model):
        tokens = torch.tensor([list(context)], dtype=torch.long, device=device)  # (1, P)
        logits, state = model(tokens, *conditioned)  # (1, P, V)
        last = logits[0, -1]  # (V,)
        step = getattr(model, "step", None)  # one time step without the sequence machinery, when offered
        for _ in range(max_new_tokens):
            last = last.float()
            if temperature == 0:
                token = int(last.argmax())
            else:
                probs = torch.softmax(filter_logits(last / temperature, top_k, top_p), dim=-1)
                if not bool(torch.isfinite(probs).all()):
                    raise ValueError(
                        f"the model's next-token scores after {len(context) + len(new)} tokens are not finite "
                        f"(max |logit| {float(last.abs().max()):.3g}): its weights have diverged. Train with a lower "
                        "learning rate or gradient clipping (task.clip_grad_norm)"
                    )
                token = int(torch.multinomial(probs, 1, generator=generator))
            if token == stop_token:
                break
            new.append(token)
            if step is not None:
                logits, state = step(torch.tensor([token], device=device), *conditioned, state)  # (1, V)
                last = logits[0]
            else:
                logits, state = model(torch.tensor([[token]], device=device), *conditioned, state)  # (1, 1, V)
                last = logits[0, -1]
    return new


def generate(
    model: nn.Module,
    encoder: Any,
    prompt: str = "",
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    boundary: bool | None = None,
    stop_at_eos: bool = True,
    condition: Any = None,
) -> str:
    """Sample a continuation of ``prompt`` and return prompt and continuation, decoded.

    Args:
        model: a language model ``(tokens (1, T), state) -> (logits (1, T, V), state)``.
        encoder: text <-> ids (see the module docstring).
        prompt: text to continue. Empty: start after ``<eos>`` when it is a boundary token, else
            from :func:`default_prompt` (included in the returned text).
        max_new_tokens: at most this many sampled tokens.
        temperature: divides the logits; 0 = greedy (argmax).
        top_k: sample among the k most likely tokens only.
        top_p: sample within the nucleus of mass ``top_p``.
        seed: makes the sample reproducible.
        boundary: read the prompt after an ``<eos>`` (None: when the tokenizer produces ``<eos>``).
        stop_at_eos: stop when ``<eos>`` is drawn (when the vocabulary has one).
        condition: a conditional model's condition (see the module docstring); None for a plain model.
    """
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
    start = _use_boundary(encoder, boundary) if condition is None else start_token(encoder)
    if not prompt and start is None:
        prompt = default_prompt(encoder)
    prompt_ids = list(encoder.encode(prompt)) if prompt else []
    context = ([start] if start is not None else []) + prompt_ids
    stop = _eos_index(encoder) if stop_at_eos else None
    new = generate_ids(model, context, max_new_tokens, temperature, top_k, top_p, seed, stop, condition)
    return encoder.decode(prompt_ids + new)


def score(
    model: nn.Module, encoder: Any, sentences: Sequence[str], boundary: bool | None = None, condition: Any = None
) -> list[dict[str, Any]]:
    """Log-probability of each sentence under the model.

    ``log_prob = Σ_t log p(w_t | w_<t)`` (natural log) over the scored tokens: all tokens of the
    sentence and, with a boundary, the closing ``<eos>`` (the opening one is context). Without a
    boundary the first token has no context and is not scored. ``ppl = exp(-log_prob / num_tokens)``.

    Returns one dict per sentence: ``sentence``, ``log_prob``, ``ppl``, ``num_tokens`` and
    ``token_log_probs`` (the per-token terms of the sum).

    With a conditional model's ``condition`` (one, shared by every sentence) a sentence is scored between
    its boundaries, ``log p(x_1..x_n, <eos> | start, c)``.
    """
    if isinstance(sentences, str):
        raise ValueError("sentences must be a list of strings, got a single string")
    eos = _use_boundary(encoder, boundary) if condition is None else _eos_index(encoder)
    start = eos if condition is None else start_token(encoder)
    sequences = []
    for sentence in sentences:
        if not isinstance(sentence, str):
            raise ValueError(f"sentences must be strings, got {type(sentence).__name__}: {sentence!r}")
        ids = list(encoder.encode(sentence))
        seq = [start] + ids + [eos] if eos is not None else ids
        if len(seq) < 2:
            raise ValueError(
                f"sentence {sentence!r} has {len(ids)} token(s): without an <eos> boundary at least 2 are needed "
                "(the first token is only context)"
            )
        sequences.append(seq)
    rows = score_ids(model, sequences, condition)
    return [{"sentence": sentence, **row} for sentence, row in zip(sentences, rows)]


def score_ids(model: nn.Module, sequences: Sequence[Sequence[int]], condition: Any = None) -> list[dict[str, Any]]:
    """``log p(seq[1:] | seq[0])`` of each id sequence (at least 2 ids; the first is context only), in one
    padded forward pass; ``condition`` as for :func:`generate_ids`, for a batch of one (shared by every
    sequence). Returns ``log_prob``, ``ppl``, ``num_tokens`` and ``token_log_probs`` per sequence."""
    if not sequences:
        return []
    device = _device(model)
    longest = max(len(s) for s in sequences)
    tokens = torch.zeros(len(sequences), longest, dtype=torch.long, device=device)  # (N, L), padded at the end
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = torch.tensor(seq)
    conditioned: tuple[Any, ...] = ()
    if condition is not None:  # the one condition, repeated for the N sequences
        conditioned = (map_state(lambda t: t.expand(len(sequences), *t.shape[1:]), condition),)
    with _EvalMode(model):
        logits, _ = model(tokens[:, :-1], *conditioned)  # (N, L-1, V)
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        picked = log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)  # (N, L-1)
    results = []
    for i, seq in enumerate(sequences):
        terms = picked[i, : len(seq) - 1].tolist()
        total = math.fsum(terms)
        results.append(
            {
                "log_prob": total,
                "ppl": math.exp(-total / len(terms)) if -total / len(terms) < 709.0 else math.inf,
                "num_tokens": len(terms),
                "token_log_probs": terms,
            }
        )
    return results
