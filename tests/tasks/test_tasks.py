"""Tasks under a real Lightning Trainer on CPU: learning, carried state, metrics, clipping, schedules, logging."""

from __future__ import annotations

import functools
import math
import shutil
import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.data import TextEncoder, Vocab, WordTokenizer
from seqmodels.data.tagging import IGNORE_INDEX
from seqmodels.kernels import cross_entropy as fused_cross_entropy
from seqmodels.kernels import loader as native
from seqmodels.models import RNNClassifier, RNNLanguageModel, RNNTagger
from seqmodels.tasks import ClassificationTask, EpochDecay, LanguageModelingTask, RegressionTask, TaggingTask
from seqmodels.tasks.base import total_grad_norm

V = 12

warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*number of training batches.*")


def trainer(**kw) -> pl.Trainer:
    args = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    args.update(kw)
    return pl.Trainer(**args)


def adam(lr=0.01):
    return functools.partial(torch.optim.Adam, lr=lr)


def lm_batches(num_batches=3, B=3, T=5, seed=0, sizes=None):
    """Contiguous (inputs, targets) batches cut from B random streams."""
    g = torch.Generator().manual_seed(seed)
    lengths = sizes or [T] * num_batches
    streams = torch.randint(0, V, (B, sum(lengths) + 1), generator=g)
    out, start = [], 0
    for t in lengths:
        out.append((streams[:, start : start + t], streams[:, start + 1 : start + t + 1]))
        start += t
    return out


