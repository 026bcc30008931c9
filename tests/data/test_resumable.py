"""The resumable training loader (seqmodels/data/resumable.py) through a real Lightning Trainer, in-process:
a run stopped after k batches, saved and resumed from its checkpoint sees exactly the batches an uninterrupted
run sees next, for a shuffled map-style dataset and for an iterable dataset without a length (whose
end-of-pass is only known from the trainer), resumed in the first pass or a later one, in-process or from
a worker, with or without a cap on the batches per pass, and cut twice. Also the
position's validation: a bad position is refused with the field named. (tests/data/test_fuzz.py drives the loader alone over random sizes and cuts;
tests/checkpoints/test_faults.py kills a real seqmodels-train process.)
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset, TensorDataset

from seqmodels.data.resumable import ResumableDataLoader, ResumableTrainData

ROWS, BATCH = 12, 3  # 4 batches per pass


class Shuffled(ResumableTrainData, L.LightningDataModule):
    """Rows 0..11, shuffled with the loader's own seeded generator, 3 per batch."""

    def __init__(self, workers: int = 0) -> None:
        super().__init__()
        self.workers = workers

    def train_dataloader(self):
        data = TensorDataset(torch.arange(ROWS, dtype=torch.float32)[:, None])
        generator = torch.Generator().manual_seed(0)
        loader = ResumableDataLoader(
            data, batch_size=BATCH, shuffle=True, generator=generator, num_workers=self.workers
        )
        return self.resumable(loader)


class Passes(IterableDataset):
    """Pass p yields rows 100 p .. 100 p + 11 in a pass-dependent order; no ``__len__``."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(ROWS, generator=torch.Generator().manual_seed(self.epoch))
        for i in order.tolist():
            yield torch.tensor([100.0 * self.epoch + i])


class Streamed(ResumableTrainData, L.LightningDataModule):
    def train_dataloader(self):
        return self.resumable(ResumableDataLoader(Passes(), batch_size=BATCH))


class Recorder(L.LightningModule):
    """Records the rows of every training batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        (rows,) = batch if isinstance(batch, (list, tuple)) else (batch,)
        self.seen.append(rows[:, 0].long().tolist())
        return (self.weight * rows).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class SaveAt(L.Callback):
    """Saves a checkpoint at the end of global step ``step``, inside the training loop as a run's checkpoint
    callback does (a checkpoint saved after ``fit`` returns marks the epoch finished)."""

    def __init__(self, step: int, path) -> None:
        self.step, self.path = step, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)


def fit(datamodule, tmp_path, ckpt_path=None, callbacks=(), **limits) -> list[list[int]]:
    """The rows of every training batch of a run of ``Recorder`` on ``datamodule``."""
    model = Recorder()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
        **limits,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model.seen


