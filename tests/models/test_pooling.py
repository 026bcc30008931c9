"""Concat pooling (ULMFiT): [last; max; mean] over each sequence's valid steps, against a loop written by hand."""

from __future__ import annotations

import pytest
import torch

from seqmodels.cells import LSTMCell
from seqmodels.models import RNNClassifier, concat_pool


def hand_concat(out: torch.Tensor, lengths: list[int], num_directions: int) -> torch.Tensor:
    rows = []
    F = out.shape[-1]
    H = F // num_directions
    for b, n in enumerate(lengths):
        last, top, total = [], [], []
        for f in range(F):
            values = [float(out[b, t, f]) for t in range(n)]  # the valid steps only
            reverse = num_directions == 2 and f >= H
            last.append(values[0] if reverse else values[-1])  # the reverse pass ends at step 0
            top.append(max(values))
            total.append(sum(values) / n)
        rows.append(last + top + total)
    return torch.tensor(rows, dtype=out.dtype)


@pytest.mark.parametrize("num_directions", [1, 2])
def test_concat_pool_against_a_loop_over_the_valid_steps(num_directions):
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 3]
    out = torch.randn(3, 5, 4, generator=g, dtype=torch.float64) - 2.0  # mostly negative: zero padding would win max
    out[1, 1:] = 7.0  # large padding: would win max and move the mean if it leaked
    out[2, 3:] = 7.0
    pooled = concat_pool(out, torch.tensor(lengths), num_directions)
    assert pooled.shape == (3, 12)
    torch.testing.assert_close(pooled, hand_concat(out, lengths, num_directions), rtol=1e-12, atol=1e-12)
    full = concat_pool(out, None, num_directions)  # no lengths: every step counts
    torch.testing.assert_close(full, hand_concat(out, [5, 5, 5], num_directions), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_concat_head_reads_three_times_the_layer_output(bidirectional):
    torch.manual_seed(1)
    model = RNNClassifier(
        3, LSTMCell, hidden_size=5, vocab_size=9, embedding_dim=4, bidirectional=bidirectional, pooling="concat"
    ).double()
    model.eval()
    D = 2 if bidirectional else 1
    assert model.head.in_features == 3 * D * 5
    tokens, lengths = torch.randint(1, 9, (3, 6)), torch.tensor([6, 2, 4])
    with torch.no_grad():
        logits, _ = model(tokens, lengths)
        out, _ = model.rnn(model.encoder(tokens), lengths=lengths)  # (B, T, D*H)
        expected = model.head(hand_concat(out, lengths.tolist(), D))
        torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-12)
        for b, n in enumerate(lengths.tolist()):  # padding changes nothing
            torch.testing.assert_close(model(tokens[b : b + 1, :n])[0], logits[b : b + 1], rtol=1e-10, atol=1e-12)
