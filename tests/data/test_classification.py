"""ClassificationDataModule: padding collate (Hypothesis), length bucketing, held-out validation,
truncation, real-valued series, real SST-2 / JapaneseVowels files, the distributed-sampler path."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from seqmodels.data import (
    SST2,
    BPETokenizer,
    BucketBatchSampler,
    ClassificationDataModule,
    ExampleCorpus,
    PadCollate,
    UEATimeSeries,
    WordTokenizer,
)

# ---------------------------------------------------------------- collate


@settings(deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=12), st.integers(0, 5))
def test_pad_collate_token_sequences(lengths: list[int], pad: int) -> None:
    rng = np.random.default_rng(len(lengths))
    seqs = [rng.integers(6, 50, size=n).astype(np.int32) for n in lengths]
    labels = rng.integers(0, 3, size=len(lengths)).tolist()
    inputs, out_lengths, out_labels = PadCollate(pad)(list(zip(seqs, labels)))
    assert inputs.dtype == torch.long and inputs.shape == (len(lengths), max(lengths))
    assert out_lengths.tolist() == lengths and out_labels.tolist() == labels and out_labels.dtype == torch.long
    for b, s in enumerate(seqs):
        assert inputs[b, : len(s)].tolist() == s.tolist()
        assert (inputs[b, len(s) :] == pad).all()


@settings(deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=8), st.integers(1, 4))
def test_pad_collate_real_valued_and_regression(lengths: list[int], features: int) -> None:
    rng = np.random.default_rng(sum(lengths))
    seqs = [rng.standard_normal((n, features)).astype(np.float32) for n in lengths]
    targets = rng.random(len(lengths)).tolist()
    inputs, out_lengths, out_targets = PadCollate()(list(zip(seqs, targets)))
    assert inputs.shape == (len(lengths), max(lengths), features) and inputs.dtype == torch.float32
    assert out_targets.dtype == torch.float32 and torch.allclose(out_targets, torch.tensor(targets))
    for b, s in enumerate(seqs):
        assert torch.equal(inputs[b, : len(s)], torch.from_numpy(s))
        assert (inputs[b, len(s) :] == 0).all()
    assert out_lengths.tolist() == lengths


def test_pad_collate_errors() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        PadCollate()([])
    with pytest.raises(ValueError, match="at least one step"):
        PadCollate()([(np.zeros(0, np.int32), 0)])
    with pytest.raises(ValueError, match=r"must all be \(T, 2\)"):
        PadCollate()([(np.zeros((2, 2), np.float32), 0), (np.zeros((2, 3), np.float32), 1)])


# ---------------------------------------------------------------- bucketing


@settings(deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=200), st.integers(1, 9), st.integers(1, 4))
def test_bucket_sampler_covers_every_index_once(lengths: list[int], batch_size: int, pool: int) -> None:
    sampler = BucketBatchSampler(
        RandomSampler(range(len(lengths)), generator=torch.Generator().manual_seed(0)),
        batch_size,
        False,
        lengths,
        pool_factor=pool,
        seed=1,
    )
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert len(batches) == len(sampler) == -(-len(lengths) // batch_size)
    assert sum(len(b) < batch_size for b in batches) <= 1


def test_bucket_sampler_reduces_padding_and_is_deterministic() -> None:
    lengths = np.random.default_rng(0).integers(1, 400, size=2000).tolist()

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    def bucket():
        return BucketBatchSampler(
            RandomSampler(range(2000), generator=torch.Generator().manual_seed(0)),
            32,
            False,
            lengths,
            pool_factor=20,
            seed=3,
        )

    plain = list(BatchSampler(RandomSampler(range(2000), generator=torch.Generator().manual_seed(0)), 32, False))
    a, b = bucket(), bucket()
    epoch0 = list(a)
    assert padding(epoch0) < padding(plain) / 5
    assert epoch0 == list(b)  # same seed, same batches
    assert list(a) != epoch0  # the next epoch differs
    eval_order = list(BucketBatchSampler(SequentialSampler(range(2000)), 32, True, lengths, shuffle=False))
    assert all(len(batch) == 32 for batch in eval_order) and len(eval_order) == 2000 // 32


def test_bucket_sampler_under_a_distributed_sampler() -> None:
    """What Lightning does under DDP: re-create the batch sampler around a DistributedSampler."""
    from lightning.fabric.utilities.data import _replace_dunder_methods, _update_dataloader

    corpus = ExampleCorpus([(f"w{i % 7} " * (1 + i % 13), i % 2) for i in range(101)], ["a", "b"])
    dm = ClassificationDataModule(corpus, WordTokenizer(), batch_size=4, bucket=True, val_fraction=0.2)
    dm.setup()
    seen = []
    for rank in range(2):
        with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
            loader = dm.train_dataloader()
        dist = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, shuffle=True, seed=0)
        updated = _update_dataloader(loader, dist)
        assert isinstance(updated.batch_sampler, BucketBatchSampler) and updated.batch_sampler.sampler is dist
        indices = [i for b in updated.batch_sampler for i in b]
        assert len(indices) == 41  # ceil(81 / 2)
        seen.append(set(indices))
        x, lengths, y = next(iter(updated))
        assert x.shape[0] == len(lengths) == len(y)
    assert seen[0] | seen[1] == set(range(81))


# ---------------------------------------------------------------- the DataModule on small corpora


def _reviews(n: int = 60) -> list[tuple[str, int]]:
    good = ["great", "fine", "superb", "lovely"]
    bad = ["awful", "dull", "poor", "boring"]
    return [(" ".join([(good if i % 2 else bad)[j % 4] for j in range(1 + i % 9)]) + " film", i % 2) for i in range(n)]


def test_held_out_validation_split_is_deterministic_and_disjoint() -> None:
    corpus = ExampleCorpus(_reviews(), ["neg", "pos"], name="reviews")
    dm = ClassificationDataModule(corpus, WordTokenizer(), val_fraction=0.25, seed=3)
    dm.setup()
    assert (len(dm.datasets["train"]), len(dm.datasets["valid"])) == (45, 15)
    same = ClassificationDataModule(corpus, WordTokenizer(), val_fraction=0.25, seed=3)
    same.setup()
    assert [s.tolist() for s in same.datasets["valid"].sequences] == [
        s.tolist() for s in dm.datasets["valid"].sequences
    ]
    other = ClassificationDataModule(corpus, WordTokenizer(), val_fraction=0.25, seed=4)
    other.setup()
    assert other.datasets["valid"].labels != dm.datasets["valid"].labels or [
        s.tolist() for s in other.datasets["valid"].sequences
    ] != [s.tolist() for s in dm.datasets["valid"].sequences]
    assert dm.label_names == ("neg", "pos") and dm.num_classes == 2
    assert dm.vocab.itos[:2] == ["<pad>", "<unk>"] and dm.pad_index == 0
    with pytest.raises(ValueError, match="has no 'test' split"):
        dm.test_dataloader()


def test_batches_and_encoding() -> None:
    corpus = ExampleCorpus(_reviews(), ["neg", "pos"], valid=[("great unknownword", 1), ("", 0)], test=[("dull", 0)])
    dm = ClassificationDataModule(corpus, WordTokenizer(), batch_size=8, seed=0)
    dm.setup()
    x, lengths, y = next(iter(dm.val_dataloader()))
    assert x.tolist() == [[dm.vocab.stoi["great"], dm.vocab.unk_index], [dm.vocab.unk_index, dm.pad_index]]
    assert lengths.tolist() == [2, 1] and y.tolist() == [1, 0]  # the empty text became one <unk>
    assert dm.encoder.decode(x[0, : lengths[0]]) == "great <unk>"
    train = list(dm.train_dataloader())
    assert sum(len(b[2]) for b in train) == 60 and train[0][0].shape[0] == 8
    again = ClassificationDataModule(corpus, WordTokenizer(), batch_size=8, seed=0)
    again.setup()
    assert all(torch.equal(a[0], b[0]) for a, b in zip(train, again.train_dataloader()))  # seeded shuffle


def test_max_length_truncates_or_drops_training_examples() -> None:
    corpus = ExampleCorpus([("a b c d e f", 0), ("a b", 1), ("c d e f g", 0)], ["x", "y"], valid=[("a b c d e f g", 1)])
    cut = ClassificationDataModule(corpus, WordTokenizer(), max_length=3)
    cut.setup()
    assert cut.datasets["train"].lengths() == [3, 2, 3] and cut.datasets["valid"].lengths() == [3]
    drop = ClassificationDataModule(corpus, WordTokenizer(), max_length=3, truncate="drop")
    drop.setup()
    assert drop.datasets["train"].lengths() == [2] and drop.skipped_long == 2
    assert drop.datasets["valid"].lengths() == [3]  # evaluation examples are kept (truncated)


def test_given_encoder_and_bpe() -> None:
    corpus = ExampleCorpus(_reviews(), ["neg", "pos"], valid=[("superb film", 1)])
    bpe = ClassificationDataModule(corpus, BPETokenizer(vocab_size=280), batch_size=4)
    bpe.setup()
    assert bpe.vocab_size == 2 + 280
    assert bpe.encoder.decode(bpe.datasets["valid"].sequences[0].tolist()) == "superb film"
    reuse = ClassificationDataModule(corpus, encoder=bpe.encoder.to_dict())
    reuse.setup()
    assert reuse.encoder == bpe.encoder
    assert reuse.datasets["valid"].sequences[0].tolist() == bpe.datasets["valid"].sequences[0].tolist()


def test_bad_setups() -> None:
    corpus = ExampleCorpus(_reviews(), ["neg", "pos"])
    with pytest.raises(ValueError, match="pass a tokenizer"):
        ClassificationDataModule(corpus).setup()
    series = ExampleCorpus([(np.zeros((3, 2), np.float32), 0)] * 4, ["a"])
    with pytest.raises(ValueError, match="tokenizer must be None"):
        ClassificationDataModule(series, WordTokenizer()).setup()
    with pytest.raises(ValueError, match="max_length"):
        ClassificationDataModule(corpus, WordTokenizer(), max_length=0)
    with pytest.raises(ValueError, match="val_fraction"):
        ClassificationDataModule(corpus, WordTokenizer(), val_fraction=1.5)
    with pytest.raises(ValueError, match="corpus must be a ClassificationCorpus"):
        ClassificationDataModule([("a", 0)])


# ---------------------------------------------------------------- real files


def test_sst2_datamodule(data_dir: Path) -> None:
    dm = ClassificationDataModule(SST2(data_dir / "sst2", variant="glue"), WordTokenizer(), batch_size=64, bucket=True)
    dm.setup()
    assert (len(dm.datasets["train"]), len(dm.datasets["valid"])) == (67_349, 872)
    assert dm.label_names == ("negative", "positive")
    assert dm.vocab_size == 2 + 14_816  # every distinct train token, plus <pad> and <unk>
    x, lengths, y = next(iter(dm.val_dataloader()))
    assert x.shape[0] == 64 and int(lengths.max()) == x.shape[1]
    assert set(y.tolist()) <= {0, 1}


def test_japanese_vowels_datamodule(data_dir: Path) -> None:
    dm = ClassificationDataModule(UEATimeSeries(data_dir / "uea_ts"), batch_size=16, normalize=True, val_fraction=0.1)
    dm.setup()
    assert dm.input_size == 12 and dm.num_classes == 9 and dm.vocab is None and dm.vocab_size is None
    assert [len(dm.datasets[s]) for s in ("train", "valid", "test")] == [243, 27, 370]
    stacked = np.concatenate(dm.datasets["train"].sequences)
    np.testing.assert_allclose(stacked.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(stacked.std(0), 1, atol=1e-3)
    x, lengths, y = next(iter(dm.test_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (16, int(lengths.max()), 12) and y.dtype == torch.long
    assert 7 <= int(lengths.min()) and int(lengths.max()) <= 29


# ---------------------------------------------------------------- Lightning


class _BagOfWords(L.LightningModule):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(vocab_size, 4)
        self.out = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, lengths, y = batch
        return torch.nn.functional.cross_entropy(self.out(self.emb(x)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_fit_with_bucketing() -> None:
    dm = ClassificationDataModule(ExampleCorpus(_reviews(), ["neg", "pos"]), WordTokenizer(), batch_size=8, bucket=True)
    dm.setup()
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        limit_val_batches=0,
    )
    trainer.fit(_BagOfWords(dm.vocab_size), datamodule=dm)
    assert trainer.global_step == 2 * 7  # 54 training examples in batches of 8, twice


def _subset_module(train_examples, seed=3):
    labels = [0] * 60 + [1] * 30 + [2] * 10
    train = [(f"text{i} word{i % 7}", y) for i, y in enumerate(labels)]
    corpus = ExampleCorpus(train, ["a", "b", "c"], valid=[("text0 word0", 0)], test=[("text1", 1)])
    data = ClassificationDataModule(corpus, WordTokenizer(), train_examples=train_examples, seed=seed)
    data.setup()
    return data, train


def test_train_examples_keeps_a_seeded_stratified_subset_and_builds_the_vocabulary_from_it():
    data, train = _subset_module(20)
    kept = list(zip(data.datasets["train"].sequences, data.datasets["train"].labels))
    texts = [data.encoder.decode(ids.tolist()) for ids, _ in kept]
    assert len(kept) == 20
    counts = {c: sum(1 for _, y in kept if y == c) for c in (0, 1, 2)}
    assert counts == {0: 12, 1: 6, 2: 2}  # 60/30/10 of 100, scaled to 20
    assert all(text in {t for t, _ in train} for text in texts)  # drawn from train, texts whole
    kept_words = {w for text in texts for w in text.split()}
    dropped_only = {w for t, _ in train for w in t.split()} - kept_words
    assert dropped_only and not any(w in data.vocab.stoi for w in dropped_only)  # vocabulary of the kept ones
    again, _ = _subset_module(20)
    other, _ = _subset_module(20, seed=4)
    assert [s.tolist() for s in again.datasets["train"].sequences] == [s.tolist() for s, _ in kept]
    assert [again.encoder.decode(s.tolist()) for s in other.datasets["train"].sequences] != texts


def test_train_examples_beyond_the_train_split_is_refused_by_name():
    with pytest.raises(ValueError, match=r"train_examples=101 but the train split has 100 examples"):
        _subset_module(101)
    with pytest.raises(ValueError, match="train_examples must be None or a positive integer, got 0"):
        _subset_module(0)


def test_a_batch_of_items_is_fetched_in_one_call():
    """The DataLoader fetches a batch through ``__getitems__``: the items of the indices, in their order, as
    one ``__getitem__`` each would give them (and the dataset's arrays themselves, not copies)."""
    from seqmodels.data.batching import SequenceDataset

    sequences = [np.arange(n) for n in (3, 1, 4, 2)]
    dataset = SequenceDataset(sequences, ["a", "b", "c", "d"])
    items = dataset.__getitems__([2, 0, 2])
    assert [label for _, label in items] == ["c", "a", "c"]
    assert all(got is dataset[i][0] for (got, _), i in zip(items, [2, 0, 2]))

    class OnlyBatched(SequenceDataset):
        def __getitem__(self, i):
            raise AssertionError("fetched one item at a time")

    loader = DataLoader(OnlyBatched(sequences, ["a", "b", "c", "d"]), batch_size=2, collate_fn=list)
    assert [[label for _, label in batch] for batch in loader] == [["a", "b"], ["c", "d"]]
