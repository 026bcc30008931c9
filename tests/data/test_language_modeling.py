"""LanguageModelingDataModule and its memmap token cache: published PTB figures, stream layout
(truncated BPTT), random windows, DDP shards, cache reuse and crash safety, Lightning integration."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqmodels.data.token_cache as token_cache
import seqmodels.data.token_ids as token_ids
from seqmodels.data import (
    BPETokenizer,
    CharTokenizer,
    LanguageModelingDataModule,
    PennTreebank,
    PythonStdlibCorpus,
    StringCorpus,
    TinyShakespeare,
    WordTokenizer,
)


def corpus_of(n_train: int = 1000, name: str = "toy") -> StringCorpus:
    """Text whose characters spell their own positions mod 10, so every batch is checkable."""
    digits = "".join(str(i % 10) for i in range(n_train))
    return StringCorpus(digits, "0123456789" * 7, "9876543210" * 5, name=name)


# ---------------------------------------------------------------- real corpora


class CountingPTB(PennTreebank):
    """Penn Treebank that counts how often each split's text is read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()

    def iter_text(self, split):
        self.reads[split] += 1
        return super().iter_text(split)


def test_ptb_datamodule_statistics_and_single_pass(data_dir: Path, tmp_path: Path) -> None:
    """The published PTB figures; each split's text is read (and tokenized) once, then only the cache.
    (How fast that is, is measured by ``python -m seqmodels.bench.data``, not asserted here.)"""
    corpus = CountingPTB(data_dir / "ptb")
    dm = LanguageModelingDataModule(corpus, WordTokenizer(), cache_dir=tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.vocab_size == 10_000
    assert [len(dm.ids(s)) for s in ("train", "valid", "test")] == [929_589, 73_760, 82_430]
    assert corpus.reads == {"train": 1, "valid": 1, "test": 1}, corpus.reads  # read and tokenized once
    assert dm.ids("train").dtype == np.uint16 and isinstance(dm.ids("train"), np.memmap)
    assert (np.asarray(dm.ids("valid")) != dm.vocab.unk_index).sum() == 73_760 - corpus.read("valid").split().count(
        "<unk>"
    )
    # text -> ids -> text
    first_line = corpus.read("train").split("\n", 1)[0]
    n = len(first_line.split())
    assert dm.encoder.decode(dm.ids("train")[:n]) == " ".join(first_line.split())
    # Zaremba's batching: 20 streams of 46,479 steps, 35 per batch
    loader = dm.train_dataloader()
    assert len(loader) == -(-(929_589 // 20 - 1) // 35) == 1328
    x, y = next(iter(loader))
    assert x.shape == y.shape == (20, 35) and x.dtype == torch.long
    # a second data module on the same cache reads no text at all and gets the same ids
    again = CountingPTB(data_dir / "ptb")
    warm = LanguageModelingDataModule(again, WordTokenizer(), cache_dir=tmp_path)
    warm.prepare_data()
    warm.setup("fit")
    assert np.array_equal(warm.ids("test"), dm.ids("test")) and not again.reads, again.reads


def test_second_run_reads_the_cache_without_tokenizing(tmp_path: Path) -> None:
    corpus = corpus_of()
    first = LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=5)
    first.prepare_data()
    first.setup()
    reference = {s: np.array(first.ids(s)) for s in ("train", "valid", "test")}

    class NoReading(StringCorpus):
        def iter_text(self, split):  # a second run must not read the text again
            raise AssertionError("the corpus was read although the cache was complete")

    again = NoReading(corpus.texts["train"], corpus.texts["valid"], corpus.texts["test"], name="toy")
    second = LanguageModelingDataModule(again, CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=5)
    second.prepare_data()
    second.setup()
    assert second.encoder == first.encoder
    for split, ids in reference.items():
        np.testing.assert_array_equal(second.ids(split), ids)
    # other settings get another entry
    other = LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path, max_vocab_size=5)
    assert other.token_cache().folder != first.token_cache().folder


def test_stdlib_default_corpus_through_the_datamodule(tmp_path: Path) -> None:
    dm = LanguageModelingDataModule(PythonStdlibCorpus(), cache_dir=tmp_path, batch_size=8, bptt=16)
    dm.setup()
    stats = dm.corpus.stats()
    assert isinstance(dm.encoder.tokenizer, CharTokenizer)
    assert [len(dm.ids(s)) for s in ("train", "valid", "test")] == [
        stats[s]["chars"] for s in ("train", "valid", "test")
    ]
    assert dm.vocab.itos[:2] == ["<unk>", "<eos>"]
    assert dm.encoder.decode(dm.ids("valid")[:200]) == dm.corpus.read("valid")[:200]


def test_tinyshakespeare_char_vocabulary(data_dir: Path, tmp_path: Path) -> None:
    dm = LanguageModelingDataModule(
        TinyShakespeare(data_dir / "tinyshakespeare"), CharTokenizer(), cache_dir=tmp_path, specials=()
    )
    dm.setup()
    assert dm.vocab_size == 65
    assert (len(dm.ids("train")), len(dm.ids("valid"))) == (1_003_854, 111_540)


# ---------------------------------------------------------------- memmap == in-memory encoding


class ChunkedCorpus(StringCorpus):
    """A StringCorpus that hands its text out in pieces of ``chunk`` characters, as files are read."""

    def __init__(self, *texts: str, chunk: int) -> None:
        super().__init__(*texts)
        self.chunk = chunk

    def iter_text(self, split):
        text = self.read(split)
        yield from (text[i : i + self.chunk] for i in range(0, len(text), self.chunk))

    def read(self, split):
        return "".join(StringCorpus.iter_text(self, split))


@settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None, max_examples=25
)
@given(
    train=st.text(alphabet="ab c\n.é😀", min_size=1, max_size=300),
    valid=st.text(alphabet="abz \nq😀\U0010ffff", max_size=100),
    block=st.integers(1, 64),
    max_size=st.one_of(st.none(), st.integers(3, 6)),
    word=st.booleans(),
)
def test_memmap_cache_equals_in_memory_ids(monkeypatch, train, valid, block, max_size, word) -> None:
    monkeypatch.setattr(token_cache, "TOKENIZE_BLOCK_CHARS", block)  # many small pieces
    corpus = ChunkedCorpus(train, valid, chunk=block)
    tok = WordTokenizer() if word else CharTokenizer()
    with tempfile.TemporaryDirectory() as cache:
        cache_entry = token_cache.TokenCache(corpus, tok, cache, max_size=max_size)
        encoder = cache_entry.encoder()
        for split in ("train", "valid", "test"):
            np.testing.assert_array_equal(
                cache_entry.ids(split), np.asarray(encoder.encode(corpus.read(split)), dtype=np.int64)
            )
    # the vocabulary is the one Vocab.build gives on the whole train text
    from seqmodels.data import Vocab

    assert encoder.vocab == Vocab.build(tok.tokenize(train), specials=("<unk>", "<eos>"), max_size=max_size)


