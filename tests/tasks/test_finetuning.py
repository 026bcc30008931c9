"""ULMFiT's fine-tuning recipe as task options: discriminative rates, gradual unfreezing, slanted triangular rates.

Oracles: the rate of every parameter written out by hand from its name, ULMFiT's eq. 3 written out here, the
parameters' own values before and after training (a frozen one must not move), the LR monitor's CSV.
"""

from __future__ import annotations

import csv
import functools
import math
import types
import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.models import RNNClassifier, RNNLanguageModel
from seqmodels.tasks import ClassificationTask, LanguageModelingTask, SlantedTriangular
from seqmodels.tasks.finetuning import UnfreezeSchedule

V, LR, DECAY = 12, 0.01, 2.6

warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*number of training batches.*")


def classifier(**kw) -> RNNClassifier:
    torch.manual_seed(0)
    args = dict(num_classes=3, cell=GRUCell, hidden_size=6, vocab_size=V, embedding_dim=5, num_layers=2)
    args.update(kw)
    return RNNClassifier(**args)


def adamw(**kw):
    return functools.partial(torch.optim.AdamW, **{"lr": LR, **kw})


def batches(n: int, seed: int = 0, B: int = 4, T: int = 5):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        tokens = torch.randint(1, V, (B, T), generator=g)
        out.append((tokens, torch.full((B,), T), torch.randint(0, 3, (B,), generator=g)))
    return out


class Data(pl.LightningDataModule):
    def __init__(self, train):
        super().__init__()
        self.train = train

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.train, batch_size=None)


def fit(task, epochs: int, num_batches: int = 3, callbacks=(), **kw) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=kw.pop("logger", False),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=list(callbacks),
        **kw,
    )
    trainer.fit(task, Data(batches(num_batches)))
    return trainer


# ------------------------------------------------------------------------------ discriminative rates
def test_each_parameter_trains_at_its_groups_rate_with_the_optimizers_other_settings():
    model = classifier(bidirectional=True, learn_initial_state=True, head_hidden_size=4)
    task = ClassificationTask(model, adamw(weight_decay=0.1, betas=(0.8, 0.9)), layer_lr_decay=DECAY)
    optimizer = task.configure_optimizers()
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert len(rate) == sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    # 4 groups, input -> output: embedding, rnn.0, rnn.1, head
    expected = {"encoder": LR / DECAY**3, "rnn.layers.0": LR / DECAY**2, "rnn.layers.1": LR / DECAY, "head": LR}
    # the learned h_0 of layer l (2 directions) trains with layer l: values 0, 1 -> layer 0; 2, 3 -> layer 1
    expected.update({f"initial_state.values.{i}": LR / DECAY ** (2 - i // 2) for i in range(4)})
    for name, p in model.named_parameters():
        want = [v for prefix, v in expected.items() if name == prefix or name.startswith(prefix + ".")]
        assert len(want) == 1, name
        assert rate[id(p)] == pytest.approx(want[0], rel=1e-12), name
    assert [g["name"] for g in optimizer.param_groups] == ["embedding", "rnn.0", "rnn.1", "head"]
    assert all(g["weight_decay"] == 0.1 and g["betas"] == (0.8, 0.9) for g in optimizer.param_groups)


def test_a_tied_weight_trains_once_at_the_embeddings_rate():
    model = RNNLanguageModel(V, LSTMCell, embedding_dim=6, hidden_size=6, num_layers=1, tie_weights=True)
    task = LanguageModelingTask(model, functools.partial(torch.optim.SGD, lr=1.0), layer_lr_decay=2.0)
    optimizer = task.configure_optimizers()
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert [g["name"] for g in optimizer.param_groups] == ["embedding", "rnn.0", "decoder"]
    assert groups["embedding"]["params"] == [model.embedding.weight] and groups["embedding"]["lr"] == 0.25
    assert groups["decoder"]["params"] == [model.decoder.bias] and groups["decoder"]["lr"] == 1.0


def test_no_decay_leaves_one_group():
    optimizer = ClassificationTask(classifier(), adamw()).configure_optimizers()
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["lr"] == LR


# ------------------------------------------------------------------------------ slanted triangular
def ulmfit_eq3(t: int, T: int, cut_frac: float, ratio: float, lr_max: float) -> float:
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


def rates(scheduler, steps: int) -> list[list[float]]:
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in scheduler.optimizer.param_groups])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_slanted_triangular_is_ulmfits_eq3():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)
    lrs = [r[0] for r in rates(SlantedTriangular(optimizer, total_steps=100), 101)]  # cut_frac 0.1, ratio 32
    assert lrs == pytest.approx([ulmfit_eq3(t, 100, 0.1, 32, 0.5) for t in range(101)], rel=1e-12)
    assert lrs[0] == pytest.approx(0.5 / 32) and lrs[10] == pytest.approx(0.5) and lrs[100] == pytest.approx(0.5 / 32)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11])) and all(a > b for a, b in zip(lrs[10:100], lrs[11:101]))
    after = [r[0] for r in rates(SlantedTriangular(optimizer, total_steps=100), 130)[101:]]
    assert after == pytest.approx([0.5 / 32] * 29)  # past T it stays at the bottom


