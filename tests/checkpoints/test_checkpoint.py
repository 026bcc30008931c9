"""Checkpoints written by a real Lightning Trainer load with weights_only=True and rebuild the model."""

from __future__ import annotations

import functools
import pickle
import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.checkpoints import (
    CHECKPOINT_KEY,
    FORMAT_VERSION,
    load_checkpoint,
    load_language_model,
    load_model,
    to_plain,
)
from seqmodels.data import TextEncoder, Vocab, WordTokenizer
from seqmodels.inference.generation import generate, score
from seqmodels.models import RNNClassifier, RNNLanguageModel
from seqmodels.tasks import ClassificationTask, EpochDecay, LanguageModelingTask

warnings.filterwarnings("ignore", ".*does not have many workers.*")

WORDS = "the apple and pear salad pair is a fruit <eos>".split()
LSTM = {"_target_": "seqmodels.cells.LSTMCell", "_partial_": True, "forget_bias": 1.0}


def lm_config(vocab_size=None):
    return {
        "model": {
            "_target_": "seqmodels.models.RNNLanguageModel",
            "vocab_size": vocab_size,
            "cell": LSTM,
            "embedding_dim": 8,
            "hidden_size": 8,
            "num_layers": 2,
            "dropout": 0.1,
            "tie_weights": True,
        },
        "task": {"_target_": "seqmodels.tasks.LanguageModelingTask", "clip_grad_norm": 0.5},
        "seed": 0,
    }


def batches(V, n=3, B=2, T=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (B, n * T + 1), generator=g)
    return [(x[:, i * T : (i + 1) * T], x[:, i * T + 1 : (i + 1) * T + 1]) for i in range(n)]


def fit_and_checkpoint(task, data, tmp_path, epochs=2):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/loss", save_last=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=TensorBoardLogger(tmp_path, name="tb"),
        callbacks=[checkpoint, LearningRateMonitor()],
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    loader = torch.utils.data.DataLoader(data, batch_size=None)
    trainer.fit(task, loader, loader)
    return checkpoint


@pytest.fixture
def words():
    return TextEncoder(WordTokenizer(), Vocab.build(WORDS))


@pytest.fixture
def lm_checkpoint(tmp_path, words):
    torch.manual_seed(0)
    V = len(words.vocab)
    model = RNNLanguageModel(
        V, functools.partial(LSTMCell, forget_bias=1.0), embedding_dim=8, hidden_size=8, dropout=0.1, tie_weights=True
    )
    task = LanguageModelingTask(
        model,
        functools.partial(torch.optim.SGD, lr=0.5),
        scheduler=functools.partial(EpochDecay, decay=0.5, max_epoch_before_decay=1),
        clip_grad_norm=0.5,
        encoder=words,
        config=lm_config(),
        sample_length=5,
    )
    callback = fit_and_checkpoint(task, batches(V), tmp_path)
    return task, callback


def test_lightning_checkpoint_loads_with_weights_only(lm_checkpoint, words):
    task, callback = lm_checkpoint
    for path in (callback.best_model_path, callback.last_model_path):
        raw = torch.load(path, map_location="cpu", weights_only=True)
        extra = raw[CHECKPOINT_KEY]
        assert extra["format_version"] == FORMAT_VERSION
        assert extra["task"] == "seqmodels.tasks.language_modeling.LanguageModelingTask"
        assert extra["config"] == lm_config()
        assert extra["encoder"] == words.to_dict()
        assert raw["hyper_parameters"]["clip_grad_norm"] == 0.5
        assert raw["lr_schedulers"] and raw["optimizer_states"]  # scheduler and optimizer states are plain too


def test_load_language_model_rebuilds_the_trained_network(lm_checkpoint, words):
    task, callback = lm_checkpoint
    model, encoder, config = load_language_model(callback.last_model_path)
    assert encoder == words and config == lm_config()
    assert model.vocab_size == len(words.vocab)  # vocab_size was null in the config: taken from the encoder
    assert model.decoder.weight is model.embedding.weight and not model.training
    tokens = torch.randint(0, len(words.vocab), (2, 6))
    with torch.no_grad():
        expected, _ = task.model.eval()(tokens)
        got, _ = model(tokens)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # the seed's example runs end to end from the file alone
    results = score(model, encoder, ["the apple and pear salad", "the apple and pair salad"])
    assert all(r["num_tokens"] == 6 and r["log_prob"] < 0 for r in results)
    assert generate(model, encoder, "the apple", max_new_tokens=4, seed=0).startswith("the apple")


