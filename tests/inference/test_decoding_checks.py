"""Decoding's argument checks (each refusal's whole message), ``decode``'s dispatch and the default step limit.

``decode`` is checked against independent oracles on the hand-built table decoders of ``test_beam_search``:
greedy decoding by hand (the argmax of the table, step by step) and brute-force enumeration, with every
argument chosen so that passing it wrongly (dropped, swapped, a default instead) changes the answer. The
decoder here reads its sentence number from the real (unpadded) source tokens, so that the source lengths
matter too.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import Tensor

from seqmodels.inference.decoding import beam_search, decode, default_max_length, greedy_decode
from tests.inference.test_beam_search import (
    BOS,
    EOS,
    Rows,
    Table,
    TableDecoder,
    brute_force,
    hand_table,
    log_prob,
    random_table,
)

PAD_TOKEN = 50  # the padding column: counted in a sentence's number only when the lengths are ignored


class LengthAwareDecoder(TableDecoder):
    """A :class:`TableDecoder` whose sentence number is the sum of the source's first ``length`` tokens."""

    def encode(self, source: Tensor, source_lengths: Tensor | None) -> Rows:
        lengths = [source.shape[1]] * source.shape[0] if source_lengths is None else source_lengths.tolist()
        numbers = [int(row[:n].sum()) for row, n in zip(source, lengths)]
        return Rows(torch.tensor(numbers), torch.empty(source.shape[0], 0, dtype=torch.long))


SENTENCES = 10
SOURCE = torch.stack([torch.arange(SENTENCES), torch.full((SENTENCES,), PAD_TOKEN)], dim=1)  # (10, 2)
LENGTHS = torch.ones(SENTENCES, dtype=torch.long)  # the padding column is not part of any sentence
LIMITS = torch.tensor([1, 2, 3, 2, 3, 1, 3, 2, 3, 3])  # steps allowed per sentence


def greedy_by_hand(table: Table, sentence: int, limit: int) -> tuple[list[int], float]:
    """The most likely next token of the table at every step, until <eos> or ``limit`` steps."""
    tokens: list[int] = []
    for _ in range(limit):
        probs = table(sentence, tuple(tokens))
        best = max(range(len(probs)), key=probs.__getitem__)
        if best == EOS:
            return tokens, log_prob(table, sentence, tuple(tokens), True)
        tokens.append(best)
    return tokens, log_prob(table, sentence, tuple(tokens), False)


# ------------------------------------------------------------------------------ decode
def test_decode_with_beam_one_is_greedy_decoding_with_every_argument_passed():
    by_hand = [greedy_by_hand(random_table, s, int(n)) for s, n in enumerate(LIMITS)]
    # the fixture has power: other lengths or another step limit would give other outputs
    assert any(greedy_by_hand(random_table, s + PAD_TOKEN, int(n)) != by_hand[s] for s, n in enumerate(LIMITS))
    assert any(greedy_by_hand(random_table, s, 3) != by_hand[s] for s in range(SENTENCES))
    assert 0 < sum(len(tokens) < n for (tokens, _), n in zip(by_hand, LIMITS)) < SENTENCES, "some end, some not"

    hyps = decode(LengthAwareDecoder(random_table), SOURCE, LENGTHS, BOS, EOS, 1, LIMITS, 0.0)
    assert hyps.tokens == [tokens for tokens, _ in by_hand]
    assert hyps.scores == pytest.approx([score for _, score in by_hand], abs=1e-12)
    assert hyps.attention == [None] * SENTENCES


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_decode_with_a_wide_beam_is_exhaustive_search(alpha):
    """A beam of 64 holds every prefix of at most 3 steps (see test_beam_search): brute force is the answer."""
    hyps = decode(LengthAwareDecoder(random_table), SOURCE, LENGTHS, BOS, EOS, 64, LIMITS, alpha)
    for s, n in enumerate(LIMITS.tolist()):
        tokens, raw = brute_force(random_table, s, n, alpha)
        assert hyps.tokens[s] == tokens, (s, alpha)
        assert hyps.scores[s] == pytest.approx(raw, abs=1e-12)


def test_decode_with_a_narrow_beam_is_beam_search_with_the_same_arguments():
    model = LengthAwareDecoder(random_table)
    narrow = beam_search(model, SOURCE, LENGTHS, BOS, EOS, 2, LIMITS, 0.5)
    assert narrow.tokens != greedy_decode(model, SOURCE, LENGTHS, BOS, EOS, LIMITS).tokens, "a beam of 2 must matter"
    assert decode(model, SOURCE, LENGTHS, BOS, EOS, 2, LIMITS, 0.5) == narrow


