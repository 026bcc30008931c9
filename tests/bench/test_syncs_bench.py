"""The host-reads report (seqmodels/bench/syncs.py): each read of a tensor's value during a watched step is
counted once, with its device and the line of ours (or Lightning's) that made it; logged steps apart."""

from __future__ import annotations

import warnings

import torch

from seqmodels.bench import syncs
from seqmodels.bench.syncs import READS, StepWatch, reads_counted, syncs_counted
from tests.helpers.configs import TINY


def test_reads_are_counted_per_watched_step_with_their_site_and_the_methods_restored():
    originals = {name: getattr(torch.Tensor, name) for name in READS}
    watch = StepWatch(warmup=1, steps=2)
    x = torch.tensor([1.5, 2.0])
    with reads_counted(watch):
        watch.on_train_batch_start(None, None, None, 0)  # warmup: not watched
        x[0].item()
        for _ in range(2):
            watch.on_train_batch_start(None, None, None, 0)
            x[0].item()
            bool(x[1])
            watch.on_train_batch_end(None, None, None, None, 0)
        watch.on_train_batch_start(None, None, None, 0)  # past the watched steps
        x[0].item()
    assert {name: getattr(torch.Tensor, name) for name in READS} == originals
    assert len(watch.reads) == 2 and watch.logged == [True, True]  # no step_is_logged: counted as logged
    for counter in watch.reads:
        assert sum(counter.values()) == 2
        (item_key,) = [k for k in counter if k[0] == "item"]
        (bool_key,) = [k for k in counter if k[0] == "__bool__"]
        assert item_key[1] == bool_key[1] == "cpu"
        assert "test_syncs_bench.py:" in item_key[2] and "(test_reads_are_counted" in item_key[2]
        assert item_key[2] != bool_key[2]  # two lines


def test_sync_warnings_are_counted_by_site_and_other_warnings_still_shown():
    watch = StepWatch(warmup=0, steps=1)
    watch.on_train_batch_start(None, None, None, 0)
    shown = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        with syncs_counted(watch):
            for _ in range(3):  # "always": every one, not once per line
                warnings.warn(f"called a {syncs.SYNC_WARNING}", UserWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
    (site,) = watch.syncs[0]
    assert watch.syncs[0][site] == 3 and "test_syncs_bench.py" in site
    assert shown == ["something else"]


def test_the_default_command_reads_no_device_value_and_nothing_of_lightnings_between_logged_steps(tmp_path):
    overrides = [f"{key}={value}" for key, value in TINY.items() if key.split(".")[0] in ("model", "data")]
    overrides = [o for o in overrides if not o.startswith(("data.max_length", "data.task"))]
    r = syncs.run(tmp_path, "default", [*overrides, "trainer.log_every_n_steps=4"], warmup=6, steps=10)
    reads = r["reads_per_step_not_logged"]
    assert r["steps_not_logged"] >= 5 and r["steps"] == 10
    guard = [count for key, count in reads.items() if "nan_guard.py" in key]
    assert guard == [1.0]  # the NaN guard's one check a step
    assert not [key for key in reads if key.split(" ")[2].startswith("lightning")], reads
    assert all(key.split(" ")[1] == "cpu" for key in reads)
    assert sum(r["reads_per_step_logged"].values()) > sum(reads.values())  # the loggers' figures
    assert "host reads, default" in syncs.format_result(r)
