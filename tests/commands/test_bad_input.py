"""Bad input, one table: every case must fail with an error naming the field, file or line.

Each row is ``(id, action, error types, message pattern)``; ``action(env)`` does what a user would
(compose a config with an override and train, evaluate, sample, read a corpus, load a checkpoint)
and must raise one of the error types with a message matching the pattern (``re.search``, DOTALL).
A row passes only if the error is raised *by seqmodels or the config system with a readable
message*: the pattern quotes our wording, so a traceback from deep inside torch fails the row.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from seqmodels.checkpoints import CHECKPOINT_KEY, FORMAT_VERSION, load_checkpoint
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.sample import sample
from seqmodels.commands.score import score
from seqmodels.commands.train import train
from seqmodels.data import (
    SST2,
    ClassificationDataModule,
    ExampleCorpus,
    TextEncoder,
    UEATimeSeries,
    Vocab,
    WordTokenizer,
    tokenizer_from_dict,
)
from tests.helpers.configs import QUIET, compose_config, shrink

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40


@dataclass
class Env:
    """Files the cases use: a small corpus, trained checkpoints, scratch space."""

    root: Path
    corpus: Path  # folder with input.txt (TinyShakespeare layout)
    lm_ckpt: Path  # a language model trained on `corpus`
    adding_ckpt: Path  # a regression model (the adding problem)

    def scratch(self, name: str) -> Path:
        path = self.root / "scratch" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def override(cfg, *items: str):
    """Apply command-line style ``key=value`` overrides (Hydra's parser: ``abc`` is a string, ``???`` missing)."""
    parser = OverridesParser.create()
    for item in items:
        parsed = parser.parse_override(item)
        OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), force_add=True)
    return cfg


def lm_cfg(env: Env, *items: str, corpus: Path | None = None, name: str = "run"):
    """The character-LM experiment on the small corpus, shrunk, with ``items`` applied last."""
    cfg = shrink(
        compose_config([*QUIET, "experiment=shakespeare_char_lstm", "debug=fast", "logger=csv"], env.scratch(name))
    )
    cfg.data.corpus.path = str(corpus or env.corpus)
    cfg.data.cache_dir = str(env.root / "cache")
    cfg.trainer.enable_progress_bar = False
    return override(cfg, *items)


def train_with(*items: str, corpus_file: str | None = None, content: bytes | None = None):
    def action(env: Env):
        corpus = None
        if corpus_file is not None:
            corpus = env.scratch("corpus")
            if content is not None:
                (corpus / corpus_file).write_bytes(content)
        return train(lm_cfg(env, *items, corpus=corpus))

    return action


def compose_with(*items: str):
    return lambda env: compose_config(list(items))


def write(env: Env, name: str, data: bytes | str) -> Path:
    path = env.scratch("files") / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def sst2(name: str, data: str, variant: str = "sentence"):
    def action(env: Env):
        folder = write(env, name, data).parent
        return SST2(folder, variant=variant).examples("train")

    return action


def sst2_latin1(env: Env):
    folder = write(env, "stsa.binary.train", b"1 ok\n0 caf\xe9 au lait\n").parent  # Latin-1, read as UTF-8
    return SST2(folder, variant="sentence").examples("train")


TS_HEADER = "@problemName T\n@timeStamps false\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"


def uea(body: str):
    def action(env: Env):
        folder = write(env, "T_TRAIN.ts", TS_HEADER + body).parent
        return UEATimeSeries(folder, name="T").examples("train")

    return action


def user_files(experiment: str, files: dict[str, str | bytes | Callable[[Path], Any]], *items: str):
    """Write ``files`` (text, bytes, or a function writing the path) into a scratch folder and train
    ``experiment`` on them as a user would; ``{dir}`` in ``items`` stands for that folder."""

    def action(env: Env):
        folder = env.scratch("user_files")
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if callable(data):
                data(path)
            else:
                path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        overrides = [item.format(dir=folder) for item in items]
        cfg = shrink(
            compose_config(
                [*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv", *overrides], env.scratch("user_run")
            )
        )
        cfg.trainer.enable_progress_bar = False
        return train(cfg)

    return action


def npz(**arrays: Any) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **arrays)  # path ends in .npz: written as named


def series(files: dict[str, Any], *items: str):
    return user_files("sequence_classifier", files, *items)


def ragged_objects() -> np.ndarray:
    out = np.empty(2, dtype=object)
    out[0], out[1] = np.zeros((3, 1)), np.zeros((2, 1))
    return out


SERIES_TS = "@problemName S\n@dimensions 2\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n7,8:9,10:b\n"
LONG_CSV = "id,t,label,x\ns1,0,a,1\ns1,1,a,2\ns2,0,b,3\ns2,1,b,4\n"
LM_TEXT = "".join(f"line {i} of some text\n" for i in range(400))


def checkpoint_file(make: Callable[[Path], None], command: str = "load"):
    """Write a file with ``make(path)`` and hand it to ``command``."""

    def action(env: Env):
        path = env.scratch("ckpt") / "model.ckpt"
        make(path)
        return run_command(env, command, path)

    return action


