"""Data pipeline throughput: tokenizing, caching, iterating batches, against what training consumes.

Run ``python -m seqmodels.bench.data`` (``--data-dir`` defaults to ``$SEQMODELS_DATA_DIR`` or
``<repo>/../shared/data``; without it only the embedded stdlib corpus is measured).

For each language-modeling corpus it prints:

* tokenizer throughput (tokens/s and characters/s of ``tokenize`` on the train text);
* ``prepare_data() + setup()`` wall time, cold (tokenize and write the memmaps) and warm (cache hit);
* DataModule iteration speed (tokens/s delivered by ``train_dataloader()``), contiguous and random windows;
* the consumer: tokens/s of training steps (forward, backward, SGD) of a ``torch.nn.LSTM`` language model
  of the size usually trained on that corpus, on this machine's CPU, and the ratio of the two
  (the target is >= 10x: the data pipeline must never be what training waits for).

and for IMDB (with ``--imdb``) the ClassificationDataModule set-up time and batches per second.

The token cache at scale (a folder of a gigabyte or more streamed into the memmap cache, with peak memory and a
comparison with Hugging Face ``tokenizers``) is measured by :mod:`seqmodels.bench.token_cache`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seqmodels.data.classification import ClassificationDataModule
from seqmodels.data.corpora import IMDB, PennTreebank, PythonStdlibCorpus, TinyShakespeare
from seqmodels.data.corpora.base import TextCorpus
from seqmodels.data.language_modeling import LanguageModelingDataModule
from seqmodels.data.tokenizers import BPETokenizer, CharTokenizer, Tokenizer, WordTokenizer


def _best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def lstm_training_tokens_per_s(
    vocab_size: int, emb: int, hidden: int, layers: int, batch: int, bptt: int, steps: int = 5
) -> float:
    """Tokens/s of full training steps of an embedding -> LSTM -> linear LM (torch.nn.LSTM, CPU)."""
    torch.manual_seed(0)
    embed = torch.nn.Embedding(vocab_size, emb)
    lstm = torch.nn.LSTM(emb, hidden, layers, batch_first=True)
    head = torch.nn.Linear(hidden, vocab_size)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.1)
    x = torch.randint(vocab_size, (batch, bptt))
    y = torch.randint(vocab_size, (batch, bptt))

    def step() -> None:
        opt.zero_grad()
        out, _ = lstm(embed(x))
        loss = torch.nn.functional.cross_entropy(head(out).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * bptt / (time.perf_counter() - start)


def iterate_tokens_per_s(dm: LanguageModelingDataModule, max_batches: int = 2000) -> float:
    start = time.perf_counter()
    tokens = 0
    for k, (x, _) in enumerate(dm.train_dataloader()):
        tokens += x.numel()
        if k + 1 >= max_batches:
            break
    return tokens / (time.perf_counter() - start)


def bench_lm(
    name: str,
    make_corpus: Callable[[], TextCorpus],
    tokenizer: Tokenizer,
    batch: int,
    bptt: int,
    consumer: dict[str, int],
    cache_root: Path,
    repeat: int,
) -> dict[str, Any]:
    corpus = make_corpus()
    text = corpus.read("train")
    tok_time, tokens = _best_of(lambda: tokenizer.tokenize(text), repeat)
    cache = cache_root / name
    start = time.perf_counter()
    dm = LanguageModelingDataModule(corpus, tokenizer, batch_size=batch, bptt=bptt, cache_dir=cache)
    dm.prepare_data()
    dm.setup("fit")
    cold = time.perf_counter() - start
    warm, dm = _best_of(lambda: _setup(make_corpus(), tokenizer, batch, bptt, cache, True), repeat)
    contiguous = max(iterate_tokens_per_s(dm) for _ in range(repeat))
    windows_dm = _setup(corpus, tokenizer, batch, bptt, cache, False)
    windows = max(iterate_tokens_per_s(windows_dm) for _ in range(repeat))
    train = max(lstm_training_tokens_per_s(dm.vocab_size, batch=batch, bptt=bptt, **consumer) for _ in range(repeat))
    return {
        "corpus": name,
        "tokenizer": type(tokenizer).__name__,
        "train_chars": len(text),
        "train_tokens": len(tokens),
        "vocab_size": dm.vocab_size,
        "tokenize_tokens_per_s": len(tokens) / tok_time,
        "tokenize_chars_per_s": len(text) / tok_time,
        "prepare_cold_s": cold,
        "prepare_warm_s": warm,
        "iterate_contiguous_tokens_per_s": contiguous,
        "iterate_windows_tokens_per_s": windows,
        "batch": batch,
        "bptt": bptt,
        "consumer": consumer,
        "train_tokens_per_s": train,
        "ratio": min(contiguous, windows) / train,
    }


def _setup(
    corpus: TextCorpus, tokenizer: Tokenizer, batch: int, bptt: int, cache: Path, contiguous: bool
) -> LanguageModelingDataModule:
    dm = LanguageModelingDataModule(
        corpus, tokenizer, batch_size=batch, bptt=bptt, cache_dir=cache, contiguous=contiguous
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def bench_bpe(corpus: TextCorpus, vocab_size: int) -> dict[str, Any]:
    text = corpus.read("train")
    start = time.perf_counter()
    bpe = BPETokenizer(vocab_size=vocab_size).train(corpus.iter_text("train"))
    trained = time.perf_counter() - start
    start = time.perf_counter()
    tokens = bpe.tokenize(text)
    encoded = time.perf_counter() - start
    return {
        "corpus": corpus.name,
        "vocab_size": vocab_size,
        "train_s": trained,
        "tokens": len(tokens),
        "tokenize_chars_per_s": len(text) / encoded,
        "tokenize_tokens_per_s": len(tokens) / encoded,
    }


def bench_imdb(path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    dm = ClassificationDataModule(
        IMDB(path), WordTokenizer(lowercase=True), batch_size=64, max_length=400, bucket=True, max_vocab_size=25_000
    )
    dm.setup()
    setup = time.perf_counter() - start
    start = time.perf_counter()
    batches = tokens = 0
    for _, lengths, _ in dm.train_dataloader():
        batches += 1
        tokens += int(lengths.sum())
    elapsed = time.perf_counter() - start
    return {"setup_s": setup, "batches_per_s": batches / elapsed, "tokens_per_s": tokens / elapsed, "batches": batches}


def _fmt(x: float) -> str:
    return f"{x / 1e6:8.2f} M" if x >= 1e5 else f"{x / 1e3:8.1f} k"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    default_data = os.environ.get("SEQMODELS_DATA_DIR") or str(Path(__file__).resolve().parents[3] / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=default_data, help="folder with ptb/, tinyshakespeare/, imdb/ (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="take the best of this many runs")
    parser.add_argument("--imdb", action="store_true", help="also time the IMDB ClassificationDataModule")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    small = {"emb": 200, "hidden": 200, "layers": 2}  # Zaremba et al. 2014 "small"
    char = {"emb": 64, "hidden": 256, "layers": 2}
    results: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "lm": [], "bpe": []}
    with tempfile.TemporaryDirectory() as cache:
        root = Path(cache)
        runs: list[tuple[str, Callable[[], TextCorpus], Tokenizer, int, int, dict[str, int]]] = []
        if (data / "ptb").is_dir():
            runs.append(("ptb", lambda: PennTreebank(data / "ptb"), WordTokenizer(), 20, 35, small))
        if (data / "tinyshakespeare").is_dir():
            runs.append(
                ("tinyshakespeare", lambda: TinyShakespeare(data / "tinyshakespeare"), CharTokenizer(), 64, 128, char)
            )
        runs.append(("python_stdlib", PythonStdlibCorpus, CharTokenizer(), 32, 128, char))
        for run in runs:
            results["lm"].append(bench_lm(*run, cache_root=root, repeat=args.repeat))
    if (data / "tinyshakespeare").is_dir():
        results["bpe"].append(bench_bpe(TinyShakespeare(data / "tinyshakespeare"), 1000))
    results["bpe"].append(bench_bpe(PythonStdlibCorpus(), 2000))
    if args.imdb and (data / "imdb").is_dir():
        results["imdb"] = bench_imdb(data / "imdb")

    print(f"torch threads: {results['torch_threads']}; best of {args.repeat}")
    print(
        f"{'corpus':16} {'tokenizer':14} {'train tok':>10} {'tokenize/s':>11} {'cold s':>7} {'warm s':>7} "
        f"{'iter tok/s':>11} {'window tok/s':>12} {'train tok/s':>11} {'ratio':>7}"
    )
    for r in results["lm"]:
        ok = "ok" if r["ratio"] >= 10 else "LOW"
        print(
            f"{r['corpus']:16} {r['tokenizer']:14} {r['train_tokens']:>10,} {_fmt(r['tokenize_tokens_per_s']):>11} "
            f"{r['prepare_cold_s']:7.3f} {r['prepare_warm_s']:7.3f} {_fmt(r['iterate_contiguous_tokens_per_s']):>11} "
            f"{_fmt(r['iterate_windows_tokens_per_s']):>12} {_fmt(r['train_tokens_per_s']):>11} {r['ratio']:6.0f}x {ok}"
        )
    for r in results["bpe"]:
        print(
            f"BPE {r['corpus']} (vocab {r['vocab_size']}): trained in {r['train_s']:.2f} s; "
            f"tokenize {_fmt(r['tokenize_chars_per_s'])} chars/s = {_fmt(r['tokenize_tokens_per_s'])} tokens/s "
            f"({r['tokens']:,} tokens)"
        )
    if "imdb" in results:
        r = results["imdb"]
        print(
            f"IMDB ClassificationDataModule: setup {r['setup_s']:.2f} s; {r['batches_per_s']:.0f} batches/s "
            f"({_fmt(r['tokens_per_s'])} tokens/s, {r['batches']} batches of 64, bucketed, max_length 400)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
