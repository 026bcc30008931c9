"""Sampling and scoring under a condition: from the start token, against prefix re-runs and a manual sum of
log-probabilities; the condition read from field:value text; the Predictor's sample/score; the refusals."""

from __future__ import annotations

import pytest
import torch

from seqmodels.cells import LSTMCell
from seqmodels.data import CharTokenizer, TextEncoder, Vocab
from seqmodels.data.conditions import Conditions, UnknownConditionError
from seqmodels.inference.conditional import condition_input, condition_or_typical
from seqmodels.inference.generation import generate, score
from seqmodels.inference.predictor import Predictor
from seqmodels.models import ConditionalLanguageModel, RNNLanguageModel

SPECIALS = ["<pad>", "<unk>", "<eos>"]
CONDITIONS = Conditions(
    {"mood": ["calm", "loud"], "key": ["C", "G", "D"]}, ["tempo"], {"mood": "loud", "key": "G", "tempo": 1}
)


def encoder(bos: bool = False) -> TextEncoder:
    specials = [*SPECIALS, "<bos>"] if bos else SPECIALS
    return TextEncoder(CharTokenizer(), Vocab([*specials, *"abcde "], specials))


def conditional(vocab_size: int) -> ConditionalLanguageModel:
    torch.manual_seed(0)
    return ConditionalLanguageModel(
        vocab_size, LSTMCell, condition_sizes=[2, 3], condition_features=1, condition_mode="both",
        embedding_dim=6, hidden_size=8, init_range=1.0,
    ).double().eval()  # fmt: skip


def greedy_by_rerunning(model, condition, context: list[int], steps: int, stop: int) -> list[int]:
    """Oracle: the whole prefix re-run every step (no carried state), the argmax taken, until ``stop``."""
    seq = list(context)
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(torch.tensor([seq]), condition)[0][0, -1].argmax())
            if token == stop:
                break
            seq.append(token)
    return seq[len(context) :]


@pytest.mark.parametrize("bos", [False, True])
def test_greedy_sample_starts_from_the_start_token(bos):
    enc = encoder(bos)
    model = conditional(len(enc.vocab))
    condition = CONDITIONS.tensors("mood:calm key:D tempo:0.5")
    condition = (condition[0], condition[1].double())
    start = enc.vocab.bos_index if bos else enc.vocab.eos_index
    expected = greedy_by_rerunning(model, condition, [start, *enc.encode("ab")], 12, enc.vocab.eos_index)
    text = generate(model, enc, "ab", max_new_tokens=12, temperature=0, condition=condition)
    assert text == "ab" + enc.decode(expected)
    assert generate(model, enc, "", 12, temperature=0, condition=condition) == enc.decode(
        greedy_by_rerunning(model, condition, [start], 12, enc.vocab.eos_index)
    )


def test_score_is_the_sum_of_log_probs_between_the_boundaries():
    enc = encoder(bos=True)
    model = conditional(len(enc.vocab))
    ids, values = CONDITIONS.tensors("mood:loud key:C tempo:2")
    condition = (ids, values.double())
    rows = score(model, enc, ["abc", "e"], condition=condition)
    for row, text in zip(rows, ["abc", "e"]):
        seq = [enc.vocab.bos_index, *enc.encode(text), enc.vocab.eos_index]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(torch.tensor([seq[:-1]]), condition)[0][0].double(), -1)
        terms = [float(log_probs[t, seq[t + 1]]) for t in range(len(seq) - 1)]
        assert row["sentence"] == text and row["num_tokens"] == len(text) + 1
        assert row["token_log_probs"] == pytest.approx(terms, abs=1e-12)
        assert row["log_prob"] == pytest.approx(sum(terms), abs=1e-12)


def test_the_condition_from_text_and_its_refusals():
    enc = encoder()
    model = conditional(len(enc.vocab))
    ids, values = condition_input(model, CONDITIONS, "key:G mood:loud tempo:3")
    assert ids.tolist() == [[1, 1]] and values.tolist() == [[3.0]]
    with pytest.raises(UnknownConditionError, match=r"key='E' was never seen in training.*\['C', 'G', 'D'\]"):
        condition_input(model, CONDITIONS, "key:E mood:loud tempo:3")
    with pytest.raises(ValueError, match=r"give a condition, e.g. condition='mood:loud key:G tempo:1'"):
        condition_input(model, CONDITIONS, None, "m.ckpt")
    with pytest.raises(ValueError, match="stores no condition fields"):
        condition_input(model, None, "key:G")
    plain = RNNLanguageModel(len(enc.vocab), LSTMCell, embedding_dim=4, hidden_size=4)
    assert condition_input(plain, None, None) is None
    with pytest.raises(ValueError, match="without a condition; drop condition='key:G'"):
        condition_input(plain, None, "key:G")
    typical = condition_or_typical(model, CONDITIONS.to_dict(), None)
    assert typical[0].tolist() == [[1, 1]] and typical[1].tolist() == [[1.0]]


def test_predictor_samples_and_scores_under_a_condition():
    enc = encoder()
    model = conditional(len(enc.vocab)).float()
    predictor = Predictor(model, enc, {}, "language_model", conditions=CONDITIONS, source="m.ckpt")
    calm = predictor.sample(condition="mood:calm key:C tempo:0", max_new_tokens=30, seed=3)
    loud = predictor.sample(condition={"mood": "loud", "key": "D", "tempo": 4}, max_new_tokens=30, seed=3)
    assert calm == predictor.sample(condition="mood:calm key:C tempo:0", max_new_tokens=30, seed=3)
    assert calm != loud  # the same seed, another condition
    (row,) = predictor.score(["abc"], condition="mood:calm key:C tempo:0")
    assert row["num_tokens"] == 4 and row["log_prob"] < 0
    with pytest.raises(UnknownConditionError, match="known values of 'mood' are \\['calm', 'loud'\\]"):
        predictor.sample(condition="mood:sad key:C tempo:0")
