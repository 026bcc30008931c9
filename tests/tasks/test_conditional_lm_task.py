"""LanguageModelingTask on a conditional model's batch dicts: the loss over the valid positions against a
per-row computation without padding, the epoch metrics under a real Trainer, the conditions in checkpoints."""

from __future__ import annotations

import functools
import math
import warnings

import lightning.pytorch as pl
import pytest
import torch

from seqmodels.cells import LSTMCell
from seqmodels.checkpoints import CHECKPOINT_KEY
from seqmodels.data.conditions import Conditions
from seqmodels.models import ConditionalLanguageModel, RNNLanguageModel
from seqmodels.tasks import LanguageModelingTask

V, PAD = 9, 0
warnings.filterwarnings("ignore", ".*does not have many workers.*")


def model(**kw) -> ConditionalLanguageModel:
    torch.manual_seed(0)
    args = dict(condition_sizes=[3], condition_features=2, condition_mode="both", embedding_dim=5, hidden_size=6)
    return ConditionalLanguageModel(V, LSTMCell, **{**args, **kw})


def task(net) -> LanguageModelingTask:
    return LanguageModelingTask(net, functools.partial(torch.optim.Adam, lr=0.01), sample_length=0)


def batch(lengths, seed=0, pad=PAD):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    tokens = torch.full((len(lengths), T), pad)
    for b, n in enumerate(lengths):
        tokens[b, :n] = torch.randint(1, V, (n,), generator=g)
    return {
        "tokens": tokens,
        "lengths": torch.tensor(lengths),
        "condition": torch.randint(0, 3, (len(lengths), 1), generator=g),
        "condition_values": torch.randn(len(lengths), 2, generator=g),
    }


def row_by_row(net, b) -> tuple[float, int]:
    """Σ -log p(tokens[t+1] | tokens[≤t], c) over each row alone (no padding anywhere), and the count."""
    total, count = 0.0, 0
    with torch.no_grad():
        for i, n in enumerate(b["lengths"].tolist()):
            row = b["tokens"][i : i + 1, :n]
            logits, _ = net(row[:, :-1], (b["condition"][i : i + 1], b["condition_values"][i : i + 1]))
            log_probs = torch.log_softmax(logits.double(), dim=-1)[0]  # (n-1, V)
            total -= float(log_probs.gather(1, row[0, 1:, None]).sum())
            count += n - 1
    return total, count


def test_the_loss_is_the_cross_entropy_over_the_valid_positions():
    net = model().eval()
    b = batch([6, 3, 4])
    total, count = row_by_row(net, b)
    with torch.no_grad():
        loss = task(net).shared_step(b, "train")
    assert count == 10 and int(LanguageModelingTask.num_targets(b)) == 10
    assert float(loss) == pytest.approx(total / count, rel=1e-6)
    noisy = dict(b, tokens=b["tokens"].clone())
    noisy["tokens"][1, 3:] = 7  # whatever the padding holds, it is never read as a target
    with torch.no_grad():
        assert float(task(net).shared_step(noisy, "train")) == pytest.approx(float(loss), rel=1e-6)


def test_validation_metrics_weigh_every_token_of_the_epoch():
    net = model()
    batches = [batch([6, 2], seed=1), batch([3, 5, 4], seed=2)]
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    (metrics,) = trainer.validate(task(net), dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    net.eval()
    sums = [row_by_row(net, b) for b in batches]
    expected = sum(t for t, _ in sums) / sum(n for _, n in sums)  # 6 + 10 tokens, not a mean of batch means
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_training_lowers_the_loss():
    net = model()
    b = batch([6, 5, 4], seed=3)
    with torch.no_grad():
        first = float(task(net).shared_step(b, "train"))
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=30,
    )  # fmt: skip
    trainer.fit(task(net), train_dataloaders=torch.utils.data.DataLoader([b], batch_size=None))
    with torch.no_grad():
        assert float(task(net).shared_step(b, "train")) < 0.7 * first


def test_checkpoints_carry_the_conditions_as_plain_data():
    conditions = Conditions({"label": ["neg", "pos", "mixed"]}, ["x", "y"]).to_dict()
    lm = task(model())
    lm.conditions = conditions
    checkpoint: dict = {}
    lm.on_save_checkpoint(checkpoint)
    assert checkpoint[CHECKPOINT_KEY]["conditions"] == conditions
    fresh = task(model())
    fresh.on_load_checkpoint(checkpoint)
    assert fresh.conditions == conditions


def test_mismatched_model_and_data_are_named():
    plain = RNNLanguageModel(V, LSTMCell, embedding_dim=5, hidden_size=6)
    with pytest.raises(ValueError, match="train a ConditionalLanguageModel on them"):
        task(plain).shared_step(batch([3, 2]), "train")
    windows = (torch.randint(0, V, (2, 4)), torch.randint(0, V, (2, 4)))
    with pytest.raises(ValueError, match="the data yields a tuple"):
        task(model()).shared_step(windows, "train")
    with pytest.raises(ValueError, match="needs 'condition'"):
        task(model()).shared_step({"tokens": windows[0], "lengths": torch.tensor([4, 4])}, "train")
