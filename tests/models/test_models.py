"""Models against torch oracles (float64) and per-sequence manual computations."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.kernels.dropout import dropout
from seqmodels.models import RNNClassifier, RNNLanguageModel, last_pool, max_pool, mean_pool
from tests.helpers import copy_torch_rnn_weights

V, E, H = 11, 6, 5


def lm(**kw):
    args = dict(vocab_size=V, cell=LSTMCell, embedding_dim=E, hidden_size=H, num_layers=2)
    args.update(kw)
    return RNNLanguageModel(**args).double()


# --------------------------------------------------------------------------- language model
def test_lm_matches_torch_lstm_oracle():
    torch.manual_seed(0)
    model = lm().eval()
    emb = nn.Embedding(V, E).double()
    rnn = nn.LSTM(E, H, num_layers=2, batch_first=True).double()
    dec = nn.Linear(H, V).double()
    emb.load_state_dict(model.embedding.state_dict())
    dec.load_state_dict(model.decoder.state_dict())
    copy_torch_rnn_weights(model.rnn.cells(), rnn)
    tokens = torch.randint(0, V, (3, 7))
    logits, state = model(tokens)
    out, (h_n, c_n) = rnn(emb(tokens))
    assert logits.shape == (3, 7, V)
    torch.testing.assert_close(logits, dec(out), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[0] for s in state]), h_n, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[1] for s in state]), c_n, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell, functools.partial(RNNCell, nonlinearity="relu")])
def test_lm_state_carry_equals_one_pass(cell):
    torch.manual_seed(1)
    model = lm(cell=cell).eval()
    tokens = torch.randint(0, V, (2, 9))
    full, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, rtol=1e-12, atol=1e-12)


def test_lm_init_state_is_zero_and_equivalent_to_none():
    model = lm().eval()
    tokens = torch.randint(0, V, (4, 3))
    state = model.init_state(4)
    assert len(state) == 2 and all(
        t.shape == (4, H) and t.dtype == torch.float64 and not t.any() for s in state for t in s
    )
    torch.testing.assert_close(model(tokens, state)[0], model(tokens)[0])


@pytest.mark.parametrize("one_hot", [False, True])
def test_lm_step_equals_forward_on_one_token(one_hot):
    torch.manual_seed(7)
    model = lm(one_hot=one_hot, cell=GRUCell).eval()
    tokens = torch.randint(0, V, (3, 4))
    expected, expected_state = model(tokens)
    state = None
    for t in range(4):
        logits, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(logits, expected[:, t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, expected_state, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        model.step(tokens)


def test_models_pass_the_backend_to_the_stack():
    assert lm(backend="custom").rnn.backend == "custom"
    assert classifier(backend="torch").rnn.backend == "torch"
    with pytest.raises(ValueError, match="backend"):
        lm(backend="cudnn")


def test_bidirectional_lm_raises():
    with pytest.raises(ValueError, match="cannot be bidirectional"):
        RNNLanguageModel(V, LSTMCell, bidirectional=True)


def test_tie_weights_shares_the_parameter():
    model = lm(embedding_dim=H, tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    untied = lm(embedding_dim=H)
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters()) == V * H
    # a gradient through the decoder reaches the embedding table
    model(torch.randint(0, V, (2, 3)))[0].sum().backward()
    assert model.embedding.weight.grad is not None
    with pytest.raises(ValueError, match="embedding_dim == hidden_size"):
        lm(embedding_dim=E, tie_weights=True)
    with pytest.raises(ValueError, match="one_hot"):
        lm(one_hot=True, tie_weights=True)


def test_one_hot_equals_embedding_folded_into_first_layer():
    """One-hot input x W_ih equals the embedding model with W_ih' = W_ih E^T (and E folded away)."""
    torch.manual_seed(2)
    with_emb = lm().eval()
    one_hot = lm(one_hot=True).eval()
    state = with_emb.state_dict()
    state.pop("embedding.weight")
    folded = with_emb.rnn.cells()[0].weight_ih @ with_emb.embedding.weight.T  # (4H, V)
    state["rnn.layers.0.cell.weight_ih"] = folded
    one_hot.load_state_dict(state, strict=True)
    assert one_hot.embedding is None and one_hot.rnn.cells()[0].input_size == V
    tokens = torch.randint(0, V, (3, 5))
    torch.testing.assert_close(one_hot(tokens)[0], with_emb(tokens)[0], rtol=1e-12, atol=1e-12)