def test_slanted_triangular_without_room_to_rise_falls_from_the_top():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    lrs = [r[0] for r in rates(SlantedTriangular(optimizer, total_steps=4, cut_frac=0.1, ratio=5), 5)]
    assert lrs == pytest.approx([(1 + (1 - t / 4) * 4) / 5 for t in range(5)])  # cut = floor(0.4) = 0


@pytest.mark.parametrize(
    "kw, match",
    [(dict(total_steps=0), "total_steps"), (dict(cut_frac=1.0), "cut_frac"), (dict(ratio=0.5), "ratio")],
)
def test_slanted_triangular_bad_arguments(kw, match):
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=match):
        SlantedTriangular(optimizer, **{"total_steps": 10, **kw})


def test_slanted_triangular_under_the_trainer_keeps_each_groups_ratio_and_the_monitor_logs_every_group(tmp_path):
    task = ClassificationTask(
        classifier(num_layers=1),
        adamw(),
        scheduler=functools.partial(SlantedTriangular, total_steps=None, cut_frac=0.25, ratio=8),
        scheduler_interval="step",
        layer_lr_decay=DECAY,
    )
    logger = CSVLogger(tmp_path, name="run")
    fit(task, 2, num_batches=4, callbacks=[LearningRateMonitor("step")], logger=logger, log_every_n_steps=1)
    assert task.lr_schedulers().total_steps == 8  # 2 epochs x 4 batches, from the trainer
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("lr-AdamW/head")]
    names = ["embedding", "rnn.0", "head"]
    assert [int(r["step"]) for r in rows] == list(range(8))
    for t, row in enumerate(rows):
        top = ulmfit_eq3(t, 8, 0.25, 8, LR)
        for g, name in enumerate(names):
            assert float(row[f"lr-AdamW/{name}"]) == pytest.approx(top / DECAY ** (2 - g), rel=1e-6), (t, name)


def test_one_cycle_with_max_lr_null_keeps_the_discriminative_ratios():
    task = ClassificationTask(
        classifier(),
        adamw(),
        scheduler=functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=None, total_steps=20),
        scheduler_interval="step",
        layer_lr_decay=2.0,
    )
    scheduler = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    groups = scheduler.optimizer.param_groups
    assert [g["max_lr"] for g in groups] == pytest.approx([LR / 8, LR / 4, LR / 2, LR])
    assert [g["lr"] for g in groups] == pytest.approx([LR / 8 / 25, LR / 4 / 25, LR / 2 / 25, LR / 25])


