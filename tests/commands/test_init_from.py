"""model.init_from / pretrained_embeddings / freeze_embeddings: applied after the network is built, read from
checkpoints written by hand (the oracle is the file's own state_dict, read with torch.load), refused with
errors that name the key, left out when a stored config is rebuilt; one run end to end through the CLI."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint, load_model
from seqmodels.checkpoints.loading import MODEL_INIT_KEYS
from seqmodels.commands.app import report
from seqmodels.commands.instantiate import build_model
from seqmodels.commands.model_init import apply_model_init
from seqmodels.data import CharTokenizer, TextEncoder, Vocab, WordTokenizer
from seqmodels.data.batching import SequenceDataset
from seqmodels.data.translation import PairDataset
from seqmodels.data.translation_encoder import TranslationEncoder
from tests.helpers.configs import QUIET, compose_config, shrink
from tests.helpers.handmade_checkpoints import LSTM, classifier_config, write_checkpoint

LM_WORDS = ["<unk>", "<eos>", "<pad>", "the", "a", "film", "plot", "dull", "fine", "cast", "shines", "."]
# the data's vocabulary: <pad> first, another order, words the LM never saw
DATA_WORDS = ["<pad>", "<unk>", "cast", "zebra", "the", ".", "fine", "quokka", "film", "a"]


def lm_config(**extra) -> dict:
    return {
        "_target_": "seqmodels.models.RNNLanguageModel",
        "vocab_size": len(LM_WORDS),
        "cell": LSTM,
        "embedding_dim": 6,
        "hidden_size": 5,
        "num_layers": 2,
        **extra,
    }


def write_lm(path, **extra):
    encoder = TextEncoder(WordTokenizer(lowercase=True), Vocab(LM_WORDS, ["<unk>", "<eos>", "<pad>"]))
    write_checkpoint(path, "language_model", lm_config(**extra), encoder)
    return path


def datamodule(words=DATA_WORDS, tokenizer=None, train=None):
    encoder = TextEncoder(tokenizer or WordTokenizer(lowercase=True), Vocab(words, ["<pad>", "<unk>"]))
    train = train if train is not None else [np.array([2, 3, 4], np.int32), np.array([4, 4, 1, 7], np.int32)]
    return SimpleNamespace(encoder=encoder, datasets={"train": SequenceDataset(train, [0] * len(train))})


def node(**keys):
    """A classifier's model config for the data above, with init keys."""
    base = classifier_config(vocab_size=len(DATA_WORDS), embedding_dim=6, hidden_size=5, num_layers=2)
    return OmegaConf.create({**base, **keys})


def build(cfg, data=None, fresh=True):
    model = build_model(cfg)
    apply_model_init(cfg, model, data if data is not None else datamodule(), fresh=fresh)
    return model


def test_the_classifier_takes_the_checkpoints_weights_and_rows_by_token(tmp_path, caplog):
    path = write_lm(tmp_path / "lm.ckpt")
    stored = torch.load(path, weights_only=True)["state_dict"]  # the oracle: the file's tensors
    with caplog.at_level(logging.INFO, logger="seqmodels.commands.model_init"):
        model = build(node(init_from=str(path)))
    for layer in range(2):
        forward = model.rnn.layers[layer].forward_layer.cell  # bidirectional: the forward direction
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            want = stored[f"model.rnn.layers.{layer}.cell.{name}"]
            got = getattr(forward, name)
            assert torch.equal(got[:, : want.shape[1]] if name == "weight_ih" else got, want), (layer, name)
    for i, word in enumerate(DATA_WORDS):
        if word in LM_WORDS and word != "<pad>":
            assert torch.equal(model.encoder.weight[i], stored["model.embedding.weight"][LM_WORDS.index(word)])
    assert torch.count_nonzero(model.encoder.weight[0]) == 0
    # 7 of the 9 non-padding tokens; train tokens [cast zebra the] [the the <unk> quokka]: <unk> left out,
    # cast and the three the of 6 are covered
    message = next(r.getMessage() for r in caplog.records if "took the language model" in r.getMessage())
    assert (
        f"model.init_from={path}: 7 of 9 vocabulary tokens (77.8%) took the language model's embedding row" in message
    )
    assert "covering 66.7% of the 6 training tokens (specials left out)" in message
    assert "; 14.3% of the training tokens are <unk>" in message  # 1 of the 7
    assert "fresh rows for e.g. 'zebra', 'quokka'" in message
    assert "the reverse direction from its fresh weights" in message