def test_decode_defaults_are_greedy_100_steps_and_mean_log_probability_for_beams():
    never_ends = TableDecoder(lambda sentence, prefix: [0.2, 1e-6, 0.5, 0.3 - 1e-6])  # always "a", <eos> never
    hyps = decode(never_ends, torch.zeros(2, 1, dtype=torch.long), None, BOS, EOS)
    assert hyps.tokens == [[2] * 100, [2] * 100]
    assert hyps.scores == pytest.approx([100 * math.log(0.5)] * 2, abs=1e-9)
    # the default beam is 1: greedy, which a beam of 2 would not reproduce here
    by_hand = [greedy_by_hand(random_table, s, 100)[0] for s in range(SENTENCES)]
    assert beam_search(LengthAwareDecoder(random_table), SOURCE, LENGTHS, BOS, EOS, 2, 100).tokens != by_hand
    assert decode(LengthAwareDecoder(random_table), SOURCE, LENGTHS, BOS, EOS).tokens == by_hand
    # beam search's default length penalty is 1 (the mean log-probability), which no other alpha here matches
    best = {a: [brute_force(random_table, s, int(n), a)[0] for s, n in enumerate(LIMITS)] for a in (0, 1, 2)}
    assert best[1] != best[0] and best[1] != best[2]
    assert decode(LengthAwareDecoder(random_table), SOURCE, LENGTHS, BOS, EOS, 64, LIMITS).tokens == best[1]


def test_default_max_length_is_twice_the_source_plus_ten():
    limits = default_max_length(torch.tensor([0, 1, 7, 30], dtype=torch.int32))
    assert limits.dtype == torch.long
    assert limits.tolist() == [10, 12, 24, 70]


# ------------------------------------------------------------------------------ refusals
class NoDecodeStep:
    """Has two of the three methods a decoder needs; ``decode_step`` is not callable."""

    decode_step = None

    def encode(self, source, source_lengths):
        raise AssertionError("never called")

    def initial_state(self, memory):
        raise AssertionError("never called")


SEARCHES = {
    "greedy": lambda model, source, max_length: greedy_decode(model, source, None, BOS, EOS, max_length),
    "beam": lambda model, source, max_length: beam_search(model, source, None, BOS, EOS, 2, max_length),
}
TWO = torch.zeros(2, 1, dtype=torch.long)  # two sentences
NOT_A_MODEL = "model must be an encoder-decoder with encode/initial_state/decode_step (a Seq2Seq), got "
NOT_A_SOURCE = "source must be a (batch, seq) LongTensor, got "
EMPTY = "source must hold at least one sentence of at least one token, got shape "


@pytest.mark.parametrize("search", list(SEARCHES))
@pytest.mark.parametrize(
    ("model", "source", "max_length", "message"),
    [
        (object(), TWO, 5, NOT_A_MODEL + "object"),
        (NoDecodeStep(), TWO, 5, NOT_A_MODEL + "NoDecodeStep"),
        (None, [[0], [0]], 5, NOT_A_SOURCE + "list"),
        (None, torch.zeros(3, dtype=torch.long), 5, NOT_A_SOURCE + "torch.Size([3])"),
        (None, torch.zeros(2, 1, 1, dtype=torch.long), 5, NOT_A_SOURCE + "torch.Size([2, 1, 1])"),
        (None, TWO, torch.tensor([4, 4, 4]), "max_length must be an integer or one per sentence (2), got 3 values"),
        (None, TWO, torch.tensor([4]), "max_length must be an integer or one per sentence (2), got 1 values"),
        (None, TWO, True, "max_length must be a positive integer or a (batch,) tensor of them, got True"),
        (None, TWO, 5.0, "max_length must be a positive integer or a (batch,) tensor of them, got 5.0"),
        (None, TWO, "5", "max_length must be a positive integer or a (batch,) tensor of them, got '5'"),
        (None, TWO, 0, "max_length must be positive, got 0"),
        (None, TWO, -3, "max_length must be positive, got -3"),
        (None, TWO, torch.tensor([4, 0]), "max_length must be positive, got 0"),
        (None, TWO, torch.tensor([[-1], [4]]), "max_length must be positive, got -1"),
        (None, torch.zeros(0, 1, dtype=torch.long), 5, EMPTY + "(0, 1)"),
        (None, torch.zeros(2, 0, dtype=torch.long), 5, EMPTY + "(2, 0)"),
    ],
    ids=[
        "not-a-model",
        "no-decode-step",
        "list-source",
        "1d-source",
        "3d-source",
        "three-limits",
        "one-limit",
        "bool-limit",
        "float-limit",
        "str-limit",
        "zero-limit",
        "negative-limit",
        "a-zero-limit",
        "a-negative-limit",
        "no-sentence",
        "empty-sentences",
    ],
)
def test_bad_arguments_are_refused_naming_the_argument_and_the_value(search, model, source, max_length, message):
    model = TableDecoder(hand_table) if model is None else model
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SEARCHES[search](model, source, max_length)


@pytest.mark.parametrize("search", list(SEARCHES))
def test_per_sentence_limits_of_any_shape_with_one_per_sentence_are_accepted(search):
    """A (B, 1) tensor of limits reads as (B,); each sentence stops at its own limit (the table never ends)."""
    never_ends = TableDecoder(lambda sentence, prefix: [0.2, 1e-6, 0.5, 0.3 - 1e-6])
    hyps = SEARCHES[search](never_ends, TWO, torch.tensor([[3], [1]]))
    assert hyps.tokens == [[2, 2, 2], [2]]
