"""End to end through the configs: every experiment trains (debug=fast), overfits, resumes, fails clearly.

Most runs compose the packaged configs and call ``seqmodels.commands.train.train(cfg)`` in-process; a few go
through the installed console scripts in a subprocess, from a directory outside the repository.
Models are shrunk to a few units (``shrink``): the point is the wiring, not the numbers.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pytest
import torch
from omegaconf import DictConfig

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.train import train
from tests.helpers import REPO_ROOT
from tests.helpers.configs import EXPERIMENTS, QUIET, TINY, cli_env, compose_config, missing_data, script, shrink


def compose_tiny(overrides, tmp_path: Path, **extra) -> DictConfig:
    cfg = shrink(compose_config([*QUIET, *overrides], tmp_path), **extra)
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    return cfg


def read_csv_metrics(output_dir: Path) -> list[dict[str, str]]:
    with open(output_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


# ------------------------------------------------------------------------------ every experiment
@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_with_debug_fast(experiment, tmp_path):
    cfg = compose_tiny([f"experiment={experiment}", "debug=fast"], tmp_path)
    result = train(cfg)

    metrics = result["metrics"]
    assert finite(metrics.get("val/loss")), metrics
    assert result["global_step"] == 3
    assert any(k.startswith("train/loss") and finite(v) for k, v in metrics.items()), metrics
    if cfg.test:
        assert finite(metrics.get("test/loss")), metrics
    assert Path(result["last_model_path"]).is_file() and Path(result["best_model_path"]).is_file()
    assert Path(result["last_model_path"]).parent == tmp_path / "checkpoints"
    stored = load_checkpoint(result["last_model_path"])[CHECKPOINT_KEY]
    assert stored["config"]["name"] == experiment
    assert stored["config"]["model"]["_target_"] == cfg.model._target_
    assert Path(result["log_dir"]).is_dir() and any(Path(result["log_dir"]).glob("events.out.tfevents.*"))
    if cfg.task._target_.endswith("LanguageModelingTask"):
        assert isinstance(result["sample"], str) and result["sample"].startswith(str(cfg.sample.prompt))
        assert stored["encoder"] is not None
    record = json.loads((tmp_path / "result.json").read_text())  # what scripts/results.py reads
    assert record["name"] == experiment and record["metrics"] == metrics and record["global_step"] == 3
    assert record["wall_time_s"] > 0 and record["finished_at"] >= record["started_at"]
    assert record["hardware"]["torch"] == torch.__version__ and record["hardware"]["cpu_count"] >= 1


# ------------------------------------------------------------------------------ learning and resuming
@pytest.mark.slow
def test_overfit_one_batch_drives_the_loss_down(tmp_path):
    cfg = compose_tiny(
        ["debug=overfit", "logger=csv", "trainer.max_epochs=60", "task.optimizer.lr=0.02"],
        tmp_path,
        **{"model.hidden_size": 64, "model.embedding_dim": 16, "data.bptt": 32},
    )
    train(cfg)
    losses = [float(row["train/loss"]) for row in read_csv_metrics(tmp_path) if row.get("train/loss")]
    assert len(losses) == 60
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])


@pytest.mark.slow
def test_resume_from_last_checkpoint_continues_the_step_count(tmp_path):
    first = train(compose_tiny(["debug=fast", "logger=csv"], tmp_path / "first"))
    assert first["global_step"] == 3
    last = first["last_model_path"]

    second_dir = tmp_path / "second"
    cfg = compose_tiny(["debug=fast", "logger=csv", f"ckpt_path={last}", "trainer.max_epochs=2"], second_dir)
    second = train(cfg)
    assert second["global_step"] == 6
    steps = [int(row["step"]) for row in read_csv_metrics(second_dir) if row.get("train/loss")]
    assert steps and min(steps) >= 3, steps  # the second run logged only steps after the first run's
    assert load_checkpoint(second["last_model_path"])["global_step"] == 6


@pytest.mark.slow
def test_eval_reads_the_data_from_this_runs_data_dir(tmp_path, data_dir):
    """A checkpoint records absolute data paths; seqmodels-eval re-roots them at its own paths.data_dir."""
    first = tmp_path / "first"
    shutil.copytree(data_dir / "uea_ts", first / "uea_ts")
    cfg = compose_tiny(["experiment=japanese_vowels_gru", "debug=fast"], tmp_path / "run")
    cfg.paths.data_dir = str(first)
    trained = train(cfg)
    moved = tmp_path / "moved"
    first.rename(moved)

    overrides = [f"ckpt_path={trained['last_model_path']}", "trainer.enable_progress_bar=false", "logger=csv"]
    eval_cfg = compose_config(overrides, tmp_path / "eval", config_name="eval")
    eval_cfg.paths.data_dir = str(moved)
    metrics = evaluate(eval_cfg)
    assert finite(metrics["test/loss"]) and 0 <= metrics["test/acc"] <= 1
    eval_cfg.paths.data_dir = str(first)  # the recorded place is gone: the error names where it looked
    with pytest.raises((FileNotFoundError, ValueError), match=str(first / "uea_ts")):
        evaluate(eval_cfg)


@pytest.mark.slow
def test_max_time_stops_inside_the_first_epoch(tmp_path, monkeypatch):
    """make train's time budget: trainer.max_time must end training even before one epoch is done.

    Lightning's Timer callback reads ``time.monotonic()``: a clock that advances one second per reading
    stands in for it, so the 10 s budget runs out after the same few batches on any machine."""
    ticks = itertools.count()
    timer = importlib.import_module("lightning.pytorch.callbacks.timer")
    monkeypatch.setattr(timer, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    cfg = compose_tiny(["debug=fast", "trainer.limit_train_batches=200", "trainer.max_time=00:00:00:10"], tmp_path)
    result = train(cfg)
    step = result["global_step"]
    assert 0 < step < 200, step  # debug=fast: one epoch, here of 200 batches
    saved = load_checkpoint(result["last_model_path"])
    assert saved["global_step"] == step
    assert saved["LanguageModelingDataModule"]["train_loader"] == {"pass": 0, "batches": step, "complete": False}


# ------------------------------------------------------------------------------ clear errors
def test_num_layers_zero_names_the_field(tmp_path):
    cfg = compose_tiny(["debug=fast"], tmp_path)
    cfg.model.num_layers = 0
    with pytest.raises(ValueError, match=r"^model\.num_layers must be a positive integer, got 0"):
        train(cfg)


def test_bidirectional_language_model_is_refused(tmp_path):
    cfg = compose_tiny(["debug=fast", "model.bidirectional=true"], tmp_path)
    with pytest.raises(ValueError, match="cannot be bidirectional"):
        train(cfg)


def test_missing_data_names_the_path(tmp_path):
    nowhere = tmp_path / "nowhere"
    cfg = compose_config(["experiment=shakespeare_char_lstm", "debug=fast"], tmp_path)
    cfg.paths.data_dir = str(nowhere)
    with pytest.raises((FileNotFoundError, ValueError)) as info:
        train(cfg)
    assert str(nowhere / "tinyshakespeare") in str(info.value)


def test_missing_checkpoint_names_ckpt_path(tmp_path):
    cfg = compose_config(["debug=fast", f"ckpt_path={tmp_path / 'nope.ckpt'}"], tmp_path)
    with pytest.raises(FileNotFoundError, match="ckpt_path=.*nope.ckpt"):
        train(cfg)


# ------------------------------------------------------------------------------ console scripts
def run_cli(args, cwd: Path, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\nSTDOUT:\n{result.stdout[-3000:]}\nSTDERR:\n{result.stderr[-3000:]}"
    return result


TINY_CLI = [f"{k}={v}" for k, v in TINY.items() if not k.startswith("data.task.") and k != "data.max_length"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> dict:
    """seqmodels-train, run from a directory outside the repository, debug=fast, tiny model."""
    cwd = tmp_path_factory.mktemp("anywhere")
    run_dir = cwd / "run"
    result = run_cli(
        [script("seqmodels-train"), "debug=fast", *QUIET, *TINY_CLI, "sample.prompt=def", f"hydra.run.dir={run_dir}"],
        cwd,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    return {"cwd": cwd, "run_dir": run_dir, "stdout": result.stdout, "stderr": result.stderr, "last": last}


@pytest.mark.slow
def test_lightnings_messages_go_to_the_log_file_not_the_console(cli_run):
    """Lightning's import gives its logger a console handler; the command's module is imported after Hydra
    set up logging (commands/console.py), and Lightning's lines still go to the log file alone."""
    log_file = (cli_run["run_dir"] / "debug.log").read_text(encoding="utf-8")  # debug=fast: task_name debug
    assert "[lightning.fabric.utilities.seed][INFO] - Seed set to" in log_file
    assert "Seed set" not in cli_run["stdout"] + cli_run["stderr"]
    assert "INFO:" not in cli_run["stderr"]