KIND_CONFIGS = {  # model configs for the data above (a Seq2Seq: its source side), 2 layers of 5 as the LM
    "tagger": {"_target_": "seqmodels.models.RNNTagger", "num_classes": 3, "padding_idx": 0},
    "seq2seq": {"_target_": "seqmodels.models.Seq2Seq", "num_classes": 4, "padding_idx": 0},
    "language_model": {"_target_": "seqmodels.models.RNNLanguageModel"},  # continued on a new vocabulary
}


@pytest.mark.parametrize("kind", sorted(KIND_CONFIGS))
def test_every_kind_takes_the_rows_of_its_input_vocabulary(tmp_path, kind):
    path = write_lm(tmp_path / "lm.ckpt")
    stored = torch.load(path, weights_only=True)["state_dict"]
    data = datamodule()
    if kind == "seq2seq":  # the source side is the data's vocabulary; the target another one
        target = TextEncoder(WordTokenizer(), Vocab(["<pad>", "<bos>", "<eos>", "x"], ["<pad>", "<bos>", "<eos>"]))
        data.encoder = TranslationEncoder(data.encoder, target)
        data.datasets = {
            "train": PairDataset(data.datasets["train"].sequences, [np.array([1, 3, 2])] * 2, [("", "")] * 2)
        }
    cfg = OmegaConf.create({**KIND_CONFIGS[kind], "cell": LSTM, "vocab_size": len(DATA_WORDS), "embedding_dim": 6,
                            "hidden_size": 5, "num_layers": 2, "init_from": str(path)})  # fmt: skip
    model = build(cfg, data)
    embedding = model.source_embedding if kind == "seq2seq" else model.embedding
    stack = model.encoder if kind == "seq2seq" else model.rnn
    for i, word in enumerate(DATA_WORDS):
        if word in LM_WORDS and word != "<pad>":
            assert torch.equal(embedding.weight[i], stored["model.embedding.weight"][LM_WORDS.index(word)])
    forward = stack.cells()[2 if stack.bidirectional else 1]  # layer 2's forward direction
    assert torch.equal(forward.weight_hh, stored["model.rnn.layers.1.cell.weight_hh"])


def test_a_relative_path_is_stored_absolute(tmp_path, monkeypatch):
    write_lm(tmp_path / "lm.ckpt")
    monkeypatch.chdir(tmp_path)
    cfg = node(init_from="lm.ckpt")
    build(cfg)
    assert cfg.init_from == str(tmp_path / "lm.ckpt")


def test_refusals_name_model_init_from(tmp_path):
    path = write_lm(tmp_path / "lm.ckpt")
    cases = [
        (node(init_from=str(path), hidden_size=7), ValueError, rf"^model\.init_from={path}: model\.hidden_size=7 but"),
        (
            node(init_from=str(tmp_path / "gone.ckpt")),
            FileNotFoundError,
            r"^model\.init_from=.*gone\.ckpt: no such file",
        ),
        (
            node(init_from=str(path), pretrained_embeddings=str(tmp_path / "v.txt")),
            ValueError,
            r"^model\.init_from=.* and model\.pretrained_embeddings=.* both set the embedding: pick one",
        ),
        (node(init_from=3), ValueError, r"^model\.init_from must be the path of a file or null, got 3"),
        (node(freeze_embeddings="yes"), ValueError, r"^model\.freeze_embeddings must be true or false"),
    ]
    for cfg, kind, match in cases:
        with pytest.raises(kind, match=match) as error:
            build(cfg)
        assert report(error.value).count("error: ") == 1
    with pytest.raises(ValueError, match=r"the language model reads word tokens but the data char tokens"):
        build(node(init_from=str(path)), datamodule(tokenizer=CharTokenizer()))
    real = OmegaConf.create({**classifier_config(vocab_size=None, input_size=3), "padding_idx": None,
                             "init_from": str(tmp_path / "gone.ckpt")})  # fmt: skip
    with pytest.raises(ValueError, match=r"^model\.init_from=.*: RNNClassifier reads real-valued inputs"):
        build(real)  # refused before the (missing) file is read


