"""Where a network's weights start: the model config keys that are no constructor arguments.

::

    model.init_from=<ckpt>          the embedding rows (by token string) and recurrent stack of a language model
                                    (seqmodels/models/transfer.py: what is copied, what is refused and why)
    model.pretrained_embeddings=<f> word vectors for the embedding (seqmodels/models/pretrained.py)
    model.freeze_embeddings=true    the embedding is not trained
    model.lm_vocabulary=true        the data's vocabulary is init_from's (its tokenizer, its tokens after the data's
                                    own specials): every word the language model knows keeps its row, at test time too

:func:`build_model_and_task <seqmodels.commands.instantiate.build_model_and_task>` builds the network from the
config without these keys (:data:`~seqmodels.checkpoints.loading.MODEL_INIT_KEYS`), then applies them in this
order: ``init_from``, ``pretrained_embeddings``, ``freeze_embeddings``. Both ``init_from`` and
``pretrained_embeddings`` set the embedding: the pair is refused (the language model's embedding was trained with
its recurrent layers; vectors from another model live in another space the copied layers never read).

A resumed run (``ckpt_path=...``) reads neither file: the checkpoint's weights replace them, and a language model
or vectors file that is gone by then must not block the resume. ``freeze_embeddings`` applies to it as well
(``requires_grad`` is not stored in a checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from ..checkpoints import CHECKPOINT_KEY, load_checkpoint, load_language_model
from ..checkpoints.loading import MODEL_INIT_KEYS
from ..checkpoints.trust import iter_targets
from ..data import TextEncoder, Vocab
from ..models import RNNLanguageModel
from ..models.transfer import (
    check_tokenizers,
    init_from_language_model,
    input_embedding,
    token_coverage,
    transfer_parts,
)

log = logging.getLogger(__name__)


def strip_init_keys(node: DictConfig) -> DictConfig:
    """A copy of the model config ``node`` without :data:`MODEL_INIT_KEYS` (interpolations still resolve)."""
    copy = node.copy()
    with open_dict(copy):
        for key in MODEL_INIT_KEYS:
            copy.pop(key, None)
    return copy


# an experiment that only makes sense from a language model (imdb_ulmfit) says so with this value: a missing
# ``???`` cannot override the model config's ``null`` in Hydra's merge
REQUIRED = "<required>"


def init_options(node: DictConfig) -> dict[str, Any]:
    """``init_from``, ``pretrained_embeddings`` (absolute paths, or None) and ``freeze_embeddings`` (a bool) of a
    model config, checked; the paths are also written back absolute, so the stored config names the files
    wherever it is read. Absent keys take their defaults (None, None, False)."""
    options: dict[str, Any] = {}
    for key in ("init_from", "pretrained_embeddings"):
        value = node.get(key)
        if value == REQUIRED:
            options[key] = REQUIRED
            continue
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"model.{key} must be the path of a file or null, got {value!r}")
        options[key] = None if value is None else str(Path(value).expanduser().absolute())
        if value is not None:
            with open_dict(node):
                node[key] = options[key]
    freeze = node.get("freeze_embeddings", False)
    if not isinstance(freeze, bool):
        raise ValueError(f"model.freeze_embeddings must be true or false, got {freeze!r}")
    options["freeze_embeddings"] = freeze
    if options["init_from"] and options["init_from"] != REQUIRED and options["pretrained_embeddings"]:
        raise ValueError(
            f"model.init_from={options['init_from']} and model.pretrained_embeddings={options['pretrained_embeddings']} "
            "both set the embedding: pick one (init_from copies the language model's embedding, trained together with "
            "the recurrent layers it also copies; word vectors from elsewhere live in a space those layers never read)"
        )
    return options


def apply_model_init(node: DictConfig, model: nn.Module, datamodule: Any, fresh: bool = True) -> None:
    """Apply the model config ``node``'s init keys to the built ``model`` (see the module docstring).

    ``fresh=False`` (the weights come from a checkpoint next) skips the files and applies only the freezing.
    Errors name the key: ``ValueError``/``FileNotFoundError`` starting ``model.init_from=<path>: ...``.
    """
    options = init_options(node)
    if options["init_from"] == REQUIRED:
        if fresh:
            raise ValueError(
                "model.init_from is required: this experiment starts from a language model's checkpoint; give it "
                "as model.init_from=<path>, e.g. the checkpoints/last.ckpt of the language-model experiment its "
                "config names (docs/TRANSFER.md)"
            )
        options["init_from"] = None
    wanted = [k for k in ("init_from", "pretrained_embeddings") if options[k]]
    if wanted and not fresh:
        log.info(
            "resuming: %s not read (the checkpoint's weights replace them)", " and ".join(f"model.{k}" for k in wanted)
        )
    elif options["init_from"]:
        own = [target for _, target in iter_targets(OmegaConf.to_container(node, resolve=True))]
        init_from(model, options["init_from"], datamodule, trusted=own)
    elif options["pretrained_embeddings"]:
        pretrained_embeddings(model, options["pretrained_embeddings"], datamodule)
    if options["freeze_embeddings"]:
        freeze_embeddings(model)


def lm_vocabulary(cfg: DictConfig, resumed: Mapping[str, Any] | None = None) -> TextEncoder | None:
    """The text encoder the data module takes when ``model.lm_vocabulary`` is true, else None.

    ULMFiT keeps the language model's vocabulary for the classifier: a word of the test set that the few labelled
    texts never hold still has the row the language model learned for it. The encoder is ``model.init_from``'s
    tokenizer with a vocabulary of the data config's ``specials`` (its default when the config has none, e.g.
    ``<pad>``, ``<unk>`` for classification) followed by the language model's other tokens in their order, so
    that every language-model row is copied. ``data.max_vocab_size`` and ``data.min_freq`` then do not apply.
    A resumed run (``resumed``: its checkpoint's extras) takes the encoder it stored and reads no other file.
    """
    wanted = cfg.model.get("lm_vocabulary", False) if isinstance(cfg.get("model"), DictConfig) else False
    if not isinstance(wanted, bool):
        raise ValueError(f"model.lm_vocabulary must be true or false, got {wanted!r}")
    if not wanted:
        return None
    if resumed is not None and resumed.get("encoder"):
        return TextEncoder.from_dict(resumed["encoder"])
    path = cfg.model.get("init_from")
    if not path or path == REQUIRED:
        raise ValueError(
            "model.lm_vocabulary=true takes the vocabulary of model.init_from, which is not given: set "
            "model.init_from=<a language model's checkpoint>"
        )
    path = str(Path(path).expanduser().absolute())
    key = f"model.init_from={path}"
    try:
        extras = load_checkpoint(path).get(CHECKPOINT_KEY) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{key}: no such file (model.lm_vocabulary=true reads its vocabulary)") from None
    if not isinstance(extras.get("encoder"), dict):
        raise ValueError(f"{key}: the checkpoint stores no text encoder, so model.lm_vocabulary=true has none to take")
    lm = TextEncoder.from_dict(extras["encoder"])
    specials = list(cfg.data.get("specials") or _default_specials(cfg.data))
    itos = specials + [token for token in lm.vocab.itos if token not in specials]
    log.info(
        "model.lm_vocabulary=true: the data reads %s tokens with %s's tokenizer and vocabulary (%d tokens)",
        type(lm.tokenizer).__name__,
        Path(path).name,
        len(itos),
    )
    return TextEncoder(lm.tokenizer, Vocab(itos, specials))


def _default_specials(data: DictConfig) -> Sequence[str]:
    """The ``specials`` default of the data config's class (``<pad>``, ``<unk>`` for classification)."""
    import inspect

    from hydra.utils import get_class

    target = data.get("_target_")
    default = inspect.signature(get_class(str(target))).parameters.get("specials") if target else None
    if default is None or default.default is inspect.Parameter.empty:
        raise ValueError(
            f"model.lm_vocabulary=true: data ({target}) takes no text encoder with specials; it applies to text "
            "classification and language modeling"
        )
    return tuple(default.default)


def data_encoder(datamodule: Any) -> Any:
    """The data's text encoder whose tokens the embedding rows stand for (a translation pair: its source side)."""
    encoder = getattr(datamodule, "encoder", None)
    return getattr(encoder, "source", encoder)


def init_from(model: nn.Module, path: str, datamodule: Any, trusted: Sequence[str] = ()) -> None:
    """Copy the language model of checkpoint ``path`` into ``model`` by token string; log what matched."""
    key = f"model.init_from={path}"
    try:
        transfer_parts(model)  # the model's kind first: a real-valued classifier need not read the file
        lm, lm_encoder, _ = load_language_model(path, trusted=trusted)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{key}: no such file (a checkpoint written by seqmodels-train experiment=word_lm or char_lm, e.g. "
            "<run dir>/checkpoints/last.ckpt)"
        ) from None
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None
    encoder = data_encoder(datamodule)
    if encoder is None:
        raise ValueError(f"{key}: the data has no vocabulary to align with the language model's")
    try:
        for warning in check_tokenizers(lm_encoder.tokenizer.to_dict(), encoder.tokenizer.to_dict()):
            log.warning("%s: %s", key, warning)
        report = init_from_language_model(model, lm, lm_encoder.vocab.itos, encoder.vocab.itos)
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None
    match = report.match
    line = (
        f"{key}: {match.matched:,} of {match.size:,} vocabulary tokens ({match.coverage:.1%}) took the language "
        f"model's embedding row"
    )
    vocab = encoder.vocab
    counts = train_token_counts(datamodule, len(vocab.itos))
    if counts is not None:
        specials = {vocab.stoi[t] for t in vocab.specials}
        share = token_coverage(counts, match, skip=specials)
        total = int(counts.sum()) - sum(int(counts[i]) for i in specials)
        line += f", covering {share:.1%} of the {total:,} training tokens (specials left out)"
        unk = vocab.unk_index
        if unk is not None and total:
            line += (
                f"; {int(counts[unk]) / (total + int(counts[unk])):.1%} of the training tokens are {vocab.itos[unk]}"
            )
    line += f"; {report.layers} recurrent layer(s) copied"
    if report.notes:
        line += "; " + "; ".join(report.notes)
    if match.unmatched:
        line += f"; fresh rows for e.g. {', '.join(repr(t) for t in match.unmatched[:5])}"
    log.info("%s", line)


def train_token_counts(datamodule: Any, vocab_size: int) -> torch.Tensor | None:
    """How often each id occurs in the training split, when the data module holds it as arrays of ids in memory
    (classification, tagging: word ids in channel 0, translation: the source side); else None."""
    datasets = getattr(datamodule, "datasets", None)
    train = datasets.get("train") if isinstance(datasets, Mapping) else None
    sequences = getattr(train, "sequences", None) or getattr(train, "sources", None)
    if not isinstance(sequences, list) or not sequences:
        return None
    ids = [np.asarray(s) for s in sequences]
    if not all(a.dtype.kind in "iu" for a in ids):
        return None  # real-valued inputs
    flat = np.concatenate([a if a.ndim == 1 else a[:, 0] for a in ids])
    return torch.from_numpy(np.bincount(flat, minlength=vocab_size)[:vocab_size].astype(np.int64))


def pretrained_embeddings(model: nn.Module, path: str, datamodule: Any) -> None:
    """Fill the embedding with the vectors of file ``path`` for the data's tokens."""
    from ..models.pretrained import load_pretrained_embeddings

    key = f"model.pretrained_embeddings={path}"
    embedding = input_embedding(model)
    if embedding is None:
        raise ValueError(f"{key}: {type(model).__name__} has no token embedding to fill (token inputs only)")
    encoder = data_encoder(datamodule)
    if encoder is None:
        raise ValueError(f"{key}: the data has no vocabulary to look the vectors up for")
    vocab = encoder.vocab
    try:
        load_pretrained_embeddings(embedding, vocab.itos, path, specials=vocab.specials)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{key}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None


def freeze_embeddings(model: nn.Module) -> None:
    """Take the token embedding out of training (``requires_grad_(False)``)."""
    embedding = input_embedding(model)
    if embedding is None:
        raise ValueError(
            f"model.freeze_embeddings=true: {type(model).__name__} has no token embedding to freeze (token inputs only)"
        )
    embedding.weight.requires_grad_(False)
    tied = isinstance(model, RNNLanguageModel) and model.tie_weights
    log.info(
        "model.freeze_embeddings: the %d x %d embedding is not trained%s",
        embedding.num_embeddings,
        embedding.embedding_dim,
        " (nor the decoder's weight, tied to it)" if tied else "",
    )


__all__ = [
    "apply_model_init",
    "data_encoder",
    "freeze_embeddings",
    "init_from",
    "init_options",
    "pretrained_embeddings",
    "train_token_counts",
    "strip_init_keys",
]
