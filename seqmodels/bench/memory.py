"""Memory on long inputs: peak RSS (and peak CUDA memory) of evaluating a language model over a long
token stream and of classifying very long sequences, each through the real Lightning path.

    python -m seqmodels.bench.memory [--tokens 1000000] [--steps 10000] [--json out.json]
                                     [--lm-hidden 128] [--lm-layers 2]

Each measurement runs in a fresh Python process (``ru_maxrss`` is a lifetime peak), after the data
was prepared in another one, and reports

* ``rss_setup_mib``: peak RSS after imports, data setup and the model (before evaluation);
* ``rss_peak_mib``: peak RSS at the end of evaluation; ``rss_eval_mib`` is the difference, what
  evaluating itself added;
* ``cuda_peak_mib``: ``torch.cuda.max_memory_allocated`` during evaluation (when a GPU is present).

Language model: a word-level corpus in Penn Treebank layout (``ptb.test.txt`` of ``--tokens`` words
from a 2,000-word vocabulary), 2-layer LSTM 128 (``--lm-layers``, ``--lm-hidden``), evaluated with ``trainer.test`` in contiguous
streams of 20 x 35 (the hidden state carried across batches). The ids are a memmap and each batch
a slice, so memory does not grow with the stream: the same run on a tenth of the stream is reported
beside it. Classifier: ``--batch`` real-valued sequences of ``--steps`` steps (8 features, lengths
between half and all of it) through a 1-layer LSTM 128 classifier, ``trainer.test``, batches of 16;
the forward pass holds (B, T, H) outputs, so memory grows linearly with T, and the run with T/10 is
reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def _peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def write_corpus(folder: Path, tokens: int, vocab: int = 2000, seed: int = 0) -> None:
    """PTB layout: every word once in train (plus some text), small valid, a test split of ``tokens`` words."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    words = np.array([f"w{i}" for i in range(vocab)])

    def lines(n: int) -> str:
        ids = rng.zipf(1.3, size=n) % vocab
        out, width = [], 20
        for start in range(0, n, width):
            out.append(" ".join(words[ids[start : start + width]]))
        return "\n".join(out) + "\n"

    (folder / "ptb.train.txt").write_text(" ".join(words) + "\n" + lines(20_000))
    (folder / "ptb.valid.txt").write_text(lines(2_000))
    with open(folder / "ptb.test.txt", "w") as f:
        for start in range(0, tokens, 100_000):
            f.write(lines(min(100_000, tokens - start)))


def _lm_data(folder: Path, cache: Path):
    from seqmodels.data import LanguageModelingDataModule, PennTreebank, WordTokenizer

    return LanguageModelingDataModule(PennTreebank(folder), WordTokenizer(), batch_size=20, bptt=35, cache_dir=cache)