def test_init_range_bounds_every_parameter():
    model = lm(init_range=0.05)
    for name, p in model.named_parameters():
        assert p.abs().max() <= 0.05, name
    assert model.embedding.weight.abs().max() > 0.01  # drawn, not zeroed
    with pytest.raises(ValueError, match="init_range"):
        lm(init_range=-1)


def test_lm_dropout_sites():
    """Embedding output, between layers and before the decoder: replayed by hand with the same seed."""
    model = lm(dropout=0.3).train()
    tokens = torch.randint(0, V, (2, 5))
    torch.manual_seed(11)
    got, _ = model(tokens)
    torch.manual_seed(11)
    x = dropout(model.embedding(tokens), 0.3)
    out, _ = model.rnn(x)  # drops between its two layers
    expected = model.decoder(dropout(out, 0.3))
    torch.testing.assert_close(got, expected)
    one_hot = lm(dropout=0.3, one_hot=True).train()
    seen = []
    one_hot.rnn.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    one_hot(tokens)
    assert torch.equal(seen[0], nn.functional.one_hot(tokens, V).double())  # whole tokens are never dropped


def test_lm_dropout_only_in_training():
    torch.manual_seed(3)
    model = lm(dropout=0.5)
    tokens = torch.randint(0, V, (2, 4))
    model.train()
    assert not torch.allclose(model(tokens)[0], model(tokens)[0])
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vocab_size=0), "vocab_size"),
        (dict(hidden_size=-2), "hidden_size"),
        (dict(dropout=1.0), "dropout"),
        (dict(num_layers=0), "num_layers"),
    ],
)
def test_lm_bad_arguments_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lm(**kwargs)


def test_lm_rejects_float_tokens():
    with pytest.raises(ValueError, match="integer token ids"):
        lm()(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        lm()(torch.zeros(3, dtype=torch.long))


# --------------------------------------------------------------------------- pooling
def padded_outputs(B=4, T=6, F=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 1, 3, 4])[:B]
    out = torch.randn(B, T, F, generator=g, dtype=torch.float64) - 3.0  # mostly negative
    for b, n in enumerate(lengths.tolist()):
        out[b, n:] = 0.0  # what the layers emit past the end
    return out, lengths


def test_pooling_against_per_sequence_manual():
    out, lengths = padded_outputs()
    H2 = out.shape[-1] // 2
    for b, n in enumerate(lengths.tolist()):
        seq = out[b, :n]
        torch.testing.assert_close(mean_pool(out, lengths)[b], seq.mean(0))
        torch.testing.assert_close(max_pool(out, lengths)[b], seq.max(0).values)
        torch.testing.assert_close(last_pool(out, lengths)[b], seq[-1])
        torch.testing.assert_close(last_pool(out, lengths, 2)[b], torch.cat([seq[-1, :H2], seq[0, H2:]]))
    # no lengths: every step counts
    torch.testing.assert_close(mean_pool(out, None), out.mean(1))
    torch.testing.assert_close(max_pool(out, None), out.amax(1))
    torch.testing.assert_close(last_pool(out, None), out[:, -1])


def test_max_pool_padding_never_wins():
    out, lengths = padded_outputs()
    assert (max_pool(out, lengths)[1] < 0).any()  # zeros on padding would have won here