class SpyLM(RNNLanguageModel):
    """Records (training, state_in, state_out) of every forward."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.calls = []

    def forward(self, tokens, state=None):
        logits, new = super().forward(tokens, state)
        self.calls.append((self.training, state, new))
        return logits, new


def tiny_lm(cls=RNNLanguageModel, **kw):
    torch.manual_seed(0)
    args = dict(vocab_size=V, cell=LSTMCell, embedding_dim=16, hidden_size=16, num_layers=2)
    args.update(kw)
    return cls(**args)


class Data(pl.LightningDataModule):
    def __init__(self, train, val=None, contiguous=True, encoder=None):
        super().__init__()
        self.train, self.val, self.contiguous, self.encoder = train, val, contiguous, encoder

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.train, batch_size=None)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val or self.train, batch_size=None)


def leaves(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in leaves(s)]


def assert_carried(state_in, previous_out, training):
    """state_in equals previous_out in value, without its graph (which training outputs have)."""
    assert state_in is not None
    for new, old in zip(leaves(state_in), leaves(previous_out), strict=True):
        assert torch.equal(new, old)
        assert new.grad_fn is None and not new.requires_grad
        assert (old.grad_fn is not None) == training


# ------------------------------------------------------------------------------- learning
def test_language_model_overfits_one_batch():
    model = tiny_lm()
    batch = lm_batches(1, B=4, T=10)[0]
    task = LanguageModelingTask(model, adam(0.03), carry_state=False)
    with torch.no_grad():
        before = task.shared_step(batch, "check").item()
    trainer(max_steps=60).fit(task, Data([batch] * 60))
    with torch.no_grad():
        after = task.eval().shared_step(batch, "check").item()
    assert before > 2.0 and after < 0.3 * before, (before, after)


def classification_batch(seed=0, B=8, T=6, C=3):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, V, (B, T), generator=g)
    lengths = torch.randint(2, T + 1, (B,), generator=g)
    tokens[torch.arange(T)[None, :] >= lengths[:, None]] = 0
    labels = torch.arange(B) % C
    return tokens, lengths, labels


def test_classifier_overfits_one_batch():
    torch.manual_seed(0)
    model = RNNClassifier(
        3, GRUCell, hidden_size=16, vocab_size=V, embedding_dim=8, bidirectional=True, pooling="mean", padding_idx=0
    )
    task = ClassificationTask(model, adam(0.03))
    batch = classification_batch()
    loss = lambda: nn.functional.cross_entropy(task(batch[0], batch[1]), batch[2]).item()  # noqa: E731
    with torch.no_grad():
        before = loss()
    trainer(max_steps=60).fit(task, Data([batch] * 60))
    task.eval()
    with torch.no_grad():
        after = loss()
        accuracy = (task(batch[0], batch[1]).argmax(-1) == batch[2]).float().mean().item()
    assert after < 0.2 * before and accuracy == 1.0, (before, after, accuracy)


def test_regression_task_learns_a_sum():
    torch.manual_seed(0)
    x = torch.rand(16, 5, 1)
    batch = (x, torch.full((16,), 5), x.sum(dim=(1, 2)))
    model = RNNClassifier(1, LSTMCell, hidden_size=16, input_size=1)
    task = RegressionTask(model, adam(0.03))
    with torch.no_grad():
        before = task.loss(batch).item()
    trainer(max_steps=100).fit(task, Data([batch] * 100))
    with torch.no_grad():
        after = task.eval().loss(batch).item()
    assert after < 0.05 * before, (before, after)
    # exact mean over sequences across batches of different sizes
    halves = [tuple(t[:11] for t in batch), tuple(t[11:] for t in batch)]
    metrics = trainer().validate(task, Data(halves), verbose=False)[0]
    assert metrics["val/mse"] == pytest.approx(after, rel=1e-5) and metrics["val/loss"] == metrics["val/mse"]
    assert trainer().test(task, Data(halves).train_dataloader(), verbose=False)[0]["test/mse"] == pytest.approx(
        after, rel=1e-5
    )


# ---------------------------------------------------------------------------- carried state
def test_state_is_carried_detached_and_reset_each_epoch_and_for_evaluation():
    model = tiny_lm(SpyLM)
    task = LanguageModelingTask(model, adam(1e-3))
    train, val = lm_batches(4, seed=1), lm_batches(2, seed=2)
    # validation after every 2 training batches: it must not disturb the training state
    trainer(max_epochs=2, val_check_interval=2).fit(task, Data(train, val))
    calls = model.calls
    train_calls = [(s, o) for training, s, o in calls if training]
    val_calls = [(s, o) for training, s, o in calls if not training]
    assert len(train_calls) == 8 and len(val_calls) == 8
    for epoch in range(2):
        epoch_calls = train_calls[4 * epoch : 4 * epoch + 4]
        assert epoch_calls[0][0] is None  # reset at epoch start
        for k in range(1, 4):
            assert_carried(epoch_calls[k][0], epoch_calls[k - 1][1], training=True)
    for k in range(0, 8, 2):  # each validation run starts fresh and carries within itself
        assert val_calls[k][0] is None
        assert_carried(val_calls[k + 1][0], val_calls[k][1], training=False)


def test_state_reset_when_the_batch_size_changes():
    model = tiny_lm(SpyLM)
    batches = lm_batches(2, B=3, seed=3) + [(b[0][:2], b[1][:2]) for b in lm_batches(1, B=3, seed=4)]
    trainer(max_epochs=1, limit_val_batches=0).fit(LanguageModelingTask(model, adam()), Data(batches))
    states = [s for training, s, _ in model.calls if training]
    assert states[0] is None and states[1] is not None and states[2] is None


def test_no_carry_without_carry_state():
    model = tiny_lm(SpyLM)
    trainer(max_epochs=1).fit(LanguageModelingTask(model, adam(), carry_state=False), Data(lm_batches(3)))
    assert len(model.calls) == 6 and all(state is None for _, state, _ in model.calls)


def test_random_windows_train_without_carry_but_evaluation_carries():
    model = tiny_lm(SpyLM)
    trainer(max_epochs=1).fit(LanguageModelingTask(model, adam()), Data(lm_batches(3), contiguous=False))
    assert all(state is None for training, state, _ in model.calls if training)
    val_states = [state for training, state, _ in model.calls if not training]
    assert val_states[0] is None and all(state is not None for state in val_states[1:])


# ---------------------------------------------------------------------------------- metrics
def test_evaluation_metrics_are_exact_per_token_averages():
    model = tiny_lm().double()
    batches = lm_batches(2, sizes=[7, 2], seed=5)  # a shorter last batch
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for inputs, targets in batches:
            logits, state = model.eval()(inputs, state)
            total += nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="sum").item()
            count += targets.numel()
    expected = total / count
    metrics = trainer().validate(LanguageModelingTask(model, adam()), Data(batches), verbose=False)[0]
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-6)
    assert metrics["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-6)
    assert metrics["val/bpc"] == pytest.approx(expected / math.log(2), rel=1e-6)
    tested = trainer().test(LanguageModelingTask(model, adam()), Data(batches).train_dataloader(), verbose=False)[0]
    assert tested["test/loss"] == pytest.approx(expected, rel=1e-6)


def test_classification_metrics_against_manual_computation():
    torch.manual_seed(1)
    model = RNNClassifier(3, LSTMCell, hidden_size=8, vocab_size=V, embedding_dim=8).eval()
    batches = [classification_batch(seed=s, B=9) for s in range(3)]
    batches[-1] = tuple(t[:4] for t in batches[-1])  # a smaller last batch: epoch means weigh by size
    with torch.no_grad():
        logits = torch.cat([model(b[0], b[1])[0] for b in batches])
    labels = torch.cat([b[2] for b in batches])
    preds = logits.argmax(-1)
    f1s = []
    for c in range(3):
        tp = ((preds == c) & (labels == c)).sum().item()
        fp = ((preds == c) & (labels != c)).sum().item()
        fn = ((preds != c) & (labels == c)).sum().item()
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    loss = nn.functional.cross_entropy(logits, labels).item()
    metrics = trainer().validate(ClassificationTask(model, adam()), Data(batches), verbose=False)[0]
    assert metrics["val/acc"] == pytest.approx((preds == labels).float().mean().item(), abs=1e-6)
    assert metrics["val/f1"] == pytest.approx(sum(f1s) / 3, abs=1e-6)
    assert metrics["val/loss"] == pytest.approx(loss, rel=1e-5)
    tested = trainer().test(ClassificationTask(model, adam()), Data(batches).train_dataloader(), verbose=False)[0]
    assert tested["test/loss"] == pytest.approx(loss, rel=1e-5) and tested["test/acc"] == metrics["val/acc"]


# --------------------------------------------------------------------- gradients, schedules
def test_total_grad_norm_and_clipping():
    model = nn.Linear(3, 2)
    model(torch.randn(4, 3)).pow(2).sum().backward()
    manual = math.sqrt(sum(p.grad.pow(2).sum().item() for p in model.parameters()))
    assert total_grad_norm(model.parameters(), None).item() == pytest.approx(manual, rel=1e-6)
    assert total_grad_norm(model.parameters(), manual / 10).item() == pytest.approx(manual, rel=1e-6)  # pre-clip norm
    clipped = math.sqrt(sum(p.grad.pow(2).sum().item() for p in model.parameters()))
    assert clipped == pytest.approx(manual / 10, rel=1e-5)


class RecordingSGD(torch.optim.SGD):
    """Records the gradient norm each step's update actually uses."""

    seen: list[float] = []

    def step(self, closure=None):
        def recording_closure():
            loss = closure()  # Lightning's closure: forward, backward, then on_before_optimizer_step
            grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
            RecordingSGD.seen.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
            return loss

        return super().step(recording_closure)