def test_a_checkpoint_that_is_not_a_language_model_is_refused(tmp_path):
    path = tmp_path / "clf.ckpt"
    write_checkpoint(path, "classifier", classifier_config(), TextEncoder(WordTokenizer(), Vocab(["<pad>", "a"])))
    with pytest.raises(
        ValueError, match=rf"^model\.init_from={path}: {path} holds a RNNClassifier, not a language model"
    ):
        build(node(init_from=str(path)))


def test_a_language_model_naming_an_untrusted_target_is_refused(tmp_path):
    path = write_lm(tmp_path / "lm.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint[CHECKPOINT_KEY]["config"]["model"]["cell"] = {"_target_": "os.system", "_partial_": True}
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"config\.model\.cell\._target_='os\.system' is outside the modules") as error:
        build(node(init_from=str(path)))
    assert str(error.value).startswith(f"model.init_from={path}: ") and "SEQMODELS_TRUSTED_TARGETS=os" in str(
        error.value
    )


def test_resuming_reads_no_file_and_still_freezes(tmp_path, caplog):
    cfg = node(init_from=str(tmp_path / "gone.ckpt"), freeze_embeddings=True)
    with caplog.at_level(logging.INFO, logger="seqmodels.commands.model_init"):
        model = build(cfg, fresh=False)
    assert "resuming: model.init_from not read" in caplog.text
    assert not model.encoder.weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("encoder."))


def test_an_experiment_that_requires_init_from_says_so(tmp_path):
    """imdb_ulmfit and the other transfer experiments set init_from to <required>: a run without the option stops
    before training from scratch under a schedule meant for a pretrained network; a resume needs no file."""
    with pytest.raises(ValueError, match=r"^model\.init_from is required: this experiment starts from a language"):
        build(node(init_from="<required>"))
    model = build(node(init_from="<required>"), fresh=False)  # resuming: the checkpoint has the weights
    assert model.encoder.weight.requires_grad
    cfg = compose_config([*QUIET, "experiment=imdb_ulmfit"], tmp_path)
    assert cfg.model.init_from == "<required>"  # the experiment's value survives Hydra's merge over null


def test_lm_vocabulary_needs_init_from_and_a_resume_takes_the_stored_encoder(tmp_path):
    from seqmodels.commands.model_init import lm_vocabulary

    def cfg(**model):
        data = {"_target_": "seqmodels.data.ClassificationDataModule"}
        return OmegaConf.create({"model": {"lm_vocabulary": True, "init_from": None, **model}, "data": data})

    assert lm_vocabulary(cfg(lm_vocabulary=False)) is None
    for init in (None, "<required>"):
        with pytest.raises(ValueError, match=r"^model\.lm_vocabulary=true takes the vocabulary of model\.init_from"):
            lm_vocabulary(cfg(init_from=init))
    with pytest.raises(ValueError, match="model.lm_vocabulary must be true or false, got 'yes'"):
        lm_vocabulary(cfg(lm_vocabulary="yes"))
    lm = write_lm(tmp_path / "lm.ckpt")
    encoder = lm_vocabulary(cfg(init_from=str(lm)))
    assert encoder.vocab.itos == ["<pad>", "<unk>"] + [t for t in LM_WORDS if t not in ("<pad>", "<unk>")]
    stored = TextEncoder(WordTokenizer(), Vocab(["<pad>", "<unk>", "stored"], ["<pad>", "<unk>"]))
    resumed = lm_vocabulary(cfg(init_from=str(tmp_path / "gone.ckpt")), {"encoder": stored.to_dict()})
    assert resumed.vocab.itos == ["<pad>", "<unk>", "stored"]  # no file read


