"""The end-to-end benchmark (seqmodels/bench/training.py, ``seqmodels-bench --e2e``): its figures are the ones
it says, its plain loop does the work of the task's ``training_step``, its peer batches PTB as pytorch/examples'
``word_language_model`` does. Speed itself is never asserted (the measured figures are in docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from seqmodels.bench import kernels, peer_word_lm, training
from tests.helpers.configs import compose_config


# ------------------------------------------------------------------------------ pieces, by hand
def test_batch_tokens_of_each_kind_of_batch():
    lm = (torch.zeros(4, 5, dtype=torch.long), torch.zeros(4, 5, dtype=torch.long))
    classified = (torch.zeros(3, 7, dtype=torch.long), torch.tensor([7, 2, 5]), torch.zeros(3, dtype=torch.long))
    pair = type("Pair", (), {"source_lengths": torch.tensor([3, 4]), "target_lengths": torch.tensor([5, 1])})()
    assert training.batch_tokens(lm) == 20
    assert training.batch_tokens(classified) == 14
    assert training.batch_tokens(pair) == 13


def test_the_clock_times_the_steps_between_warmup_and_the_end(monkeypatch):
    ticks = iter(range(100, 200, 10))  # 100, 110, 120, ...
    monkeypatch.setattr(training.time, "perf_counter", lambda: float(next(ticks)))
    clock = training.StepClock(warmup=2, steps=3)
    batches = [(None, torch.zeros(2, n)) for n in (1, 2, 3, 4, 5, 6)]
    for index, batch in enumerate(batches):
        clock.on_train_batch_start(None, None, batch, index)
    assert clock.elapsed() == 10.0  # read at the start of step 2 (100) and of step 5 (110)
    assert clock.tokens == 2 * (3 + 4 + 5)  # steps 2, 3, 4
    assert clock.batches == batches[:5]  # warmup and timed steps: the plain loop's batches, the same work
    short = training.StepClock(warmup=2, steps=3)
    for index, batch in enumerate(batches[:5]):
        short.on_train_batch_start(None, None, batch, index)
    with pytest.raises(ValueError, match="the run made 5 steps, the clock needs 6"):
        short.elapsed()


def test_the_peer_batches_a_corpus_as_word_language_model_does(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("a b c\nb a\nd\n")
    ids = peer_word_lm.read_corpus(path)  # a b c <eos> b a <eos> d <eos>, ids by first appearance
    assert ids.tolist() == [0, 1, 2, 3, 1, 0, 3, 4, 3]
    columns = peer_word_lm.batchify(ids, 2)  # 4 steps of 2 columns: [a b c <eos>] and [b a <eos> d]
    assert columns.tolist() == [[0, 1], [1, 0], [2, 3], [3, 4]]
    data, targets = peer_word_lm.get_batch(columns, 0, bptt=2)
    assert data.tolist() == [[0, 1], [1, 0]] and targets.tolist() == [1, 0, 2, 3]
    data, targets = peer_word_lm.get_batch(columns, 2, bptt=2)  # the last window is one step short
    assert data.tolist() == [[2, 3]] and targets.tolist() == [3, 4]


def test_the_peer_trains_with_its_manual_sgd_update():
    torch.manual_seed(0)
    ids = torch.randint(0, 11, (400,))
    peer = peer_word_lm.PeerTrainer(ids, emsize=4, nhid=5, nlayers=2, dropout=0.0, batch_size=4, bptt=5, lr=1.0)
    before = [p.detach().clone() for p in peer.model.parameters()]
    data, targets = peer_word_lm.get_batch(peer.data, 0, 5)
    output, _ = peer.model(data, peer.model.init_hidden(4))
    loss = torch.nn.functional.nll_loss(output, targets)
    grads = torch.autograd.grad(loss, list(peer.model.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    scale = min(1.0, 0.25 / (float(norm) + 1e-6))
    peer.run(steps=1, warmup=0)
    for b, g, p in zip(before, grads, peer.model.parameters()):
        torch.testing.assert_close(p.detach(), b - 1.0 * scale * g, rtol=1e-5, atol=1e-6)
    assert peer.position == 5 and peer.total_loss == pytest.approx(float(loss), rel=1e-5)


# ------------------------------------------------------------------------------ the plain loop's loss
@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment", ["ptb_word_lstm_small", "imdb_bilstm", "conll2000_chunk_bilstm", "multi30k_gru_attention"]
)
def test_the_plain_loss_is_the_loss_training_step_returns(experiment, data_dir, tmp_path):
    from seqmodels.commands.instantiate import build_model_and_task, setup_data

    cfg = compose_config([f"experiment={experiment}", f"paths.data_dir={data_dir}"], tmp_path)
    datamodule = setup_data(cfg, "fit")
    _, task = build_model_and_task(cfg, datamodule)
    task.eval()  # no dropout: the two computations see the same network
    batch = next(iter(datamodule.train_dataloader()))
    with torch.no_grad():
        expected = task.training_step(batch, 0)
        loss, _ = training.plain_loss(task, batch, None)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


# ------------------------------------------------------------------------------ the whole benchmark
@pytest.mark.slow
def test_e2e_figures_are_the_ones_it_says(data_dir, tmp_path, capsys):
    if not (data_dir / "ptb").is_dir():
        pytest.skip(f"no ptb/ under {data_dir}")
    out = tmp_path / "bench.json"
    kernels.main(
        ["--only-e2e", "--e2e-batches", "2", "--e2e-repeats", "1", "--data-dir", str(data_dir), "--json", str(out)]
    )
    printed = capsys.readouterr().out
    r = json.loads(out.read_text())["e2e"]

    assert r["experiment"] == "ptb_word_lstm_small" and r["timed_batches"] == 2 and r["repeats"] == 1
    assert r["overrides"][:2] == ["data.bptt=35", "model.dropout=0.2"]
    assert set(r["rounds"]) == {"seqmodels-train", "plain loop", "peer", "loader"}
    for side, rates in r["rounds"].items():
        assert len(rates) == 1 and all(v > 0 for v in rates)
        if side != "loader":
            assert r["tokens_per_s"][side] == statistics.median(rates)
            assert r["tokens_per_s_range"][side] == [round(min(rates), 4), round(max(rates), 4)]
    for side in ("plain loop", "peer"):
        ratios = [a / b for a, b in zip(r["rounds"]["seqmodels-train"], r["rounds"][side])]
        assert r["ratios"][side]["median"] == pytest.approx(statistics.median(ratios), rel=1e-12)
    cfg = compose_config(["experiment=ptb_word_lstm_small"])
    assert cfg.data.batch_size == 20  # two timed steps of 20 x 35 tokens: the rates are multiples of 1400 / s
    assert "end-to-end training, ptb_word_lstm_small data.bptt=35 model.dropout=0.2" in printed
    assert f"{r['ratios']['peer']['median']:.3f}" in printed and "loader alone:" in printed


def test_too_few_steps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="batches >= 1, warmup >= 0, repeats >= 1"):
        training.run(tmp_path, batches=0)