@pytest.mark.parametrize("tokenizer", [WordTokenizer(), WordTokenizer(lowercase=True, pattern=r"\w+|[^\w\s]")])
def test_train_tokens_counted_in_worker_processes_give_the_same_vocabulary_and_ids(
    tmp_path: Path, monkeypatch, tokenizer
) -> None:
    """Past PARALLEL_AFTER_CHARS the train tokens are counted by forked workers, each with its own token index;
    the vocabulary (ranks and ties included) and the ids are those of the whole text tokenized at once."""
    rng = np.random.default_rng(0)
    words = [f"W{k}" if k % 3 else f"w{k}," for k in rng.zipf(1.3, 3000) % 400]
    lines = [" ".join(words[i : i + 7]) + "\n" for i in range(0, len(words), 7)]
    train, valid = "".join(lines[:380]), "".join(lines[380:])
    contexts = []
    get_context = token_ids.multiprocessing.get_context
    monkeypatch.setattr(token_ids.multiprocessing, "get_context", lambda m: contexts.append(m) or get_context(m))
    monkeypatch.setattr(token_ids, "PARALLEL_AFTER_CHARS", 500)
    monkeypatch.setattr(token_cache, "TOKENIZE_BLOCK_CHARS", 300)  # about 50 blocks, most of them in the workers
    cache = token_cache.TokenCache(ChunkedCorpus(train, valid, chunk=97), tokenizer, tmp_path, max_size=60)
    encoder = cache.encoder()
    assert contexts == ["fork"]
    from seqmodels.data import Vocab

    assert encoder.vocab == Vocab.build(tokenizer.tokenize(train), specials=("<unk>", "<eos>"), max_size=60)
    np.testing.assert_array_equal(cache.ids("train"), encoder.encode(train))
    np.testing.assert_array_equal(cache.ids("valid"), encoder.encode(valid))


