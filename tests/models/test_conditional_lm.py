"""ConditionalLanguageModel against torch.nn.LSTM (float64), hand-computed initial states, and a task the
condition alone determines (learned exactly, decoded greedily)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.inference.generation import generate_ids
from seqmodels.models import ConditionalLanguageModel, RNNLanguageModel
from tests.helpers import copy_torch_rnn_weights

V, E, H, L, D = 11, 6, 5, 2, 4
SIZES, F = [3, 4], 2


def conditional(mode: str, cell=LSTMCell, **kw) -> ConditionalLanguageModel:
    args = dict(
        vocab_size=V,
        cell=cell,
        condition_sizes=SIZES,
        condition_features=F,
        condition_dim=D,
        condition_mode=mode,
        embedding_dim=E,
        hidden_size=H,
        num_layers=L,
    )
    args.update(kw)
    return ConditionalLanguageModel(**args).double().eval()


def batch(seed: int = 0, B: int = 3, T: int = 7):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, V, (B, T), generator=g)
    ids = torch.stack([torch.randint(0, n, (B,), generator=g) for n in SIZES], dim=1)  # (B, K)
    values = torch.randn(B, F, generator=g, dtype=torch.float64)  # (B, F)
    return tokens, ids, values


def embedded_condition(model: ConditionalLanguageModel, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """c = [U_1[k_1]; U_2[k_2]; v], read off the embedding tables by hand."""
    tables = [m.weight for m in model.condition_embeddings]
    return torch.cat([tables[0][ids[:, 0]], tables[1][ids[:, 1]], values], dim=1)


# --------------------------------------------------------------------------- torch oracle
@pytest.mark.parametrize("mode", ["init", "input", "both"])
def test_matches_torch_lstm_given_the_condition(mode):
    """logits = W_dec LSTM([E[x_t]; c] or E[x_t], (h0, c0)) + b, with torch's LSTM, its weights copied in."""
    torch.manual_seed(0)
    model = conditional(mode)
    tokens, ids, values = batch()
    C = len(SIZES) * D + F
    width = E + C if mode != "init" else E
    rnn = nn.LSTM(width, H, num_layers=L, batch_first=True).double()
    copy_torch_rnn_weights(model.rnn.cells(), rnn)
    assert model.rnn.cells()[0].weight_ih.shape == (4 * H, width)  # torch's layout, condition columns last
    c = embedded_condition(model, ids, values)  # (B, C)
    x = model.embedding.weight[tokens]  # (B, T, E)
    if mode != "init":
        x = torch.cat([x, c[:, None].expand(-1, tokens.shape[1], -1)], dim=2)
    if mode != "input":
        proj = list(model.init_projections)  # layer 0: h, c; layer 1: h, c
        h0 = torch.stack([torch.tanh(c @ proj[2 * layer].weight.T + proj[2 * layer].bias) for layer in range(L)])
        c0 = torch.stack(
            [torch.tanh(c @ proj[2 * layer + 1].weight.T + proj[2 * layer + 1].bias) for layer in range(L)]
        )
        out, (h_n, c_n) = rnn(x, (h0, c0))
    else:
        out, (h_n, c_n) = rnn(x)
    expected = out @ model.decoder.weight.T + model.decoder.bias
    logits, state = model(tokens, (ids, values))
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[0] for s in state]), h_n, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[1] for s in state]), c_n, rtol=1e-12, atol=1e-12)


