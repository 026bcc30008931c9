"""Sampling and scoring: determinism, greedy equivalence, <eos> handling, log-probs vs a manual sum."""

from __future__ import annotations

import math

import pytest
import torch

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.data import CharTokenizer, TextEncoder, Vocab, WordTokenizer
from seqmodels.inference.generation import boundary_token, filter_logits, generate, generate_ids, score
from seqmodels.models import RNNLanguageModel

WORDS = "the apple and pear salad pair is a fruit good <eos>".split()


@pytest.fixture
def words() -> TextEncoder:
    return TextEncoder(WordTokenizer(), Vocab.build(WORDS))


@pytest.fixture
def chars() -> TextEncoder:
    return TextEncoder(CharTokenizer(), Vocab.build(list("hello world, the apple")))


def tiny_lm(vocab_size: int, seed: int = 0, cell=LSTMCell) -> RNNLanguageModel:
    torch.manual_seed(seed)
    model = RNNLanguageModel(vocab_size, cell, embedding_dim=8, hidden_size=8, num_layers=2, init_range=1.0)
    return model.double()


def greedy_by_rerunning(model, context: list[int], steps: int) -> list[int]:
    """Oracle: re-run the whole prefix every step (no carried state), take the argmax."""
    seq = list(context)
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model.eval()(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
    return seq[len(context) :]


def sample_by_rerunning(model, context: list[int], steps: int, temperature: float, seed: int) -> list[int]:
    """Oracle: re-run the whole prefix every step and draw with a generator seeded alike."""
    generator = torch.Generator().manual_seed(seed)
    seq = list(context)
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model.eval()(torch.tensor([seq]))
            probs = torch.softmax(logits[0, -1].float() / temperature, -1)
            seq.append(int(torch.multinomial(probs, 1, generator=generator)))
    return seq[len(context) :]


def test_boundary_detection(words, chars):
    assert boundary_token(words) == words.vocab.eos_index
    assert chars.vocab.eos_index is not None and boundary_token(chars) is None  # "<eos>" is 5 characters
    assert boundary_token(TextEncoder(WordTokenizer(), Vocab.build(["a", "b"], specials=("<unk>",)))) is None


def test_generate_with_seed_is_deterministic_and_leaves_global_rng(words):
    model = tiny_lm(len(words.vocab))
    rng = torch.get_rng_state()
    a = generate(model, words, "the apple", max_new_tokens=30, seed=7, stop_at_eos=False)
    b = generate(model, words, "the apple", max_new_tokens=30, seed=7, stop_at_eos=False)
    assert torch.equal(rng, torch.get_rng_state())
    assert a == b and a.startswith("the apple ") and len(a.split()) == 32
    others = {generate(model, words, "the apple", max_new_tokens=30, seed=s, stop_at_eos=False) for s in range(3)}
    assert len(others) > 1  # the seed matters


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell])
def test_top_k_1_and_temperature_0_equal_greedy_argmax(words, cell):
    model = tiny_lm(len(words.vocab), seed=3, cell=cell)
    context = [words.vocab.eos_index] + words.encode("the pear")
    expected = greedy_by_rerunning(model, context, 15)
    assert generate_ids(model, context, 15, top_k=1, seed=0) == expected
    assert generate_ids(model, context, 15, top_k=1, seed=1) == expected
    assert generate_ids(model, context, 15, temperature=0) == expected
    assert generate_ids(model, context, 15, temperature=1e-6, seed=5) == expected


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell])
def test_carried_state_sampling_equals_rerunning_the_prefix(words, cell):
    model = tiny_lm(len(words.vocab), seed=8, cell=cell)
    context = [words.vocab.eos_index] + words.encode("the pear")
    for seed in range(3):
        expected = sample_by_rerunning(model, context, 25, 1.5, seed)
        assert len(set(expected)) > 3  # a varied sequence, so a wrong state would show
        assert generate_ids(model, context, 25, temperature=1.5, seed=seed) == expected