@pytest.mark.parametrize("clip", [None, 0.01])
def test_gradient_clipping_reaches_the_optimizer_and_norm_is_logged(clip):
    RecordingSGD.seen = []
    task = LanguageModelingTask(tiny_lm(), functools.partial(RecordingSGD, lr=0.1), clip_grad_norm=clip)
    t = trainer(max_steps=3, limit_val_batches=0)
    t.fit(task, Data(lm_batches(3)))
    logged = t.callback_metrics["train/grad_norm"].item()  # the last step's norm, before clipping
    seen = RecordingSGD.seen
    assert len(seen) == 3
    if clip is None:
        assert seen[-1] == pytest.approx(logged, rel=1e-5)
    else:
        assert logged > clip
        assert all(n == pytest.approx(clip, rel=1e-4) for n in seen)


class StepLosses(pl.Callback):
    """Each training step's logged loss, and the epoch means logged at each epoch's end."""

    def __init__(self):
        self.losses, self.epoch_means = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(trainer.callback_metrics["train/loss"].item())

    def on_train_epoch_start(self, trainer, pl_module):  # the previous epoch's mean is in by now
        if trainer.current_epoch > 0:
            self.epoch_means.append(trainer.callback_metrics["train/loss_epoch"].item())

    def on_train_end(self, trainer, pl_module):
        self.epoch_means.append(trainer.callback_metrics["train/loss_epoch"].item())