def classifier(**kw):
    args = dict(num_classes=3, cell=LSTMCell, hidden_size=H, vocab_size=V, embedding_dim=E)
    args.update(kw)
    return RNNClassifier(**args).double().eval()


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_padded_batch_equals_each_sequence_alone(pooling, bidirectional):
    torch.manual_seed(4)
    model = classifier(pooling=pooling, bidirectional=bidirectional, num_layers=2)
    lengths = torch.tensor([5, 2, 4])
    tokens = torch.randint(1, V, (3, 5))
    logits, _ = model(tokens, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, _ = model(tokens[b : b + 1, :n])
        torch.testing.assert_close(logits[b : b + 1], alone, rtol=1e-10, atol=1e-12)


def test_classifier_last_pooling_equals_torch_packed_h_n():
    torch.manual_seed(5)
    model = classifier(pooling="last", bidirectional=True, num_layers=2)
    rnn = nn.LSTM(E, H, num_layers=2, bidirectional=True, batch_first=True).double()
    copy_torch_rnn_weights(model.rnn.cells(), rnn)
    lengths = torch.tensor([4, 1, 3])
    tokens = torch.randint(1, V, (3, 4))
    packed = nn.utils.rnn.pack_padded_sequence(model.encoder(tokens), lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, _) = rnn(packed)
    expected = model.head(torch.cat([h_n[-2], h_n[-1]], dim=-1))
    torch.testing.assert_close(model(tokens, lengths)[0], expected, rtol=1e-12, atol=1e-12)


def test_classifier_real_valued_inputs_and_regression_head():
    torch.manual_seed(6)
    direct = RNNClassifier(1, GRUCell, hidden_size=H, input_size=2).double()
    assert isinstance(direct.encoder, nn.Identity) and direct.rnn.cells()[0].input_size == 2
    x = torch.randn(4, 7, 2, dtype=torch.float64)
    y, state = direct(x, torch.tensor([7, 3, 5, 1]))
    assert y.shape == (4, 1) and len(state) == 1
    projected = RNNClassifier(2, GRUCell, hidden_size=H, input_size=2, embedding_dim=8, head_hidden_size=4)
    assert isinstance(projected.encoder, nn.Linear) and projected.rnn.cells()[0].input_size == 8
    assert projected(x.float())[0].shape == (4, 2)


def test_classifier_padding_idx_row_is_zero():
    model = classifier(padding_idx=0)
    assert not model.encoder.weight[0].any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vocab_size=None), "exactly one of vocab_size"),
        (dict(input_size=3), "exactly one of vocab_size"),
        (dict(pooling="attention"), r"pooling must be one of \['concat', 'last', 'max', 'mean'\]"),
        (dict(padding_idx=V), "padding_idx"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_classifier_bad_arguments_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        classifier(**kwargs)


def test_classifier_rejects_wrong_input_kind():
    with pytest.raises(ValueError, match="integer token ids"):
        classifier()(torch.zeros(2, 3, dtype=torch.float64))
    real = RNNClassifier(2, GRUCell, hidden_size=H, input_size=2)
    with pytest.raises(ValueError, match="float tensor"):
        real(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="expected input_size=2"):
        real(torch.zeros(2, 3, 4))


def test_classifier_dropout_spares_raw_features_but_not_embeddings():
    seen = []
    for model, inputs in [
        (RNNClassifier(2, GRUCell, hidden_size=H, input_size=3, dropout=0.5), torch.randn(4, 6, 3)),
        (
            RNNClassifier(2, GRUCell, hidden_size=H, vocab_size=V, embedding_dim=E, dropout=0.5),
            torch.randint(0, V, (4, 6)),
        ),
    ]:
        model.rnn.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
        model.train()(inputs)
        seen.append(model.encoder(inputs))
    raw_in, raw, emb_in, emb = seen
    assert torch.equal(raw_in, raw)
    assert (emb_in == 0).any() and not (emb == 0).any()
    kept = emb_in != 0
    torch.testing.assert_close(emb_in[kept], 2 * emb[kept])  # inverted dropout scales by 1/(1-p)
