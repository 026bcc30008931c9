"""The commands silence three warnings that Lightning gives on every run, and only those.

A user can do nothing about any of them: torch's deprecation of ``LeafSpec``, which Lightning's own code builds;
"Your `IterableDataset` has `__len__` defined", which our language-model streams make true whatever
``num_workers`` is (each worker yields its own batches; a user's own datamodule still gets this one); and the
notice that the task's ``transfer_batch_to_device`` is used rather than the datamodule's, which the tasks
override on purpose (they keep a batch's lengths on the host).
"""

from __future__ import annotations

import warnings

import pytest

from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.instantiate import lightning_false_alarms_silenced
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, compose_config, missing_data, shrink

ITERABLE = (
    "Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading "
    "(when num_workers > 1), `__len__` could be inaccurate"
)
LEAFSPEC = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)` instead."
TRANSFER = (
    "You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a "
    "`LightningDataModule`. It will use the implementation from `LightningModule` instance."
)


class ShardedData:
    datasets_shard_by_worker = True


class UsersData:
    pass


@pytest.mark.parametrize("datamodule, kept", [(ShardedData(), False), (UsersData(), True)], ids=["ours", "users"])
def test_only_the_three_false_alarms_are_silenced_and_only_inside(datamodule, kept):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with lightning_false_alarms_silenced(datamodule):
            warnings.warn(ITERABLE, UserWarning, stacklevel=1)
            warnings.warn(LEAFSPEC, FutureWarning, stacklevel=1)
            warnings.warn(TRANSFER, UserWarning, stacklevel=1)
            warnings.warn("a warning of the user's own", UserWarning, stacklevel=1)
        warnings.warn(ITERABLE, UserWarning, stacklevel=1)  # the caller's filters are back
        warnings.warn(LEAFSPEC, FutureWarning, stacklevel=1)
        warnings.warn(TRANSFER, UserWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert messages == [*([ITERABLE] if kept else []), "a warning of the user's own", ITERABLE, LEAFSPEC, TRANSFER]


def _noise(caught: list[warnings.WarningMessage]) -> list[str]:
    messages = [str(w.message) for w in caught]
    return [
        m for m in messages if any(part in m for part in ("IterableDataset` has `__len__`", "LeafSpec", TRANSFER[:40]))
    ]


@pytest.mark.parametrize("experiment", ["default", "conll2000_chunk_bilstm"])
def test_training_and_evaluating_print_none_of_them(experiment, tmp_path):
    overrides = [*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv"]
    cfg = shrink(compose_config(overrides, tmp_path / "train"))
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(cfg)
    assert not _noise(caught), _noise(caught)

    overrides = [f"ckpt_path={result['last_model_path']}", "trainer.enable_progress_bar=false", "logger=csv"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(compose_config(overrides, tmp_path / "eval", config_name="eval"))
    assert not _noise(caught), _noise(caught)