class TensorCounted(LanguageModelingTask):
    """Counts its tokens in a 0-d tensor, as the tagging and translation tasks do (no host read per step)."""

    def training_step(self, batch, batch_idx):
        loss = self.shared_step(batch, "train")
        self.log_train_loss(loss, torch.tensor(batch[1].numel()))
        return loss


@pytest.mark.parametrize("task_class", [LanguageModelingTask, TensorCounted])
def test_epoch_loss_is_the_token_weighted_mean_of_the_steps(task_class):
    sizes = [5, 3, 7]  # tokens per batch: 3 rows × these lengths
    callback = StepLosses()
    t = trainer(max_epochs=2, limit_val_batches=0, callbacks=[callback])
    t.fit(task_class(tiny_lm(), adam()), Data(lm_batches(sizes=sizes)))
    assert len(callback.losses) == 6 and len(callback.epoch_means) == 2
    for epoch, logged in enumerate(callback.epoch_means):
        losses = callback.losses[3 * epoch : 3 * epoch + 3]
        expected = sum(loss * 3 * n for loss, n in zip(losses, sizes)) / (3 * sum(sizes))
        assert logged == pytest.approx(expected, rel=1e-6)  # each epoch its own batches only


def test_epoch_decay_matches_zaremba():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = EpochDecay(opt, decay=0.5, max_epoch_before_decay=4)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]
    with pytest.raises(ValueError, match="decay"):
        EpochDecay(opt, decay=0.0)


class LRRecorder(pl.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_epoch_start(self, trainer, task):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_schedulers_as_partials_under_the_trainer():
    recorder = LRRecorder()
    task = LanguageModelingTask(
        tiny_lm(),
        functools.partial(torch.optim.SGD, lr=1.0),
        scheduler=functools.partial(EpochDecay, decay=0.5, max_epoch_before_decay=2),
    )
    trainer(max_epochs=4, callbacks=[recorder]).fit(task, Data(lm_batches(1)))
    assert recorder.lrs == [1.0, 1.0, 0.5, 0.25]
    # divide by 4 on a plateau of val/loss (pytorch/examples); a tiny rate keeps val/loss flat
    recorder = LRRecorder()
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, factor=0.25, patience=0)
    task = LanguageModelingTask(tiny_lm(), functools.partial(torch.optim.SGD, lr=1e-12), scheduler=plateau)
    trainer(max_epochs=4, callbacks=[recorder]).fit(task, Data(lm_batches(1)))
    assert recorder.lrs == pytest.approx([1e-12, 1e-12, 2.5e-13, 6.25e-14])