@pytest.mark.slow
def test_train_cli_prints_where_everything_went(cli_run):
    out, run_dir = cli_run["stdout"], cli_run["run_dir"]
    assert f"TensorBoard logs: {run_dir / 'tensorboard'}" in out
    assert "Best checkpoint:  " + str(run_dir / "checkpoints" / "best-") in out
    assert f"Last checkpoint:  {cli_run['last']}" in out
    assert "Sample (prompt 'def'):" in out
    assert cli_run["last"].is_file() and (run_dir / ".hydra" / "config.yaml").is_file()


@pytest.mark.slow
def test_sample_cli_needs_only_the_checkpoint(cli_run):
    result = run_cli(
        [script("seqmodels-sample"), f"ckpt_path={cli_run['last']}", "prompt=ROMEO:", "max_new_tokens=30", "seed=3"],
        cli_run["cwd"],
    )
    assert result.stdout.startswith("ROMEO:") and len(result.stdout.strip()) > len("ROMEO:")


@pytest.mark.slow
def test_score_cli_prints_one_json_line_per_sentence(cli_run):
    sentences = ["the apple and pear salad", "the apple and pair salad"]
    result = run_cli(
        [script("seqmodels-score"), f"ckpt_path={cli_run['last']}", "sentences=" + json.dumps(sentences)],
        cli_run["cwd"],
    )
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["sentence"] for r in rows] == sentences
    for row in rows:
        assert row["log_prob"] < 0 and math.isclose(
            row["ppl"], math.exp(-row["log_prob"] / row["num_tokens"]), rel_tol=1e-6
        )


