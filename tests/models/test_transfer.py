"""init_from_language_model: rows by token string (the oracle is the string, looked up in the LM's token list),
every cell parameter per layer, the reverse direction and the rest left fresh, each refusal's message."""

from __future__ import annotations

import functools
import random

import pytest
import torch
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell, VariationalDropout
from seqmodels.models import RNNClassifier, RNNLanguageModel, RNNTagger, Seq2Seq
from seqmodels.models.transfer import (
    check_tokenizers,
    init_from_language_model,
    input_embedding,
    match_vocabularies,
    token_coverage,
)

E, H, L = 6, 5, 2
LM_TOKENS = ["<unk>", "<eos>", "<pad>", "the", "a", "film", "plot", "dull", "fine", "cast", "shines", "."]
NEW = ["zebra", "quokka", "axolotl"]  # tokens the language model never saw
CELL_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def language_model(cell=LSTMCell, **kw) -> RNNLanguageModel:
    torch.manual_seed(1)
    args = dict(vocab_size=len(LM_TOKENS), cell=cell, embedding_dim=E, hidden_size=H, num_layers=L)
    return RNNLanguageModel(**{**args, **kw}).eval()


def target_tokens(seed: int = 0) -> list[str]:
    """<pad> first (the padding row), then a shuffle of most LM tokens and some new ones."""
    words = [t for t in LM_TOKENS if t not in ("<pad>", "plot")] + NEW
    random.Random(seed).shuffle(words)
    return ["<pad>", *words]


def classifier(tokens, cell=LSTMCell, **kw) -> RNNClassifier:
    torch.manual_seed(2)
    args = dict(num_classes=3, cell=cell, vocab_size=len(tokens), embedding_dim=E, hidden_size=H, num_layers=L)
    return RNNClassifier(**{**args, "padding_idx": 0, **kw}).eval()


def tagger(tokens, **kw) -> RNNTagger:
    torch.manual_seed(3)
    args = dict(num_classes=4, cell=LSTMCell, vocab_size=len(tokens), embedding_dim=E, hidden_size=H, num_layers=L)
    return RNNTagger(**{**args, "padding_idx": 0, **kw}).eval()


def seq2seq(tokens, **kw) -> Seq2Seq:
    torch.manual_seed(4)
    args = dict(vocab_size=len(tokens), num_classes=7, cell=LSTMCell, embedding_dim=E, hidden_size=H, num_layers=L)
    return Seq2Seq(**{**args, "padding_idx": 0, **kw}).eval()


def parts(model):
    """(embedding, stack) by hand, per kind."""
    if isinstance(model, RNNClassifier):
        return model.encoder, model.rnn
    if isinstance(model, Seq2Seq):
        return model.source_embedding, model.encoder
    return model.embedding, model.rnn


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