# ----------------------------------------------------------------------------- TensorBoard
def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_language_model_logs_scalars_and_a_text_sample(tmp_path):
    encoder = TextEncoder(WordTokenizer(), Vocab.build([f"w{i}" for i in range(V - 3)]))
    task = LanguageModelingTask(tiny_lm(), adam(), clip_grad_norm=1.0, sample_prompt="w1 w2", sample_length=6)
    logger = TensorBoardLogger(tmp_path, name="lm", version=0)
    trainer(max_epochs=2, logger=logger, log_every_n_steps=1).fit(task, Data(lm_batches(2), encoder=encoder))
    acc = read_events(logger.log_dir)
    scalars = set(acc.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/ppl", "val/bpc", "train/grad_norm"} <= scalars, scalars
    [samples] = [tag for tag in acc.Tags()["tensors"] if tag.startswith("val/sample")]
    events = acc.Tensors(samples)
    assert len(events) == 2  # one per validation epoch
    text = events[-1].tensor_proto.string_val[0].decode()
    assert text.strip().startswith("w1 w2") and len(text.split()) >= 3
    assert task.encoder_dict == encoder.to_dict()  # taken from the data module at setup


def test_classifier_logs_a_confusion_matrix_image(tmp_path):
    torch.manual_seed(0)
    model = RNNClassifier(3, GRUCell, hidden_size=8, vocab_size=V, embedding_dim=8)
    task = ClassificationTask(model, adam(), label_names=["neg", "neutral", "pos"])
    logger = TensorBoardLogger(tmp_path, name="cls", version=0)
    trainer(max_epochs=1, logger=logger, log_every_n_steps=1).fit(task, Data([classification_batch()] * 2))
    acc = read_events(logger.log_dir)
    assert "val/confusion_matrix" in acc.Tags()["images"]
    assert {"train/loss", "val/loss", "val/acc", "val/f1", "train/grad_norm"} <= set(acc.Tags()["scalars"])


def test_no_tensorboard_logger_no_sample():
    task = LanguageModelingTask(tiny_lm(), adam(), encoder=TextEncoder(WordTokenizer(), Vocab.build(["a"])))
    assert task.log_sample() is None  # not attached to a trainer with a TensorBoard logger


# ------------------------------------------------------------------------------ arguments
def test_hparams_are_plain_data():
    from omegaconf import OmegaConf

    config = OmegaConf.create({"model": {"_target_": "x.Y", "sizes": [1, 2]}, "seed": 3})
    task = ClassificationTask(
        RNNClassifier(2, GRUCell, hidden_size=4, vocab_size=V),
        adam(),
        label_names=OmegaConf.create(["a", "b"]),
        config=config,
    )
    assert dict(task.hparams) == {
        "num_classes": 2,
        "label_names": ["a", "b"],
        "clip_grad_norm": None,
        "scheduler_monitor": "val/loss",
        "scheduler_interval": "epoch",
        "layer_lr_decay": None,
        "unfreeze": None,
        "unfreeze_unit": "epoch",
    }
    assert type(task.config) is dict and task.config == {"model": {"_target_": "x.Y", "sizes": [1, 2]}, "seed": 3}
    lm_task = LanguageModelingTask(tiny_lm(), adam())
    assert set(lm_task.hparams) == {
        "clip_grad_norm",
        "carry_state",
        "sample_prompt",
        "sample_length",
        "sample_temperature",
        "scheduler_monitor",
        "scheduler_interval",
        "layer_lr_decay",
        "unfreeze",
        "unfreeze_unit",
    }


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LanguageModelingTask(tiny_lm(), adam(), clip_grad_norm=-1), "clip_grad_norm"),
        (lambda: LanguageModelingTask(tiny_lm(), adam(), scheduler_interval="batch"), "scheduler_interval"),
        (lambda: LanguageModelingTask(tiny_lm(), adam(), sample_length=-1), "sample_length"),
        (lambda: LanguageModelingTask(tiny_lm(), "adam"), "optimizer"),
        (lambda: LanguageModelingTask(tiny_lm(), adam(), config={"model": object()}), r"config\.model"),
        (lambda: ClassificationTask(RNNClassifier(1, GRUCell, input_size=2), adam()), "RegressionTask"),
        (lambda: ClassificationTask(RNNClassifier(3, GRUCell, input_size=2), adam(), num_classes=4), "3 outputs"),
        (lambda: ClassificationTask(RNNClassifier(2, GRUCell, input_size=2), adam(), label_names=["a"]), "label_names"),
    ],
)
def test_bad_task_arguments_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