def _trainer(device: str):
    import lightning.pytorch as pl

    return pl.Trainer(
        accelerator=device,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def _measure(device: str, run) -> dict[str, Any]:
    import torch

    setup = _peak_rss_mib()
    if device == "gpu":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    metrics = run()
    out = {
        "seconds": round(time.perf_counter() - start, 2),
        "rss_setup_mib": round(setup, 1),
        "rss_peak_mib": round(_peak_rss_mib(), 1),
        "metrics": metrics,
    }
    out["rss_eval_mib"] = round(out["rss_peak_mib"] - setup, 1)
    if device == "gpu":
        out["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / MIB, 1)
    return out


def child_lm(folder: Path, cache: Path, device: str, hidden: int = 128, layers: int = 2) -> dict[str, Any]:
    import functools

    import torch

    from seqmodels.cells import LSTMCell
    from seqmodels.commands.instantiate import lightning_false_alarms_silenced
    from seqmodels.models import RNNLanguageModel
    from seqmodels.tasks import LanguageModelingTask

    torch.manual_seed(0)
    data = _lm_data(folder, cache)
    data.prepare_data()
    data.setup("test")
    model = RNNLanguageModel(data.vocab_size, LSTMCell, embedding_dim=hidden, hidden_size=hidden, num_layers=layers)
    task = LanguageModelingTask(model, functools.partial(torch.optim.SGD, lr=1.0), sample_length=0)
    trainer = _trainer(device)
    tokens = int(len(data.ids("test")))

    def run():
        with lightning_false_alarms_silenced(data):  # as the commands run it
            trainer.test(task, datamodule=data, verbose=False)
        return {"test/loss": float(trainer.callback_metrics["test/loss"]), "tokens": tokens}

    return _measure(device, run)


def child_classify(steps: int, batch: int, device: str) -> dict[str, Any]:
    import functools

    import numpy as np
    import torch

    from seqmodels.cells import LSTMCell
    from seqmodels.commands.instantiate import lightning_false_alarms_silenced
    from seqmodels.data import ClassificationDataModule, ExampleCorpus
    from seqmodels.models import RNNClassifier
    from seqmodels.tasks import ClassificationTask

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    examples = [
        (rng.standard_normal((int(rng.integers(steps // 2, steps + 1)), 8)).astype(np.float32), i % 2)
        for i in range(batch)
    ]
    data = ClassificationDataModule(
        ExampleCorpus(examples[:2], ["a", "b"], valid=examples[:2], test=examples), batch_size=16
    )
    data.setup()
    model = RNNClassifier(2, LSTMCell, hidden_size=128, input_size=8)
    task = ClassificationTask(model, functools.partial(torch.optim.SGD, lr=1.0))
    trainer = _trainer(device)

    def run():
        with lightning_false_alarms_silenced(data):  # as the commands run it
            trainer.test(task, datamodule=data, verbose=False)
        return {"test/loss": float(trainer.callback_metrics["test/loss"]), "steps": steps, "sequences": batch}

    return _measure(device, run)


def _spawn(args: list[str], threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, "-m", "seqmodels.bench.memory", *args, "--threads", str(threads)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_all(
    tokens: int,
    steps: int,
    batch: int,
    device: str,
    workdir: Path,
    threads: int,
    lm_hidden: int = 128,
    lm_layers: int = 2,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "device": device,
        "threads": threads,
        "lm_hidden": lm_hidden,
        "lm_layers": lm_layers,
        "scenarios": {},
    }
    for n in (max(tokens // 10, 10_000), tokens):
        folder, cache = workdir / f"ptb_{n}", workdir / f"cache_{n}"
        write_corpus(folder, n)
        _spawn(["--child", "prepare", "--folder", str(folder), "--cache", str(cache)], threads)  # tokenize apart
        results["scenarios"][f"lm_eval_{n}_tokens"] = _spawn(
            [
                "--child",
                "lm",
                "--folder",
                str(folder),
                "--cache",
                str(cache),
                "--device",
                device,
                "--lm-hidden",
                str(lm_hidden),
                "--lm-layers",
                str(lm_layers),
            ],
            threads,
        )
    for t in (max(steps // 10, 100), steps):
        results["scenarios"][f"classify_{t}_steps"] = _spawn(
            ["--child", "classify", "--steps", str(t), "--batch", str(batch), "--device", device], threads
        )
    return results


def _table(results: dict[str, Any]) -> str:
    cuda = results["device"] == "gpu"
    head = f"{'scenario':<26} {'setup MiB':>10} {'peak MiB':>9} {'eval +MiB':>10}" + (
        f" {'CUDA MiB':>9}" if cuda else ""
    )
    rows = [head, "-" * len(head)]
    for name, r in results["scenarios"].items():
        row = f"{name:<26} {r['rss_setup_mib']:>10.1f} {r['rss_peak_mib']:>9.1f} {r['rss_eval_mib']:>10.1f}"
        if cuda:
            row += f" {r['cuda_peak_mib']:>9.1f}"
        rows.append(row + f"   ({r['seconds']:.1f} s, {r['metrics']})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=1_000_000, help="language-model test stream length")
    p.add_argument("--steps", type=int, default=10_000, help="classifier sequence length")
    p.add_argument("--batch", type=int, default=64, help="sequences to classify")
    p.add_argument("--lm-hidden", type=int, default=128, help="language model: embedding and LSTM size")
    p.add_argument("--lm-layers", type=int, default=2, help="language model: LSTM layers")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.add_argument("--workdir", type=Path, default=None, help="where the corpora and caches go (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: memory does not depend on it, and a shared machine stays usable)",
    )
    p.add_argument("--child", choices=["prepare", "lm", "classify"], help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        import torch

        device = "gpu" if torch.cuda.is_available() else "cpu"
    if args.child == "prepare":
        data = _lm_data(args.folder, args.cache)
        data.prepare_data()
        print(json.dumps({"prepared": str(args.cache)}))
        return
    if args.child == "lm":
        print(json.dumps(child_lm(args.folder, args.cache, device, args.lm_hidden, args.lm_layers)))
        return
    if args.child == "classify":
        print(json.dumps(child_classify(args.steps, args.batch, device)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(
            args.tokens,
            args.steps,
            args.batch,
            device,
            args.workdir or Path(tmp),
            args.threads,
            args.lm_hidden,
            args.lm_layers,
        )
    results["load_average"] = os.getloadavg()
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
