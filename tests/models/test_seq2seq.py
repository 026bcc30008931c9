"""Encoder-decoder: attention (formulas, masks), Seq2Seq (padding never leaks, parallel = step by step,
bridges, scheduled sampling), decoding (greedy = step-by-step argmax, beam 1 = greedy, a wide beam =
exhaustive search), and a reversal task learned to 100 % exact match."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.inference.decoding import beam_search, greedy_decode
from seqmodels.models import AdditiveAttention, MultiplicativeAttention, Seq2Seq

PAD, BOS, EOS = 0, 1, 2
ATTENTIONS = {"additive": AdditiveAttention, "multiplicative": MultiplicativeAttention, "none": None}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest, and least disturbed by other processes, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(attention="additive", cell=GRUCell, decoder_cell=None, vocab=9, **kwargs) -> Seq2Seq:
    torch.manual_seed(0)
    options = dict(embedding_dim=6, hidden_size=5, attention=ATTENTIONS[attention], padding_idx=PAD)
    options.update(kwargs)
    return Seq2Seq(vocab, vocab + 2, cell, decoder_cell, **options).double().eval()


def sources(lengths, vocab=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    source = torch.randint(3, vocab, (len(lengths), int(lengths.max())), generator=g)
    for b, n in enumerate(lengths.tolist()):
        source[b, n:] = PAD
    return source, lengths


# ------------------------------------------------------------------------------ attention
@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_attention_follows_its_formula_and_masks_padding(kind):
    torch.manual_seed(0)
    attention = ATTENTIONS[kind](query_size=4, key_size=3).double()
    query, keys = torch.randn(2, 5, 4, dtype=torch.float64), torch.randn(2, 6, 3, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    context, weights = attention(query, keys, mask)
    assert context.shape == (2, 5, 3) and weights.shape == (2, 5, 6)
    if kind == "additive":
        Wq, Wk, b, v = (
            attention.query_proj.weight,
            attention.key_proj.weight,
            attention.key_proj.bias,
            attention.v.weight[0],
        )
        scores = torch.tanh((query @ Wq.T)[:, :, None, :] + (keys @ Wk.T + b)[:, None, :, :]) @ v  # (B, T, S)
    else:
        scores = query @ attention.key_proj.weight @ keys.transpose(1, 2)  # q^T W k
    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    expected = torch.softmax(scores, -1)
    assert torch.allclose(weights, expected, atol=1e-12)
    assert torch.allclose(context, expected @ keys, atol=1e-12)
    assert torch.equal(weights[1, :, 4:], torch.zeros(5, 2, dtype=torch.float64))
    # padded keys may hold anything: the context does not change at all
    noisy = keys.clone()
    noisy[1, 4:] = 1e3 * torch.randn(2, 3, dtype=torch.float64)
    assert torch.equal(attention(query, noisy, mask)[0], context)
    # one step (B, Q) is the same as a one-step sequence
    single, single_weights = attention(query[:, 2], keys, mask)
    assert torch.allclose(single, context[:, 2], atol=1e-14) and torch.allclose(
        single_weights, weights[:, 2], atol=1e-14
    )


def test_attention_shape_errors_name_the_argument():
    attention = AdditiveAttention(4, 3)
    with pytest.raises(ValueError, match=r"query must be \(batch, 4\)"):
        attention(torch.randn(2, 5), torch.randn(2, 6, 3))
    with pytest.raises(ValueError, match=r"keys must be \(batch=2, source, 3\)"):
        attention(torch.randn(2, 4), torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"mask must be \(batch, source\) = \(2, 6\)"):
        attention(torch.randn(2, 4), torch.randn(2, 6, 3), torch.ones(2, 5, dtype=torch.bool))


# ------------------------------------------------------------------------------ Seq2Seq
@pytest.mark.parametrize("attention", ["additive", "multiplicative", "none"])
def test_padded_source_positions_change_nothing(attention):
    model = make_model(attention, cell=LSTMCell, num_layers=2)
    source, lengths = sources([6, 3, 1])
    target = torch.randint(3, 11, (3, 4))
    logits, weights = model(source, lengths, target)
    noisy = source.clone()
    noisy[1, 3:], noisy[2, 1:] = 7, 8  # real tokens where there should be padding
    logits2, weights2 = model(noisy, lengths, target)
    assert torch.equal(logits, logits2)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_weights = model(source[b : b + 1, :n], lengths[b : b + 1], target[b : b + 1])
        assert torch.allclose(logits[b], alone[0], atol=1e-12)
        if weights is not None:
            assert torch.allclose(weights[b, :, :n], alone_weights[0], atol=1e-12)
            assert torch.equal(weights[b, :, n:], torch.zeros_like(weights[b, :, n:]))
    assert (weights is None) == (attention == "none")


@pytest.mark.parametrize("attention", ["additive", "none"])
@pytest.mark.parametrize("input_feeding", [False, True])
def test_decode_step_chain_equals_the_teacher_forced_forward(attention, input_feeding):
    model = make_model(attention, cell=GRUCell, decoder_cell=LSTMCell, num_layers=2, input_feeding=input_feeding)
    source, lengths = sources([5, 2])
    target = torch.randint(3, 11, (2, 6))
    logits, weights = model(source, lengths, target, torch.tensor([6, 6]))
    memory = model.encode(source, lengths)
    state = model.initial_state(memory)
    for t in range(6):
        step_logits, state, step_weights = model.decode_step(target[:, t], state, memory)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-12)
        if weights is not None:
            assert torch.allclose(step_weights, weights[:, t], atol=1e-12)
    assert model._decode_steps(memory, target, 0.0)[0].allclose(logits, atol=1e-12)


def test_bridge_starts_every_decoder_state_from_the_encoder_summary():
    model = make_model("additive", cell=GRUCell, decoder_cell=LSTMCell, num_layers=2, decoder_hidden_size=7)
    assert len(model.bridge) == 4  # two LSTM layers, (h, c) each
    memory = model.encode(*sources([4, 2]))
    state = model.initial_state(memory)
    h0, c0 = state.rnn[0]
    assert torch.allclose(h0, torch.tanh(model.bridge[0](memory.summary))) and torch.allclose(
        c0, torch.tanh(model.bridge[1](memory.summary))
    )
    assert h0.shape == (2, 7) and state.feed is None
    # z is the top layer's final states: forward at the last real step, reverse at step 0
    H = model.hidden_size
    assert torch.equal(memory.summary[1, :H], memory.outputs[1, 1, :H]) and torch.equal(
        memory.summary[1, H:], memory.outputs[1, 0, H:]
    )
    no_bridge = make_model("additive", bridge=False)
    assert no_bridge.bridge is None and torch.equal(
        no_bridge.initial_state(no_bridge.encode(*sources([3]))).rnn[0], torch.zeros(1, 10, dtype=torch.float64)
    )


def test_scheduled_sampling_feeds_the_model_its_own_samples():
    model = make_model("additive")
    source, lengths = sources([4, 4, 4])
    target = torch.randint(3, 11, (3, 5))
    teacher, _ = model(source, lengths, target)
    torch.manual_seed(1)
    sampled, _ = model(source, lengths, target, sampling_rate=1.0)
    assert torch.allclose(sampled[:, 0], teacher[:, 0], atol=1e-12)  # the first input is always <bos>/the reference
    assert not torch.allclose(sampled[:, 1:], teacher[:, 1:])
    assert torch.allclose(model(source, lengths, target, sampling_rate=0.0)[0], teacher)
    with pytest.raises(ValueError, match=r"sampling_rate must be a number in \[0, 1\], got 1.5"):
        model(source, lengths, target, sampling_rate=1.5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"padding_idx must be an index in \[0, 5\)"):
        Seq2Seq(5, 5, GRUCell, padding_idx=5)
    with pytest.raises(ValueError, match="attention.*must return an Attention module"):
        Seq2Seq(5, 5, GRUCell, attention=lambda query_size, key_size: torch.nn.Linear(query_size, key_size))
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        Seq2Seq(5, 0, GRUCell)
    model = make_model()
    with pytest.raises(ValueError, match="source has 2 sentences but target_in has 3"):
        model(*sources([2, 2]), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"beam_size must be a positive integer, got 0"):
        beam_search(model, *sources([2]), BOS, EOS, beam_size=0)


# ------------------------------------------------------------------------------ decoding
def reference_log_prob(model: Seq2Seq, source, lengths, tokens: list[int], ended: bool) -> float:
    """log p(tokens [+ <eos>] | source) by teacher forcing (one sentence)."""
    target_in = torch.tensor([[BOS, *tokens]])
    log_probs = torch.log_softmax(model(source, lengths, target_in)[0][0], -1)  # (n + 1, V)
    outputs = [*tokens, EOS] if ended else tokens
    return float(sum(log_probs[t, y] for t, y in enumerate(outputs)).detach())


def lively(model: Seq2Seq, eos_bias: float) -> Seq2Seq:
    """Sharper outputs (a random tiny model barely depends on its input) and a nudge to <eos>, so that
    some sentences end before max_length and some do not."""
    with torch.no_grad():
        model.output.weight.mul_(8.0)
        model.output.bias[EOS] += eos_bias
    return model


LENGTHS = [5, 3, 4, 2, 6, 1, 4, 4]


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_greedy_is_the_stepwise_argmax_and_scores_its_output(attention):
    model = lively(make_model(attention, cell=RNNCell), 1.0)
    source, lengths = sources(LENGTHS, seed=3)
    hyps = greedy_decode(model, source, lengths, BOS, EOS, max_length=8)
    ended = 0
    for b in range(len(LENGTHS)):
        tokens = hyps.tokens[b]
        prefix = [BOS]
        for t in range(len(tokens) + 1):  # every step's argmax is the next output (or <eos> at the end)
            logits = model(source[b : b + 1], lengths[b : b + 1], torch.tensor([prefix]))[0][0, -1]
            if t == len(tokens):
                if len(tokens) < 8:
                    assert logits.argmax().item() == EOS
                    ended += 1
                break
            assert logits.argmax().item() == tokens[t] != EOS
            prefix.append(tokens[t])
        expected = reference_log_prob(model, source[b : b + 1], lengths[b : b + 1], tokens, len(tokens) < 8)
        assert hyps.scores[b] == pytest.approx(expected, abs=1e-9)
        if attention != "none":
            assert hyps.attention[b].shape == (min(len(tokens) + 1, 8), 6)
    assert 0 < ended < len(LENGTHS), "the test needs sentences that end and sentences that run to max_length"


@pytest.mark.parametrize(("attention", "eos_bias"), [("additive", 1.0), ("multiplicative", 1.0), ("none", 0.5)])
def test_beam_search_with_beam_one_equals_greedy(attention, eos_bias):
    model = lively(make_model(attention, cell=LSTMCell), eos_bias)
    source, lengths = sources(LENGTHS, seed=3)
    greedy = greedy_decode(model, source, lengths, BOS, EOS, max_length=8)
    beam = beam_search(model, source, lengths, BOS, EOS, beam_size=1, max_length=8, length_penalty=1.0)
    assert 0 < sum(len(t) < 8 for t in greedy.tokens) < len(LENGTHS), "some must end, some must not"
    assert beam.tokens == greedy.tokens
    assert beam.scores == greedy.scores
    for a, b in zip(beam.attention, greedy.attention):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_beam_wider_than_all_prefixes_is_exhaustive_search(length_penalty):
    """V = 5 target tokens, at most 3 steps: the beam keeps every prefix, so it must find the best
    of all 5 + 25 + 125 candidates (ended by <eos>, or cut at 3 tokens) under the normalised score
    log p / steps ** alpha (steps counts the <eos> step)."""
    torch.manual_seed(0)
    model = Seq2Seq(6, 5, GRUCell, embedding_dim=4, hidden_size=3, attention=AdditiveAttention).double().eval()
    with torch.no_grad():
        model.output.bias[EOS] += 1.0
    source, lengths = sources([4, 2], vocab=6, seed=1)
    hyps = beam_search(model, source, lengths, BOS, EOS, beam_size=125, max_length=3, length_penalty=length_penalty)
    for b in range(2):
        src, n = source[b : b + 1], lengths[b : b + 1]
        candidates = []
        for size in range(3):  # ended by <eos> after `size` tokens (none of which is <eos>)
            for tokens in itertools.product([t for t in range(5) if t != EOS], repeat=size):
                score = reference_log_prob(model, src, n, list(tokens), True)
                candidates.append((score / (size + 1) ** length_penalty, list(tokens), score))
        for tokens in itertools.product([t for t in range(5) if t != EOS], repeat=3):  # cut at max_length
            score = reference_log_prob(model, src, n, list(tokens), False)
            candidates.append((score / 3**length_penalty, list(tokens), score))
        best = max(candidates, key=lambda c: c[0])
        assert hyps.tokens[b] == best[1]
        assert hyps.scores[b] == pytest.approx(best[2], abs=1e-9)


def test_length_normalisation_prefers_longer_outputs_than_raw_scores():
    """A nudge to <eos> makes the raw log-probability end (almost) every sentence at once; the mean per-step
    log-probability (alpha = 1) writes on. Each beam's winner beats the other's under its own score."""
    model = lively(make_model("additive", cell=GRUCell), eos_bias=1.0)
    source, lengths = sources([6, 5, 6, 4, 3, 5], seed=2)
    raw = beam_search(model, source, lengths, BOS, EOS, beam_size=4, max_length=12, length_penalty=0.0)
    mean = beam_search(model, source, lengths, BOS, EOS, beam_size=4, max_length=12, length_penalty=1.0)
    assert sum(map(len, mean.tokens)) > sum(map(len, raw.tokens))

    def per_step(score: float, tokens: list[int]) -> float:
        return score / (len(tokens) + 1 if len(tokens) < 12 else 12)  # the <eos> step counts

    for b in range(len(lengths)):
        assert raw.scores[b] >= mean.scores[b] - 1e-9
        assert per_step(mean.scores[b], mean.tokens[b]) >= per_step(raw.scores[b], raw.tokens[b]) - 1e-9


# ------------------------------------------------------------------------------ learning
def reversal_batch(n: int, g: torch.Generator, symbols: int = 6):
    lengths = torch.randint(2, 7, (n,), generator=g)
    S = int(lengths.max())
    source, target = torch.full((n, S), PAD), torch.full((n, S + 2), PAD)
    for b, length in enumerate(lengths.tolist()):
        x = torch.randint(3, 3 + symbols, (length,), generator=g)
        source[b, :length] = x
        target[b, 0], target[b, 1 : length + 1], target[b, length + 1] = BOS, x.flip(0), EOS
    return source, lengths, target, lengths + 2


@pytest.mark.slow
@pytest.mark.parametrize("attention", [AdditiveAttention, MultiplicativeAttention])
def test_reversal_is_learned_to_exact_match(attention):
    """Reverse sequences of 2-6 symbols: a small GRU with attention gets every held-out one right."""
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, GRUCell, embedding_dim=16, hidden_size=32, attention=attention, padding_idx=PAD)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [150, 225], 0.2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        source, lengths, target, target_lengths = reversal_batch(64, g)
        logits, _ = model(source, lengths, target[:, :-1], target_lengths - 1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), target[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    model.eval()
    source, lengths, target, _ = reversal_batch(300, torch.Generator().manual_seed(99))
    for hyps in (
        greedy_decode(model, source, lengths, BOS, EOS, 20),
        beam_search(model, source, lengths, BOS, EOS, 3, 20),
    ):
        wrong = [b for b in range(300) if hyps.tokens[b] != target[b, 1 : int(lengths[b]) + 1].tolist()]
        assert not wrong, (
            f"{len(wrong)} of 300 reversed wrongly, e.g. {source[wrong[0]].tolist()} -> {hyps.tokens[wrong[0]]}"
        )
    # attention learned to look where the answer is: output step t attends most to source position len-1-t
    hyps = greedy_decode(model, source[:20], lengths[:20], BOS, EOS, 20)
    aligned = [
        int(hyps.attention[b][t].argmax()) == int(lengths[b]) - 1 - t for b in range(20) for t in range(int(lengths[b]))
    ]
    assert sum(aligned) / len(aligned) > 0.75, sum(aligned) / len(aligned)  # (0.93 and 1.0 when written; chance ~0.25)