def test_resuming_with_the_trainer_restores_encoder_config_and_schedule(lm_checkpoint, words, tmp_path):
    _, callback = lm_checkpoint
    fresh = LanguageModelingTask(
        RNNLanguageModel(
            len(words.vocab), functools.partial(LSTMCell, forget_bias=1.0), 8, 8, dropout=0.1, tie_weights=True
        ),
        functools.partial(torch.optim.SGD, lr=0.5),
        scheduler=functools.partial(EpochDecay, decay=0.5, max_epoch_before_decay=1),
    )
    assert fresh.encoder is None and fresh.config is None
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = torch.utils.data.DataLoader(batches(len(words.vocab)), batch_size=None)
    trainer.fit(fresh, loader, loader, ckpt_path=callback.last_model_path)
    assert fresh.encoder == words and fresh.config == lm_config()
    assert trainer.current_epoch == 3 and trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.5 * 0.5**3)


def test_classifier_checkpoint_fills_num_classes_from_hparams(tmp_path):
    torch.manual_seed(0)
    model = RNNClassifier(3, GRUCell, hidden_size=6, input_size=2, bidirectional=True, pooling="max")
    config = {
        "model": {
            "_target_": "seqmodels.models.RNNClassifier",
            "num_classes": None,
            "input_size": 2,
            "cell": {"_target_": "seqmodels.cells.GRUCell", "_partial_": True},
            "hidden_size": 6,
            "bidirectional": True,
            "pooling": "max",
        }
    }
    task = ClassificationTask(
        model, functools.partial(torch.optim.Adam, lr=0.01), config=config, label_names=["a", "b", "c"]
    )
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(4, 5, 2, generator=g), torch.tensor([5, 2, 3, 1]), torch.tensor([0, 1, 2, 1]))] * 2
    callback = fit_and_checkpoint(task, data, tmp_path, epochs=1)
    raw = torch.load(callback.last_model_path, weights_only=True)
    assert raw["hyper_parameters"]["label_names"] == ["a", "b", "c"]
    rebuilt, encoder, _ = load_model(callback.last_model_path)
    assert encoder is None and rebuilt.num_classes == 3
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(*data[0][:2])[0], task.model.eval()(*data[0][:2])[0])
    with pytest.raises(ValueError, match="not a language model"):
        load_language_model(callback.last_model_path)


# --------------------------------------------------------------------------------- errors
def test_missing_truncated_foreign_and_pickled_files(tmp_path, lm_checkpoint):
    _, callback = lm_checkpoint
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")
    data = open(callback.last_model_path, "rb").read()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(ValueError, match="not a seqmodels checkpoint"):
        load_checkpoint(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({CHECKPOINT_KEY: {"format_version": 1}, "fn": functools.partial(print, 1)}, pickled)
    with pytest.raises(ValueError, match="pickled Python code, which was refused and not run"):
        load_checkpoint(pickled)
    newer = tmp_path / "newer.ckpt"
    torch.save({CHECKPOINT_KEY: {"format_version": FORMAT_VERSION + 1}, "state_dict": {}}, newer)
    with pytest.raises(ValueError, match="format_version"):
        load_checkpoint(newer)
    no_config = tmp_path / "no_config.ckpt"
    torch.save({CHECKPOINT_KEY: {"format_version": 1, "config": None, "encoder": None}, "state_dict": {}}, no_config)
    with pytest.raises(ValueError, match="no 'model' section"):
        load_model(no_config)


def test_to_plain_converts_containers_and_names_the_offender():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"a": {"b": [1, 2.5, None, "x"], "c": True}, "d": "${a.c}"})
    plain = to_plain(cfg, "config")
    assert plain == {"a": {"b": [1, 2.5, None, "x"], "c": True}, "d": True} and type(plain["a"]["b"]) is list
    assert to_plain((1, (2, 3))) == [1, [2, 3]]
    with pytest.raises(ValueError, match=r"config\.model\.cell must hold only plain data"):
        to_plain({"model": {"cell": functools.partial(print)}}, "config")
    with pytest.raises(ValueError, match="string keys"):
        to_plain({1: 2}, "config")
    assert pickle.loads(pickle.dumps(plain)) == plain
