"""``seqmodels-bench --e2e`` (seqmodels/bench/training.py) on a few batches of ptb_word_lstm_small: the
figures it returns and prints are the ones it says, computed from the batches it timed. Speed itself is
never asserted (the measured figures are in docs/PERFORMANCE.md)."""

from __future__ import annotations

import json

import pytest
import torch

from seqmodels.bench import kernels, training
from seqmodels.cells import LSTMCell
from seqmodels.models import RNNLanguageModel
from tests.helpers.configs import compose_config

pytestmark = pytest.mark.slow  # PTB is tokenized and a 2x200 LSTM trains for a few batches on each side


def test_e2e_figures_from_the_timed_batches(data_dir, tmp_path, capsys):
    if not (data_dir / "ptb").is_dir():
        pytest.skip(f"no ptb/ under {data_dir}")
    out = tmp_path / "bench.json"
    kernels.main(["--only-e2e", "--e2e-batches", "2", "--data-dir", str(data_dir), "--json", str(out)])
    printed = capsys.readouterr().out
    r = json.loads(out.read_text())["e2e"]

    assert r["experiment"] == "ptb_word_lstm_small" and r["timed_batches"] == 2 and r["repeats"] == 3
    cfg = compose_config(["experiment=ptb_word_lstm_small"])
    assert r["tokens"] == 2 * cfg.data.batch_size * cfg.data.bptt  # two full batches
    assert r["plain_tokens_per_s"] > 0 and r["trainer_tokens_per_s"] > 0
    assert r["ratio"] == pytest.approx(r["trainer_tokens_per_s"] / r["plain_tokens_per_s"], rel=1e-12)
    for side in ("plain", "trainer"):
        low, high = r[f"{side}_spread_s"]
        median_s = r["tokens"] / r[f"{side}_tokens_per_s"]
        assert 0 < low <= median_s + 1e-3 and median_s <= high + 1e-3, (side, r)  # the median lies in the spread
    assert f"training ptb_word_lstm_small (2 batches, {r['tokens']} tokens)" in printed
    assert f"ratio {r['ratio']:.2f}" in printed


def test_a_run_without_timed_batches_is_refused():
    torch.manual_seed(0)
    model = RNNLanguageModel(11, LSTMCell, embedding_dim=4, hidden_size=4)
    batch = (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="no batch was timed: warmup=1 of 1 batches"):
        training.plain_loop(model, [batch], lr=1.0, clip=0.25, warmup=1)
