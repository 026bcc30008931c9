"""Beam search's length normalisation against brute-force enumeration on a hand-built decoder.

The decoder is a table: every (sentence, prefix) has fixed next-token probabilities, so the
log-probability of every output is known exactly and all outputs up to ``max_length`` can be
enumerated. The ranking formula is written out here, as the decoding docstring states it:

    log p(y | x) / |y|^alpha        |y| = number of output steps, the <eos> step included
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
from torch import Tensor

from seqmodels.inference.decoding import beam_search

BOS, EOS, A, B = 0, 1, 2, 3  # the hand-built vocabulary; BOS is an ordinary (unlikely) output too
V = 4
Table = Callable[[int, tuple[int, ...]], list[float]]  # (sentence, prefix without <bos>) -> V probabilities


class Rows(NamedTuple):
    """Per beam row: its source sentence (B*k,) and the tokens fed so far, <bos> included (B*k, t)."""

    sentence: Tensor
    fed: Tensor

    def select(self, index: Tensor) -> Rows:
        return Rows(self.sentence.index_select(0, index), self.fed.index_select(0, index))


class TableDecoder:
    """The encode / initial_state / decode_step interface of a Seq2Seq, answering from ``table``.

    The source is one column holding the sentence's number; the logits are the table's log-probabilities
    (log_softmax leaves them as they are)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def encode(self, source: Tensor, source_lengths: Tensor | None) -> Rows:
        return Rows(source[:, 0], torch.empty(source.shape[0], 0, dtype=torch.long))

    def initial_state(self, memory: Rows) -> Rows:
        return memory

    def decode_step(self, tokens: Tensor, state: Rows, memory: Rows) -> tuple[Tensor, Rows, None]:
        fed = torch.cat([state.fed, tokens[:, None]], dim=1)
        probs = [self.table(int(s), tuple(row[1:])) for s, row in zip(state.sentence.tolist(), fed.tolist())]
        return torch.tensor(probs, dtype=torch.float64).log(), Rows(state.sentence, fed), None


def log_prob(table: Table, sentence: int, tokens: tuple[int, ...], ended: bool) -> float:
    """Σ_t log p(y_t | y_<t), the <eos> step included when ``ended``."""
    outputs = (*tokens, EOS) if ended else tokens
    return sum(math.log(table(sentence, outputs[:t])[y]) for t, y in enumerate(outputs))


def brute_force(table: Table, sentence: int, max_length: int, alpha: float) -> tuple[list[int], float]:
    """The best output of all: n < max_length tokens then <eos> (n + 1 steps), or max_length tokens
    cut off without <eos>, ranked by ``log p / steps ** alpha``. Returns (tokens, raw log p)."""
    others = [t for t in range(V) if t != EOS]
    candidates = []
    for n in range(max_length + 1):
        for tokens in itertools.product(others, repeat=n):
            ended = n < max_length
            score = log_prob(table, sentence, tokens, ended)
            steps = n + 1 if ended else n
            candidates.append((score / steps**alpha, list(tokens), score))
    ranked = sorted(candidates, key=lambda c: -c[0])
    assert ranked[0][0] - ranked[1][0] > 1e-9, "no near-ties: the answer must not depend on rounding"
    return ranked[0][1], ranked[0][2]


def search(table: Table, sentences: int, beam_size: int, max_length: int, alpha: float):
    source = torch.arange(sentences)[:, None]  # (B, 1): the sentence numbers
    return beam_search(TableDecoder(table), source, None, BOS, EOS, beam_size, max_length, alpha)


# ------------------------------------------------------------------------------ a table by hand
HAND = {  # probabilities of [<bos>, <eos>, a, b] after each prefix
    (): [0.01, 0.5, 0.45, 0.04],
    (A,): [0.01, 0.1, 0.8, 0.09],
    (A, A): [0.01, 0.75, 0.2, 0.04],
}
ELSEWHERE = [0.01, 0.33, 0.33, 0.33]


def hand_table(sentence: int, prefix: tuple[int, ...]) -> list[float]:
    return HAND.get(prefix, ELSEWHERE)


def test_hand_table_raw_score_ends_at_once_mean_score_writes_two_tokens():
    """By hand: "" scores log .5 = -0.693 over 1 step; "a a" scores log(.45 * .8 * .75) = -1.310 over
    3 steps, -0.437 per step. Every other output is below both under either rule. So alpha = 0 picks "",
    alpha = 1 picks "a a" (and ((5 + |y|) / 6)^alpha, or multiplying by |y|^alpha, would pick "")."""
    empty, a_a = math.log(0.5), math.log(0.45 * 0.8 * 0.75)
    assert empty > a_a and empty / 1 < a_a / 3 and empty / 1 > a_a / (8 / 6)  # the table does separate them
    for alpha, expected, raw in ((0.0, [], empty), (1.0, [A, A], a_a)):
        assert brute_force(hand_table, 0, 6, alpha) == (expected, pytest.approx(raw, abs=1e-12))
        for beam_size in (2, 3, 4):
            hyps = search(hand_table, 1, beam_size, 6, alpha)
            assert hyps.tokens == [expected], (alpha, beam_size)
            assert hyps.scores[0] == pytest.approx(raw, abs=1e-12)  # the raw log-probability, not the ranking score


# ------------------------------------------------------------------------------ random tables
def random_table(sentence: int, prefix: tuple[int, ...]) -> list[float]:
    """Fixed pseudo-random probabilities per (sentence, prefix), <eos> from rare to likely."""
    rng = random.Random(f"{sentence}:{prefix}")
    weights = [rng.uniform(0.02, 1.0) ** 2 for _ in range(V)]
    total = sum(weights)
    return [w / total for w in weights]


SENTENCES, MAX_LENGTH = 10, 3


def test_random_tables_separate_the_normalisations():
    """The fixture has power: raw and mean scores pick different outputs for some sentences."""
    raw = [brute_force(random_table, s, MAX_LENGTH, 0.0)[0] for s in range(SENTENCES)]
    mean = [brute_force(random_table, s, MAX_LENGTH, 1.0)[0] for s in range(SENTENCES)]
    assert sum(a != b for a, b in zip(raw, mean)) >= 3
    assert sum(map(len, mean)) > sum(map(len, raw))  # the mean favours longer outputs than the raw sum


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_a_beam_holding_every_prefix_finds_the_brute_force_best(alpha):
    """V = 4, at most 3 steps: 3^2 live prefixes at the last step, 36 extensions; a beam of 64 keeps
    them all, so beam search is exhaustive search and must return the enumerated optimum."""
    hyps = search(random_table, SENTENCES, 64, MAX_LENGTH, alpha)
    for s in range(SENTENCES):
        tokens, raw = brute_force(random_table, s, MAX_LENGTH, alpha)
        assert hyps.tokens[s] == tokens, (s, alpha)
        assert hyps.scores[s] == pytest.approx(raw, abs=1e-12)