def test_total_steps_from_the_trainer_needs_a_per_step_scheduler():
    task = ClassificationTask(classifier(), adamw(), scheduler=functools.partial(SlantedTriangular, total_steps=None))
    with pytest.raises(ValueError, match="task.scheduler_interval=step"):
        task.configure_optimizers()


def test_a_merged_scheduler_config_is_explained():
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, factor=0.5, cut_frac=0.1)
    with pytest.raises(TypeError, match=r"cut_frac.*Hydra merges the two"):
        ClassificationTask(classifier(), adamw(), scheduler=plateau).configure_optimizers()


# ------------------------------------------------------------------------------ gradual unfreezing
GROUPS = ["embedding", "rnn.0", "rnn.1", "head"]


def test_gradual_schedule_thaws_one_more_group_from_the_top_each_epoch():
    schedule = UnfreezeSchedule("gradual", GROUPS)
    assert [schedule.frozen(epoch, step=1000) for epoch in range(5)] == [
        ["embedding", "rnn.0", "rnn.1"],
        ["embedding", "rnn.0"],
        ["embedding"],
        [],
        [],
    ]
    by_step = UnfreezeSchedule({"embedding": 10, "rnn.0": 5}, GROUPS, unit="step")
    assert [by_step.frozen(epoch=9, step=s) for s in (0, 4, 5, 9, 10)] == [
        ["embedding", "rnn.0"],
        ["embedding", "rnn.0"],
        ["embedding"],
        ["embedding"],
        [],
    ]


@pytest.mark.parametrize(
    "spec, unit, match",
    [
        ({"decoder": 1}, "epoch", r"'decoder', not a layer group of this model; its groups are embedding, rnn.0"),
        ({"head": -1}, "epoch", r"unfreeze\.head must be the first epoch"),
        ({n: 1 for n in GROUPS}, "epoch", "nothing to train at epoch 0"),
        ("sometimes", "epoch", "unfreeze must be 'gradual', a mapping"),
        ("gradual", "batch", "unfreeze_unit must be one of"),
    ],
)
def test_bad_schedules_name_the_problem(spec, unit, match):
    with pytest.raises(ValueError, match=match):
        UnfreezeSchedule(spec, GROUPS, unit)


def test_task_options_are_checked_when_the_task_is_built():
    with pytest.raises(ValueError, match=r"its groups are embedding, rnn.0, rnn.1, head"):
        ClassificationTask(classifier(), adamw(), unfreeze={"encoder": 1})
    with pytest.raises(ValueError, match="layer_lr_decay must be a number >= 1"):
        ClassificationTask(classifier(), adamw(), layer_lr_decay=0.5)
    with pytest.raises(ValueError, match="unfreeze_unit"):
        ClassificationTask(classifier(), adamw(), unfreeze_unit="batch")

    class Plain(nn.Module):
        num_classes = 3

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 3)

    with pytest.raises(TypeError, match="unfreeze needs the model's layer groups: no layer groups for Plain"):
        ClassificationTask(Plain(), adamw(), unfreeze="gradual")


