"""The commands silence two warnings that Lightning gives on every data loader, and only those.

A user can do nothing about either: torch's deprecation of ``LeafSpec``, which Lightning's own code builds, and
"Your `IterableDataset` has `__len__` defined", which our language-model streams make true whatever
``num_workers`` is (each worker yields its own batches). A user's own datamodule still gets the second one.
"""

from __future__ import annotations

import warnings

import pytest

from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.instantiate import lightning_false_alarms_silenced
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, compose_config, shrink

ITERABLE = (
    "Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading "
    "(when num_workers > 1), `__len__` could be inaccurate"
)
LEAFSPEC = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)` instead."


class ShardedData:
    datasets_shard_by_worker = True


class UsersData:
    pass


@pytest.mark.parametrize("datamodule, kept", [(ShardedData(), False), (UsersData(), True)], ids=["ours", "users"])
def test_only_the_two_false_alarms_are_silenced_and_only_inside(datamodule, kept):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with lightning_false_alarms_silenced(datamodule):
            warnings.warn(ITERABLE, UserWarning, stacklevel=1)
            warnings.warn(LEAFSPEC, FutureWarning, stacklevel=1)
            warnings.warn("a warning of the user's own", UserWarning, stacklevel=1)
        warnings.warn(ITERABLE, UserWarning, stacklevel=1)  # the caller's filters are back
        warnings.warn(LEAFSPEC, FutureWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert messages == [*([ITERABLE] if kept else []), "a warning of the user's own", ITERABLE, LEAFSPEC]


def _noise(caught: list[warnings.WarningMessage]) -> list[str]:
    messages = [str(w.message) for w in caught]
    return [m for m in messages if "IterableDataset` has `__len__`" in m or "LeafSpec" in m]


def test_training_and_evaluating_the_default_language_model_print_neither(tmp_path):
    cfg = shrink(compose_config([*QUIET, "debug=fast", "logger=csv"], tmp_path / "train"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(cfg)
    assert not _noise(caught), _noise(caught)

    overrides = [f"ckpt_path={result['last_model_path']}", "trainer.enable_progress_bar=false", "logger=csv"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(compose_config(overrides, tmp_path / "eval", config_name="eval"))
    assert not _noise(caught), _noise(caught)
