"""Faults a long run must survive: SIGKILL in mid-epoch, a kill while a checkpoint is written,
NaN/Inf, a checkpoint carrying a pickled payload; and two identical runs being identical.

The kill test runs the real console script in subprocesses and kills one with SIGKILL; everything
else runs in-process on tiny models.
"""

from __future__ import annotations

import csv
import math
import pathlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from seqmodels.callbacks import AtomicCheckpointIO, NaNGuard, NonFiniteError
from seqmodels.callbacks.atomic_checkpoint import stale_temporaries
from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint
from seqmodels.checkpoints.resume import RNG_KEY, STATE_KEY
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.instantiate import build_trainer
from seqmodels.commands.sample import sample
from seqmodels.commands.train import train
from tests.helpers import REPO_ROOT
from tests.helpers.configs import QUIET, TINY, cli_env, compose_config, script, shrink

TINY_CLI = [f"{k}={v}" for k, v in TINY.items() if not k.startswith("data.task.") and k != "data.max_length"]

# two epochs of 10 batches, validation every 5, a checkpoint every 3 steps, dropout (so the RNG matters),
# two layers (a carried state per layer), deterministic algorithms
RUN = [
    *QUIET,
    *TINY_CLI,
    "logger=csv",
    "model.num_layers=2",
    "model.dropout=0.1",
    "trainer.max_epochs=2",
    "trainer.max_time=null",
    "trainer.limit_train_batches=10",
    "trainer.val_check_interval=5",
    "trainer.limit_val_batches=2",
    "trainer.num_sanity_val_steps=0",
    "trainer.log_every_n_steps=1",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "callbacks.model_checkpoint.every_n_train_steps=3",
    "~callbacks.early_stopping",
    "task.sample_length=0",
    "sample.max_new_tokens=5",
]
KILL_AT = 13  # global step: epoch 1, batch 2; the last checkpoint before it is step 12


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def series(rows: list[dict[str, str]], key: str) -> dict[int, float]:
    return {int(r["step"]): float(r[key]) for r in rows if r.get(key)}


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"exited with {process.returncode} before {path.name}:\n{process.stdout.read()[-3000:]}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