def run_command(env: Env, command: str, path: Path):
    if command == "load":
        return load_checkpoint(path)
    if command == "resume":
        return train(lm_cfg(env, f"ckpt_path={path}", name="resume"))
    if command == "eval":
        return evaluate(compose_config([f"ckpt_path={path}", "logger=csv"], env.scratch("eval"), config_name="eval"))
    if command == "sample":
        return sample(compose_config([f"ckpt_path={path}"], config_name="sample"))
    if command == "score":
        return score(compose_config([f"ckpt_path={path}", "sentences=[to be]"], config_name="score"))
    raise AssertionError(command)


def truncated(env: Env) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(env.lm_ckpt.read_bytes()[:5000])


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


class SystemCall:
    """A payload naming os.system (posix.system): a module torch's unpickler blocks outright."""

    def __reduce__(self):
        return (os.system, ("true",))


class Foreign(pl.LightningModule):
    """Another project's LightningModule."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def foreign_lightning(path: Path) -> None:
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=path.parent,
    )
    trainer.fit(Foreign(), torch.utils.data.DataLoader(torch.ones(2, 2), batch_size=2))
    trainer.save_checkpoint(path)


def edited(env: Env, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        checkpoint = torch.load(env.lm_ckpt, weights_only=True)
        edit(checkpoint)
        torch.save(checkpoint, path)

    return make


def other_vocabulary(env: Env):
    """Resume the LM checkpoint on a corpus with other characters (hence another vocabulary)."""
    corpus = env.scratch("other_corpus")
    (corpus / "input.txt").write_text(TEXT.upper() + "0123456789\n")
    return train(lm_cfg(env, f"ckpt_path={env.lm_ckpt}", corpus=corpus, name="resume_vocab"))


def eval_on_changed_data(env: Env):
    """Evaluate a checkpoint after its training text changed (same length, other characters)."""
    corpus = env.scratch("changing_corpus")
    (corpus / "input.txt").write_text(TEXT)
    trained = train(lm_cfg(env, corpus=corpus, name="changing"))
    (corpus / "input.txt").write_text(TEXT.replace("o", "0").replace("e", "3"))
    cfg = compose_config(
        [f"ckpt_path={trained['last_model_path']}", "logger=csv"], env.scratch("eval2"), config_name="eval"
    )
    return evaluate(cfg)


def long_sequence(truncate: Any):
    def action(env: Env):
        corpus = ExampleCorpus([("a b c d e f", 0), ("a b", 1)], ["x", "y"], valid=[("a", 0)])
        data = ClassificationDataModule(corpus, WordTokenizer(), max_length=3, truncate=truncate)
        data.setup()

    return action


def vocab_file(content: str | None):
    def action(env: Env):
        path = env.scratch("vocab") / "vocab.json"
        if content is not None:
            path.write_text(content)
        return Vocab.load(path)

    return action


def text_files(files: dict[str, str | bytes], *items: str):
    """Write ``files`` into a scratch folder, then train ``experiment=text_classifier`` with ``items``
    (``{dir}`` stands for that folder: ``data.train={dir}/train.csv``)."""

    def action(env: Env):
        folder = env.scratch("text_files")
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        overrides = [item.format(dir=folder) for item in items]
        cfg = shrink(
            compose_config(
                [*QUIET, "experiment=text_classifier", "debug=fast", "logger=csv", *overrides], env.scratch("text_run")
            )
        )
        cfg.trainer.enable_progress_bar = False
        return train(cfg)

    return action


TRAIN_CSV = "label,text\npos,a fine film\nneg,a dull film\npos,great\nneg,poor\n"


def csv_train(content: str | bytes, *items: str):
    return text_files({"train.csv": content}, "data.train={dir}/train.csv", *items)


VE = ValueError
FNF = FileNotFoundError

CASES: list[tuple[str, Callable[[Env], Any], tuple[type[BaseException], ...] | type[BaseException], str]] = [
    # ---------------------------------------------------------------- config: unknown group options list the others
    (
        "config/unknown-cell",
        compose_with("model/cell=nosuchcell"),
        MissingConfigException,
        r"Could not find 'model/cell/nosuchcell'.*Available options in 'model/cell'.*gru_textbook.*lstm.*rnn_relu",
    ),
    (
        "config/unknown-experiment",
        compose_with("experiment=nosuch"),
        MissingConfigException,
        r"Could not find 'experiment/nosuch'.*ptb_word_lstm_small.*shakespeare_char_lstm",
    ),
    (
        "config/unknown-data",
        compose_with("data=nosuch"),
        MissingConfigException,
        r"Could not find 'data/nosuch'.*tinyshakespeare",
    ),
    (
        "config/unknown-trainer",
        compose_with("trainer=nosuch"),
        MissingConfigException,
        r"'trainer/nosuch'.*ddp_sim.*gpu",
    ),
    (
        "config/unknown-task",
        compose_with("task=nosuch"),
        MissingConfigException,
        r"'task/nosuch'.*classification.*language_modeling",
    ),
    (
        "config/unknown-logger",
        compose_with("logger=nosuch"),
        MissingConfigException,
        r"'logger/nosuch'.*csv.*tensorboard",
    ),
    ("config/unknown-debug", compose_with("debug=nosuch"), MissingConfigException, r"'debug/nosuch'.*fast.*overfit"),
    (
        "config/unknown-cell-target",
        train_with("model.cell._target_=seqmodels.cells.NoSuchCell"),
        Exception,
        r"Error locating target 'seqmodels.cells.NoSuchCell'.*full_key: model.cell",
    ),
    # ---------------------------------------------------------------- config: sizes, probabilities, types
    (
        "config/hidden-size-negative",
        train_with("model.hidden_size=-1"),
        VE,
        r"^model\.hidden_size must be a positive integer, got -1",
    ),
    (
        "config/embedding-dim-zero",
        train_with("model.embedding_dim=0"),
        VE,
        r"^model\.embedding_dim must be a positive integer, got 0",
    ),
    (
        "config/num-layers-zero",
        train_with("model.num_layers=0"),
        VE,
        r"^model\.num_layers must be a positive integer, got 0",
    ),
    (
        "config/num-layers-float",
        train_with("model.num_layers=1.5"),
        VE,
        r"^model\.num_layers must be a positive integer, got 1\.5",
    ),
    (
        "config/hidden-size-string",
        train_with("model.hidden_size=big"),
        VE,
        r"^model\.hidden_size must be a positive integer, got 'big'",
    ),
    (
        "config/dropout-one",
        train_with("model.dropout=1.0"),
        VE,
        r"^model\.dropout must be a number in \[0, 1\), got 1\.0",
    ),
    (
        "config/dropout-negative",
        train_with("model.dropout=-0.1"),
        VE,
        r"^model\.dropout must be a number in \[0, 1\), got -0\.1",
    ),
    (
        "config/embedding-dropout",
        train_with("model.embedding_dropout=1.5"),
        VE,
        r"^model\.embedding_dropout must be a number in \[0, 1\)",
    ),
    (
        "config/output-dropout",
        train_with("model.output_dropout=1"),
        VE,
        r"^model\.output_dropout must be a number in \[0, 1\), got 1",
    ),
    ("config/bidirectional-lm", train_with("model.bidirectional=true"), VE, r"model.*cannot be bidirectional"),
    (
        "config/batch-size-zero",
        train_with("data.batch_size=0"),
        VE,
        r"^data\.batch_size must be a positive integer, got 0",
    ),
    ("config/bptt-negative", train_with("data.bptt=-5"), VE, r"^data\.bptt must be a positive integer, got -5"),
    (
        "config/eval-batch-size-zero",
        train_with("data.eval_batch_size=0"),
        VE,
        r"^data\.eval_batch_size must be a positive integer",
    ),
    (
        "config/contiguous-string",
        train_with("data.contiguous=yes"),
        VE,
        r"^data\.contiguous must be True or False, got 'yes'",
    ),
    (
        "config/num-workers-negative",
        train_with("data.num_workers=-1"),
        VE,
        r"^data\.num_workers must be an integer >= 0, got -1",
    ),
    (
        "config/max-vocab-size-too-small",
        train_with("data.max_vocab_size=1"),
        VE,
        r"^data\.max_vocab_size must be None or an integer >= 2 \(the number of specials",
    ),
    ("config/min-freq-zero", train_with("data.min_freq=0"), VE, r"^data\.min_freq must be a positive integer, got 0"),
    ("config/seed-string", train_with("seed=abc"), VE, r"^seed must be an integer, got 'abc'"),
    (
        "config/max-epochs-string",
        train_with("trainer.max_epochs=abc"),
        VE,
        r"^trainer\.max_epochs must be an integer, got 'abc'",
    ),
    (
        "config/clip-negative",
        train_with("task.clip_grad_norm=-1"),
        VE,
        r"^task\.clip_grad_norm must be a positive number or None, got -1",
    ),
    (
        "config/learning-rate-negative",
        train_with("task.optimizer.lr=-1"),
        VE,
        r"^task\.optimizer \(Adam, lr=-1, fused=True\) refused its arguments: Invalid learning rate: -1",
    ),
    (
        "config/optimizer-without-a-fused-step",
        train_with("task.optimizer._target_=torch.optim.RMSprop"),
        VE,
        r"^task\.optimizer \(RMSprop, .*fused=True\) refused its arguments: .*remove it with ~task\.optimizer\.fused",
    ),
    (
        "config/scheduler-interval",
        train_with("task.scheduler_interval=bogus"),
        VE,
        r"^task\.scheduler_interval must be one of \['epoch', 'step'\], got 'bogus'",
    ),
    (
        "config/sample-temperature-negative",
        train_with("task.sample_temperature=-1"),
        VE,
        r"^task\.sample_temperature must be a number >= 0 \(0 = greedy\), got -1",
    ),
    (
        "config/monitor-mode",
        train_with("monitor.mode=bogus"),
        VE,
        r"^callbacks\.model_checkpoint \(lightning\.pytorch\.callbacks\.ModelCheckpoint\): `mode` can be min, max but got bogus",
    ),
    (
        "config/checkpoint-every-negative",
        train_with("callbacks.model_checkpoint.every_n_train_steps=-1"),
        VE,
        r"^callbacks\.model_checkpoint .*every_n_train_steps=-1\. Must be >= 0",
    ),
    ("config/accelerator", train_with("trainer.accelerator=tpu9"), VE, r"^trainer .*invalid accelerator name.*tpu9"),
    ("config/precision", train_with("trainer.precision=bogus"), VE, r"^trainer .*Precision 'bogus' is invalid"),
    (
        "config/missing-hidden-size",
        train_with("model.hidden_size=???"),
        MissingMandatoryValue,
        r"Missing mandatory value: model\.hidden_size",
    ),
    (
        "config/missing-corpus-path",
        train_with("data.corpus.path=???"),
        MissingMandatoryValue,
        r"Missing mandatory value: data\.corpus\.path",
    ),
    (
        "config/eval-without-ckpt-path",
        lambda env: evaluate(compose_config([], env.scratch("e"), config_name="eval")),
        MissingMandatoryValue,
        r"Missing mandatory value: ckpt_path",
    ),
    (
        "config/eval-split",
        lambda env: evaluate(
            override(
                compose_config([f"ckpt_path={env.lm_ckpt}", "logger=csv"], env.scratch("e"), config_name="eval"),
                "split=train",
            )
        ),
        VE,
        r"split must be 'test' or 'val', got 'train'",
    ),
    (
        "config/sample-count-zero",
        lambda env: sample(
            override(compose_config([f"ckpt_path={env.lm_ckpt}"], config_name="sample"), "num_samples=0")
        ),
        VE,
        r"num_samples must be a positive integer, got 0",
    ),
    (
        "config/score-no-sentences",
        lambda env: score(compose_config([f"ckpt_path={env.lm_ckpt}", "sentences=[]"], config_name="score")),
        VE,
        r"sentences must be a non-empty list",
    ),
    (
        "config/ckpt-path-last-absent",
        train_with("ckpt_path=last"),
        FNF,
        r"ckpt_path=last: .*checkpoints/last\.ckpt does not exist.*hydra\.run\.dir",
    ),
    (
        "config/ckpt-path-missing-file",
        train_with("ckpt_path=/nonexistent/model.ckpt"),
        FNF,
        r"ckpt_path=/nonexistent/model\.ckpt: no such file",
    ),
    (
        "config/ckpt-path-directory",
        lambda env: train(lm_cfg(env, f"ckpt_path={env.root}")),
        VE,
        r"is a directory; give a \.ckpt file",
    ),
    # ---------------------------------------------------------------- data files
    (
        "data/missing-file",
        train_with(corpus_file="input.txt"),
        FNF,
        r"tinyshakespeare: file .*corpus/input\.txt not found",
    ),
    (
        "data/empty-file",
        train_with(corpus_file="input.txt", content=b""),
        VE,
        r"tinyshakespeare: file .*input\.txt is empty",
    ),
    (
        "data/undecodable-bytes",
        train_with(corpus_file="input.txt", content=b"good line\nbad \xff\xfe line\n"),
        VE,
        r"input\.txt:2: cannot decode byte\(s\) b'\\xff' as 'utf-8' \(invalid start byte\).*encoding='latin-1'",
    ),
    (
        "data/too-few-tokens",
        train_with("data.batch_size=400", corpus_file="input.txt", content=b"tiny corpus\n" * 30),
        VE,
        r"too few for batch_size=400",
    ),
    (
        "data/sst2-malformed-row",
        sst2("stsa.binary.train", "1 a fine film\nthisrowhasnolabel\n"),
        VE,
        r"stsa\.binary\.train:2: expected 'LABEL sentence', got 'thisrowhasnolabel'",
    ),
    (
        "data/sst2-label-outside-set",
        sst2("stsa.binary.train", "1 a fine film\n7 a strange label\n"),
        VE,
        r"stsa\.binary\.train:2: unknown label '7' \(expected one of",
    ),
    (
        "data/sst2-glue-header",
        sst2("train.tsv", "text\tlabel\nfine\t1\n", "glue"),
        VE,
        r"train\.tsv:1: expected the header 'sentence<TAB>label'",
    ),
    (
        "data/sst2-glue-columns",
        sst2("train.tsv", "sentence\tlabel\nfine\t1\textra\n", "glue"),
        VE,
        r"train\.tsv:2: expected 2 tab-separated columns",
    ),
    ("data/sst2-undecodable", sst2_latin1, VE, r"stsa\.binary\.train:2: cannot decode byte\(s\) b'\\xe9'"),
    (
        "data/ts-label-outside-set",
        uea("1,2:3,4:a\n1,2:3,4:c\n"),
        VE,
        r"T_TRAIN\.ts:8: unknown label 'c' \(declared: \['a', 'b'\]\)",
    ),
    ("data/ts-not-a-number", uea("1,x:3,4:a\n"), VE, r"T_TRAIN\.ts:7: 'x' is not a number"),
    ("data/ts-dimensions", uea("1,2:3,4:5,6:a\n"), VE, r"T_TRAIN\.ts:7: expected 2 dimensions"),
    (
        "data/ts-no-data",
        lambda env: UEATimeSeries(write(env, "T_TRAIN.ts", "@problemName T\n").parent, name="T").examples("train"),
        VE,
        r"T_TRAIN\.ts: no @data line",
    ),
    # ---------------------------------------------------------------- your own series, text, column and parallel files
    ("series/no-train-file", series({}), MissingMandatoryValue, r"Missing mandatory value: data\.train"),
    (
        "series/train-not-found",
        series({}, "data.train={dir}/nope.ts"),
        FNF,
        r"data\.train=.*user_files/nope\.ts: no such file",
    ),
    (
        "series/train-is-a-folder",
        series({"d/x.ts": SERIES_TS}, "data.train={dir}/d"),
        VE,
        r"data\.train=.*user_files/d is a folder; give the file \(\.ts, \.csv or \.npz\) itself",
    ),
    (
        "series/empty-file",
        series({"e.csv": ""}, "data.train={dir}/e.csv"),
        VE,
        r"data\.train=.*e\.csv: the file is empty",
    ),
    (
        "series/unknown-suffix",
        series({"s.dat": SERIES_TS}, "data.train={dir}/s.dat"),
        VE,
        r"s\.dat: cannot tell the format from the suffix '\.dat'.*pass format=ts, format=csv or format=npz",
    ),
    (
        "series/nan-refused",
        series({"s.ts": SERIES_TS.replace("7,8:", "7,?:")}, "data.train={dir}/s.ts"),
        VE,
        r"s\.ts: series #2 \(the 2nd series after @data\) has a missing value \(NaN\) at time step 1 \(counting from 0\), "
        r"feature 0.*nan=zero, nan=ffill or nan=drop",
    ),
    (
        "series/nan-option",
        series({"s.ts": SERIES_TS}, "data.train={dir}/s.ts", "data.nan=mean"),
        VE,
        r"nan must be one of \['error', 'zero', 'ffill', 'drop'\], got 'mean'",
    ),
    (
        "series/ragged-dimensions",
        series({"s.ts": SERIES_TS.replace("7,8:9,10", "7,8:9")}, "data.train={dir}/s.ts"),
        VE,
        r"s\.ts:6: dimensions have different lengths \[1, 2\]",
    ),
    (
        "series/ragged-csv-row",
        series({"s.csv": LONG_CSV + "s2,2,b\n"}, "data.train={dir}/s.csv"),
        VE,
        r"s\.csv:6: expected 4 cells separated by ',' \(as the header\), got 3",
    ),
    (
        "series/npz-bad-keys",
        series({"s.npz": npz(x=np.zeros((2, 3, 1)), y=np.array([0, 1]))}, "data.train={dir}/s.npz"),
        VE,
        r"s\.npz: no array named \['X'\] \(it holds \['x', 'y'\]\); expected X \(N, T, F\)",
    ),
    (
        "series/npz-unknown-key",
        series(
            {"s.npz": npz(X=np.zeros((2, 3, 1)), y=np.array([0, 1]), length=np.array([1, 2]))}, "data.train={dir}/s.npz"
        ),
        VE,
        r"s\.npz: unknown arrays \['length'\]",
    ),
    (
        "series/npz-object-array",
        series({"s.npz": npz(X=ragged_objects(), y=np.array([0, 1]))}, "data.train={dir}/s.npz"),
        VE,
        r"s\.npz: X or y is an object array.*pass allow_pickle=true for a file you trust",
    ),
    (
        "series/npz-lengths-too-long",
        series(
            {"s.npz": npz(X=np.zeros((2, 3, 1)), y=np.array([0, 1]), lengths=np.array([3, 4]))},
            "data.train={dir}/s.npz",
        ),
        VE,
        r"s\.npz: lengths\[1\] = 4, but X\[1\] has 3 time steps",
    ),
    (
        "series/missing-id-column",
        series({"s.csv": LONG_CSV}, "data.train={dir}/s.csv", "data.id_column=series"),
        VE,
        r"s\.csv:1: no series-id column id_column='series' in the header \(the columns are \['id', 't', 'label', 'x'\]\)",
    ),
    (
        "series/missing-label-column",
        series({"s.csv": LONG_CSV.replace("label", "class")}, "data.train={dir}/s.csv"),
        VE,
        r"s\.csv:1: no label column 'label' in the header.*label_column=<column>",
    ),
    (
        "series/label-changes-within-a-series",
        series({"s.csv": LONG_CSV.replace("s1,1,a", "s1,1,b")}, "data.train={dir}/s.csv"),
        VE,
        r"s\.csv:3: series id='s1' has label 'b' here but 'a' at line 2",
    ),
    (
        "series/time-twice",
        series({"s.csv": LONG_CSV.replace("s1,1,a", "s1,0,a")}, "data.train={dir}/s.csv", "data.time_column=t"),
        VE,
        r"series id='s1' has time '0' twice \(lines 2 and 3\)",
    ),
    (
        "series/wide-csv-not-a-number",
        series({"w.csv": "label,name,v1\na,walk,1\nb,run,2\n"}, "data.train={dir}/w.csv"),
        VE,
        r"w\.csv:2: column 'name': 'walk' is not a number \(this file is read one row per series.*id_column=<column>",
    ),
    (
        "series/label-only-in-test",
        series(
            {"tr.ts": SERIES_TS, "te.ts": SERIES_TS.replace(":b\n", ":c\n").replace("true a b", "true a b c")},
            "data.train={dir}/tr.ts",
            "data.test={dir}/te.ts",
        ),
        VE,
        r"te\.ts: series #2 .* has label 'c', which is not in the @classLabel list of .*tr\.ts \(\['a', 'b'\]\)"
        r".*labels=\[",
    ),
    (
        "series/features-differ",
        series({"tr.ts": SERIES_TS, "te.csv": "label,v1\na,1\n"}, "data.train={dir}/tr.ts", "data.test={dir}/te.csv"),
        VE,
        r"te\.csv: its series have 1 features but those of the train file .*tr\.ts have 2",
    ),
    (
        "series/infinite-value",
        series({"s.csv": LONG_CSV.replace("s2,1,b,4", "s2,1,b,inf")}, "data.train={dir}/s.csv", "data.nan=zero"),
        VE,
        r"s\.csv: series id='s2' has an infinite value at time step 1",
    ),
    (
        "lm-text/glob-matches-nothing",
        user_files("char_lm", {}, "data.train={dir}/*.txt"),
        FNF,
        r"data\.train: the glob '.*user_files/\*\.txt' matches no file",
    ),
    (
        "lm-text/empty-train-file",
        user_files("char_lm", {"e.txt": ""}, "data.train={dir}/e.txt", "data.cache_dir={dir}/c"),
        VE,
        r"^train: the files \[.*e\.txt'\] are empty",
    ),
    (
        "lm-text/too-short-to-cut",
        user_files("char_lm", {"o.txt": "one line"}, "data.train={dir}/o.txt", "data.cache_dir={dir}/c"),
        VE,
        r"^valid: no text in the end of train \(\[.*o\.txt'\]\); the train text has too few lines to cut a valid share",
    ),
    (
        "lm-text/fractions",
        user_files(
            "char_lm", {"t.txt": LM_TEXT}, "data.train={dir}/t.txt", "data.val_fraction=0.7", "data.test_fraction=0.3"
        ),
        VE,
        r"val_fraction \+ test_fraction must leave some train text",
    ),
    (
        "lm-text/unknown-tokenizer",
        compose_with("experiment=char_lm", "data/tokenizer=sentencepiece"),
        MissingConfigException,
        r"Could not find 'data/tokenizer/sentencepiece'.*Available options in 'data/tokenizer'.*bpe.*char.*word",
    ),
    (
        "conll/ragged-row",
        user_files("tagger", {"c.txt": "a DT B-NP\ncat NN\n"}, "data.train={dir}/c.txt"),
        VE,
        r"c\.txt:2: expected 3 columns \(as line 1, the first row\) separated by whitespace, got 2",
    ),
    (
        "conll/tag-column-out-of-range",
        user_files("tagger", {"c.txt": "a DT B-NP\n"}, "data.train={dir}/c.txt", "data.tag_column=3"),
        VE,
        r"c\.txt:1: tag_column=3 is out of range for rows of 3 columns",
    ),
    (
        "parallel/line-counts-differ",
        user_files(
            "translator",
            {"p.de": "eins\nzwei\n", "p.en": "one\n"},
            "data.train={dir}/p",
            "data.source=de",
            "data.target=en",
        ),
        VE,
        r"train: .*p\.de has 2 lines but .*p\.en has 1",
    ),
    (
        "parallel/missing-target-file",
        user_files("translator", {"p.de": "eins\n"}, "data.train={dir}/p", "data.source=de", "data.target=en"),
        FNF,
        r"train=.*user_files/p: neither .*p\.en nor .*p\.en\.gz exists",
    ),
    (
        "data/longer-than-max-length",
        long_sequence(False),
        VE,
        r"train example 0 has 6 steps, more than max_length=3.*truncate=true.*truncate=drop",
    ),
    (
        "data/truncate-option",
        long_sequence("sometimes"),
        VE,
        r"truncate must be True, False or 'drop', got 'sometimes'",
    ),
    ("data/vocab-missing", vocab_file(None), FNF, r"vocabulary file .*vocab\.json not found"),
    ("data/vocab-not-json", vocab_file('{"itos": ["a", '), VE, r"vocab\.json:1: not valid JSON"),
    (
        "data/vocab-duplicates",
        vocab_file('{"itos": ["a", "a"], "specials": []}'),
        VE,
        r"itos has duplicate tokens: \['a'\]",
    ),
    (
        "data/tokenizer-unknown-type",
        lambda env: tokenizer_from_dict({"type": "sentencepiece"}),
        VE,
        r"unknown tokenizer type 'sentencepiece'; known types: \[",
    ),
    (
        "data/encoder-dict-incomplete",
        lambda env: TextEncoder.from_dict({"tokenizer": {"type": "char"}}),
        VE,
        r"a TextEncoder dict needs 'tokenizer' and 'vocab' keys",
    ),
    (
        "data/vocabulary-differs-from-checkpoint-resume",
        other_vocabulary,
        VE,
        r"the checkpoint's vocabulary/tokenizer \(\d+ tokens, char tokenizer\) differs from this run's data \(\d+ tokens",
    ),
    (
        "data/vocabulary-differs-from-checkpoint-eval",
        eval_on_changed_data,
        VE,
        r"the checkpoint's vocabulary/tokenizer \(\d+ tokens, char tokenizer\) differs from the data's",
    ),
    # ---------------------------------------------------------------- your own text files (experiment=text_classifier)
    ("text/no-train-file", text_files({}), MissingMandatoryValue, r"Missing mandatory value: data\.train"),
    (
        "text/train-not-found",
        text_files({}, "data.train={dir}/nope.csv"),
        FNF,
        r"train: file .*text_files/nope\.csv not found \(relative paths start at the working directory\)",
    ),
    (
        "text/glob-matches-nothing",
        text_files({"a.csv": TRAIN_CSV}, "data.train={dir}/*.tsv"),
        FNF,
        r"train: no file matches '.*text_files/\*\.tsv'",
    ),
    ("text/empty-file", csv_train(""), VE, r"text_files/train\.csv: the file is empty"),
    (
        "text/missing-column",
        csv_train("label,review\npos,fine\n"),
        VE,
        r"train\.csv:1: missing column 'text' \(text_column\): the header is \['label', 'review'\].*"
        r"data\.label_column=0 data\.text_column=1",
    ),
    (
        "text/column-index-out-of-range",
        csv_train("pos,fine\nneg,bad\n", "data.text_column=5", "data.label_column=0"),
        VE,
        r"train\.csv:1: missing column: text_column is 5 but the row has 2 field\(s\)",
    ),
    (
        "text/ragged-csv-row",
        csv_train("label,text\npos,fine\nneg,bad, really\n"),
        VE,
        r"train\.csv:3: ragged CSV row: 3 field\(s\), expected 2 as in the header \(quote fields that hold a comma\)",
    ),
    ("text/unclosed-quote", csv_train('label,text\npos,fine\nneg,"bad\n'), VE, r"train\.csv:3: malformed CSV"),
    ("text/empty-text", csv_train("label,text\npos,fine\nneg,\n"), VE, r"train\.csv:3: empty text"),
    (
        "text/latin1-bytes",
        csv_train("label,text\npos,fine\nneg,caf\xe9\n".encode("latin-1")),
        VE,
        r"train\.csv:3: cannot decode byte\(s\) b'\\xe9' as 'utf-8'.*data\.encoding=latin-1",
    ),
    (
        "text/unknown-encoding",
        csv_train(TRAIN_CSV, "data.encoding=klingon"),
        VE,
        r"encoding 'klingon' is not a known text encoding",
    ),
    (
        "text/unknown-format",
        csv_train(TRAIN_CSV, "data.format=xml"),
        VE,
        r"format must be one of \['auto', 'csv', 'tsv', 'jsonl', 'label_first', 'fasttext', 'folder'\], got 'xml'",
    ),
    (
        "text/label-only-in-test",
        text_files(
            {"train.csv": TRAIN_CSV, "test.csv": "label,text\npos,ok\nmeh,so so\n"},
            "data.train={dir}/train.csv",
            "data.test={dir}/test.csv",
        ),
        VE,
        r"test\.csv:3: label 'meh' does not occur in the training files \(classes: \['neg', 'pos'\]\); "
        r"to keep it, list every class: data\.labels=\[neg,pos,meh\]",
    ),
    (
        "text/label-outside-labels",
        csv_train(TRAIN_CSV, "data.labels=[pos,neutral]"),
        VE,
        r"train\.csv:3: label 'neg' is not one of labels=\['pos', 'neutral'\]",
    ),
    (
        "text/one-class",
        csv_train("label,text\npos,fine\npos,great\n"),
        VE,
        r"the training files have 1 class\(es\) \['pos'\]; classification needs at least 2",
    ),
    (
        "text/header-false-with-names",
        csv_train(TRAIN_CSV, "data.header=false"),
        VE,
        r"header=false but a column is given by name \(text_column='text', label_column='label'\): give 0-based indices",
    ),
    (
        "text/fasttext-several-labels",
        text_files({"ft.txt": "__label__a x\n__label__a __label__b y\n"}, "data.train={dir}/ft.txt"),
        VE,
        r"ft\.txt:2: several labels \['a', 'b'\] on one line; this is single-label classification",
    ),
    (
        "text/label-first-without-text",
        text_files({"train.txt": "1 fine\n0\n"}, "data.train={dir}/train.txt"),
        VE,
        r"train\.txt:2: expected 'LABEL text', got only '0' \(no text after the label\)",
    ),
    (
        "text/jsonl-not-json",
        text_files({"t.jsonl": '{"text": "a", "label": 1}\n{text: b}\n'}, "data.train={dir}/t.jsonl"),
        VE,
        r"t\.jsonl:2: not valid JSON",
    ),
    (
        "text/jsonl-missing-key",
        text_files({"t.jsonl": '{"text": "a", "label": 1}\n{"text": "b"}\n'}, "data.train={dir}/t.jsonl"),
        VE,
        r"t\.jsonl:2: missing column 'label' \(label_column\): the object's keys are \['text'\]",
    ),
    (
        "text/folder-format-on-a-file",
        csv_train(TRAIN_CSV, "data.format=folder"),
        VE,
        r"train\.csv: format=folder needs a folder with one sub-folder per class",
    ),
    (
        "text/empty-class-folder",
        text_files({"train/pos/1.txt": "fine", "train/neg/.keep": ""}, "data.train={dir}/train"),
        VE,
        r"train/neg: the class folder holds no files",
    ),
    (
        "text/stratify-not-a-bool",
        csv_train(TRAIN_CSV, "data.stratify=sometimes"),
        VE,
        r"stratify must be true or false, got 'sometimes'",
    ),
    # ---------------------------------------------------------------- checkpoint files
    (
        "ckpt/truncated",
        lambda env: checkpoint_file(truncated(env))(env),
        VE,
        r"model\.ckpt is not a readable PyTorch checkpoint \(truncated or corrupt\?\)",
    ),
    (
        "ckpt/truncated-resume",
        lambda env: checkpoint_file(truncated(env), "resume")(env),
        VE,
        r"not a readable PyTorch checkpoint",
    ),
    ("ckpt/empty-file", checkpoint_file(lambda p: p.write_bytes(b"")), VE, r"not a readable PyTorch checkpoint"),
    (
        "ckpt/text-file",
        checkpoint_file(lambda p: p.write_text(json.dumps({"state_dict": {}}))),
        VE,
        r"not a readable PyTorch checkpoint",
    ),
    (
        "ckpt/pickled-code",
        checkpoint_file(lambda p: torch.save({CHECKPOINT_KEY: {"format_version": 1}, "x": Payload()}, p)),
        VE,
        r"holds pickled Python code, which was refused and not run \(Unsupported global: GLOBAL print\)",
    ),
    (
        "ckpt/pickled-code-eval",
        checkpoint_file(lambda p: torch.save({"x": Payload()}, p), "eval"),
        VE,
        r"pickled Python code, which was refused",
    ),
    (
        "ckpt/pickled-blocked-module",
        checkpoint_file(lambda p: torch.save({CHECKPOINT_KEY: {}, "x": SystemCall()}, p)),
        VE,
        r"^(?!.*weights_only).*holds pickled Python code, which was refused and not run \(.*GLOBAL posix\.system.*blocked",
    ),
    (
        "ckpt/plain-state-dict",
        checkpoint_file(lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p)),
        VE,
        r"is a PyTorch file but not a seqmodels checkpoint: it has no 'seqmodels' entry \(found \['bias', 'weight'\]\)",
    ),
    ("ckpt/other-lightning-project", checkpoint_file(foreign_lightning, "sample"), VE, r"not a seqmodels checkpoint"),
    (
        "ckpt/numpy-array",
        checkpoint_file(lambda p: torch.save({"w": np.zeros(3)}, p)),
        VE,
        r"holds pickled Python code, which was refused",
    ),
    (
        "ckpt/newer-format",
        lambda env: checkpoint_file(edited(env, lambda c: c[CHECKPOINT_KEY].update(format_version=FORMAT_VERSION + 1)))(
            env
        ),
        VE,
        r"format_version=2; this seqmodels reads versions up to 1",
    ),
    (
        "ckpt/no-weights",
        lambda env: checkpoint_file(edited(env, lambda c: c.pop("state_dict")))(env),
        VE,
        r"has no 'state_dict' entry",
    ),
    (
        "ckpt/no-config-eval",
        lambda env: checkpoint_file(edited(env, lambda c: c[CHECKPOINT_KEY].update(config=None)), "eval")(env),
        VE,
        r"the stored config lacks data/model/task sections",
    ),
    (
        "ckpt/regression-model-to-sample",
        lambda env: run_command(env, "sample", env.adding_ckpt),
        VE,
        r"adding.*last\.ckpt holds a RNNClassifier, not a language model",
    ),
    (
        "ckpt/regression-model-to-score",
        lambda env: run_command(env, "score", env.adding_ckpt),
        VE,
        r"not a language model",
    ),
    (
        "ckpt/regression-model-resumed-as-lm",
        lambda env: run_command(env, "resume", env.adding_ckpt),
        VE,
        r"was written by seqmodels\.tasks\.regression\.RegressionTask, but this run trains "
        r"seqmodels\.tasks\.language_modeling\.LanguageModelingTask",
    ),
    (
        "ckpt/config-target-outside-trusted-modules",
        lambda env: checkpoint_file(
            edited(
                env, lambda c: c[CHECKPOINT_KEY]["config"]["model"].update(_target_="subprocess.Popen", args=["true"])
            ),
            "sample",
        )(env),
        VE,
        r"config\.model\._target_='subprocess\.Popen' is outside the modules a checkpoint may name.*SEQMODELS_TRUSTED_TARGETS=subprocess",
    ),
    (
        "ckpt/config-target-in-data-eval",
        lambda env: checkpoint_file(
            edited(env, lambda c: c[CHECKPOINT_KEY]["config"]["data"]["corpus"].update(_target_="os.system")), "eval"
        )(env),
        VE,
        r"config\.data\.corpus\._target_='os\.system' is outside the modules",
    ),
    (
        "ckpt/config-target-not-a-class",
        lambda env: checkpoint_file(
            edited(
                env,
                lambda c: c[CHECKPOINT_KEY]["config"]["model"]["cell"].update(
                    _target_="torch.nn.utils.rnn.pack_padded_sequence"
                ),
            ),
            "sample",
        )(env),
        VE,
        r"config\.model\.cell\._target_='torch\.nn\.utils\.rnn\.pack_padded_sequence' is a function, not a class",
    ),
    (
        "ckpt/other-hidden-size",
        lambda env: train(lm_cfg(env, f"ckpt_path={env.lm_ckpt}", "model.hidden_size=16")),
        VE,
        r"parameter model\.rnn\.layers\.0\.cell\.weight_ih has shape \(48, 8\) in the checkpoint but \(64, 8\) in this run's model",
    ),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("bad_input")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "input.txt").write_text(TEXT)
    env = Env(root, corpus, Path(), Path())
    env.lm_ckpt = Path(train(lm_cfg(env, name="lm"))["last_model_path"])
    adding = shrink(
        compose_config(
            [*QUIET, "experiment=adding_lstm", "debug=fast", "logger=csv", "~callbacks.gradient_flow", "test=false"],
            env.scratch("adding"),
        )
    )
    adding.trainer.enable_progress_bar = False
    env.adding_ckpt = Path(train(adding)["last_model_path"])
    return env


def test_the_table_has_forty_cases_or_more():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, action, errors, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_with_a_clear_message(env, name, action, errors, pattern):
    with pytest.raises(errors) as info:
        action(env)
    message = str(info.value)
    assert re.search(pattern, message, re.S), f"{name}: {type(info.value).__name__}: {message}"
    assert "Traceback" not in message
