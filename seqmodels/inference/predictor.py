"""Predictions from a checkpoint alone: ``seqmodels.load(path)`` returns a :class:`Predictor`.

What :meth:`Predictor.predict` gives per input depends on the task that wrote the checkpoint:

* classifier (``ClassificationTask``): ``{"label": str, "probabilities": {label: p, ...}}`` — the
  most likely class and the ``top_k`` most likely with their softmax probabilities, in decreasing
  order (all of them by default up to 10 classes, else the top 10);
* tagger (``TaggingTask``): ``{"tokens": [...], "tags": [...]}``, one tag per token, and with an
  IOB-style tag set (``B-NP``, ``I-NP``, ``O``, ...) ``"spans": [{"type", "start", "end", "text"}]``:
  the chunks read from the tags as conlleval reads them (``start`` inclusive, ``end`` exclusive token
  indices; :mod:`seqmodels.data.chunks`);
* regressor (``RegressionTask``): ``{"value": float}`` for one output, ``{"values": [...]}`` for K.

Labels are the strings the training data named its classes with (stored in the checkpoint with
the task's hyper-parameters); a checkpoint without them gives the class indices as strings, with a
warning. Inputs are read as training read them: text through the stored tokenizer and vocabulary
(unknown words as ``<unk>``, an empty text as one ``<unk>``, at most the data's ``max_length`` steps),
real-valued series (T, F) with their missing values (NaN) treated by the training data's ``nan`` policy
(``error`` when it names none: a NaN is refused with where it is) and standardised with the training mean and
std when the data module did so.
Every input is predicted on its own: a batch is padded and carries each input's length, so the
result never depends on the other inputs of the batch.

Language models get :meth:`Predictor.sample` and :meth:`Predictor.score`
(:mod:`seqmodels.inference.generation`), encoder–decoders :meth:`Predictor.translate`
(:mod:`seqmodels.inference.decoding`). A conditional language model's ``sample`` and ``score`` take
``condition=``: ``"field:value field:value"`` or a mapping, with the values its training data had
(``Predictor.conditions`` lists them; :mod:`seqmodels.inference.conditional`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..checkpoints import CHECKPOINT_KEY, load_checkpoint, model_from_checkpoint
from ..data.chunks import is_chunk_scheme, spans
from ..data.corpora.series_files import clean_series
from ..data.tokenizers import tokenizer_from_dict
from ..data.vocab import PAD, UNK, Vocab
from ..models import RNNClassifier, RNNLanguageModel, RNNTagger, Seq2Seq
from . import decoding, generation
from .conditional import condition_input, stored_conditions
from .inputs import Example

KINDS = {
    "ClassificationTask": "classifier",
    "TaggingTask": "tagger",
    "RegressionTask": "regressor",
    "LanguageModelingTask": "language_model",
    "TranslationTask": "translator",
}
PREDICTS = ("classifier", "tagger", "regressor")
# how a CSV file of series is read (SeriesClassificationData's options), with the reader's defaults
SERIES_OPTIONS = {"label_column": "label", "id_column": None, "time_column": None, "feature_columns": None}
SERIES_OPTIONS["delimiter"] = None
DEFAULT_TOP_K = 10  # classes listed by default (all of them when there are at most this many)


def checkpoint_kind(task: str | None, model: nn.Module) -> str:
    """The kind of predictor for the task class that wrote a checkpoint (its qualified name), or, for
    a task of one's own, for the network's class."""
    name = (task or "").rpartition(".")[2]
    if name in KINDS:
        return KINDS[name]
    if isinstance(model, RNNLanguageModel):
        return "language_model"
    if isinstance(model, Seq2Seq):
        return "translator"
    if isinstance(model, RNNTagger):
        return "tagger"
    if isinstance(model, RNNClassifier):
        return "regressor" if model.num_classes == 1 else "classifier"
    raise ValueError(f"cannot tell what {type(model).__name__} (written by {task}) predicts")


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` consecutive items (the last one shorter), read lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class Predictor:
    """A trained network and what it needs to read raw inputs and name its outputs.

    Build it with :meth:`from_checkpoint` (``seqmodels.load``). Attributes: ``model`` (eval mode),
    ``encoder`` (``TextEncoder``/``TranslationEncoder`` or None), ``config`` (the stored training
    config), ``kind`` (``classifier``, ``tagger``, ``regressor``, ``language_model``,
    ``translator``), ``label_names`` (None for regressors and generators), ``input_type`` (``text``,
    ``tokens`` or ``series``), ``conditions`` (a conditional language model's fields and their values:
    :class:`~seqmodels.data.conditions.Conditions`; None for other models).
    """

    def __init__(
        self,
        model: nn.Module,
        encoder: Any,
        config: dict,
        kind: str,
        label_names: Sequence[str] | None = None,
        feature_vocabs: Sequence[Sequence[str]] | None = None,
        input_normalization: dict | None = None,
        source: str = "the model",
        conditions: Any = None,
    ) -> None:
        self.model, self.encoder, self.config, self.kind, self.source = model, encoder, config, kind, source
        self.conditions = conditions
        self.data_config: dict = (config or {}).get("data") or {}
        self.device = next(model.parameters()).device
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        if kind in ("classifier", "tagger"):
            num_classes = int(cast(Any, model).num_classes)  # a plain attribute of RNNClassifier and RNNTagger
            if self.label_names is None:
                warnings.warn(
                    f"{source} stores no label names (written before they were kept?): the labels are the class "
                    f"indices '0'..'{num_classes - 1}'",
                    stacklevel=3,
                )
                self.label_names = [str(i) for i in range(num_classes)]
            elif len(self.label_names) != num_classes:
                raise ValueError(f"{source}: {len(self.label_names)} label names for a model of {num_classes} classes")
        self.chunks = kind == "tagger" and is_chunk_scheme(self.label_names or [])
        self.feature_vocabs = [Vocab(itos, [s for s in (PAD, UNK) if s in itos]) for itos in feature_vocabs or []]
        self.normalization = None
        if input_normalization is not None:
            self.normalization = (
                np.asarray(input_normalization["mean"], dtype=np.float32),
                np.asarray(input_normalization["std"], dtype=np.float32),
            )
        vocab = getattr(encoder, "vocab", None)
        self.pad_index = 0 if vocab is None or vocab.pad_index is None else vocab.pad_index
        self._display_tokenizer = None
        if kind == "tagger" and encoder is not None:
            settings = encoder.tokenizer.to_dict()  # the same tokens as training, in the input's own case
            self._display_tokenizer = encoder.tokenizer
            if settings.get("lowercase"):
                self._display_tokenizer = tokenizer_from_dict({**settings, "lowercase": False})

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "cpu", trusted: Sequence[str] = ()
    ) -> Predictor:
        """Load a checkpoint written by ``seqmodels-train`` (any task).

        Args:
            path: the ``.ckpt`` file.
            device: where the network runs (``"cpu"``, ``"cuda"``, …).
            trusted: modules besides ``seqmodels``/``torch.nn``/``torch.optim`` the stored config may
                name (a cell of one's own), as for :func:`seqmodels.checkpoints.load_model`.
        """
        checkpoint = load_checkpoint(path, device)
        model, encoder, config = model_from_checkpoint(checkpoint, path, device, trusted)
        extra = checkpoint[CHECKPOINT_KEY]
        hparams = checkpoint.get("hyper_parameters") or {}
        kind = checkpoint_kind(extra.get("task"), model)
        return cls(
            model,
            encoder,
            config,
            kind,
            label_names=hparams.get("label_names"),
            feature_vocabs=hparams.get("feature_vocabs"),
            input_normalization=extra.get("input_normalization"),
            source=str(path),
            conditions=stored_conditions(checkpoint),
        )

    @property
    def input_type(self) -> str:
        """``tokens`` (a tagger), ``text`` (a model with a text encoder) or ``series`` (real-valued (T, F) inputs)."""
        if self.kind == "tagger":
            return "tokens"
        return "series" if self.encoder is None else "text"

    @property
    def input_size(self) -> int | None:
        return getattr(self.model, "input_size", None)

    # ------------------------------------------------------------------ predicting
    def predict(self, inputs: Any, top_k: int | None = None, batch_size: int = 64) -> list[dict[str, Any]]:
        """One result per input, in order (see the module docstring for the fields).

        Args:
            inputs: a list of texts (text classifiers and regressors); for a tagger, texts (split
                into tokens as in training), token lists, or token rows in the training file's column
                layout (word and feature columns, for a tagger given features such as POS tags); for
                real-valued models, a list of (T, F) arrays or one (N, T, F) array.
            top_k: classifiers: how many classes to list (default: all up to 10 classes, else 10).
            batch_size: inputs per forward pass.
        """
        if isinstance(inputs, str):
            raise ValueError(f"inputs must be a list, got a single string: predict([{inputs[:40]!r}])")
        if isinstance(inputs, (np.ndarray, Tensor)) and inputs.ndim != 3:
            raise ValueError(f"an array of inputs must be (N, T, F) series, got shape {tuple(inputs.shape)}")
        examples = (Example(x, f"inputs[{i}]", {}) for i, x in enumerate(inputs))
        return [result for batch in self.predict_examples(examples, top_k, batch_size) for result in batch]

    def predict_examples(
        self, examples: Iterable[Example], top_k: int | None = None, batch_size: int = 64
    ) -> Iterator[list[dict[str, Any]]]:
        """The results of ``examples`` (e.g. :func:`~seqmodels.inference.inputs.read_examples`), one list per
        batch of ``batch_size``, computed as the examples are read (a file of any length in bounded memory).
        Errors name the example's ``where``."""
        self.check_predicts()
        batch_size = _positive_int("batch_size", batch_size)
        for chunk in batched(examples, batch_size):
            yield self.predict_batch(chunk, top_k)

    def predict_batch(self, examples: Sequence[Example], top_k: int | None = None) -> list[dict[str, Any]]:
        """The results of ``examples``, in one forward pass."""
        self.check_predicts()
        top_k = self._top_k(top_k)
        return self._run([self._encode(example) for example in examples], top_k) if examples else []

    def check_predicts(self) -> None:
        """Raise ``ValueError`` unless this checkpoint's model predicts (a classifier, tagger or regressor whose
        inputs can be read as in training)."""
        if self.kind == "language_model":
            raise ValueError(
                f"{self.source} holds a language model: predict is for classifiers, taggers and regressors; "
                "generate with seqmodels-sample (Predictor.sample) or score sentences with seqmodels-score "
                "(Predictor.score)"
            )
        if self.kind == "translator":
            raise ValueError(
                f"{self.source} holds an encoder-decoder: translate with seqmodels-translate (Predictor.translate)"
            )
        if self.input_type == "series" and self.normalization is None and self.data_config.get("normalize"):
            raise ValueError(
                f"{self.source}: the model was trained on standardised inputs (data.normalize=true) but the checkpoint "
                "does not store the training mean and std (it was written before they were kept); retrain to predict"
            )

    def _top_k(self, top_k: int | None) -> int:
        if self.kind != "classifier":
            return 0
        num_classes = len(self.label_names or ())
        if top_k is None:
            return min(num_classes, DEFAULT_TOP_K)
        return min(_positive_int("top_k", top_k), num_classes)

    def series_options(self, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The CSV options of :func:`~seqmodels.inference.inputs.read_series` (``label_column``, ``id_column``,
        ``time_column``, ``feature_columns``, ``delimiter``) as the training data config set them (the reader's
        defaults where it has none), with ``changes`` over them (a None among them unsets one: ``{"time_column":
        None}``)."""
        options = {key: self.data_config.get(key, default) for key, default in SERIES_OPTIONS.items()}
        unknown = sorted(set(changes or {}) - set(SERIES_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown series option(s) {unknown}: a file of series is read with {sorted(SERIES_OPTIONS)}"
            )
        options.update(changes or {})
        if isinstance(options["feature_columns"], str):
            options["feature_columns"] = [options["feature_columns"]]
        return options

    # ------------------------------------------------------------------ inputs -> arrays
    def _encode(self, example: Example) -> tuple[np.ndarray, list[str] | None]:
        """``(array, tokens)``: ids (T,), ids with features (T, 1+F) or floats (T, F); the tagger's tokens."""
        if self.input_type == "tokens":
            return self._encode_tokens(example)
        if self.input_type == "text":
            if not isinstance(example.value, str):
                raise ValueError(f"{example.where}: this model reads text; got {type(example.value).__name__}")
            ids = self.encoder.encode_array(example.value)
            if not len(ids):  # as training encodes an empty text: one <unk>
                vocab = self.encoder.vocab
                ids = np.asarray([vocab.unk_index if vocab.unk_index is not None else self.pad_index])
            return self._truncate(ids), None
        return self._encode_series(example), None

    def _truncate(self, x: np.ndarray) -> np.ndarray:
        max_length = self.data_config.get("max_length")
        return x[:max_length] if isinstance(max_length, int) and max_length > 0 else x

    def _encode_series(self, example: Example) -> np.ndarray:
        value = example.value
        if isinstance(value, str):
            raise ValueError(
                f"{example.where}: this model reads real-valued series (T, {self.input_size}), not text; "
                "give an .npz, .npy or .ts file"
            )
        x = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != self.input_size:
            raise ValueError(f"{example.where}: a series must be (T >= 1, F={self.input_size}), got shape {x.shape}")
        nan = str(self.data_config.get("nan") or "error")
        x = clean_series(  # missing values as training's data.nan treated them, before the standardisation
            x,
            nan,
            f"{example.where}: the series",
            step_lines=example.lines,
            nan_fix=f"; the model was trained with data.nan={nan}: fill or remove the missing values",
            empty_fix="fill the missing values or remove the series",
        )
        if self.normalization is not None:
            mean, std = self.normalization
            x = (x - mean) / std
        return self._truncate(x)

    def _encode_tokens(self, example: Example) -> tuple[np.ndarray, list[str]]:
        value, where = example.value, example.where
        corpus = self.data_config.get("corpus") or {}
        word_column = int(corpus.get("word_column", 0))
        feature_columns = [int(c) for c in corpus.get("feature_columns") or []]
        rows = None
        if isinstance(value, str):
            assert self._display_tokenizer is not None  # set for a tagger with its encoder
            words = self._display_tokenizer.tokenize(value)
        elif isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
            words = list(value)
        elif isinstance(value, (list, tuple)) and all(isinstance(r, (list, tuple)) for r in value):
            rows = [tuple(r) for r in value]
            read = [word_column, *feature_columns]
            for i, row in enumerate(rows):
                if not all(-len(row) <= c < len(row) for c in read) or not all(isinstance(c, str) for c in row):
                    raise ValueError(
                        f"{where}: token {i} has the columns {list(row)}, but the model reads columns {read}"
                    )
            words = [row[word_column] for row in rows]
        else:
            raise ValueError(f"{where}: a tagger reads a text, a list of tokens or token rows; got {value!r:.80}")
        if not words:
            raise ValueError(f"{where}: no tokens to tag")
        lowercase = bool(getattr(self.encoder.tokenizer, "lowercase", False))
        ids = np.asarray(self.encoder.vocab.encode([w.lower() if lowercase else w for w in words]), dtype=np.int64)
        if not self.feature_vocabs:
            return ids, words
        if rows is None:
            raise ValueError(
                f"{where}: the model also reads feature column(s) {feature_columns} beside the words (e.g. POS tags): "
                "give token rows in the training file's layout, e.g. a CoNLL file (format=conll)"
            )
        channels = [ids] + [
            np.asarray(v.encode([row[c] for row in rows]), dtype=np.int64)
            for c, v in zip(feature_columns, self.feature_vocabs)
        ]
        return np.stack(channels, axis=1), words  # (T, 1 + F)

    def _pad(self, arrays: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        """``(inputs, lengths)``: (B, T) ids, (B, T, 1+F) ids or (B, T, F) floats, padded; lengths (B,)."""
        lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
        first, longest = arrays[0], int(lengths.max())
        if first.dtype.kind == "f":
            inputs = torch.zeros((len(arrays), longest, first.shape[1]), dtype=torch.float32)
        else:
            pad: int | list[int] = self.pad_index
            if first.ndim == 2:  # words and feature columns, each padded with its own <pad>
                pad = [self.pad_index] + [v.pad_index or 0 for v in self.feature_vocabs]
            inputs = torch.empty((len(arrays), longest, *first.shape[1:]), dtype=torch.long)
            inputs[:] = torch.as_tensor(pad, dtype=torch.long)
        for b, a in enumerate(arrays):
            inputs[b, : len(a)] = torch.from_numpy(np.ascontiguousarray(a)).to(inputs.dtype)
        return inputs.to(self.device), lengths.to(self.device)

    # ------------------------------------------------------------------ arrays -> results
    @torch.inference_mode()
    def _run(self, encoded: list[tuple[np.ndarray, list[str] | None]], top_k: int) -> list[dict[str, Any]]:
        inputs, lengths = self._pad([array for array, _ in encoded])
        outputs = self.model(inputs, lengths)[0]  # (B, C), (B, K) or (B, T, C)
        if self.kind == "regressor":
            values = outputs.double().cpu().tolist()
            return [{"value": v[0]} if len(v) == 1 else {"values": v} for v in values]
        names = self.label_names or []
        if self.kind == "classifier":
            probs = torch.softmax(outputs.double(), dim=-1).cpu()  # (B, C)
            top = torch.topk(probs, top_k, dim=-1)
            return [
                {"label": names[int(i[0])], "probabilities": {names[int(c)]: float(p) for p, c in zip(ps, i)}}
                for ps, i in zip(top.values, top.indices)
            ]
        results = []
        for row, n, (_, words) in zip(outputs.argmax(-1).cpu().tolist(), lengths.tolist(), encoded):
            assert words is not None  # a tagger's examples carry their tokens
            tags = [names[i] for i in row[:n]]
            result: dict[str, Any] = {"tokens": words, "tags": tags}
            if self.chunks:
                result["spans"] = [
                    {"type": kind, "start": first, "end": last + 1, "text": " ".join(words[first : last + 1])}
                    for kind, first, last in spans(tags)
                ]
            results.append(result)
        return results

    # ------------------------------------------------------------------ generators
    def _need(self, kind: str, what: str) -> None:
        if self.kind != kind:
            instead = {"translator": "translate", "language_model": "sample or score"}.get(self.kind, "predict")
            raise ValueError(
                f"{self.source} holds a {self.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}, "
                f"which {what} needs; use {instead}"
            )

    def sample(
        self,
        prompt: str = "",
        max_new_tokens: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        condition: str | Mapping[str, Any] | None = None,
    ) -> str:
        """A language model's continuation of ``prompt`` (prompt included):
        :func:`~seqmodels.inference.generation.generate`. A conditional model needs ``condition``
        (``"label:pos"``, ``{"label": "pos"}``; a value its training data never had is refused with the known ones)
        and starts from its start token: ``prompt=""`` gives a whole sequence."""
        self._need("language_model", "sample")
        tensors = condition_input(self.model, self.conditions, condition, self.source)
        return generation.generate(
            self.model, self.encoder, prompt, max_new_tokens, temperature, top_k, top_p, seed, condition=tensors
        )

    def score(self, sentences: Sequence[str], condition: str | Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Log-probability and perplexity of each sentence under a language model:
        :func:`~seqmodels.inference.generation.score`; a conditional model's under ``condition`` (one for all)."""
        self._need("language_model", "score")
        tensors = condition_input(self.model, self.conditions, condition, self.source)
        return generation.score(self.model, self.encoder, sentences, condition=tensors)

    def translate(
        self,
        texts: Sequence[str],
        beam_size: int = 5,
        max_length: int | None = None,
        length_penalty: float = 1.0,
        batch_size: int = 32,
    ) -> list[str]:
        """An encoder–decoder's translations: :func:`~seqmodels.inference.decoding.translate`."""
        self._need("translator", "translate")
        return decoding.translate(self.model, self.encoder, texts, beam_size, max_length, length_penalty, batch_size)


def load(path: str | Path, device: str | torch.device = "cpu", trusted: Sequence[str] = ()) -> Predictor:
    """:meth:`Predictor.from_checkpoint`: ``seqmodels.load("…/last.ckpt").predict(["a fine film"])``."""
    return Predictor.from_checkpoint(path, device, trusted)


__all__ = ["KINDS", "Predictor", "batched", "checkpoint_kind", "load"]