# ------------------------------------------------------------------------------ SIGKILL and resume
@pytest.fixture(scope="module")
def kill_and_resume(tmp_path_factory) -> dict:
    """An uninterrupted run, and a run killed with SIGKILL at step 13 then resumed with ckpt_path=last."""
    root = tmp_path_factory.mktemp("kill")
    env = cli_env(PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")  # two runs at once on a small machine
    train_cli = [script("seqmodels-train"), *RUN]
    full = subprocess.Popen(
        [*train_cli, f"hydra.run.dir={root / 'full'}"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marker = root / "stalled"
    cut_dir = root / "cut"
    cut = subprocess.Popen(
        [
            *train_cli,
            f"hydra.run.dir={cut_dir}",
            "+callbacks.stall._target_=tests.helpers.faults.StallAt",
            f"+callbacks.stall.step={KILL_AT}",
            f"+callbacks.stall.marker={marker}",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(marker, cut)
        cut.send_signal(signal.SIGKILL)
        cut.wait(timeout=60)
        at_kill = load_checkpoint(cut_dir / "checkpoints" / "last.ckpt")
        full_out = full.communicate(timeout=300)[0]
    finally:
        for p in (full, cut):
            if p.poll() is None:
                p.kill()
    assert full.returncode == 0, full_out[-3000:]
    resumed = subprocess.run(
        [*train_cli, f"hydra.run.dir={cut_dir}", "ckpt_path=last"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    return {
        "full": root / "full",
        "cut": cut_dir,
        "killed_rc": cut.returncode,
        "marker": marker.read_text(),
        "at_kill": at_kill,
        "resumed_out": resumed.stdout,
    }


@pytest.mark.slow
def test_the_run_was_killed_in_mid_epoch_after_a_mid_epoch_checkpoint(kill_and_resume):
    assert kill_and_resume["killed_rc"] == -signal.SIGKILL
    assert kill_and_resume["marker"].startswith(f"step {KILL_AT} epoch 1 batch 2")
    saved = kill_and_resume["at_kill"]
    assert saved["global_step"] == 12 and saved["epoch"] == 1
    position = saved["LanguageModelingDataModule"]["train_loader"]
    assert position == {"pass": 1, "batches": 2, "complete": False}
    carried = saved[STATE_KEY]["train"]  # two layers of LSTM (h, c), batch 4, hidden 12
    assert len(carried) == 2 and all(tuple(t.shape) == (4, 12) for layer in carried for t in layer)
    assert any(float(t.abs().sum()) > 0 for layer in carried for t in layer)
    assert set(saved[RNG_KEY]) >= {"torch", "numpy", "python"}


@pytest.mark.slow
def test_resumed_run_equals_the_uninterrupted_run(kill_and_resume):
    full, cut = csv_rows(kill_and_resume["full"]), csv_rows(kill_and_resume["cut"])
    full_loss, cut_loss = series(full, "train/loss"), series(cut, "train/loss")
    assert sorted(full_loss) == list(range(20))
    resumed_steps = [s for s in cut_loss if s >= 12]
    assert resumed_steps == list(range(12, 20)), sorted(cut_loss)  # resumed at step 12, not from the start
    for step in resumed_steps:
        assert abs(cut_loss[step] - full_loss[step]) <= 1e-6, (step, cut_loss[step], full_loss[step])
    full_val, cut_val = series(full, "val/loss"), series(cut, "val/loss")
    assert set(full_val) == {4, 9, 14, 19}
    for step in (14, 19):
        assert abs(cut_val[step] - full_val[step]) <= 1e-6, (step, cut_val[step], full_val[step])
    a = load_checkpoint(kill_and_resume["full"] / "checkpoints" / "last.ckpt")
    b = load_checkpoint(kill_and_resume["cut"] / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 18
    for key, value in a["state_dict"].items():
        assert (value - b["state_dict"][key]).abs().max().item() <= 1e-6, key
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert (sa["exp_avg"] - sb["exp_avg"]).abs().max().item() <= 1e-6
    assert "Last checkpoint:" in kill_and_resume["resumed_out"]


# ------------------------------------------------------------------------------ a kill while saving
def _checkpoint(version: int, size: int = 1000) -> dict:
    return {
        CHECKPOINT_KEY: {"format_version": 1},
        "state_dict": {"w": torch.full((size,), float(version))},
        "version": version,
    }


def test_a_save_that_fails_halfway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(_checkpoint(1), path)
    before = path.read_bytes()

    def half_then_die(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", half_then_die)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint(_checkpoint(2), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert io.load_checkpoint(path)["version"] == 1
    assert stale_temporaries(path) == [] and sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


KILLED_WRITER = """
import sys, torch
from seqmodels.callbacks import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
version = 1
while True:  # rewrite a large checkpoint forever; the test kills this process in the middle of a write
    version += 1
    io.save_checkpoint({"version": version, "w": torch.full((12_000_000,), float(version))}, path)
"""


@pytest.mark.slow
def test_sigkill_during_a_large_save_leaves_a_loadable_checkpoint(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"version": 1, "w": torch.full((12_000_000,), 1.0)}, path)  # 48 MB
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not stale_temporaries(path):  # the temporary file exists only while a save is writing
            assert writer.poll() is None, writer.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "the writer never started a save"
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    leftovers = stale_temporaries(path)
    loaded = io.load_checkpoint(path)
    assert loaded["version"] >= 1 and torch.equal(loaded["w"], torch.full((12_000_000,), float(loaded["version"])))
    if leftovers:  # killed before the rename: a partial temporary file, never the target
        with pytest.raises(Exception):  # noqa: B017 (a partial pickle fails anywhere in the unpickler)
            torch.load(leftovers[0], weights_only=True)
    io.save_checkpoint({"version": 0, "w": torch.zeros(1)}, path)  # the next save clears what the kill left
    assert stale_temporaries(path) == [] and io.load_checkpoint(path)["version"] == 0


def test_every_trainer_config_saves_atomically_and_loads_weights_only(tmp_path):
    for trainer in ("default", "cpu", "ddp_sim"):
        cfg = compose_config([f"trainer={trainer}", "logger=csv"], tmp_path)
        built = build_trainer(cfg, [], [])
        assert isinstance(built.strategy.checkpoint_io, AtomicCheckpointIO), trainer
    with pytest.raises(ValueError, match="weights_only=True only"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "x.ckpt", weights_only=False)


# ------------------------------------------------------------------------------ NaN / Inf
def tiny_cfg(tmp_path: Path, *overrides: str):
    cfg = shrink(compose_config([*QUIET, "debug=fast", "logger=csv", *overrides], tmp_path))
    return cfg


def test_a_huge_learning_rate_stops_with_the_step_value_and_remedies(tmp_path):
    cfg = tiny_cfg(
        tmp_path,
        "task.optimizer._target_=torch.optim.SGD",
        "task.optimizer.lr=1e38",
        "task.clip_grad_norm=null",
        "trainer.limit_train_batches=6",
        "trainer.enable_progress_bar=false",
        "callbacks.model_checkpoint.every_n_train_steps=1",
        "callbacks.model_checkpoint.monitor=null",
        "callbacks.model_checkpoint.save_top_k=0",
        "~callbacks.early_stopping",
    )
    with pytest.raises(NonFiniteError) as info:
        train(cfg)
    message = str(info.value)
    step = int(message.split("at step ")[1].split(" ")[0])
    assert step >= 1 and ("nan" in message or "inf" in message)
    assert "lower the learning rate (task.optimizer.lr, now 1e+38)" in message and "task.clip_grad_norm" in message
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert str(last) in message
    good = load_checkpoint(last)  # the last good checkpoint: written after step `step`, intact and finite
    assert good["global_step"] == step
    assert all(bool(torch.isfinite(v).all()) for v in good["state_dict"].values())


class InfGradient(pl.LightningModule):
    """A finite loss whose gradient is infinite: d sqrt(w) / dw at w = 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def training_step(self, batch, batch_idx):
        return torch.sqrt(self.w).sum() + batch.sum() * 0

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_an_infinite_gradient_is_named_before_the_weights_change(tmp_path):
    module = InfGradient()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[NaNGuard()],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
    )
    with pytest.raises(NonFiniteError, match=r"step 0 .*gradient of w \(3,\) has 0 NaN and 3 Inf entries"):
        trainer.fit(module, torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2))
    assert torch.equal(module.w.detach(), torch.zeros(3))


class Overflow(InfGradient):
    """A finite loss and gradient (10 per weight) that SGD with lr=1e38 turns into infinite weights."""

    def training_step(self, batch, batch_idx):
        return (10 * self.w).sum() + batch.sum() * 0

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e38)


def test_an_optimizer_step_that_overflows_the_weights_stops_before_its_checkpoint(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        plugins=[AtomicCheckpointIO()],
        callbacks=[NaNGuard(), pl.callbacks.ModelCheckpoint(checkpoints, every_n_train_steps=1, save_last=True)],
    )
    with pytest.raises(NonFiniteError, match=r"step 0 .*the optimizer step made the weights w \(3,\) non-finite"):
        trainer.fit(Overflow(), torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2))
    assert not checkpoints.exists() or not any(checkpoints.iterdir())  # no checkpoint of the overflowed weights


# ------------------------------------------------------------------------------ pickled payloads
class Payload:
    """Unpickling this runs pathlib.Path.touch(marker): code execution at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture
def payload(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.ckpt"
    torch.save(
        {
            CHECKPOINT_KEY: {"format_version": 1, "config": None, "encoder": None},
            "state_dict": {},
            "global_step": 0,
            "hook": Payload(marker),
        },
        path,
    )
    return path, marker


def test_a_pickled_payload_is_refused_everywhere_and_never_runs(payload, tmp_path):
    path, marker = payload
    with pytest.raises(ValueError, match="pickled Python code, which was refused and not run"):
        load_checkpoint(path)
    with pytest.raises(Exception, match="Unsupported global"):
        AtomicCheckpointIO().load_checkpoint(path)  # what Lightning's trainer.fit(ckpt_path=...) goes through
    with pytest.raises(ValueError, match="pickled Python code, which was refused and not run"):
        train(tiny_cfg(tmp_path / "train", f"ckpt_path={path}"))
    eval_cfg = compose_config([f"ckpt_path={path}", "logger=csv"], tmp_path / "eval", config_name="eval")
    with pytest.raises(ValueError, match="pickled Python code, which was refused and not run"):
        evaluate(eval_cfg)
    with pytest.raises(ValueError, match="pickled Python code, which was refused and not run"):
        sample(compose_config([f"ckpt_path={path}"], config_name="sample"))
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is real: a plain unpickle runs it
    assert marker.exists()


def test_a_config_naming_code_is_refused_before_it_runs(tmp_path):
    """weights_only stops pickles; a stored config's _target_ is code too, and is checked before instantiation."""
    marker = tmp_path / "code_ran"
    trained = train(tiny_cfg(tmp_path / "run"))
    checkpoint = torch.load(trained["last_model_path"], weights_only=True)
    # Hydra's own blocklist stops os.system, not this: a file write (think ~/.bashrc)
    checkpoint[CHECKPOINT_KEY]["config"]["model"] = {
        "_target_": "pathlib.Path.write_text",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "pwned"],
    }
    evil = tmp_path / "evil_config.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(
        ValueError, match=r"_target_='pathlib\.Path\.write_text' is outside the modules a checkpoint may"
    ):
        sample(compose_config([f"ckpt_path={evil}"], config_name="sample"))
    with pytest.raises(ValueError, match=r"_target_='pathlib\.Path\.write_text' is outside"):
        evaluate(compose_config([f"ckpt_path={evil}", "logger=csv"], tmp_path / "eval", config_name="eval"))
    assert not marker.exists()
    from hydra.utils import instantiate

    instantiate(checkpoint[CHECKPOINT_KEY]["config"]["model"])  # the config is live code: instantiating it runs it
    assert marker.read_text() == "pwned"


@pytest.mark.slow
def test_the_train_cli_refuses_a_pickled_payload(payload, tmp_path):
    path, marker = payload
    result = subprocess.run(
        [
            script("seqmodels-train"),
            *QUIET,
            *TINY_CLI,
            "debug=fast",
            f"ckpt_path={path}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "holds pickled Python code, which was refused and not run" in result.stderr
    assert "weights_only" not in result.stderr, "never advise turning the protection off"
    assert not marker.exists()


# ------------------------------------------------------------------------------ determinism
@pytest.mark.slow
def test_two_runs_with_the_same_seed_have_identical_loss_curves(tmp_path):
    overrides = (
        "model.dropout=0.1",
        "model.num_layers=2",
        "trainer.deterministic=true",
        "trainer.limit_train_batches=6",
        "trainer.max_epochs=2",
        "data.contiguous=false",
    )
    curves = []
    for name in ("a", "b"):
        result = train(tiny_cfg(tmp_path / name, *overrides))
        rows = csv_rows(tmp_path / name)
        curves.append((series(rows, "train/loss"), series(rows, "val/loss"), result["metrics"]["val/loss"]))
    assert len(curves[0][0]) == 12 and len(curves[0][1]) == 2
    assert curves[0] == curves[1]
    assert all(math.isfinite(v) for v in curves[0][0].values())