def test_bpe_is_trained_on_train_and_saved_as_library_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(token_cache, "TOKENIZE_BLOCK_CHARS", 200)
    text = "".join(f"def function_{i}(x):\n    return x * {i}\n\n" for i in range(300))
    corpus = StringCorpus(text[:8000], text[8000:9000], name="code")
    bpe = BPETokenizer(vocab_size=300)
    dm = LanguageModelingDataModule(corpus, bpe, cache_dir=tmp_path, batch_size=4, bptt=8)
    dm.setup()
    assert not bpe.is_trained  # the caller's tokenizer is left alone; the DataModule trains a copy
    assert dm.vocab_size == 2 + 300
    np.testing.assert_array_equal(dm.ids("valid"), dm.encoder.encode(corpus.read("valid")))
    assert dm.vocab.unk_index not in set(np.asarray(dm.ids("valid")).tolist())  # byte-level: nothing unknown
    assert dm.encoder.decode(dm.ids("valid")) == corpus.read("valid")
    import tokenizers

    hf = tokenizers.Tokenizer.from_file(str(dm.token_cache().folder / "tokenizer.json"))
    assert hf.encode("def f(x):").tokens == dm.encoder.tokenizer.tokenize("def f(x):")


def test_given_encoder_is_used_and_train_is_not_needed(tmp_path: Path) -> None:
    built = LanguageModelingDataModule(corpus_of(), CharTokenizer(), cache_dir=tmp_path / "a")
    built.setup()
    checkpoint_dict = json.loads(json.dumps(built.encoder.to_dict()))

    class NoTrain(StringCorpus):
        def iter_text(self, split):
            if split == "train":
                raise FileNotFoundError("no train split here")
            return super().iter_text(split)

    corpus = NoTrain("", "0123456789" * 7, "9876543210" * 5)
    dm = LanguageModelingDataModule(corpus, encoder=checkpoint_dict, cache_dir=tmp_path / "b", batch_size=2)
    dm.prepare_data()  # skips the missing train split: the encoder is given
    dm.setup("validate")
    dm.setup("test")
    assert dm.encoder == built.encoder
    np.testing.assert_array_equal(dm.ids("test"), built.ids("test"))
    with pytest.raises(FileNotFoundError, match="no train split"):
        dm.setup("fit")
    with pytest.raises(FileNotFoundError, match="no train split"):
        LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path / "c").prepare_data()


# ---------------------------------------------------------------- crash safety


