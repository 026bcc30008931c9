"""The network-only PTB step comparison runs and prints one line per side (a benchmark: no timing is asserted)."""

from __future__ import annotations

import pytest
import torch

from seqmodels.bench import peer_network
from seqmodels.bench.peer_word_lm import RNNModel
from seqmodels.cells import LSTMCell
from seqmodels.models import RNNLanguageModel


@pytest.mark.parametrize("side", ["ours", "peer"])
def test_a_step_updates_every_weight_by_sgd(side):
    """Forward, backward, clipping and the update at lr 20 all ran: each weight moved, by at most lr · clip."""
    torch.manual_seed(0)
    V, B, T = 50, 3, 4
    inputs, targets = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
    if side == "ours":
        model = RNNLanguageModel(V, LSTMCell, 8, 8, 2, backend="torch")
    else:
        model = RNNModel(V, 8, 8, 2, 0.0)
    make = peer_network.our_step if side == "ours" else peer_network.peer_step
    before = [p.detach().clone() for p in model.parameters()]
    make(model, inputs, targets)()
    moved = [float((p.detach() - q).norm()) for p, q in zip(model.parameters(), before)]
    assert all(m > 0 for m in moved[:-1])  # the embedding, every recurrent weight, the decoder
    assert sum(m**2 for m in moved) ** 0.5 <= peer_network.LR * peer_network.CLIP * (1 + 1e-5)


def test_the_printout_names_every_side(capsys):
    peer_network.main(["--steps", "1", "--warmup", "0", "--backends", "torch"])
    out = capsys.readouterr().out
    assert "ours (torch)" in out and "peer RNNModel" in out and "peer / side" in out
    with pytest.raises(SystemExit, match="--steps >= 1"):
        peer_network.main(["--steps", "0"])