class LoggedSteps(LanguageModelingTask):
    """Records the optimizer step of each train/loss and train/grad_norm handed to self.log."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logged: dict[str, list[int]] = {"train/loss": [], "train/grad_norm": []}

    def log(self, name, value, *args, **kwargs):
        if name in self.logged:
            self.logged[name].append(self.trainer.global_step)
        return super().log(name, value, *args, **kwargs)


def test_step_scalars_reach_self_log_on_the_steps_the_loggers_write():
    """Every step of the first log_every_n_steps, then Lightning's rule: every log_every_n_steps-th step."""
    task = LoggedSteps(tiny_lm(), adam(), clip_grad_norm=1.0)
    trainer(max_steps=17, limit_val_batches=0, log_every_n_steps=4).fit(task, Data(lm_batches(17)))
    expected = [0, 1, 2, 3, 7, 11, 15]  # Lightning writes when (steps taken + 1) % 4 == 0: steps 3, 7, 11, 15
    assert task.logged == {"train/loss": expected, "train/grad_norm": expected}
    task = LoggedSteps(tiny_lm(), adam(), clip_grad_norm=1.0)
    trainer(max_steps=5, limit_val_batches=0, log_every_n_steps=1).fit(task, Data(lm_batches(5)))
    assert task.logged["train/loss"] == [0, 1, 2, 3, 4]


class HookNames(LanguageModelingTask):
    """Records Lightning's ``_current_fx_name`` as each of three hooks sees it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[str | None] = []

    def on_train_batch_start(self, batch, batch_idx):
        self.seen.append(self._current_fx_name)

    def training_step(self, batch, batch_idx):
        self.seen.append(self._current_fx_name)
        return super().training_step(batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.seen.append(self._current_fx_name)


def test_the_running_hook_is_named_as_lightning_sets_it():
    """The task keeps ``_current_fx_name`` as a plain attribute (set around every hook call): each hook sees
    its own name, and self.log in a step still works."""
    task = HookNames(tiny_lm(), adam())
    trainer(max_steps=2, limit_val_batches=0).fit(task, Data(lm_batches(2)))
    assert task.seen == ["on_train_batch_start", "training_step", "on_train_batch_end"] * 2
    assert "_current_fx_name" in vars(task) and "_current_fx_name" not in task._modules


class EpochAccuracies(pl.Callback):
    """``train/acc`` as logged at each epoch's end (read when the next epoch starts, and at the end)."""

    def __init__(self):
        self.values = []

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch > 0:
            self.values.append(trainer.callback_metrics["train/acc"].item())

    def on_train_end(self, trainer, pl_module):
        self.values.append(trainer.callback_metrics["train/acc"].item())