def test_interrupted_tokenization_leaves_nothing_trusted(tmp_path: Path) -> None:
    good = corpus_of(5000)

    class Crashes(StringCorpus):
        def iter_text(self, split):
            yield self.texts[split][:100]
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-way

    crashing = Crashes(good.texts["train"], good.texts["valid"], good.texts["test"], name="toy")
    with pytest.raises(KeyboardInterrupt):
        LanguageModelingDataModule(crashing, CharTokenizer(), cache_dir=tmp_path).setup()
    folder = next((tmp_path / "lm").iterdir())
    assert [p.name for p in folder.iterdir()] == []  # no temp file, no half-written ids
    dm = LanguageModelingDataModule(good, CharTokenizer(), cache_dir=tmp_path)
    dm.setup()
    assert dm.token_cache().folder == folder
    np.testing.assert_array_equal(dm.ids("train"), dm.encoder.encode(good.read("train")))


def test_incomplete_cache_files_are_rebuilt(tmp_path: Path) -> None:
    corpus = corpus_of()
    dm = LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path)
    dm.setup()
    folder = dm.token_cache().folder
    expected = np.array(dm.ids("valid"))
    (folder / "valid.json").unlink()  # killed between writing the ids and their metadata
    with open(folder / "test.bin", "r+b") as f:  # a truncated file with valid-looking metadata
        f.truncate(10)
    again = LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path)
    assert not again.token_cache().is_cached("valid") and not again.token_cache().is_cached("test")
    again.setup()
    np.testing.assert_array_equal(again.ids("valid"), expected)
    assert len(again.ids("test")) == 50


# ---------------------------------------------------------------- batching


def test_contiguous_streams_continue_across_batches(tmp_path: Path) -> None:
    corpus = corpus_of(1003)
    dm = LanguageModelingDataModule(corpus, CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=7, specials=())
    dm.setup()
    ids = np.asarray(dm.ids("train"), dtype=np.int64)
    steps = 1003 // 4  # 250 per stream; 3 trailing ids dropped
    streams = ids[: 4 * steps].reshape(4, steps)
    batches = list(dm.train_dataloader())
    assert len(batches) == len(dm.train_dataloader()) == -(-(steps - 1) // 7)
    assert [x.shape[1] for x, _ in batches][-2:] == [7, (steps - 1) % 7 or 7]  # only the last is shorter
    inputs = torch.cat([x for x, _ in batches], dim=1)
    targets = torch.cat([y for _, y in batches], dim=1)
    assert torch.equal(inputs, torch.from_numpy(streams[:, :-1]))  # row b of batch k+1 continues row b of batch k
    assert torch.equal(targets, torch.from_numpy(streams[:, 1:]))
    assert dm.contiguous and dm.bptt == 7


def test_eval_batch_size_and_workers_keep_order(tmp_path: Path) -> None:
    dm = LanguageModelingDataModule(
        corpus_of(), CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=5, eval_batch_size=2, num_workers=2
    )
    dm.setup()
    reference = LanguageModelingDataModule(
        corpus_of(), CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=5, eval_batch_size=2
    )
    reference.setup()
    with_workers = list(dm.val_dataloader())
    assert with_workers[0][0].shape[0] == 2
    for (x, y), (rx, ry) in zip(with_workers, reference.val_dataloader(), strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)


def test_random_windows_are_deterministic_and_change_per_epoch(tmp_path: Path) -> None:
    def make() -> LanguageModelingDataModule:
        dm = LanguageModelingDataModule(
            corpus_of(2000),
            CharTokenizer(),
            cache_dir=tmp_path,
            batch_size=3,
            bptt=10,
            contiguous=False,
            seed=7,
            specials=(),
        )
        dm.setup()
        return dm

    dm = make()
    ids = np.asarray(dm.ids("train"), dtype=np.int64)
    loader = dm.train_dataloader()
    epoch0, epoch1 = list(loader), list(loader)
    assert len(epoch0) == len(loader) == (2000 - 1) // 30
    offsets = loader.dataset.offsets(0)  # (batches, B) window starts of epoch 0
    assert offsets.shape == (len(epoch0), 3) and offsets.max() <= 2000 - 11
    for (x, y), starts in zip(epoch0, offsets):
        assert x.shape == y.shape == (3, 10)
        for row_x, row_y, s in zip(x.numpy(), y.numpy(), starts):  # each window is a real stretch of the text
            assert (row_x == ids[s : s + 10]).all() and (row_y == ids[s + 1 : s + 11]).all()
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(epoch0, epoch1))
    again = list(make().train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epoch0, again))
    # validation is always contiguous
    assert make().val_dataloader().dataset.__class__.__name__ == "StreamBatches"