class WithoutStep(torch.nn.Module):
    """The same model seen only through forward (no ``step``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens, state=None):
        return self.model(tokens, state)


def test_generation_without_a_step_method_uses_forward(words):
    model = tiny_lm(len(words.vocab), seed=9)
    context = words.encode("the apple")
    assert not hasattr(WithoutStep(model), "step")
    for seed in range(2):
        assert generate_ids(WithoutStep(model), context, 20, seed=seed) == generate_ids(model, context, 20, seed=seed)


def test_generate_stops_at_eos(words):
    eos = words.vocab.eos_index
    model = tiny_lm(len(words.vocab), seed=1)
    with torch.no_grad():
        model.decoder.bias[eos] += 2.5  # make <eos> a likely draw
    context = [eos] + words.encode("the")
    for seed in range(5):
        full = generate_ids(model, context, 40, seed=seed)  # no stop token
        stopped = generate_ids(model, context, 40, seed=seed, stop_token=eos)
        assert eos not in stopped
        if eos in full:
            assert stopped == full[: full.index(eos)]
        else:
            assert stopped == full
    assert any(eos in generate_ids(model, context, 40, seed=s) for s in range(5))
    # decoded text stops before <eos>; stop_at_eos=False keeps going
    with torch.no_grad():
        model.decoder.bias[eos] += 100.0
    assert generate(model, words, "the apple", max_new_tokens=5, seed=0) == "the apple"
    assert (
        generate(model, words, "the apple", max_new_tokens=3, seed=0, stop_at_eos=False)
        == "the apple <eos> <eos> <eos>"
    )


def test_generate_empty_prompt(words, chars):
    model = tiny_lm(len(words.vocab))
    text = generate(model, words, "", max_new_tokens=5, seed=0, stop_at_eos=False)
    assert len(text.split()) == 5
    # no boundary: start from a line break when the vocabulary has one, else its first ordinary token
    char_model = tiny_lm(len(chars.vocab))
    first = chars.decode([len(chars.vocab.specials)])
    assert generate(char_model, chars, "", max_new_tokens=5, seed=0) == generate(
        char_model, chars, first, max_new_tokens=5, seed=0
    )
    lines = TextEncoder(CharTokenizer(), Vocab.build(list("ab\nab")))
    assert generate(tiny_lm(len(lines.vocab)), lines, "", max_new_tokens=3, seed=0).startswith("\n")
    only_specials = TextEncoder(CharTokenizer(), Vocab.build([]))
    with pytest.raises(ValueError, match="only special tokens"):
        generate(tiny_lm(len(only_specials.vocab)), only_specials, "", max_new_tokens=5)
    assert generate(tiny_lm(len(chars.vocab)), chars, "he", max_new_tokens=4, seed=0).startswith("he")


def test_generate_restores_training_mode(words):
    model = tiny_lm(len(words.vocab)).train()
    generate(model, words, "the", max_new_tokens=2, seed=0)
    assert model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(temperature=-1.0), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(max_new_tokens=-1), "max_new_tokens"),
    ],
)
def test_generate_bad_arguments(words, kwargs, match):
    args = dict(max_new_tokens=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        generate(tiny_lm(len(words.vocab)), words, "the", **args)


def test_filter_logits_top_k_and_top_p():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    kept = lambda out: torch.isfinite(out).tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_p=0.8)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_p=0.81)) == [True, True, True, False]
    assert kept(filter_logits(logits, top_p=0.1)) == [True, False, False, False]  # the best token always stays
    shuffled = logits[[2, 0, 3, 1]]
    assert kept(filter_logits(shuffled, top_p=0.8)) == [False, True, False, True]
    assert kept(filter_logits(shuffled, top_k=1, top_p=0.99)) == [False, True, False, False]


def test_nucleus_sampling_only_draws_from_the_nucleus(words):
    model = tiny_lm(len(words.vocab), seed=2)
    context = words.encode("the apple")
    with torch.no_grad():
        probs = torch.softmax(model.eval()(torch.tensor([context]))[0][0, -1], -1)
    order = probs.argsort(descending=True).tolist()
    cum = probs[order].cumsum(0)
    nucleus = set(order[: int((cum < 0.6).sum()) + 1])
    draws = {generate_ids(model, context, 1, top_p=0.6, seed=s)[0] for s in range(60)}
    assert draws <= nucleus and len(draws) >= 1


def manual_log_prob(model, ids: list[int]) -> tuple[float, int]:
    """Oracle: one unbatched forward, sum of log-softmax at the next token."""
    with torch.no_grad():
        logits, _ = model.eval()(torch.tensor([ids[:-1]]))
        logp = torch.log_softmax(logits[0], -1)
    return sum(float(logp[t, ids[t + 1]]) for t in range(len(ids) - 1)), len(ids) - 1


def test_score_equals_manual_sum_of_log_softmax(words):
    model = tiny_lm(len(words.vocab), seed=4)
    sentences = ["the apple and pear salad", "the apple and pair salad", "a", "good fruit is a good fruit"]
    results = score(model, words, sentences)
    eos = words.vocab.eos_index
    assert [r["sentence"] for r in results] == sentences
    for r, sentence in zip(results, sentences):
        expected, n = manual_log_prob(model, [eos] + words.encode(sentence) + [eos])
        assert r["num_tokens"] == n == len(sentence.split()) + 1
        assert r["log_prob"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert math.fsum(r["token_log_probs"]) == pytest.approx(r["log_prob"], rel=1e-12)
        assert r["ppl"] == pytest.approx(math.exp(-expected / n), rel=1e-12)
        assert r["log_prob"] < 0
    # the two salads differ in exactly one word, so their scores differ
    assert results[0]["log_prob"] != results[1]["log_prob"]


def test_score_without_boundary_scores_from_the_second_token(chars):
    model = tiny_lm(len(chars.vocab), seed=5)
    [r] = score(model, chars, ["hello"])
    expected, n = manual_log_prob(model, chars.encode("hello"))
    assert r["num_tokens"] == n == 4
    assert r["log_prob"] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        score(model, chars, ["h"])
    with pytest.raises(ValueError, match="list of strings"):
        score(model, chars, "hello")


def test_score_forced_boundary(words):
    model = tiny_lm(len(words.vocab), seed=6)
    eos = words.vocab.eos_index
    [without] = score(model, words, ["the apple"], boundary=False)
    expected, _ = manual_log_prob(model, words.encode("the apple"))
    assert without["num_tokens"] == 1 and without["log_prob"] == pytest.approx(expected, rel=1e-12)
    [with_] = score(model, words, ["the apple"], boundary=True)
    assert with_["log_prob"] == pytest.approx(
        manual_log_prob(model, [eos, *words.encode("the apple"), eos])[0], rel=1e-12
    )