class Snapshots(pl.Callback):
    """At each epoch's end: every parameter's value, its requires_grad, whether it has a gradient and Adam state."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_end(self, trainer, task):
        state = trainer.optimizers[0].state
        self.epochs.append(
            {
                name: (p.detach().clone(), p.requires_grad, p.grad is not None, bool(state.get(p)))
                for name, p in task.model.named_parameters()
            }
        )


def group_of(name: str) -> str:
    if name.startswith("encoder."):
        return "embedding"
    if name.startswith("rnn.layers."):
        return "rnn." + name.split(".")[2]
    assert name.startswith("head."), name
    return "head"


def test_frozen_groups_do_not_move_under_adamw_with_weight_decay():
    model = classifier()
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = ClassificationTask(model, adamw(lr=0.05, weight_decay=0.5), unfreeze="gradual")
    snapshots = Snapshots()
    fit(task, 2, callbacks=[snapshots])
    trains = [{"head"}, {"head", "rnn.1"}]  # epoch 0, epoch 1
    for epoch, snapshot in enumerate(snapshots.epochs):
        for name, (value, requires_grad, has_grad, has_moments) in snapshot.items():
            training = group_of(name) in trains[epoch]
            assert requires_grad == training and has_grad == training, (epoch, name)
            assert has_moments == (group_of(name) in trains[-1] if epoch else training), (epoch, name)
            if group_of(name) not in trains[-1]:
                assert torch.equal(value, initial[name]), (epoch, name)  # not even weight decay moved it
            elif group_of(name) in trains[epoch]:
                assert not torch.equal(value, initial[name]), (epoch, name)
    # rnn.1 did not move in epoch 0
    assert all(torch.equal(v[0], initial[n]) for n, v in snapshots.epochs[0].items() if group_of(n) == "rnn.1")
    assert all(p.requires_grad for p in model.parameters())  # the end of fit thaws what the schedule froze


def test_what_something_else_froze_stays_frozen():
    model = classifier(num_layers=1)  # groups embedding, rnn.0, head: gradual thaws embedding in epoch 2
    model.encoder.weight.requires_grad_(False)  # e.g. frozen pretrained embeddings, before the task is built
    frozen = model.encoder.weight.detach().clone()
    task = ClassificationTask(model, adamw(lr=0.05, weight_decay=0.5), unfreeze="gradual")
    snapshots = Snapshots()
    fit(task, 3, num_batches=2, callbacks=[snapshots])
    assert [s["encoder.weight"][1] for s in snapshots.epochs] == [False, False, False]
    assert [s["rnn.layers.0.cell.weight_hh"][1] for s in snapshots.epochs] == [False, True, True]
    assert torch.equal(model.encoder.weight, frozen) and not model.encoder.weight.requires_grad  # after fit too


def test_step_schedule_under_the_trainer():
    seen = []

    class Watch(pl.Callback):
        def on_before_optimizer_step(self, trainer, task, optimizer):
            seen.append((trainer.global_step, task.model.encoder.weight.grad is not None))

    task = ClassificationTask(classifier(), adamw(), unfreeze={"embedding": 2}, unfreeze_unit="step")
    fit(task, 1, num_batches=4, callbacks=[Watch()])
    assert seen == [(0, False), (1, False), (2, True), (3, True)]


def test_a_resumed_run_freezes_what_the_uninterrupted_run_froze():
    """The frozen set is a function of (epoch, step): a fresh task set to epoch 2 matches one that lived through 0-2."""
    lived, fresh = (ClassificationTask(classifier(), adamw(), unfreeze="gradual") for _ in range(2))
    for epoch in range(3):
        lived.apply_unfreezing(epoch, step=10 * epoch)
    fresh.apply_unfreezing(2, step=20)
    flags = lambda task: {n: p.requires_grad for n, p in task.model.named_parameters()}  # noqa: E731
    assert flags(fresh) == flags(lived)
    assert {group_of(n) for n, trains in flags(fresh).items() if not trains} == {"embedding"}


@pytest.mark.parametrize(
    "kwargs, refused",
    [({}, True), ({"find_unused_parameters": False}, True), ({"find_unused_parameters": True}, False)],
)
def test_unfreezing_under_ddp_needs_find_unused_parameters(kwargs, refused):
    from lightning.pytorch.strategies import DDPStrategy

    task = ClassificationTask(classifier(), adamw(), unfreeze="gradual")
    task._trainer = types.SimpleNamespace(strategy=DDPStrategy(**kwargs))
    if refused:
        with pytest.raises(ValueError, match="trainer.strategy=ddp_find_unused_parameters_true"):
            task.on_fit_start()
    else:
        task.on_fit_start()
    ClassificationTask(classifier(), adamw()).on_fit_start()  # no schedule: nothing to check
