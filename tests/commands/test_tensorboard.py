"""What a run writes for TensorBoard, read back by TensorBoard itself.

Two oracles: ``EventAccumulator`` (TensorBoard's own event-file reader) on the files of a language
model run and a classifier run, and a real ``tensorboard`` server queried over its HTTP data API.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, TINY, compose_config, missing_data, shrink

pytestmark = pytest.mark.slow

RUNS = {
    # name: (overrides, scalar tags that must be there)
    "lm": (
        ["trainer.limit_val_batches=2", "trainer.val_check_interval=2", "trainer.limit_train_batches=4"],
        {"train/loss", "val/loss", "val/ppl", "val/bpc", "train/grad_norm", "lr-Adam", "hp_metric"},
    ),
    "classifier": (
        ["experiment=japanese_vowels_gru"],
        {"train/loss", "val/loss", "val/acc", "train/grad_norm", "lr-Adam", "hp_metric"},
    ),
}


def train_run(name: str, output_dir: Path) -> dict:
    overrides, _ = RUNS[name]
    cfg = shrink(compose_config(["debug=fast", *QUIET, *overrides], output_dir))
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    return train(cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``runs(name)``: the result of training run ``name`` once per module."""
    done: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in done:
            done[name] = train_run(name, tmp_path_factory.mktemp(name))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(RUNS))
def test_event_files_hold_the_expected_tags_and_finite_values(name, runs):
    result = runs(name)
    accumulator = EventAccumulator(result["log_dir"], size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    expected = RUNS[name][1]
    assert expected <= scalars, sorted(scalars)
    for tag in scalars:
        values = [event.value for event in accumulator.Scalars(tag)]
        assert values and all(math.isfinite(v) for v in values), (tag, values)
    steps = [event.step for event in accumulator.Scalars("val/loss")]
    assert steps == sorted(steps) and len(steps) == (2 if name == "lm" else 1)

    hparams_tags = accumulator.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams_tags)
    start = HParamsPluginData.FromString(hparams_tags["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["model/hidden_size"].number_value == TINY["model.hidden_size"]
    expected_cell = {"lm": "seqmodels.cells.LSTMCell", "classifier": "seqmodels.cells.GRUCell"}[name]
    assert start.hparams["model/cell/_target_"].string_value == expected_cell
    tensors = set(accumulator.Tags()["tensors"])
    if name == "lm":
        (text_tag,) = [t for t in tensors if t.startswith("val/sample")]
        sample = accumulator.Tensors(text_tag)[-1].tensor_proto.string_val[0].decode()
        assert sample.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode())


def test_tensorboard_server_serves_the_run(runs):
    log_dir = Path(runs("lm")["log_dir"])
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(log_dir.parent),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        tags, deadline = {}, time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"tensorboard exited with {server.returncode}: {server.stdout.read()[-2000:]}")
            try:
                tags = get_json(f"{base}/data/plugin/scalars/tags")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                tags = {}
            run = log_dir.name
            if run in tags and "val/loss" in tags[run]:
                break
            time.sleep(0.5)
        assert log_dir.name in tags and "val/loss" in tags[log_dir.name], tags
        query = urllib.parse.urlencode({"run": log_dir.name, "tag": "val/loss"})
        points = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
        assert len(points) == 2
        for wall_time, step, value in points:
            assert wall_time > 0 and step > 0 and math.isfinite(value)
        assert {"val/ppl", "train/grad_norm"} <= set(tags[log_dir.name])
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