def test_freezing_needs_an_embedding():
    real = OmegaConf.create({**classifier_config(vocab_size=None, input_size=3), "padding_idx": None,
                             "freeze_embeddings": True})  # fmt: skip
    with pytest.raises(ValueError, match=r"^model\.freeze_embeddings=true: RNNClassifier has no token embedding"):
        build(real)


def test_pretrained_embeddings_fill_the_rows_of_the_file(tmp_path):
    pytest.importorskip("seqmodels.models.pretrained", reason="the word-vector reader (models/pretrained.py) not here")
    vectors = tmp_path / "vectors.txt"  # GloVe text: a word and 6 numbers per line
    vectors.write_text("the 1 2 3 4 5 6\nzebra -1 -2 -3 -4 -5 -6\n", encoding="utf-8")
    model = build(node(pretrained_embeddings=str(vectors), freeze_embeddings=True))
    assert model.encoder.weight[DATA_WORDS.index("the")].tolist() == [1, 2, 3, 4, 5, 6]
    assert model.encoder.weight[DATA_WORDS.index("zebra")].tolist() == [-1, -2, -3, -4, -5, -6]
    assert not model.encoder.weight.requires_grad


def test_the_init_keys_are_left_out_when_a_stored_config_is_rebuilt(tmp_path):
    path = tmp_path / "clf.ckpt"
    network = write_checkpoint(path, "classifier", classifier_config(), TextEncoder(WordTokenizer(), Vocab(["<pad>"])))
    checkpoint = torch.load(path, weights_only=True)  # the stored config as a run with init_from writes it
    keys = {"init_from": str(tmp_path / "deleted_lm.ckpt"), "pretrained_embeddings": None, "freeze_embeddings": True}
    keys["lm_vocabulary"] = True
    checkpoint[CHECKPOINT_KEY]["config"]["model"].update(keys)
    torch.save(checkpoint, path)
    model, _, stored = load_model(path)
    assert {k: stored["model"][k] for k in MODEL_INIT_KEYS} == keys  # kept in the file, for the record
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), network.state_dict().values()))


# ---------------------------------------------------------------------------------------------- end to end
REVIEWS = [
    "the film was fine and the cast shines",
    "a dull plot , a dull film",
    "the cast was fine but the plot was dull",
    "a fine film with a fine cast",
]


