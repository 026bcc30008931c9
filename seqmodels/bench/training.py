"""End-to-end training speed: our Lightning trainer against a plain PyTorch loop, same everything.

Both sides train the same :class:`~seqmodels.models.RNNLanguageModel` (same initial weights) on the
same batches in the same order from the experiment's data module, with SGD, gradient-norm
clipping and the hidden state carried across batches (pytorch/examples ``word_language_model``).
The plain loop is exactly that and nothing else; our side is ``LanguageModelingTask`` in a
Lightning ``Trainer`` with its per-step logging (loss, gradient norm), without loggers,
checkpoints, progress bar or validation. After ``warmup`` batches each side is timed over
``batches`` batches, the two sides alternating ``repeats`` times (each repeat continues training
from where that side stopped); the figures are the median tokens/s of each side and their
ratio ours / plain (higher is better).

    seqmodels-bench --e2e --data-dir ../shared/data           # ptb_word_lstm_small
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from ..commands.app import CONFIG_DIR, VERSION_BASE
from ..commands.instantiate import build_model_and_task, setup_data
from ..utils.state import detach_state


class _StepTimer(L.Callback):
    """Wall time from the start of batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()

    def elapsed(self) -> float:
        if self.start is None or self.end is None:
            raise ValueError(f"no batch was timed: the run had no batch after the {self.warmup} warm-up batches")
        return self.end - self.start


def compose_experiment(experiment: str, data_dir: Path, output_dir: Path) -> Any:
    """The experiment's training config, as ``seqmodels-train experiment=…`` composes it."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=VERSION_BASE):
        overrides = [f"experiment={experiment}", f"paths.data_dir={data_dir}", f"paths.output_dir={output_dir}"]
        return compose("train", overrides=overrides)


def plain_loop(model: nn.Module, batches: list, lr: float, clip: float, warmup: int) -> float:
    """pytorch/examples-style training over ``batches``; seconds spent after ``warmup`` batches."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    state = None
    start = None
    for index, (inputs, targets) in enumerate(batches):
        if index == warmup:
            start = time.perf_counter()
        if state is not None:
            state = detach_state(state)
        logits, state = model(inputs, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    if start is None:
        raise ValueError(f"no batch was timed: warmup={warmup} of {len(batches)} batches")
    return time.perf_counter() - start


def trainer_loop(task: L.LightningModule, datamodule: Any, total: int, warmup: int) -> float:
    timer = _StepTimer(warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=total,
        limit_train_batches=total,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        num_sanity_val_steps=0,
    )
    trainer.fit(task, datamodule)
    return timer.elapsed()


def run(
    data_dir: Path, experiment: str = "ptb_word_lstm_small", batches: int = 150, warmup: int = 10, repeats: int = 3
) -> dict:
    """Tokens/s of both sides on ``batches`` timed batches of ``experiment``; returns the figures."""
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_experiment(experiment, data_dir, Path(output_dir))
        return _run(cfg, experiment, batches, warmup, repeats)


def _run(cfg: Any, experiment: str, batches: int, warmup: int, repeats: int) -> dict:
    datamodule = setup_data(cfg, "fit")
    torch.manual_seed(0)
    model, task = build_model_and_task(cfg, datamodule)
    plain_model = copy.deepcopy(model)
    total = warmup + batches
    loader_batches = []
    for batch in datamodule.train_dataloader():
        loader_batches.append(batch)
        if len(loader_batches) == total:
            break
    tokens = sum(b[1].numel() for b in loader_batches[warmup:])
    lr = float(cfg.task.optimizer.lr)
    clip = float(cfg.task.clip_grad_norm)
    plain_s, ours_s = [], []
    for _ in range(repeats):
        plain_s.append(plain_loop(plain_model, loader_batches, lr, clip, warmup))
        ours_s.append(trainer_loop(task, datamodule, total, warmup))
    result = {
        "experiment": experiment,
        "timed_batches": batches,
        "repeats": repeats,
        "tokens": tokens,
        "plain_tokens_per_s": tokens / statistics.median(plain_s),
        "trainer_tokens_per_s": tokens / statistics.median(ours_s),
        "plain_spread_s": [round(min(plain_s), 3), round(max(plain_s), 3)],
        "trainer_spread_s": [round(min(ours_s), 3), round(max(ours_s), 3)],
    }
    result["ratio"] = result["trainer_tokens_per_s"] / result["plain_tokens_per_s"]
    return result