class CountedLogs(ClassificationTask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acc_logs = 0

    def log(self, name, value, *args, **kwargs):
        self.acc_logs += name == "train/acc"
        return super().log(name, value, *args, **kwargs)


def test_train_accuracy_is_logged_once_an_epoch_over_all_its_steps():
    """lr = 0 keeps the model fixed, so the epoch's accuracy is the fixed model's over the epoch's batches."""
    torch.manual_seed(0)
    model = RNNClassifier(3, GRUCell, hidden_size=8, vocab_size=V, embedding_dim=8, padding_idx=0)
    batches = [classification_batch(seed=s, B=5 + s) for s in range(3)]  # unequal batch sizes
    task, callback = CountedLogs(model, adam(0.0)), EpochAccuracies()
    trainer(max_epochs=2, limit_val_batches=0, callbacks=[callback]).fit(task, Data(batches))
    with torch.no_grad():
        right = sum(int((model(x, n)[0].argmax(-1) == y).sum()) for x, n, y in batches)
    expected = right / sum(len(y) for _, _, y in batches)
    assert callback.values == pytest.approx([expected, expected], abs=1e-6)
    assert task.acc_logs == 2  # one self.log a epoch, not one a step


def test_the_taggers_train_accuracy_counts_every_real_token_of_the_epoch():
    """lr = 0 keeps the model fixed: train/acc is its accuracy over the scored tokens of all batches (neither
    the padding nor a token whose tag is IGNORE_INDEX)."""
    torch.manual_seed(0)
    model = RNNTagger(3, GRUCell, vocab_size=V, embedding_dim=4, hidden_size=6)
    g = torch.Generator().manual_seed(1)
    batches = []
    for batch_size in (4, 3):
        lengths = torch.randint(2, 7, (batch_size,), generator=g)
        tags = torch.randint(0, 3, (batch_size, 6), generator=g)
        tags[torch.arange(6)[None, :] >= lengths[:, None]] = IGNORE_INDEX
        tags[0, 1] = IGNORE_INDEX  # a real token the data leaves out (e.g. a word piece after the first)
        batches.append((torch.randint(1, V, (batch_size, 6), generator=g), lengths, tags))
    callback = EpochAccuracies()
    task = TaggingTask(model, functools.partial(torch.optim.SGD, lr=0.0), span_f1=False)
    trainer(max_epochs=1, limit_val_batches=0, callbacks=[callback]).fit(task, Data(batches))
    with torch.no_grad():
        right = sum(int(((model(x, n)[0].argmax(-1) == y) & (y != IGNORE_INDEX)).sum()) for x, n, y in batches)
    scored = sum(int((y != IGNORE_INDEX).sum()) for _, _, y in batches)
    assert callback.values == pytest.approx([right / scored], abs=1e-6)


def test_an_optimizer_without_a_fused_step_is_told_how_to_drop_it():
    """The task configs set fused: true for Adam; another optimizer given that keyword gets a config error."""
    task = ClassificationTask(
        RNNClassifier(3, GRUCell, hidden_size=8, vocab_size=V, embedding_dim=8),
        functools.partial(torch.optim.RMSprop, lr=0.01, fused=True),
    )
    with pytest.raises(ValueError, match=r"RMSprop, lr=0.01, fused=True.*~task\.optimizer\.fused"):
        task.configure_optimizers()
    fused = ClassificationTask(
        RNNClassifier(3, GRUCell, hidden_size=8, vocab_size=V, embedding_dim=8),
        functools.partial(torch.optim.Adam, lr=0.01, fused=True),
    ).configure_optimizers()
    assert fused.defaults["fused"] is True


@pytest.mark.skipif(shutil.which(native._compiler()) is None, reason="no C compiler on PATH")
@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # the classifier's step, without a trainer
def test_the_training_losses_run_the_fused_cross_entropy(monkeypatch):
    """On CPU the language model's, the tagger's and the classifier's training losses are the fused kernel
    (seqmodels/kernels/cross_entropy.py), equal to torch's cross_entropy of the same logits (at every size here:
    these small problems would otherwise go to torch's, which is faster on them)."""
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    monkeypatch.setattr(fused_cross_entropy, "MIN_LOGITS_FEW_CLASSES", 0)
    monkeypatch.setattr(fused_cross_entropy, "MIN_LOGITS_MANY_CLASSES", 0)
    lm = LanguageModelingTask(tiny_lm(), adam(), carry_state=False)
    inputs, targets = lm_batches(1)[0]
    tagger = RNNTagger(3, GRUCell, vocab_size=V, embedding_dim=4, hidden_size=6)
    tokens, lengths, labels = classification_batch()
    tags = (tokens % 3).masked_fill(torch.arange(tokens.shape[1])[None, :] >= lengths[:, None], IGNORE_INDEX)
    classifier = RNNClassifier(3, GRUCell, hidden_size=8, vocab_size=V, embedding_dim=4, padding_idx=0)
    cases = [
        (lm.shared_step((inputs, targets), "train"), lm.model(inputs)[0].flatten(0, 1), targets.flatten(), -100),
        (
            TaggingTask.loss(tagger(tokens, lengths)[0], tags),
            tagger(tokens, lengths)[0].flatten(0, 1),
            tags.flatten(),
            IGNORE_INDEX,
        ),
        (
            ClassificationTask(classifier, adam()).training_step((tokens, lengths, labels), 0),
            classifier(tokens, lengths)[0],
            labels,
            -100,
        ),
    ]
    for loss, logits, expected_targets, ignore in cases:
        assert type(loss.grad_fn).__name__ == "_FusedCrossEntropyBackward"
        expected = nn.functional.cross_entropy(logits, expected_targets, ignore_index=ignore)
        torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
