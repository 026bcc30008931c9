"""Layer groups: every parameter of every model in exactly one group, in input -> output order.

The oracle assigns each parameter by its name (``rnn.layers.1.…`` -> ``rnn.1``), written out per model here.
"""

from __future__ import annotations

import functools
import re

import pytest
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.models import (
    AdditiveAttention,
    ConditionalLanguageModel,
    MultiplicativeAttention,
    RNNClassifier,
    RNNLanguageModel,
    RNNTagger,
    Seq2Seq,
    layer_groups,
)
from seqmodels.models.frame_model import RNNFrameModel


def by_name(model: nn.Module, rules: list[tuple[str, str]]) -> dict[str, str]:
    """{parameter name: group} from (regex, group template) rules; every parameter must match one rule."""
    out = {}
    for name, _ in model.named_parameters():
        hits = [(pattern, group) for pattern, group in rules if re.fullmatch(pattern, name)]
        assert len(hits) == 1, (name, hits)
        pattern, group = hits[0]
        out[name] = re.fullmatch(pattern, name).expand(group)
    return out


def grouped(model: nn.Module) -> tuple[list[str], dict[str, str]]:
    """The group names in order and {parameter name: group} as layer_groups gives them."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups = layer_groups(model)
    flat = [(names[id(p)], g) for g, params in groups for p in params]
    assert len(flat) == len({n for n, _ in flat}), "a parameter in two groups"
    assert len(flat) == len(list(model.parameters())), "a parameter in no group, or one counted twice"
    return [g for g, _ in groups], dict(flat)


@pytest.mark.parametrize("cell, leaves", [(LSTMCell, 2), (GRUCell, 1)])
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("learn_initial_state", [False, True])
def test_language_model(cell, leaves, tie, learn_initial_state):
    model = RNNLanguageModel(
        9, cell, embedding_dim=4, hidden_size=4, num_layers=3, tie_weights=tie, learn_initial_state=learn_initial_state
    )
    order, got = grouped(model)
    assert order == ["embedding", "rnn.0", "rnn.1", "rnn.2", "decoder"]
    rules = [(r"embedding\..*", "embedding"), (r"rnn\.layers\.(\d)\..*", r"rnn.\1"), (r"decoder\..*", "decoder")]
    rules.append((r"initial_state\.values\.\d", "?"))  # set below
    expected = by_name(model, rules)  # named_parameters lists a tied weight once, as embedding.weight
    for i in range(3 * leaves if learn_initial_state else 0):
        expected[f"initial_state.values.{i}"] = f"rnn.{i // leaves}"  # h (and c) of each layer
    assert got == expected
    decoder = dict(layer_groups(model))["decoder"]
    assert len(decoder) == (1 if tie else 2) and all(p is not model.embedding.weight for p in decoder)


def test_one_hot_language_model_has_no_embedding_group():
    order, _ = grouped(RNNLanguageModel(9, GRUCell, hidden_size=4, num_layers=1, one_hot=True))
    assert order == ["rnn.0", "decoder"]


@pytest.mark.parametrize("cell, leaves", [(LSTMCell, 2), (GRUCell, 1)])
@pytest.mark.parametrize("mode", ["init", "input", "both"])
def test_conditional_language_model(cell, leaves, mode):
    model = ConditionalLanguageModel(
        9,
        cell,
        condition_sizes=[3, 4],
        condition_dim=2,
        condition_mode=mode,
        embedding_dim=4,
        hidden_size=4,
        num_layers=2,
    )
    order, got = grouped(model)
    assert order == ["embedding", "condition", "rnn.0", "rnn.1", "decoder"]
    rules = [
        (r"embedding\..*", "embedding"),
        (r"condition_embeddings\..*", "condition"),
        (r"rnn\.layers\.(\d)\..*", r"rnn.\1"),
        (r"init_projections\.\d\..*", "?"),
        (r"decoder\..*", "decoder"),
    ]
    expected = by_name(model, rules)
    for name in expected:
        if name.startswith("init_projections."):  # the projection to state tensor k starts layer k // leaves
            expected[name] = f"rnn.{int(name.split('.')[1]) // leaves}"
    assert got == expected and any(n.startswith("init_projections.") for n in got) == (mode != "input")


def test_frame_model():
    model = RNNFrameModel(6, LSTMCell, hidden_size=4, num_layers=2)
    order, got = grouped(model)
    assert order == ["rnn.0", "rnn.1", "head"]
    assert got == by_name(model, [(r"rnn\.layers\.(\d)\..*", r"rnn.\1"), (r"head\..*", "head")])


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head_hidden_size", [None, 3])
def test_classifier_tokens_with_learned_initial_state(bidirectional, head_hidden_size):
    model = RNNClassifier(
        3,
        LSTMCell,
        hidden_size=4,
        num_layers=2,
        bidirectional=bidirectional,
        vocab_size=10,
        learn_initial_state=True,
        head_hidden_size=head_hidden_size,
    )
    order, got = grouped(model)
    assert order == ["embedding", "rnn.0", "rnn.1", "head"]
    rules = [
        (r"encoder\..*", "embedding"),
        (r"rnn\.layers\.(\d)\..*", r"rnn.\1"),
        (r"initial_state\.values\.\d", "?"),
        (r"head\..*", "head"),
    ]
    expected = by_name(model, rules)
    per_layer = 2 * (2 if bidirectional else 1)  # (h, c) per direction
    for i in range(2 * per_layer):
        expected[f"initial_state.values.{i}"] = f"rnn.{i // per_layer}"
    assert got == expected


def test_classifier_real_valued_inputs():
    raw = RNNClassifier(1, GRUCell, hidden_size=4, input_size=2)  # Identity: no embedding group
    assert grouped(raw)[0] == ["rnn.0", "head"]
    projected = RNNClassifier(2, GRUCell, hidden_size=4, input_size=2, embedding_dim=5)
    order, got = grouped(projected)
    assert order == ["embedding", "rnn.0", "head"] and got["encoder.weight"] == got["encoder.bias"] == "embedding"


def test_tagger_with_feature_embeddings():
    model = RNNTagger(4, GRUCell, 10, hidden_size=4, num_layers=2, feature_vocab_sizes=[5, 6])
    order, got = grouped(model)
    assert order == ["embedding", "rnn.0", "rnn.1", "head"]
    rules = [
        (r"(feature_)?embeddings?\..*", "embedding"),
        (r"rnn\.layers\.(\d)\..*", r"rnn.\1"),
        (r"head\..*", "head"),
    ]
    assert got == by_name(model, rules)


@pytest.mark.parametrize(
    "attention, bridge",
    [(AdditiveAttention, True), (MultiplicativeAttention, False), (None, True), (None, False)],
)
def test_seq2seq(attention, bridge):
    model = Seq2Seq(
        10,
        11,
        LSTMCell,
        embedding_dim=4,
        hidden_size=4,
        num_layers=2,
        attention=None if attention is None else functools.partial(attention),
        bridge=bridge,
        input_feeding=attention is not None,
    )
    order, got = grouped(model)
    expected_order = ["source_embedding", "encoder.0", "encoder.1", "bridge", "target_embedding"]
    expected_order += ["decoder.0", "decoder.1", "attention", "output"]
    if not bridge:
        expected_order.remove("bridge")
    if attention is None:
        expected_order.remove("attention")
    assert order == expected_order
    rules = [
        (r"(source|target)_embedding\..*", r"\1_embedding"),
        (r"(encoder|decoder)\.layers\.(\d)\..*", r"\1.\2"),
        (r"bridge\..*", "bridge"),
        (r"attention\..*", "attention"),
        (r"(combine|output)\..*", "output"),
    ]
    assert got == by_name(model, rules)


def test_unknown_model_is_refused_naming_its_class():
    with pytest.raises(TypeError, match=r"no layer groups for Sequential: .*RNNClassifier.*layer_groups\(\)"):
        layer_groups(nn.Sequential(nn.Linear(2, 2)))


def test_a_model_of_its_own_defines_its_groups():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def layer_groups(self):
            return [("low", list(self.a.parameters())), ("high", list(self.b.parameters()))]

    model = Two()
    assert [(n, len(p)) for n, p in layer_groups(model)] == [("low", 2), ("high", 2)]
    model.layer_groups = lambda: [("low", list(model.a.parameters()))]
    with pytest.raises(ValueError, match=r"parameters in no layer group: b\.weight, b\.bias"):
        layer_groups(model)


def test_a_subclass_with_modules_of_its_own_must_say_where_they_go():
    class Gated(RNNClassifier):
        def __init__(self):
            super().__init__(2, GRUCell, hidden_size=4, vocab_size=5)
            self.gate = nn.Linear(4, 4)

    with pytest.raises(ValueError, match=r"Gated has parameters in no layer group: gate\.weight, gate\.bias"):
        layer_groups(Gated())
