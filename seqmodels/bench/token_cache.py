"""Building the token cache from a large folder of text, as ``seqmodels-train experiment=char_lm data.train=DIR``
does it: wall time, MB/s and peak memory per tokenizer, beside Hugging Face ``tokenizers``' own ``encode_batch``.

Run ``python -m seqmodels.bench.token_cache --make-corpus 1024`` (a 1 GB corpus under /tmp, made from the real text
in ``--data-dir``, deleted at the end unless ``--keep-corpus``) or ``--corpus DIR`` (your own folder, kept).

Each case is a fresh subprocess that composes the experiment's config (``experiment=char_lm`` for char and BPE,
``data/tokenizer=bpe`` for BPE, ``experiment=word_lm`` for words) with ``data.train=DIR`` and an empty
``data.cache_dir``, and calls what ``seqmodels-train`` calls: ``prepare_data()`` and ``setup("fit")`` of the
DataModule (so vocabulary counting and BPE training on the train split are included). It reports

* the wall time of that call and the corpus's bytes per second through it (all splits: train, and valid and
  test cut from its end);
* the phases the cache timed itself (BPE training; tokenizing train, valid, test);
* peak resident memory: the subprocess's ``VmHWM``, and the largest of its own children's (``RUSAGE_CHILDREN``:
  the word tokenizer's forked workers, whose figure counts the pages they share with the parent).

The reference is a subprocess that reads the same files in blocks of about 1 MB, cuts each block into pieces of
about 64 kB at newlines (as the cache does) and encodes them with the trained BPE's ``encode_batch``, reading each
encoding's ids: the library's own parallel throughput on the same bytes, with nothing written. Every case is run
``--repeat`` times; the table gives medians and (min-max).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = {  # name -> the overrides of seqmodels-train that build it
    "char": ["experiment=char_lm"],
    "word": ["experiment=word_lm"],
    "bpe": ["experiment=char_lm", "data/tokenizer=bpe"],
}
ENCODE_PHASES = ("tokenize_", "remap_")  # TokenCache.timings that turn text into ids
SOURCES = ("tinyshakespeare/input.txt", "wikitext-2/valid.txt", "wikitext-2/test.txt", "ptb/ptb.train.txt.gz")


def _read_source(path: Path) -> str:
    data = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8")


def make_corpus(out: Path, size_mb: float, data_dir: Path, file_mb: float = 16.0, seed: int = 0) -> int:
    """Write about ``size_mb`` MB of text into ``out`` as files of about ``file_mb`` MB; return the bytes written.

    Every file is the lines of the real texts in ``data_dir`` (tinyshakespeare, wikitext-2, Penn Treebank) in a
    fresh random order, a quarter of its paragraphs with two vowels swapped (``a`` <-> ``o`` ...), so that the
    files differ, words not in the sources occur, and BPE does not see one text over and over.
    """
    found = [data_dir / name for name in SOURCES if (data_dir / name).is_file()]
    lines = [line for path in found for line in _read_source(path).splitlines(True)]
    if not lines:
        raise FileNotFoundError(f"none of {list(SOURCES)} found under {data_dir} (--data-dir)")
    rng = random.Random(seed)
    vowels = "aeiou"
    out.mkdir(parents=True, exist_ok=True)
    target, file_bytes, written = int(size_mb * 2**20), int(file_mb * 2**20), 0
    files = max(1, -(-target // file_bytes))
    if files > 1 and target - (files - 1) * file_bytes < file_bytes // 100:
        files -= 1  # a last file of a few bytes joins the one before
    for index in range(files):
        size = file_bytes if index < files - 1 else target - index * file_bytes
        parts: list[str] = []
        length = 0
        while length < size:
            order = list(range(len(lines)))
            rng.shuffle(order)
            for start in range(0, len(order), 200):  # paragraphs of 200 lines
                text = "".join(lines[i] for i in order[start : start + 200])
                if rng.random() < 0.25:
                    a, b = rng.sample(vowels, 2)
                    text = text.translate(str.maketrans(a + b, b + a))
                parts.append(text)
                length += len(text)
                if length >= size:
                    break
        data = "".join(parts).encode("utf-8")[:size]
        data = data[: data.rfind(b"\n") + 1] or data  # whole lines
        (out / f"part-{index:04d}.txt").write_bytes(data)
        written += len(data)
    return written


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _peak_rss_mb() -> tuple[float, float]:
    """(this process's VmHWM, the largest of its waited-for children's maxrss), in MB."""
    import resource

    own = 0.0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def run_case(case: str, corpus: Path, cache: Path) -> dict[str, Any]:
    """Build the cache of ``corpus`` as ``seqmodels-train`` with ``CASES[case]`` does (in this process)."""
    from hydra import compose, initialize_config_dir

    from ..commands.app import CONFIG_DIR, VERSION_BASE
    from ..commands.instantiate import setup_data

    overrides = [*CASES[case], f"data.train={corpus}", f"data.cache_dir={cache}", f"paths.output_dir={cache}/out"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=VERSION_BASE):
        cfg = compose("train", overrides=overrides)
    start = time.perf_counter()
    dm = setup_data(cfg, "fit")
    wall = time.perf_counter() - start
    token_cache = dm.token_cache()
    tokens = {s: int(len(token_cache.ids(s))) for s in dm.corpus.splits}
    own, children = _peak_rss_mb()
    return {
        "case": case,
        "wall_s": wall,
        "phases_s": dict(getattr(token_cache, "timings", {})),
        "tokens": tokens,
        "vocab_size": dm.vocab_size,
        "peak_rss_mb": own,
        "children_peak_rss_mb": children,
        "folder": str(token_cache.folder),
    }


def run_reference(corpus: Path, tokenizer_json: Path) -> dict[str, Any]:
    """HF ``encode_batch`` over every file of ``corpus``: its lines, about 1 MB of them per call."""
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(tokenizer_json))
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    tokens = nbytes = 0
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            while lines := f.readlines(1 << 20):
                nbytes += sum(map(len, lines))
                for encoding in tok.encode_batch([line.decode("utf-8") for line in lines], add_special_tokens=False):
                    tokens += len(encoding.ids)
    wall = time.perf_counter() - start
    own, children = _peak_rss_mb()
    return {
        "case": "hf_encode_batch",
        "wall_s": wall,
        "bytes": nbytes,
        "tokens": tokens,
        "peak_rss_mb": own,
        "children_peak_rss_mb": children,
    }


def _subprocess(args: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        cmd = [sys.executable, "-m", "seqmodels.bench.token_cache", *args, "--result", str(out)]
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)


def _median_spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _total(tokens: dict[str, int] | int) -> int:
    return sum(tokens.values()) if isinstance(tokens, dict) else tokens


def summarize(runs: dict[str, list[dict[str, Any]]], nbytes: int) -> list[dict[str, Any]]:
    """One row per case: medians and ranges of wall time, MB/s and peak RSS over its runs."""
    rows = []
    reference = runs.get("hf_encode_batch")
    ref_mbps = statistics.median(nbytes / 2**20 / r["wall_s"] for r in reference) if reference else None
    for case, results in runs.items():
        walls = [r["wall_s"] for r in results]
        speeds = [nbytes / 2**20 / w for w in walls]
        rss = [r["peak_rss_mb"] for r in results]
        workers = [r["children_peak_rss_mb"] for r in results]
        row = {
            "case": case,
            "runs": len(results),
            "wall_s": _median_spread(walls),
            "mb_per_s": _median_spread(speeds),
            "peak_rss_mb": _median_spread(rss),
            "worker_peak_rss_mb": _median_spread(workers),
            "tokens": _total(results[0]["tokens"]),
        }
        phases: dict[str, list[float]] = {}
        for r in results:
            for k, v in r.get("phases_s", {}).items():
                phases.setdefault(k, []).append(v)
        row["phases_s"] = {k: statistics.median(v) for k, v in phases.items()}
        # encoding alone: the phases that turn text into ids, without BPE training or a counting pass of its own
        encode = [sum(v for k, v in r.get("phases_s", {}).items() if k.startswith(ENCODE_PHASES)) for r in results]
        encode_mbps = _median_spread([nbytes / 2**20 / e for e in encode]) if all(encode) else None
        if encode_mbps is not None:
            row["encode_mb_per_s"] = encode_mbps
        if ref_mbps is not None and case != "hf_encode_batch":
            row["vs_reference"] = statistics.median(speeds) / ref_mbps
            if encode_mbps is not None:
                row["encode_vs_reference"] = encode_mbps[0] / ref_mbps
        rows.append(row)
    return rows


def _fmt3(values: tuple[float, float, float], digits: int) -> str:
    m, lo, hi = values
    return f"{m:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def print_table(rows: list[dict[str, Any]], nbytes: int) -> None:
    print(f"corpus: {nbytes / 2**20:.1f} MB; medians (min-max)")
    head = f"{'case':16} {'runs':>4} {'wall s':>22} {'MB/s':>20} {'encode MB/s':>20} {'peak RSS MB':>20}"
    print(f"{head} {'worker':>6} {'tokens':>14} {'x HF':>5} {'enc x HF':>8}  phases (s)")
    for r in rows:
        ratio = f"{r['vs_reference']:.2f}" if "vs_reference" in r else ""
        encode_ratio = f"{r['encode_vs_reference']:.2f}" if "encode_vs_reference" in r else ""
        encode = _fmt3(r["encode_mb_per_s"], 1) if "encode_mb_per_s" in r else ""
        phases = ", ".join(f"{k} {v:.1f}" for k, v in r["phases_s"].items())
        print(
            f"{r['case']:16} {r['runs']:>4} {_fmt3(r['wall_s'], 1):>22} {_fmt3(r['mb_per_s'], 1):>20} {encode:>20} "
            f"{_fmt3(r['peak_rss_mb'], 0):>20} {r['worker_peak_rss_mb'][0]:>6.0f} {r['tokens']:>14,} {ratio:>5} "
            f"{encode_ratio:>8}  {phases}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    default_data = os.environ.get("SEQMODELS_DATA_DIR") or str(Path(__file__).resolve().parents[3] / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, help="a folder of text files to build the cache from (kept)")
    source.add_argument("--make-corpus", type=float, metavar="SIZE_MB", help="make a corpus of this many MB first")
    parser.add_argument("--data-dir", type=Path, default=Path(default_data), help="real text for --make-corpus")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()), help="corpus and caches go here")
    parser.add_argument("--keep-corpus", action="store_true", help="do not delete the corpus --make-corpus made")
    parser.add_argument("--cases", default="char,word,bpe,hf", help="comma-separated: char, word, bpe, hf")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (medians and ranges)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)  # inside the subprocess of one run
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_case:  # one run, in its own process
        if args.run_case == "hf_encode_batch":
            result = run_reference(args.corpus, args.tokenizer_json)
        else:
            result = run_case(args.run_case, args.corpus, args.cache)
        args.result.write_text(json.dumps(result), encoding="utf-8")
        return result

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - {*CASES, "hf"}
    if unknown:
        parser.error(f"--cases: unknown {sorted(unknown)}; choose from {[*CASES, 'hf']}")
    work = Path(tempfile.mkdtemp(prefix="token-cache-bench-", dir=args.work_dir))
    try:
        if args.corpus is not None:
            corpus = args.corpus.resolve()
        else:
            corpus = work / "corpus"
            start = time.perf_counter()
            made = make_corpus(corpus, args.make_corpus or 1024.0, args.data_dir)
            print(f"made {made / 2**20:.1f} MB of text in {corpus} ({time.perf_counter() - start:.0f} s)", flush=True)
        nbytes = corpus_bytes(corpus)
        runs: dict[str, list[dict[str, Any]]] = {}
        tokenizer_json: Path | None = None
        for k in range(args.repeat):
            for case in cases:
                if case == "hf":
                    if tokenizer_json is None:
                        raise SystemExit("--cases: hf needs bpe before it (the reference encodes with that BPE)")
                    args_ = ["--run-case", "hf_encode_batch", "--corpus", str(corpus)]
                    args_ += ["--tokenizer-json", str(tokenizer_json)]
                    name = "hf_encode_batch"
                else:
                    cache = work / f"cache-{case}-{k}"
                    args_ = ["--run-case", case, "--corpus", str(corpus), "--cache", str(cache)]
                    name = case
                result = _subprocess(args_)
                runs.setdefault(name, []).append(result)
                print(
                    f"run {k + 1}/{args.repeat} {name}: {result['wall_s']:.1f} s, peak RSS "
                    f"{result['peak_rss_mb']:.0f} MB, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                if args.json:  # after every run, so that an interrupted benchmark keeps what it measured
                    args.json.write_text(json.dumps({"bytes": nbytes, "runs": runs}, indent=2), encoding="utf-8")
                if case == "bpe":
                    kept = work / "bpe-tokenizer.json"
                    shutil.copy(Path(result["folder"]) / "tokenizer.json", kept)
                    tokenizer_json = kept
                if case != "hf":
                    shutil.rmtree(work / f"cache-{case}-{k}", ignore_errors=True)
        rows = summarize(runs, nbytes)
        print_table(rows, nbytes)
        results = {"corpus": str(corpus), "bytes": nbytes, "cpus": os.cpu_count(), "runs": runs, "rows": rows}
        if args.json:
            args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        return results
    finally:
        if args.corpus is None and args.keep_corpus:
            print(f"kept the corpus in {corpus}")
            for p in work.iterdir():
                if p != corpus:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