@pytest.mark.slow
def test_pretrain_then_fine_tune_from_the_command_line(tmp_path, caplog):
    from seqmodels.commands.evaluate import evaluate
    from seqmodels.commands.predict import predict
    from seqmodels.commands.train import train

    (tmp_path / "reviews.txt").write_text("\n".join(REVIEWS * 30) + "\n", encoding="utf-8")
    rows = ["label,text"] + [f"{'pos' if 'fine' in r else 'neg'},{r.replace(' ,', '')}" for r in REVIEWS * 5]
    (tmp_path / "labelled.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    sizes = ["model.embedding_dim=8", "model.hidden_size=8", "model.num_layers=2"]
    lm_cfg = compose_config(
        [*QUIET, "experiment=word_lm", "debug=fast", "logger=csv", "test=false", f"data.train={tmp_path / 'reviews.txt'}",
         "data.tokenizer.lowercase=true", "data.batch_size=4", "data.bptt=8",
         f"data.cache_dir={tmp_path / 'cache'}", *sizes],
        tmp_path / "lm",
    )  # fmt: skip
    lm_cfg.trainer.enable_progress_bar = False
    lm_path = train(lm_cfg)["last_model_path"]
    lm_weights = torch.load(lm_path, weights_only=True)["state_dict"]

    clf_cfg = shrink(
        compose_config(
            [*QUIET, "experiment=text_classifier", "debug=fast", "logger=csv", f"data.train={tmp_path / 'labelled.csv'}",
             "data.tokenizer.pattern=null", f"model.init_from={lm_path}", *sizes, "trainer.limit_train_batches=1",
             "data.min_batches_per_epoch=1"],
            tmp_path / "clf",
        ),
        **{"model.embedding_dim": 8, "model.hidden_size": 8, "model.num_layers": 2},
    )  # fmt: skip
    clf_cfg.trainer.enable_progress_bar = False
    with caplog.at_level(logging.INFO):
        clf_path = train(clf_cfg)["last_model_path"]
    message = next(r.getMessage() for r in caplog.records if "took the language model" in r.getMessage())
    assert ": 13 of 13 vocabulary tokens (100.0%)" in message  # <unk> and every word of the labelled texts
    assert "2 recurrent layer(s) copied" in message
    assert not [r for r in caplog.records if "fewer tokens will match" in r.getMessage()]  # the same tokenizer

    # model.lm_vocabulary=true: the data reads the language model's tokenizer and vocabulary, every row copied
    vocab_cfg = shrink(
        compose_config(
            [*QUIET, "experiment=text_classifier", "debug=fast", "logger=csv", f"data.train={tmp_path / 'labelled.csv'}",
             f"model.init_from={lm_path}", "model.lm_vocabulary=true", *sizes, "trainer.limit_train_batches=1",
             "data.min_batches_per_epoch=1", "test=false"],
            tmp_path / "clf_vocab",
        ),
        **{"model.embedding_dim": 8, "model.hidden_size": 8, "model.num_layers": 2},
    )  # fmt: skip
    vocab_cfg.trainer.enable_progress_bar = False
    caplog.clear()
    with caplog.at_level(logging.INFO):
        vocab_path = train(vocab_cfg)["last_model_path"]
    lm_itos = TextEncoder.from_dict(load_checkpoint(lm_path)[CHECKPOINT_KEY]["encoder"]).vocab.itos
    itos = TextEncoder.from_dict(load_checkpoint(vocab_path)[CHECKPOINT_KEY]["encoder"]).vocab.itos
    assert itos == ["<pad>", "<unk>"] + [t for t in lm_itos if t not in ("<pad>", "<unk>")]
    message = next(r.getMessage() for r in caplog.records if "took the language model" in r.getMessage())
    assert f": {len(itos) - 1} of {len(itos) - 1} vocabulary tokens (100.0%)" in message  # all but <pad>

    # the checkpoint loads without the language model: its stored config keeps init_from, absolute
    stored = load_checkpoint(clf_path)[CHECKPOINT_KEY]["config"]["model"]
    assert stored["init_from"] == lm_path
    trained = torch.load(clf_path, weights_only=True)["state_dict"]
    moved = trained["model.rnn.layers.1.forward_layer.cell.weight_hh"] - lm_weights["model.rnn.layers.1.cell.weight_hh"]
    assert 0 < moved.abs().max() < 0.1  # started at the LM's weights, one small step away from them
    (tmp_path / "lm" / "checkpoints").rename(tmp_path / "lm" / "moved_away")
    out = tmp_path / "predictions.jsonl"  # seqmodels-predict ckpt_path=... text=..., in process
    predict(compose_config([f"ckpt_path={clf_path}", "text=a fine cast", f"output_file={out}"], config_name="predict"))
    assert json.loads(out.read_text(encoding="utf-8"))["label"] in ("neg", "pos")
    evaluated = evaluate(  # seqmodels-eval ckpt_path=... split=val, in process
        compose_config([f"ckpt_path={clf_path}", "split=val", "logger=csv"], tmp_path / "e", config_name="eval")
    )
    assert 0 <= evaluated["val/acc"] <= 1

    resume = clf_cfg.copy()  # a resume does not read the language model's (moved) file
    resume.ckpt_path, resume.trainer.max_epochs, resume.test = clf_path, 2, False
    assert train(resume)["epochs"] == 2

    with pytest.raises(FileNotFoundError) as error:  # a new run from the moved file: one block naming the key
        train(clf_cfg)
    assert report(error.value).startswith(f"error: model.init_from={lm_path}: no such file")
    assert report(error.value).count("error: ") == 1
