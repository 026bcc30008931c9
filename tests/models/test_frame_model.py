"""RNNFrameModel: torch.nn.LSTM + Linear with the same weights is the oracle; lengths; step = forward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels.cells import LSTMCell
from seqmodels.models.frame_model import RNNFrameModel


def torch_twin(model: RNNFrameModel) -> tuple[nn.LSTM, nn.Linear]:
    lstm = nn.LSTM(model.input_size, model.hidden_size, model.num_layers, batch_first=True).double()
    with torch.no_grad():
        for layer in range(model.num_layers):
            cell = model.rnn.layers[layer].cell
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstm, f"{name}_l{layer}").copy_(getattr(cell, name))
    head = nn.Linear(model.hidden_size, model.input_size).double()
    head.load_state_dict(model.head.state_dict())
    return lstm, head


def test_logits_are_torch_lstm_then_linear_and_padding_is_ignored():
    torch.manual_seed(0)
    model = RNNFrameModel(88, LSTMCell, hidden_size=7, num_layers=2).double()
    lstm, head = torch_twin(model)
    x = (torch.rand(3, 6, 88, dtype=torch.float64) < 0.1).double()
    lengths = torch.tensor([6, 2, 4])
    logits, state = model(x, lengths)
    assert logits.shape == (3, 6, 88)
    for b, n in enumerate(lengths.tolist()):
        out, (h, c) = lstm(x[b : b + 1, :n])
        torch.testing.assert_close(logits[b : b + 1, :n], head(out), rtol=1e-10, atol=1e-10)
        for layer in range(2):  # the final state is taken at the roll's own last step
            torch.testing.assert_close(state[layer][0][b], h[layer, 0], rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(state[layer][1][b], c[layer, 0], rtol=1e-10, atol=1e-10)


def test_step_by_step_equals_the_whole_sequence():
    torch.manual_seed(1)
    model = RNNFrameModel(88, LSTMCell, hidden_size=5).double()
    x = (torch.rand(2, 4, 88, dtype=torch.float64) < 0.2).double()
    whole, _ = model(x)
    state = None
    for t in range(4):
        logits, state = model.step(x[:, t], state)
        torch.testing.assert_close(logits, whole[:, t], rtol=1e-10, atol=1e-10)


def test_wrong_inputs_are_named():
    model = RNNFrameModel(88, LSTMCell, hidden_size=5)
    with pytest.raises(ValueError, match="inputs have 12 keys, expected input_size=88"):
        model(torch.zeros(1, 3, 12))
    with pytest.raises(ValueError, match="inputs must be a float tensor"):
        model(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="frame must be a float tensor"):
        model.step(torch.zeros(1, 3, 88))