def test_without_the_condition_contribution_it_is_a_torch_lstm():
    """init mode with W = 0, b = 0: tanh(0) = 0 is torch's zero state, and the model is a plain LSTM LM."""
    torch.manual_seed(1)
    model = conditional("init")
    with torch.no_grad():
        for projection in model.init_projections:
            projection.weight.zero_()
            projection.bias.zero_()
    rnn = nn.LSTM(E, H, num_layers=L, batch_first=True).double()
    copy_torch_rnn_weights(model.rnn.cells(), rnn)
    tokens, ids, values = batch(1)
    out, _ = rnn(model.embedding.weight[tokens])
    logits, _ = model(tokens, (ids, values))
    torch.testing.assert_close(logits, out @ model.decoder.weight.T + model.decoder.bias, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- init mode
@pytest.mark.parametrize("cell", [LSTMCell, GRUCell])
def test_init_state_is_tanh_of_a_linear_map_of_the_condition(cell):
    torch.manual_seed(2)
    model = conditional("init", cell=cell)
    tokens, ids, values = batch(2)
    c = embedded_condition(model, ids, values)
    proj = list(model.init_projections)
    per_layer = 2 if cell is LSTMCell else 1
    assert len(proj) == L * per_layer
    state = model.condition_state(c)
    for layer in range(L):
        for s in range(per_layer):
            W, b = proj[layer * per_layer + s].weight, proj[layer * per_layer + s].bias
            hand = torch.tanh(c @ W.T + b)  # (B, H)
            got = state[layer][s] if cell is LSTMCell else state[layer]
            torch.testing.assert_close(got, hand, rtol=1e-12, atol=1e-12)
    # forward starts from that state: the same logits as when it is passed in
    logits, _ = model(tokens, (ids, values))
    torch.testing.assert_close(model(tokens, (ids, values), state)[0], logits, rtol=0, atol=0)
    assert not torch.allclose(model(tokens, (ids, values), model.rnn.init_state(3, dtype=torch.float64))[0], logits)


@pytest.mark.parametrize("mode", ["init", "input", "both"])
def test_step_by_step_equals_forward(mode):
    torch.manual_seed(3)
    model = conditional(mode)
    tokens, ids, values = batch(3)
    logits, final = model(tokens, (ids, values))
    state = None
    for t in range(tokens.shape[1]):
        step_logits, state = model.step(tokens[:, t], (ids, values), state)
        torch.testing.assert_close(step_logits, logits[:, t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=1e-12, atol=1e-12)


def test_the_condition_changes_the_output_in_every_mode():
    torch.manual_seed(4)
    for mode in ("init", "input", "both"):
        model = conditional(mode)
        tokens, ids, values = batch(4)
        other = (ids + 1) % torch.tensor(SIZES)
        assert not torch.allclose(model(tokens, (ids, values))[0], model(tokens, (other, values))[0]), mode
        assert not torch.allclose(model(tokens, (ids, values))[0], model(tokens, (ids, values + 1))[0]), mode


# --------------------------------------------------------------------------- arguments and inputs
def test_condition_kinds_and_refusals():
    categorical = ConditionalLanguageModel(V, LSTMCell, condition_sizes=[3], embedding_dim=E, hidden_size=H)
    tokens = torch.randint(0, V, (2, 4))
    assert categorical(tokens, torch.tensor([[0], [2]]))[0].shape == (2, 4, V)
    with pytest.raises(ValueError, match=r"condition ids of field 0 must lie in \[0, 3\)"):
        categorical(tokens, torch.tensor([[0], [3]]))
    with pytest.raises(ValueError, match=r"\(B, K=1\) integer tensor"):
        categorical(tokens, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="batch size 1 but tokens 2"):
        categorical(tokens, torch.tensor([[0]]))
    real = ConditionalLanguageModel(V, LSTMCell, condition_features=2, embedding_dim=E, hidden_size=H)
    assert real(tokens, torch.randn(2, 2))[0].shape == (2, 4, V)
    with pytest.raises(ValueError, match=r"\(B, F=2\) float tensor"):
        real(tokens, torch.randn(2, 3))
    both = conditional("both")
    with pytest.raises(ValueError, match=r"a pair \(ids"):
        both(tokens, torch.tensor([[0, 0], [1, 1]]))
    with pytest.raises(ValueError, match="needs a condition"):
        ConditionalLanguageModel(V, LSTMCell)
    with pytest.raises(ValueError, match="fills them from a conditional data module, e.g. data=conditional_text"):
        ConditionalLanguageModel(V, LSTMCell, condition_sizes=None, condition_features=None)  # the yaml's nulls
    with pytest.raises(ValueError, match="condition_mode must be one of"):
        ConditionalLanguageModel(V, LSTMCell, condition_sizes=[2], condition_mode="start")
    with pytest.raises(ValueError, match="learn_initial_state=True with condition_mode='init'"):
        ConditionalLanguageModel(V, LSTMCell, condition_sizes=[2], learn_initial_state=True)
    with pytest.raises(ValueError, match="extra_input_size is for subclasses"):
        RNNLanguageModel(V, LSTMCell, extra_input_size=3)


def test_init_range_reaches_the_condition_parameters():
    model = conditional("both", init_range=0.01)
    for name, p in model.named_parameters():
        assert float(p.detach().abs().max()) <= 0.01, name


# --------------------------------------------------------------------------- the condition determines the sequence
NUM_CONDITIONS, LENGTH, START = 8, 12, 10  # ids 0..9 are content, 10 starts a sequence


def targets() -> torch.Tensor:
    return torch.randint(0, 10, (NUM_CONDITIONS, LENGTH), generator=torch.Generator().manual_seed(7))  # (8, 12)


def train_on_fixed_sequences(mode: str) -> ConditionalLanguageModel:
    """A plain torch loop: condition c -> its fixed random sequence, teacher-forced, until it is learned."""
    torch.manual_seed(0)
    model = ConditionalLanguageModel(
        11, LSTMCell, condition_sizes=[NUM_CONDITIONS], condition_dim=8, condition_mode=mode,
        embedding_dim=8, hidden_size=48, num_layers=1,
    )  # fmt: skip
    sequences = targets()
    inputs = torch.cat([torch.full((NUM_CONDITIONS, 1), START), sequences[:, :-1]], dim=1)  # (8, 12)
    condition = torch.arange(NUM_CONDITIONS)[:, None]  # (8, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        logits, _ = model(inputs, condition)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 11), sequences.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    return model


@pytest.fixture(scope="module", params=["init", "input"])
def learned(request):
    return train_on_fixed_sequences(request.param)


def test_greedy_decoding_reproduces_the_sequence_of_each_condition(learned):
    for c, expected in enumerate(targets().tolist()):
        got = generate_ids(learned, [START], LENGTH, temperature=0, condition=torch.tensor([[c]]))
        assert got == expected, f"condition {c}"


def test_two_conditions_give_different_samples_with_the_same_seed(learned):
    first = generate_ids(learned, [START], LENGTH, temperature=1.0, seed=5, condition=torch.tensor([[0]]))
    second = generate_ids(learned, [START], LENGTH, temperature=1.0, seed=5, condition=torch.tensor([[1]]))
    assert first != second
    assert first == generate_ids(learned, [START], LENGTH, temperature=1.0, seed=5, condition=torch.tensor([[0]]))