def cut_and_resume(make_data, stop: int, tmp_path, **limits) -> tuple[list, list, list, dict]:
    """The batches of an uninterrupted 3-pass run, of a run cut after ``stop`` steps (checkpoint saved
    there) and of its resumption; and the data module's state in the checkpoint."""
    full = fit(make_data(), tmp_path / "full", max_epochs=3, **limits)
    assert len(full) == 3 * limits.get("limit_train_batches", ROWS // BATCH)
    assert len({tuple(b) for b in full}) == len(full)  # passes differ
    ckpt = tmp_path / "cut.ckpt"
    first = fit(make_data(), tmp_path / "cut", callbacks=[SaveAt(stop, ckpt)], max_epochs=3, max_steps=stop, **limits)
    state = torch.load(ckpt, weights_only=True)[type(make_data()).__qualname__]
    rest = fit(make_data(), tmp_path / "resumed", ckpt_path=ckpt, max_epochs=3, **limits)
    return full, first, rest, state


# an iterable dataset without a length, capped per pass (limit_train_batches); uncapped further below
CASES = [(Shuffled, {}), (Streamed, {"limit_train_batches": ROWS // BATCH})]


@pytest.mark.parametrize(("make_data", "limits"), CASES, ids=["shuffled", "iterable_without_len"])
@pytest.mark.parametrize("stop", [1, 2, 3], ids=lambda s: f"stop{s}")
def test_a_run_resumed_in_its_first_pass_sees_the_batches_of_the_uninterrupted_run(make_data, limits, stop, tmp_path):
    full, first, rest, state = cut_and_resume(make_data, stop, tmp_path, **limits)
    assert state == {"train_loader": {"pass": 0, "batches": stop, "complete": False}}
    assert first == full[:stop] and rest == full[stop:]


@pytest.mark.parametrize("stop", [4, 5, 8], ids=lambda s: f"stop{s}")
def test_a_run_resumed_at_or_after_the_end_of_a_pass(stop, tmp_path):
    """Iterable data without a length: only the trainer knows that a pass ended (``complete``)."""
    full, first, rest, state = cut_and_resume(Streamed, stop, tmp_path, limit_train_batches=ROWS // BATCH)
    assert state == {
        "train_loader": {"pass": (stop - 1) // 4, "batches": (stop - 1) % 4 + 1, "complete": stop % 4 == 0}
    }
    assert first == full[:stop] and rest == full[stop:]


@pytest.mark.parametrize("workers", [0, 1], ids=["in_process", "one_worker"])
@pytest.mark.parametrize("stop", [4, 5, 9], ids=lambda s: f"stop{s}")
def test_a_shuffled_run_resumed_in_a_later_pass(stop, workers, tmp_path):
    """The earlier passes are replayed from indices alone; a worker process reads indices ahead of the
    trainer, past the end of the pass, where the trainer in-process stops at the pass's length."""
    full, first, rest, _ = cut_and_resume(lambda: Shuffled(workers), stop, tmp_path)
    assert first == full[:stop] and rest == full[stop:]


@pytest.mark.parametrize("stop", [1, 2, 3, 5], ids=lambda s: f"stop{s}")
def test_a_shuffled_run_taking_two_batches_a_pass_resumed_in_any_pass(stop, tmp_path):
    """With ``limit_train_batches`` each pass stops early, its sampler not run out: the replay stops there too."""
    full, first, rest, state = cut_and_resume(Shuffled, stop, tmp_path, limit_train_batches=2)
    assert len(full) == 6 and state["train_loader"]["per_pass"] == 2
    assert first == full[:stop] and rest == full[stop:]


@pytest.mark.parametrize("stop", [2, 6], ids=lambda s: f"stop{s}")
def test_an_uncapped_iterable_run_resumed_in_mid_pass(stop, tmp_path):
    """Without a length or a cap, Lightning fetches one batch ahead to find the end of a pass: the
    position saved is the batches the trainer began on, not the ones the loader handed out."""
    full, first, rest, state = cut_and_resume(Streamed, stop, tmp_path)
    assert state == {"train_loader": {"pass": stop // 4, "batches": stop % 4, "complete": False}}
    assert first == full[:stop] and rest == full[stop:]


@pytest.mark.parametrize(("make_data", "limits"), CASES, ids=["shuffled", "iterable_without_len"])
def test_a_resumed_run_cut_and_resumed_again(make_data, limits, tmp_path):
    """The second checkpoint counts the batches of its pass seen before the first resumption too."""
    full = fit(make_data(), tmp_path / "full", max_epochs=3, **limits)
    first_cut, second_cut = tmp_path / "first.ckpt", tmp_path / "second.ckpt"
    seen = fit(make_data(), tmp_path / "a", callbacks=[SaveAt(2, first_cut)], max_epochs=3, max_steps=2, **limits)
    seen += fit(
        make_data(),
        tmp_path / "b",
        ckpt_path=first_cut,
        callbacks=[SaveAt(7, second_cut)],
        max_epochs=3,
        max_steps=7,
        **limits,
    )
    assert torch.load(second_cut, weights_only=True)[type(make_data()).__qualname__]["train_loader"]["batches"] == 3
    seen += fit(make_data(), tmp_path / "c", ckpt_path=second_cut, max_epochs=3, **limits)
    assert seen == full


def test_state_dict_before_any_loader_is_empty_and_an_empty_one_resumes_nothing():
    data = Shuffled()
    assert data.state_dict() == {}
    data.load_state_dict({})
    loader = data.train_dataloader()
    assert [b[0][:, 0].tolist() for b in loader] == [b[0][:, 0].tolist() for b in Shuffled().train_dataloader()]
    # without a trainer the position is the loader's own, with no end-of-pass mark
    assert data.state_dict() == {"train_loader": {"pass": 0, "batches": 4}}


def test_a_checkpoint_saved_before_the_first_batch_resumes_from_the_start():
    data = Shuffled()
    loader = data.train_dataloader()
    assert loader.position() == {"pass": -1, "batches": 0}
    state = data.state_dict()
    assert state == {"train_loader": {"pass": -1, "batches": 0}}
    again = Shuffled()
    again.load_state_dict(state)
    first_pass = [b[0][:, 0].tolist() for b in again.train_dataloader()]
    assert first_pass == [b[0][:, 0].tolist() for b in loader]


def test_a_position_is_used_once_and_a_state_without_one_resumes_nothing():
    fresh = [b[0][:, 0].tolist() for b in Shuffled().train_dataloader()]
    data = Shuffled()
    data.load_state_dict({"train_loader": {"pass": 0, "batches": 3}})
    assert [b[0][:, 0].tolist() for b in data.train_dataloader()] == fresh[3:]
    # a loader built again (Lightning's reload_dataloaders_every_n_epochs) starts afresh
    assert [b[0][:, 0].tolist() for b in data.train_dataloader()] == fresh
    for state in (None, {}, {"other": 1}):  # e.g. a checkpoint written before the loader position was saved
        data = Shuffled()
        data.load_state_dict(state)
        assert [b[0][:, 0].tolist() for b in data.train_dataloader()] == fresh


def test_resumable_refuses_a_plain_data_loader():
    with pytest.raises(ValueError, match="resumable\\(\\) needs a ResumableDataLoader, got DataLoader"):
        Shuffled().resumable(torch.utils.data.DataLoader([1, 2]))


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ([0, 1], "a loader position must be a dict with 'pass' and 'batches', got \\[0, 1\\]"),
        ({"batches": 1}, "loader position 'pass' must be an integer >= -1, got None"),
        ({"pass": -2, "batches": 0}, "loader position 'pass' must be an integer >= -1, got -2"),
        ({"pass": True, "batches": 0}, "loader position 'pass' must be an integer >= -1, got True"),
        ({"pass": 1.0, "batches": 0}, "loader position 'pass' must be an integer >= -1, got 1.0"),
        ({"pass": 0, "batches": -1}, "loader position 'batches' must be an integer >= 0, got -1"),
        ({"pass": 0, "batches": False}, "loader position 'batches' must be an integer >= 0, got False"),
        ({"pass": 0, "batches": "2"}, "loader position 'batches' must be an integer >= 0, got '2'"),
        ({"pass": 0, "batches": 1, "per_pass": 0}, "loader position 'per_pass' must be an integer >= 1, got 0"),
        ({"pass": 0, "batches": 1, "per_pass": 2.0}, "loader position 'per_pass' must be an integer >= 1, got 2.0"),
    ],
)
def test_a_bad_position_is_refused_naming_the_field(position, message):
    loader = ResumableDataLoader(list(range(6)), batch_size=2)
    with pytest.raises(ValueError, match=f"^{message}$"):
        loader.resume_from(position)
    with pytest.raises(ValueError, match=f"^{message}$"):
        Shuffled().load_state_dict({"train_loader": position})


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ({"pass": -1, "batches": 0}, [[0, 1], [2, 3], [4, 5]]),  # before the first pass: from the start
        ({"pass": 0, "batches": 0}, [[0, 1], [2, 3], [4, 5]]),
        ({"pass": 0, "batches": 2}, [[4, 5]]),
        ({"pass": 0, "batches": 3}, [[0, 1], [2, 3], [4, 5]]),  # all of pass 0 done: pass 1 from its start
        ({"pass": 0, "batches": 1, "complete": True}, [[0, 1], [2, 3], [4, 5]]),
        ({"pass": 0, "batches": 1, "complete": 0}, [[2, 3], [4, 5]]),
    ],
)
def test_where_a_position_resumes(position, expected):
    loader = ResumableDataLoader(list(range(6)), batch_size=2)
    loader.resume_from(position)
    assert [b.tolist() for b in loader] == expected


def test_a_position_past_the_data_names_the_pass_and_the_batches_it_has():
    loader = ResumableDataLoader(Passes(), batch_size=BATCH)  # 4 batches per pass, no len()
    loader.resume_from({"pass": 1, "batches": 6})
    with pytest.raises(ValueError, match="cannot resume at batch 6 of pass 1: this loader has only 4 batches per pass"):
        iter(loader)


class Batches:
    """A batch sampler of ``[0, 1], [2, 3], [4, 5]`` that says it has ``length`` batches (none: no ``len``)."""

    def __init__(self, length: int | None) -> None:
        self.length = length

    def __iter__(self):
        yield from ([0, 1], [2, 3], [4, 5])

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("no len")
        return self.length


@pytest.mark.parametrize("length", [None, 2, 3], ids=["no_len", "short_len", "true_len"])
def test_a_batch_sampler_of_any_length_gives_the_batches_a_data_loader_gives(length):
    """The look-ahead at a pass's end neither needs a length nor drops a batch a wrong one hides."""
    data = list(range(6))
    loaded: list[int] = []
    dataset = type("Recorded", (), {"__getitem__": lambda _, i: loaded.append(i) or i, "__len__": lambda _: 6})()
    loader = ResumableDataLoader(dataset, batch_sampler=Batches(length))
    assert (
        [b.tolist() for b in loader]
        == [[0, 1], [2, 3], [4, 5]]
        == [b.tolist() for b in torch.utils.data.DataLoader(data, batch_sampler=Batches(None))]
    )
    assert loaded == data and loader.position() == {"pass": 0, "batches": 3}
