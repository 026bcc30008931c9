"""Sequence tagging: CoNLL reader (file:line errors, real CoNLL-2000 counts), chunk F1 vs seqeval,
the data module, RNNTagger (padding never leaks), TaggingTask (padding-aware loss), and both
experiments end to end through train(cfg) and evaluate(cfg)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.data import CoNLL2000, ConllCorpus, TaggingDataModule, read_conll
from seqmodels.data.tagging import IGNORE_INDEX, TagCollate
from seqmodels.models import RNNTagger
from seqmodels.tasks import TaggingTask
from seqmodels.tasks.spans import SpanF1, prf, span_counts, spans

SAMPLE = """Confidence NN B-NP
in IN B-PP
the DT B-NP
pound NN I-NP

-DOCSTART- -X- O

He PRP B-NP
reckons VBZ B-VP
"""


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ reader
def test_read_conll_sentences_rows_and_line_numbers(tmp_path):
    path = write(tmp_path / "x.txt.gz", SAMPLE)
    sentences = read_conll(path)
    assert [s.line for s in sentences] == [1, 8]  # the -DOCSTART- line and its blank are skipped
    assert sentences[0].column(0) == ("Confidence", "in", "the", "pound")
    assert sentences[0].column(-1) == ("B-NP", "B-PP", "B-NP", "I-NP")
    assert sentences[1].rows == (("He", "PRP", "B-NP"), ("reckons", "VBZ", "B-VP"))  # no final blank line needed


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.txt", "a DT B-NP\nb NN I-NP\n\nc NN\n")
    with pytest.raises(ValueError, match=rf"^{path}:4: expected 3 columns \(as line 1, the first row\).*got 2: 'c NN'"):
        read_conll(path)
    with pytest.raises(ValueError, match=rf"^{path}:1: expected 4 columns \(as num_columns\)"):
        read_conll(path, num_columns=4)


def test_corpus_errors_name_what_is_wrong(tmp_path):
    write(tmp_path / "train.txt", "a DT B-NP\n")
    with pytest.raises(ValueError, match=r"train\.txt:1: tag_column=5 is out of range for rows of 3 columns"):
        ConllCorpus(tmp_path, {"train": "train.txt"}, tag_column=5).sentences("train")
    with pytest.raises(FileNotFoundError, match=r"conll2000.*test\.txt\.gz not found.*clips\.uantwerpen"):
        CoNLL2000(tmp_path).sentences("test")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        CoNLL2000(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="tag_column must be 1 \\(POS\\) or 2 \\(chunk\\)"):
        CoNLL2000(tmp_path, tag_column=0)
    with pytest.raises(ValueError, match="split 'dev' is not one of"):
        ConllCorpus(tmp_path, {"train": "train.txt"}).sentences("dev")


def test_conll2000_matches_its_published_statistics(data_dir):
    corpus = CoNLL2000(data_dir / "conll2000")
    train, test = corpus.sentences("train"), corpus.sentences("test")
    assert (len(train), len(test)) == (8936, 2012)
    assert (sum(len(w) for w, _ in train), sum(len(w) for w, _ in test)) == (211727, 47377)
    assert sum(t.startswith("B-") for _, tags in train for t in tags) == 106978
    pos = CoNLL2000(data_dir / "conll2000", tag_column=1).sentences("train")
    assert len({t for _, tags in pos for t in tags}) == 44
    assert train[0][0][:2] == ("Confidence", "in") and pos[0][1][:2] == ("NN", "IN")


# ------------------------------------------------------------------------------ chunk F1
def test_spans_of_iob2_and_iobes():
    assert spans(["B-NP", "I-NP", "O", "B-VP", "B-NP"]) == [("NP", 0, 1), ("VP", 3, 3), ("NP", 4, 4)]
    assert spans(["I-NP", "I-NP", "I-VP", "O", "I-PP"]) == [("NP", 0, 1), ("VP", 2, 2), ("PP", 4, 4)]
    assert spans(["S-PER", "B-LOC", "E-LOC", "O"]) == [("PER", 0, 0), ("LOC", 1, 2)]
    assert spans(["O", "O"]) == [] and spans([]) == []


TAGS = st.sampled_from(["O", "B-NP", "I-NP", "B-VP", "I-VP", "E-NP", "S-PP", "I-PP"])


@settings(deadline=None, max_examples=200)
@given(st.lists(st.lists(st.tuples(TAGS, TAGS), min_size=1, max_size=12), min_size=1, max_size=6))
def test_span_scores_equal_seqeval(pairs):
    seqeval = pytest.importorskip("seqeval.metrics", reason="seqeval (pip install 'seqmodels[test]') is the oracle")
    gold = [[g for g, _ in sentence] for sentence in pairs]
    pred = [[p for _, p in sentence] for sentence in pairs]
    precision, recall, f1 = prf(*span_counts(pred, gold))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when a score is undefined (no chunks); we say 0
        expected = (seqeval.precision_score(gold, pred), seqeval.recall_score(gold, pred), seqeval.f1_score(gold, pred))
    assert (precision, recall, f1) == pytest.approx(expected, abs=1e-12)


def test_span_metric_accumulates_like_one_call():
    gold = [["B-NP", "I-NP", "O"], ["B-VP", "B-NP"], ["O"]]
    pred = [["B-NP", "I-NP", "O"], ["B-VP", "I-VP"], ["B-NP"]]
    metric = SpanF1()
    for p, g in zip(pred, gold):
        metric.update([p], [g])
    correct, n_pred, n_gold = span_counts(pred, gold)
    assert (correct, n_pred, n_gold) == (1, 3, 3)  # NP(0,1); VP(0,1) != VP(0,0); NP(0,0) is not gold
    assert prf(1, 3, 3) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert metric.compute().tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    with pytest.raises(ValueError, match="sentence 0: 2 predicted tags but 3 gold tags"):
        span_counts([["O", "O"]], [["O", "O", "O"]])


# ------------------------------------------------------------------------------ data module
def test_collate_pads_tags_with_ignore_index():
    inputs, lengths, tags = TagCollate(0)([([5, 6, 7], [1, 2, 3]), ([8], [4])])
    assert inputs.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    assert tags.tolist() == [[1, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    # feature channels: each padded with its own <pad>, every sentence's rows kept in order
    words = [np.array([[5, 2], [6, 3]]), np.array([[7, 4]]), np.array([[8, 5], [9, 6], [1, 2]])]
    inputs, lengths, tags = TagCollate([0, 9])([(w, list(range(len(w)))) for w in words])
    assert lengths.tolist() == [2, 1, 3] and inputs.shape == (3, 3, 2)
    assert inputs.tolist() == [[[5, 2], [6, 3], [0, 9]], [[7, 4], [0, 9], [0, 9]], [[8, 5], [9, 6], [1, 2]]]


@pytest.mark.parametrize(
    "batch, message",
    [
        ([([5, 6], [1, 2]), ([7, 8], [3])], "sentence 1 of the batch has 2 words but 1 tags"),
        ([([5], [1]), ([], [])], "at least one token"),
        ([], "empty batch"),
    ],
)
def test_collate_names_a_bad_sentence(batch, message):
    with pytest.raises(ValueError, match=message):
        TagCollate(0)(batch)


def tiny_corpus(tmp_path: Path) -> ConllCorpus:
    train = "".join(f"w{i} X B-NP\nv{i % 3} Y I-NP\nz Z O\n\n" for i in range(40))
    write(tmp_path / "train.txt", train)
    write(tmp_path / "test.txt", "w1 X B-NP\nunseen Y I-LST\n\n")
    return ConllCorpus(tmp_path, {"train": "train.txt", "test": "test.txt"})


def test_data_module_holds_out_validation_and_builds_inventories(tmp_path):
    corpus = tiny_corpus(tmp_path)
    dm = TaggingDataModule(corpus, batch_size=4, val_fraction=0.25, seed=1)
    dm.setup("fit")
    other = TaggingDataModule(corpus, batch_size=4, val_fraction=0.25, seed=2)
    other.setup("fit")
    assert len(dm.datasets["valid"]) == 10 and len(dm.datasets["train"]) == 30
    # the held-out sentences depend on val_seed only, not on the shuffling seed
    assert [s.tolist() for s in dm.datasets["valid"].sequences] == [
        s.tolist() for s in other.datasets["valid"].sequences
    ]
    # tags: train by frequency then test-only ones; words from the (reduced) train split only
    assert dm.label_names == ("B-NP", "I-NP", "O", "I-LST") and dm.num_classes == 4
    held = {dm.vocab.itos[s[0]] for s in dm.datasets["valid"].sequences}
    assert held == {"<unk>"}, "a held-out word unique to its sentence must not be in the vocabulary"
    assert dm.vocab_size == len(dm.encoder.vocab) and dm.pad_index == 0
    batch = next(iter(dm.test_dataloader()))
    assert batch[2].tolist() == [[0, 3]] and batch[0][0, 1].item() == dm.vocab.unk_index
    with pytest.raises(ValueError, match=r"tags \['I-LST'\] are not in label_names"):
        TaggingDataModule(corpus, label_names=["B-NP", "I-NP", "O"]).setup()


def test_singletons_become_unk_at_the_given_rate_in_training_only(tmp_path):
    corpus = tiny_corpus(tmp_path)
    dm = TaggingDataModule(corpus, batch_size=40, val_fraction=0.25, unk_replace=0.5, bucket=False)
    dm.setup("fit")
    singles = {dm.vocab.itos[i] for i in np.flatnonzero(dm.singletons)}
    assert singles == {w for w in dm.vocab.itos if w.startswith("w")} and len(singles) == 30  # w<i>: once each
    stored = [s.copy() for s in dm.datasets["train"].sequences]
    replaced = kept = 0
    loader = dm.train_dataloader()
    for _ in range(20):  # 20 epochs of the one batch of 30 sentences
        inputs, _, _ = next(iter(loader))
        for row in inputs.tolist():
            replaced += row[0] == dm.vocab.unk_index
            kept += row[0] != dm.vocab.unk_index
            assert dm.vocab.unk_index not in row[1:3]  # v0..v2 and z are frequent: never replaced
    assert 0.4 < replaced / (replaced + kept) < 0.6
    assert all(np.array_equal(a, b) for a, b in zip(stored, dm.datasets["train"].sequences))  # the data stays as read
    val_inputs = next(iter(dm.val_dataloader()))[0]
    assert val_inputs[:, 1:3].ne(dm.vocab.unk_index).all()
    with pytest.raises(ValueError, match=r"unk_replace must be a probability in \[0, 1\], got 2"):
        TaggingDataModule(corpus, unk_replace=2)


# ------------------------------------------------------------------------------ model and task
def test_feature_columns_reach_the_batch_as_extra_channels(tmp_path):
    corpus = ConllCorpus(tiny_corpus(tmp_path).root, {"train": "train.txt", "test": "test.txt"}, feature_columns=[1])
    assert corpus.features("test") == [(("X", "Y"),)] and corpus.sentences("test")[0][0] == ("w1", "unseen")
    dm = TaggingDataModule(corpus, batch_size=40, val_fraction=0.25, unk_replace=1.0, bucket=False)
    dm.setup("fit")
    (pos,) = dm.feature_vocabs
    assert (
        pos.itos[:2] == ["<pad>", "<unk>"] and sorted(pos.itos[2:]) == ["X", "Y", "Z"] and dm.feature_vocab_sizes == [5]
    )
    inputs, lengths, tags = next(iter(dm.train_dataloader()))
    assert inputs.shape == (30, 3, 2) and lengths.tolist() == [3] * 30
    # channel 1 is the POS column, aligned with the words; unk_replace touches the words only
    assert [pos.itos[i] for i in inputs[0, :, 1].tolist()] == ["X", "Y", "Z"]
    assert (inputs[:, 0, 0] == dm.vocab.unk_index).all(), "w<i> occur once: with rate 1 every one is replaced"
    assert not (inputs[..., 1] == pos.unk_index).any()
    held_out = [dm.vocab.itos[s[0, 0]] for s in dm.datasets["valid"].sequences]
    assert held_out == ["<unk>"] * 10
    # given vocabularies (a checkpoint's) are used as they are, even where the data would build others
    given = TaggingDataModule(
        corpus, batch_size=40, val_fraction=0.25, bucket=False, feature_vocabs=[["<pad>", "<unk>", "Y", "X"]]
    )
    given.setup("fit")
    assert given.feature_vocabs[0].itos == ["<pad>", "<unk>", "Y", "X"]
    assert given.datasets["test"].sequences[0][:, 1].tolist() == [3, 2]  # X, Y
    assert given.datasets["train"].sequences[0][2, 1] == 1, "Z is not in the given vocabulary: <unk>"
    with pytest.raises(
        ValueError, match=r"feature_vocabs has 2 vocabularies but the corpus has 1 feature_columns \[1\]"
    ):
        TaggingDataModule(corpus, feature_vocabs=[["<pad>"], ["<pad>"]]).setup()
    with pytest.raises(
        ValueError, match=r"feature_vocabs has 1 vocabularies but the corpus has 0 feature_columns \[\]"
    ):
        TaggingDataModule(tiny_corpus(tmp_path), feature_vocabs=[["<pad>"]]).setup()
    with pytest.raises(ValueError, match=r"feature_vocabs must be a list of token lists"):
        TaggingDataModule(corpus, feature_vocabs=["X", "Y"])
    no_pad = TaggingDataModule(corpus, batch_size=40, val_fraction=0.25, feature_vocabs=[["<unk>", "X", "Y"]])
    with pytest.raises(ValueError, match=r"feature column 1's vocabulary has no <pad>: add it to feature_vocabs"):
        no_pad.train_dataloader()
    # padding: each channel with its own <pad>; sentences of different lengths in one test batch
    batch = TagCollate([0, 0])([(np.array([[5, 2], [6, 3]]), [1, 2]), (np.array([[7, 4]]), [3])])[0]
    assert batch.tolist() == [[[5, 2], [6, 3]], [[7, 4], [0, 0]]]


def test_feature_columns_are_checked(tmp_path):
    root = tiny_corpus(tmp_path).root
    with pytest.raises(ValueError, match=r"feature_columns \[2\] include the tag_column 2"):
        ConllCorpus(root, {"train": "train.txt"}, tag_column=2, feature_columns=[2])
    with pytest.raises(ValueError, match=r"feature_columns must be a list of integer"):
        ConllCorpus(root, {"train": "train.txt"}, feature_columns="1")
    with pytest.raises(
        ValueError, match=r"train\.txt:1: feature_columns \[2\] name the tag_column -1 \(rows of 3 columns\)"
    ):
        ConllCorpus(root, {"train": "train.txt"}, tag_column=-1, feature_columns=[2]).features("train")
    assert ConllCorpus(root, {"train": "train.txt"}, feature_columns=None).feature_columns == ()
    with pytest.raises(
        ValueError, match=r"train\.txt:1: feature_columns entry 7 is out of range for rows of 3 columns"
    ):
        ConllCorpus(root, {"train": "train.txt"}, feature_columns=[7]).features("train")


def test_tagger_with_features_embeds_each_channel():
    torch.manual_seed(0)
    model = RNNTagger(
        3, LSTMCell, vocab_size=10, embedding_dim=4, hidden_size=5, feature_vocab_sizes=[6, 4], feature_embedding_dim=2
    )
    assert model.rnn.input_size == 4 + 2 * 2
    inputs = torch.stack(
        [torch.randint(2, 10, (2, 5)), torch.randint(2, 6, (2, 5)), torch.randint(2, 4, (2, 5))], dim=-1
    )
    logits, _ = model(inputs, torch.tensor([5, 3]))
    assert logits.shape == (2, 5, 3)
    changed = inputs.clone()
    changed[0, 2, 1] = 1 if inputs[0, 2, 1] != 1 else 2  # another POS tag for one token
    assert not torch.allclose(model(changed)[0][0], model(inputs)[0][0]), "the feature must reach the output"
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, seq, 3\).*got \(2, 5\)"):
        model(inputs[..., 0])
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, seq, 1\)"):
        RNNTagger(3, LSTMCell, vocab_size=10, hidden_size=5)(inputs)
    with pytest.raises(ValueError, match=r"inputs must be a LongTensor.*got list"):
        model([[1, 2]])
    with pytest.raises(ValueError, match=r"feature_vocab_sizes\[1\] must be a positive integer"):
        RNNTagger(3, LSTMCell, vocab_size=10, hidden_size=5, feature_vocab_sizes=[6, 0])
    assert model.feature_embeddings[0].weight[0].abs().sum() == 0, "row 0 is the feature's <pad>"


def test_tagger_padding_never_changes_real_steps():
    torch.manual_seed(0)
    model = (
        RNNTagger(5, GRUCell, vocab_size=20, embedding_dim=6, hidden_size=7, num_layers=2, padding_idx=0)
        .double()
        .eval()
    )
    inputs = torch.randint(1, 20, (3, 6))
    lengths = torch.tensor([6, 4, 2])
    logits, _ = model(inputs, lengths)
    assert logits.shape == (3, 6, 5)
    noisy = inputs.clone()
    noisy[1, 4:], noisy[2, 2:] = 7, 13  # other tokens in the padding
    logits2, _ = model(noisy, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, _ = model(inputs[b : b + 1, :n])
        assert torch.allclose(logits[b, :n], alone[0], atol=1e-12)
        assert torch.equal(logits[b, :n], logits2[b, :n])
    with pytest.raises(ValueError, match="padding_idx must be an index in \\[0, 20\\)"):
        RNNTagger(5, GRUCell, vocab_size=20, padding_idx=20)


def test_task_loss_is_the_mean_over_real_tokens():
    torch.manual_seed(0)
    model = RNNTagger(3, LSTMCell, vocab_size=10, hidden_size=4)
    task = TaggingTask(model, torch.optim.Adam, label_names=["B-NP", "I-NP", "O"])
    logits = torch.randn(2, 4, 3)
    tags = torch.tensor([[0, 1, 2, 1], [2, 0, IGNORE_INDEX, IGNORE_INDEX]])
    manual = -torch.cat(
        [logits[0].log_softmax(-1)[range(4), tags[0]], logits[1, :2].log_softmax(-1)[range(2), tags[1, :2]]]
    ).mean()
    assert torch.allclose(task.loss(logits, tags), manual)
    with pytest.raises(ValueError, match="span_f1=True needs label_names"):
        TaggingTask(model, torch.optim.Adam)
    with pytest.raises(ValueError, match="num_classes=4 but the model has 3 outputs"):
        TaggingTask(model, torch.optim.Adam, num_classes=4, span_f1=False)


def test_tagger_learns_a_context_dependent_tagging():
    """Tag = the previous token's parity: only the recurrence can see it. Learned to 100 %."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest and least disturbed by other processes
    try:
        _learn_previous_parity()
    finally:
        torch.set_num_threads(threads)