KINDS = {
    "classifier": lambda t: classifier(t),
    "classifier_bidirectional": lambda t: classifier(t, bidirectional=True),
    "tagger": lambda t: tagger(t, bidirectional=False),
    "tagger_bidirectional": lambda t: tagger(t),
    "tagger_features": lambda t: tagger(t, feature_vocab_sizes=[5, 3], feature_embedding_dim=4),
    "seq2seq": lambda t: seq2seq(t),
    "language_model": lambda t: RNNLanguageModel(len(t), LSTMCell, embedding_dim=E, hidden_size=H, num_layers=L),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_cell_parameter_of_every_layer_is_the_language_models(kind):
    lm = language_model()
    tokens = target_tokens()
    model = KINDS[kind](tokens)
    before = snapshot(model)
    report = init_from_language_model(model, lm, LM_TOKENS, tokens)
    _, stack = parts(model)
    directions = 2 if stack.bidirectional else 1
    assert report.layers == L
    for layer in range(L):
        lm_cell = lm.rnn.cells()[layer]
        forward = stack.cells()[layer * directions]
        for name in CELL_PARAMS:
            got, want = getattr(forward, name), getattr(lm_cell, name)
            if name == "weight_ih":  # columns past the LM's input (reverse half, feature embeddings) are zero
                assert torch.equal(got[:, : want.shape[1]], want)
                assert torch.count_nonzero(got[:, want.shape[1] :]) == 0
            else:
                assert torch.equal(got, want), (layer, name)
        if directions == 2:  # the reverse direction keeps its fresh weights
            reverse = stack.cells()[layer * 2 + 1]
            prefix = f"{next(n for n, m in model.named_modules() if m is reverse)}."
            for name in CELL_PARAMS:
                assert torch.equal(getattr(reverse, name), before[prefix + name]), (layer, name)
    # what does not come from a language model is untouched: heads, decoders, feature embeddings
    untouched = [k for k in before if k.startswith(("head.", "feature_embeddings.", "decoder.", "output.", "bridge."))]
    if isinstance(model, RNNLanguageModel):
        untouched = [k for k in untouched if not k.startswith("decoder.")]
    for key in untouched:
        assert torch.equal(model.state_dict()[key], before[key]), key


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("seed", [0, 1])
def test_rows_are_aligned_by_token_string(kind, seed):
    lm = language_model()
    tokens = target_tokens(seed)
    model = KINDS[kind](tokens)
    embedding, _ = parts(model)
    fresh = embedding.weight.detach().clone()
    report = init_from_language_model(model, lm, LM_TOKENS, tokens)
    padding = embedding.padding_idx
    for i, token in enumerate(tokens):
        row = embedding.weight[i]
        if i == padding:
            assert torch.count_nonzero(row) == 0, "the padding row stays zero"
        elif token in LM_TOKENS:
            assert torch.equal(row, lm.embedding.weight[LM_TOKENS.index(token)]), token
        else:
            assert torch.equal(row, fresh[i]), f"{token} keeps its fresh row"
    expected = sum(1 for i, t in enumerate(tokens) if t in LM_TOKENS and i != padding)
    assert report.match.matched == expected
    assert report.match.size == len(tokens) - (padding is not None)
    assert sorted(report.match.unmatched) == sorted(NEW)


@pytest.mark.parametrize("lm_tie", [False, True])
@pytest.mark.parametrize("tie", [False, True])
def test_a_language_model_takes_decoder_rows_and_bias_by_token(tie, lm_tie):
    """Tied target: the embedding rows are the LM's embedding rows (its decoder's, when the LM is untied, are not)."""
    lm = language_model(tie_weights=lm_tie, embedding_dim=H)
    tokens = target_tokens(3)[1:]  # no padding row in a language model
    torch.manual_seed(5)
    model = RNNLanguageModel(len(tokens), LSTMCell, embedding_dim=H, hidden_size=H, num_layers=L, tie_weights=tie)
    fresh = snapshot(model)
    init_from_language_model(model, lm, LM_TOKENS, tokens)
    for i, token in enumerate(tokens):
        if token in LM_TOKENS:
            j = LM_TOKENS.index(token)
            assert torch.equal(model.embedding.weight[i], lm.embedding.weight[j])
            assert torch.equal(model.decoder.weight[i], (lm.embedding if tie else lm.decoder).weight[j])
            assert torch.equal(model.decoder.bias[i], lm.decoder.bias[j])
        else:
            assert torch.equal(model.decoder.bias[i], fresh["decoder.bias"][i])
            assert torch.equal(model.decoder.weight[i], fresh["decoder.weight"][i])
    assert (model.decoder.weight is model.embedding.weight) == tie


@pytest.mark.parametrize("kind", ["classifier_bidirectional", "tagger_features", "seq2seq"])
def test_the_copied_direction_computes_the_language_models_states(kind):
    """Zero columns over inputs the LM never read: the forward outputs equal the LM's, layer 2 included."""
    lm = language_model()
    tokens = target_tokens()
    model = KINDS[kind](tokens)
    init_from_language_model(model, lm, LM_TOKENS, tokens)
    embedding, stack = parts(model)
    ids = torch.randint(1, len(tokens), (3, 7))
    x = embedding(ids)  # (B, T, E)
    if isinstance(model, RNNTagger):  # feature embeddings of random feature ids beside the words
        x = torch.cat([x, *(f(torch.randint(1, f.num_embeddings, (3, 7))) for f in model.feature_embeddings)], -1)
    out, _ = stack(x)  # (B, T, D*H)
    want, _ = lm.rnn(embedding(ids))  # the LM's rows are the target's for every id that matched: same inputs
    torch.testing.assert_close(out[..., :H], want, rtol=0, atol=1e-6)


def test_wrapped_cells_copy_their_inner_weights():
    lm = language_model(cell=functools.partial(VariationalDropout, cell=LSTMCell, input_dropout=0.2))
    tokens = target_tokens()
    model = classifier(tokens)
    init_from_language_model(model, lm, LM_TOKENS, tokens)
    for mine, theirs in zip(model.rnn.cells(), lm.rnn.cells()):
        for name in CELL_PARAMS:
            assert torch.equal(getattr(mine, name), getattr(theirs.cell, name))


def refused(model, lm, match: str) -> None:
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        init_from_language_model(model, lm, LM_TOKENS, target_tokens())
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items()), "a refusal copies nothing"


