"""Model options of issue 8: learned initial state, embedding dropout, output dropout.

Oracles: the model with the state passed explicitly, the unregularised model in eval mode, and the
definition of embedding dropout (a word type is dropped at all its positions or at none).
"""

from __future__ import annotations

import pytest
import torch

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.models import RNNClassifier, RNNLanguageModel
from seqmodels.models.embedding_dropout import embedding_dropout
from tests.helpers import max_abs_diff

V, E, H = 13, 6, 6


def lm(**kwargs) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(V, LSTMCell, embedding_dim=E, hidden_size=H, num_layers=2, **kwargs).double()


def test_defaults_add_no_parameters():
    keys = set(lm().state_dict())
    assert not any("initial_state" in k for k in keys)
    assert set(lm(learn_initial_state=True).state_dict()) - keys == {f"initial_state.values.{i}" for i in range(4)}
    clf = RNNClassifier(
        3, GRUCell, hidden_size=H, vocab_size=V, bidirectional=True, num_layers=2, learn_initial_state=True
    )
    assert len(clf.initial_state.values) == 4  # 2 layers x 2 directions, one h each


def test_learned_initial_state_starts_at_zero_and_is_used(seed):
    tokens = torch.randint(0, V, (3, 7))
    plain, learned = lm(init_range=0.1).eval(), lm(init_range=0.1, learn_initial_state=True).eval()
    assert all(torch.all(p == 0) for p in learned.initial_state.parameters())  # init_range leaves it at zero
    assert max_abs_diff(plain(tokens)[0], learned(tokens)[0]) == 0
    with torch.no_grad():
        for p in learned.initial_state.parameters():
            p.normal_()
    start = learned.init_state(3)
    assert start[0][0].shape == (3, H) and torch.equal(start[0][0][0], start[0][0][2])  # shared by sequences
    logits, _ = learned(tokens)
    assert max_abs_diff(logits, learned(tokens, [tuple(s) for s in start])[0]) == 0
    assert max_abs_diff(logits, plain(tokens)[0]) > 1e-3
    step_logits, _ = learned.step(tokens[:, 0])
    assert max_abs_diff(step_logits, logits[:, 0]) <= 1e-12  # generation starts from it too
    learned.train()
    learned(tokens)[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learned.initial_state.parameters())


def test_classifier_learned_initial_state_bidirectional_with_lengths(seed):
    clf = RNNClassifier(3, LSTMCell, hidden_size=H, vocab_size=V, bidirectional=True, learn_initial_state=True).double()
    with torch.no_grad():
        for p in clf.initial_state.parameters():
            p.normal_()
    tokens, lengths = torch.randint(0, V, (3, 5)), torch.tensor([5, 2, 4])
    logits, _ = clf(tokens, lengths)
    x = clf.encoder(tokens)
    out, _ = clf.rnn(x, clf.initial_state(3), lengths=lengths)  # the oracle: the state passed explicitly
    expected = clf.head(clf.pool(out, lengths, 2))
    assert max_abs_diff(logits, expected) == 0
    logits.sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in clf.initial_state.parameters())


def test_embedding_dropout_drops_word_types(seed):
    embedding = torch.nn.Embedding(50, 4)
    tokens = torch.randint(0, 50, (8, 30))
    out = embedding_dropout(embedding, tokens, 0.5, training=True)  # (B, T, E)
    full = embedding(tokens)
    dropped_types = set()
    for word in tokens.unique().tolist():
        at = tokens == word
        if torch.all(out[at] == 0):
            dropped_types.add(word)
        else:  # kept everywhere, scaled by 1/(1-p)
            assert torch.allclose(out[at], 2 * full[at])
    assert 0.2 < len(dropped_types) / len(tokens.unique()) < 0.8
    assert torch.equal(embedding_dropout(embedding, tokens, 0.5, training=False), full)
    assert torch.equal(embedding_dropout(embedding, tokens, 0.0, training=True), full)


def test_lm_embedding_and_output_dropout_sites(seed):
    model = lm(embedding_dropout=0.5, dropout=0.0, output_dropout=0.5, tie_weights=True).train()
    seen = {}
    model.rnn.register_forward_hook(lambda m, args, out: seen.update(x=args[0], out=out[0]))
    model.decoder.register_forward_hook(lambda m, args, out: seen.update(dec=args[0]))
    tokens = torch.randint(0, V, (4, 9))
    weight_before = model.embedding.weight.detach().clone()
    model(tokens)
    embedded = model.embedding(tokens)
    zero_rows = (seen["x"] == 0).all(-1)  # whole embedding vectors dropped...
    assert zero_rows.any() and torch.allclose(seen["x"][~zero_rows], 2 * embedded[~zero_rows])  # ...the rest scaled
    assert (seen["dec"] == 0).any()  # output dropout is on
    assert torch.allclose(seen["dec"][seen["dec"] != 0], 2 * seen["out"][seen["dec"] != 0])
    assert torch.equal(model.embedding.weight, weight_before) and model.decoder.weight is model.embedding.weight
    with pytest.raises(ValueError, match="embedding_dropout needs an embedding"):
        RNNLanguageModel(V, LSTMCell, one_hot=True, embedding_dropout=0.1)
    with pytest.raises(ValueError, match="dropout must be a number"):
        RNNLanguageModel(V, LSTMCell, output_dropout=1.0)
    with pytest.raises(ValueError, match="embedding_dropout applies to token inputs"):
        RNNClassifier(1, LSTMCell, input_size=2, embedding_dropout=0.1)


def test_embedding_dim_none_means_hidden_size():
    model = RNNLanguageModel(V, LSTMCell, embedding_dim=None, hidden_size=H, tie_weights=True)
    assert model.embedding.weight.shape == (V, H) and model.decoder.weight is model.embedding.weight


def test_awd_experiment_combines_the_regularisers(tmp_path):
    from seqmodels.cells import VariationalDropout, WeightDrop
    from seqmodels.commands.instantiate import build_model
    from tests.helpers.configs import compose_config

    cfg = compose_config(["experiment=ptb_word_lstm_awd", "model.vocab_size=50"], tmp_path)
    model = build_model(cfg.model)
    for cell in model.rnn.cells():
        assert isinstance(cell, WeightDrop) and cell.weight_dropout == 0.5
        assert isinstance(cell.cell, VariationalDropout) and cell.cell.input_dropout > 0
        assert type(cell.base_cell()) is LSTMCell
    assert model.tie_weights and model.decoder.weight is model.embedding.weight
    assert model.embedding_dropout == 0.1 and model.dropout_p == 0.0 and model.output_drop.p == 0.4
    assert cfg.task.clip_grad_norm == 0.25 and cfg.task.optimizer.lr == 20.0
    assert cfg.task.scheduler._target_.endswith("ReduceLROnPlateau")