@pytest.mark.slow
def test_eval_cli_evaluates_the_test_split(cli_run):
    result = run_cli(
        [
            script("seqmodels-eval"),
            f"ckpt_path={cli_run['last']}",
            "+data.batch_size=8",
            "trainer.limit_test_batches=2",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={cli_run['cwd'] / 'eval'}",
        ],
        cli_run["cwd"],
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["split"] == "test" and math.isfinite(report["test/loss"])
    assert math.isclose(report["test/ppl"], math.exp(report["test/loss"]), rel_tol=1e-5)


# ------------------------------------------------------------------------------ write your own cell
EXAMPLES = REPO_ROOT / "examples"


def test_example_cell_follows_its_equations():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from my_cell import MinimalGatedCell
    finally:
        sys.path.remove(str(EXAMPLES))
    torch.manual_seed(0)
    cell = MinimalGatedCell(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    W_f, W_n = cell.weight_ih.chunk(2)
    U_f, U_n = cell.weight_hh.chunk(2)
    b_if, b_in = cell.bias_ih.chunk(2)
    b_hf, b_hn = cell.bias_hh.chunk(2)
    f = torch.sigmoid(x @ W_f.T + b_if + h @ U_f.T + b_hf)
    n = torch.tanh(x @ W_n.T + b_in + (f * h) @ U_n.T + b_hn)
    expected = (1 - f) * h + f * n
    out, state = cell(x, h)
    assert torch.allclose(out, expected, atol=1e-12) and torch.equal(out, state)


@pytest.mark.slow
def test_example_cell_trains_from_the_cli(tmp_path):
    """README's "write your own cell": a subclass in examples/my_cell.py and a yaml in examples/configs/, nothing
    else — the ./configs folder of the working directory is searched without hydra.searchpath."""
    run_dir = tmp_path / "run"
    run_cli(
        [script("seqmodels-train"), "model/cell=mgu", "debug=fast", *QUIET, *TINY_CLI, f"hydra.run.dir={run_dir}"],
        EXAMPLES,
        PYTHONPATH=str(EXAMPLES),
    )
    stored = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert stored[CHECKPOINT_KEY]["config"]["model"]["cell"]["_target_"] == "my_cell.MinimalGatedCell"
    run_log = (run_dir / "debug.log").read_text()  # the run's log file is named after the task (debug=fast)
    assert "parameters" in run_log and "Trainer.fit` stopped" in run_log and "Last checkpoint:" in run_log
    # one layer of the two-gate cell: weight_hh is (2H, H)
    shapes = [tuple(v.shape) for k, v in stored["state_dict"].items() if k.endswith("weight_hh")]
    assert shapes == [(2 * TINY["model.hidden_size"], TINY["model.hidden_size"])]


# ------------------------------------------------------------------------------ freed memory
@pytest.mark.parametrize("setting, calls", [("true", 1), ("false", 0)])
def test_keep_freed_memory_is_applied_as_configured(setting, calls, tmp_path):
    cfg = compose_config([f"keep_freed_memory={setting}", "train=false"], tmp_path)
    with patch("seqmodels.commands.train.keep_freed_memory") as keep:
        train(cfg)
    assert keep.call_count == calls
    assert compose_config([], tmp_path).keep_freed_memory is True, "on by default"


def test_a_bad_keep_freed_memory_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="keep_freed_memory must be true or false, got 'yes'"):
        train(compose_config(["keep_freed_memory=yes"], tmp_path))


# ------------------------------------------------------------------------------ denormal floats
@pytest.fixture
def default_denormals():
    yield
    torch.set_flush_denormal(False)  # the process default, for the tests that follow


def test_flush_denormal_is_applied_and_checked(default_denormals, tmp_path):
    from seqmodels.commands.instantiate import set_flush_denormal

    tiny = 1e-323  # a float64 denormal
    set_flush_denormal(compose_config(["flush_denormal=false"], tmp_path))
    assert torch.tensor([tiny], dtype=torch.float64).item() > 0
    cfg = compose_config([], tmp_path)
    assert cfg.flush_denormal is True, "on by default"
    set_flush_denormal(cfg)
    assert torch.tensor([tiny], dtype=torch.float64).item() == 0.0
    assert (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0  # float32 denormal
    with pytest.raises(ValueError, match="flush_denormal must be true or false, got 'yes'"):
        set_flush_denormal(compose_config(["flush_denormal=yes"], tmp_path))


def test_train_and_evaluate_leave_the_callers_denormal_mode(default_denormals, tmp_path):
    """flush_denormal holds for the command only: the tests (or a notebook) that run after it see denormals again."""
    tiny = 1e-323
    seen = []
    record = lambda cfg, *_: seen.append(torch.tensor([tiny], dtype=torch.float64).item())  # noqa: E731
    with patch("seqmodels.commands.train._train", record), patch("seqmodels.commands.evaluate._evaluate", record):
        train(compose_config([], tmp_path))
        assert torch.tensor([tiny], dtype=torch.float64).item() > 0
        torch.set_flush_denormal(True)  # a caller that flushes keeps flushing after flush_denormal=false
        evaluate(compose_config(["flush_denormal=false"], tmp_path))
        assert torch.tensor([tiny], dtype=torch.float64).item() == 0.0
    assert seen == [0.0, tiny]