def test_each_mismatch_names_the_option_to_change():
    lm, tokens = language_model(), target_tokens()
    refused(classifier(tokens, hidden_size=7), lm, r"model\.hidden_size=7 but the language model has hidden_size=5: "
            r"set model\.hidden_size=5")  # fmt: skip
    refused(classifier(tokens, num_layers=1), lm, r"model\.num_layers=1 but the language model has 2 layer\(s\): set "
            r"model\.num_layers=2 \(a shallower model would drop")  # fmt: skip
    refused(classifier(tokens, num_layers=3), lm, r"model\.num_layers=3 .* a deeper one would put fresh layers")
    refused(classifier(tokens, embedding_dim=4), lm, r"model\.embedding_dim=4 but the language model's embedding has 6 "
            r"dimensions: set model\.embedding_dim=6")  # fmt: skip
    refused(classifier(tokens, cell=GRUCell), lm, r"model\.cell builds GRUCell\(reset_after=True, bias=True\) cells "
            r"but the language model's are LSTMCell\(bias=True\)")  # fmt: skip
    gru = language_model(cell=GRUCell)
    refused(classifier(tokens, cell=functools.partial(GRUCell, reset_after=False)), gru,
            r"GRUCell\(reset_after=False, bias=True\) cells but the language model's are GRUCell\(reset_after=True")  # fmt: skip
    refused(classifier(tokens, cell=functools.partial(LSTMCell, bias=False)), lm, r"LSTMCell\(bias=False\)")
    real = RNNClassifier(2, LSTMCell, hidden_size=H, num_layers=L, input_size=3)
    refused(real, lm, r"RNNClassifier reads real-valued inputs \(input_size=3\): it has no vocabulary to align")
    refused(classifier(tokens), language_model(one_hot=True), r"trained with one_hot=True: it has no embedding")
    refused(nn.Sequential(nn.Embedding(4, E), nn.LSTM(E, H)), lm, r"Sequential is not a kind that can start from a "
            r"language model: init_from fills")  # fmt: skip
    refused(classifier(tokens, hidden_size=7), language_model().decoder, r"needs a language model \(RNNLanguageModel\), "
            r"got a Linear")  # fmt: skip


def test_forget_bias_and_regularisers_do_not_count_as_another_cell():
    lm, tokens = language_model(), target_tokens()
    init_from_language_model(classifier(tokens, cell=functools.partial(LSTMCell, forget_bias=1.0)), lm, LM_TOKENS,
                             tokens)  # fmt: skip


def test_tokenizers_of_another_kind_or_other_merges_are_refused():
    with pytest.raises(ValueError, match=r"the language model reads char tokens but the data word tokens: .*"
                       r"data/tokenizer=char"):  # fmt: skip
        check_tokenizers({"type": "char"}, {"type": "word", "lowercase": True, "pattern": None})
    bpe = {"type": "bpe", "vocab_size": 300, "min_frequency": 2, "lowercase": False, "model": {"merges": [["a", "b"]]}}
    other = {**bpe, "model": {"merges": [["b", "a"]]}}
    with pytest.raises(ValueError, match=r"bpe tokenizer and the data's were trained separately \(other merges\)"):
        check_tokenizers(bpe, other)
    assert check_tokenizers(bpe, dict(bpe)) == []
    warnings = check_tokenizers({"type": "word", "lowercase": True, "pattern": None},
                                {"type": "word", "lowercase": False, "pattern": None})  # fmt: skip
    assert warnings == ["the data's tokenizer has lowercase=False, the language model's True: fewer tokens will match"]


def test_match_and_coverage_by_hand():
    match = match_vocabularies(["a", "b", "c"], ["<pad>", "c", "x", "a", "y"], skip=[0])
    assert match.target_rows.tolist() == [1, 3] and match.source_rows.tolist() == [2, 0]
    assert (match.matched, match.size, match.coverage, match.unmatched) == (2, 4, 0.5, ("x", "y"))
    counts = torch.tensor([100, 6, 3, 1, 2])  # the padding's count is left out: (6 + 1) / (6 + 3 + 1 + 2)
    assert token_coverage(counts, match, skip=[0]) == pytest.approx(7 / 12)
    assert token_coverage(counts, match, skip=[0, 1]) == pytest.approx(1 / 6)


def test_input_embedding_of_each_kind():
    tokens = target_tokens()
    model = classifier(tokens)
    assert input_embedding(model) is model.encoder
    model = seq2seq(tokens)
    assert input_embedding(model) is model.source_embedding
    model = tagger(tokens)
    assert input_embedding(model) is model.embedding
    assert input_embedding(RNNClassifier(2, LSTMCell, input_size=3)) is None
    assert input_embedding(language_model(one_hot=True)) is None