def test_each_rank_reads_its_own_contiguous_shard(tmp_path: Path) -> None:
    seen = []
    for rank in range(2):
        dm = LanguageModelingDataModule(
            corpus_of(1000), CharTokenizer(), cache_dir=tmp_path, batch_size=2, bptt=10, specials=()
        )
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        dm.setup()
        ids = np.asarray(dm.ids("train"), dtype=np.int64)
        batches = list(dm.train_dataloader())
        first_tokens = torch.cat([x for x, _ in batches], dim=1)[:, 0]
        shard = ids[rank * 500 : (rank + 1) * 500]
        assert first_tokens.tolist() == [shard[0], shard[250]]
        seen.append(len(batches))
        window = LanguageModelingDataModule(
            corpus_of(1000), CharTokenizer(), cache_dir=tmp_path, batch_size=2, bptt=10, specials=(), contiguous=False
        )
        window.trainer = dm.trainer
        window.setup()
        ds = window.train_dataloader().dataset
        assert (ds.start, ds.stop, ds.rank) == (rank * 500, (rank + 1) * 500, rank)
    assert seen[0] == seen[1]  # the same number of batches on every rank


def test_bad_arguments_and_too_little_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bptt"):
        LanguageModelingDataModule(corpus_of(), bptt=0)
    with pytest.raises(ValueError, match="corpus must be a TextCorpus"):
        LanguageModelingDataModule("ptb")
    with pytest.raises(ValueError, match="tokenizer must be a Tokenizer"):
        LanguageModelingDataModule(corpus_of(), tokenizer="char")
    dm = LanguageModelingDataModule(StringCorpus("abc", "ab"), cache_dir=tmp_path, batch_size=4)
    dm.setup()
    with pytest.raises(ValueError, match="too few for batch_size=4"):
        dm.train_dataloader()


# ---------------------------------------------------------------- Lightning


class _TinyLM(L.LightningModule):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab_size, 8)
        self.out = torch.nn.Linear(8, vocab_size)
        self.shapes: list[tuple[int, ...]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.shapes.append(tuple(x.shape))
        return torch.nn.functional.cross_entropy(self.out(self.emb(x)).flatten(0, 1), y.flatten())

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.cross_entropy(self.out(self.emb(x)).flatten(0, 1), y.flatten()))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_fit_with_the_datamodule(tmp_path: Path) -> None:
    dm = LanguageModelingDataModule(corpus_of(2000), CharTokenizer(), cache_dir=tmp_path, batch_size=4, bptt=8)
    dm.prepare_data()
    dm.setup("fit")
    model = _TinyLM(dm.vocab_size)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=5,
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(model, datamodule=dm)
    assert model.shapes == [(4, 8)] * 5
    assert "val/loss" in trainer.callback_metrics


def test_benchmark_measures_a_small_corpus(tmp_path: Path) -> None:
    from seqmodels.bench.data import bench_lm

    r = bench_lm(
        "toy",
        lambda: corpus_of(5000),
        CharTokenizer(),
        4,
        16,
        {"emb": 8, "hidden": 8, "layers": 1},
        cache_root=tmp_path,
        repeat=1,
    )
    assert r["train_tokens"] == 5000 and r["vocab_size"] == 12
    assert r["prepare_warm_s"] < r["prepare_cold_s"] + 1.0
    for key in (
        "tokenize_tokens_per_s",
        "iterate_contiguous_tokens_per_s",
        "iterate_windows_tokens_per_s",
        "train_tokens_per_s",
        "ratio",
    ):
        assert r[key] > 0, key