def _learn_previous_parity() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 12, (256, 8), generator=g)
    tags = torch.cat([torch.zeros(256, 1, dtype=torch.long), tokens[:, :-1] % 2 + 1], dim=1)
    model = RNNTagger(3, GRUCell, vocab_size=12, embedding_dim=8, hidden_size=16, bidirectional=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(100):
        batch = slice((step % 8) * 32, (step % 8 + 1) * 32)
        loss = TaggingTask.loss(model(tokens[batch])[0], tags[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    accuracy = (model(tokens)[0].argmax(-1) == tags).float().mean().item()
    assert accuracy == 1.0, accuracy


# ------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["conll2000_chunk_bilstm", "conll2000_chunk_bilstm_pos"])
def test_chunking_trains_tests_and_evaluates_from_its_checkpoint(experiment, tmp_path):
    """(test_train.py runs conll2000_pos_bilstm, like every experiment, with debug=fast too.)"""
    from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint, load_model
    from seqmodels.commands.evaluate import evaluate
    from seqmodels.commands.train import train
    from tests.helpers.configs import QUIET, compose_config, missing_data, shrink

    cfg = shrink(compose_config([*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv"], tmp_path / "run"))
    if missing_data(cfg):
        pytest.skip(missing_data(cfg))
    result = train(cfg)
    metrics = result["metrics"]
    assert 0.0 <= metrics["test/acc"] <= 1.0 and math.isfinite(metrics["test/loss"])
    assert 0.0 <= metrics["test/f1"] <= 1.0 and 0.0 <= metrics["val/f1"] <= 1.0
    stored = load_checkpoint(result["last_model_path"])
    assert stored[CHECKPOINT_KEY]["encoder"]["tokenizer"]["type"] == "word"
    names = stored["hyper_parameters"]["label_names"]
    assert len(names) == 23 and names[:3] == ["I-NP", "B-NP", "O"]  # train counts 63,307 / 55,081 / 27,902
    model, encoder, _ = load_model(result["last_model_path"])
    assert isinstance(model, RNNTagger) and model.num_classes == len(names) and len(encoder.vocab) == model.vocab_size
    # with the POS column as input: 44 tags + <pad>, <unk>, stored in the checkpoint (evaluation reuses them)
    assert [e.num_embeddings for e in model.feature_embeddings] == ([46] if experiment.endswith("_pos") else [])
    features = stored["hyper_parameters"].get("feature_vocabs")
    assert (
        features is not None and [len(v) for v in features] == [46] and features[0][:2] == ["<pad>", "<unk>"]
    ) == experiment.endswith("_pos")

    eval_cfg = compose_config(
        [f"ckpt_path={result['last_model_path']}", "trainer.limit_test_batches=2", "trainer.enable_progress_bar=false"],
        tmp_path / "eval",
        config_name="eval",
    )
    again = evaluate(eval_cfg)
    assert again["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)
    assert again["test/acc"] == pytest.approx(metrics["test/acc"], rel=1e-5)
