"""Start a network from a trained language model: ULMFiT's transfer (Howard & Ruder 2018), pure torch.

The language model (:class:`~seqmodels.models.RNNLanguageModel`) gives the target network its token
embedding and its recurrent stack; the rest (a classifier's pooling and head, a tagger's head, an
encoder-decoder's decoder) keeps the target's own fresh initialisation::

    target kind      embedding            recurrent stack
    RNNClassifier    encoder              rnn
    RNNTagger        embedding            rnn
    Seq2Seq          source_embedding     encoder
    RNNLanguageModel embedding            rnn            (and the decoder's rows and bias: a new vocabulary)

**Rows by token string.** Row i of the target embedding is the LM's row of token ``target_tokens[i]``;
a token the LM never saw keeps its fresh row, and the target's padding row stays zero.

**Cells, layer by layer.** Every parameter and buffer of the innermost cell (wrappers such as
variational dropout or weight drop hold none of their own, so they may differ) is copied from LM
layer l to target layer l. Columns of ``weight_ih`` that read inputs the LM never had are set to
zero, so that the copied cells start out computing exactly the LM's states:

* a **bidirectional** target: layer l's forward direction gets LM layer l; its reverse direction keeps
  its fresh weights. From layer 2 on, a layer reads ``[forward ; reverse]`` outputs of the layer below
  (2H features, the LM's layers read H): the forward cell's columns over the reverse half start at zero.
  Refusing bidirectional targets would refuse the default text classifier, tagger and translator, whose
  reverse direction is worth having even when only the forward one is pretrained.
* a tagger's **feature embeddings** (e.g. POS tags beside the words) follow the word embedding in the
  first layer's input; their columns start at zero too.

**Refused** (a ``ValueError`` that names the option to change): another cell class or form (LSTM vs
GRU, ``reset_after``, a nonlinearity), another hidden size, another number of layers (a shallower
target would drop the LM's top layers, a deeper one would put fresh layers above it: neither is
guessed), another embedding size, a language model without an embedding (``one_hot``), and a target
whose input is real-valued (it has no vocabulary to align). Learned initial states are not copied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..cells.base import RecurrentCell
from ..cells.wrapper import CellWrapper
from ..layers.stacked import Stacked
from .classifier import RNNClassifier
from .language_model import RNNLanguageModel
from .seq2seq import Seq2Seq
from .tagger import RNNTagger

# options of a cell that change its equations (init-only ones such as LSTM's forget_bias do not
# matter: the weights are copied)
CELL_FORM = ("reset_after", "nonlinearity", "eps", "bias")
# tokenizer kinds whose tokens are a closed set learned from text: two of them align only if identical
CLOSED_TOKENIZERS = ("bpe",)


@dataclass(frozen=True)
class VocabularyMatch:
    """Which target rows have a source row: ``target_rows[k]`` holds the token of ``source_rows[k]``.

    ``size`` counts the target tokens that could match (the vocabulary less the padding row).
    """

    target_rows: Tensor  # (M,) long
    source_rows: Tensor  # (M,) long
    size: int
    unmatched: tuple[str, ...] = ()  # target tokens without a source row, in id order

    @property
    def matched(self) -> int:
        return int(self.target_rows.numel())

    @property
    def coverage(self) -> float:
        """Share of the target vocabulary (padding left out) that has a source row."""
        return self.matched / self.size if self.size else 0.0


@dataclass
class TransferReport:
    """What :func:`init_from_language_model` copied."""

    match: VocabularyMatch
    layers: int
    notes: list[str] = field(default_factory=list)


def match_vocabularies(
    source_tokens: Sequence[str], target_tokens: Sequence[str], skip: Collection[int] = ()
) -> VocabularyMatch:
    """Pair every target token (ids not in ``skip``, e.g. the padding row) with the source id of the same string."""
    stoi = {token: i for i, token in enumerate(source_tokens)}
    target_rows, source_rows, unmatched = [], [], []
    for i, token in enumerate(target_tokens):
        if i in skip:
            continue
        j = stoi.get(token)
        if j is None:
            unmatched.append(token)
        else:
            target_rows.append(i)
            source_rows.append(j)
    size = len(target_tokens) - sum(1 for i in set(skip) if 0 <= i < len(target_tokens))
    as_long = lambda rows: torch.tensor(rows, dtype=torch.long)  # noqa: E731
    return VocabularyMatch(as_long(target_rows), as_long(source_rows), size, tuple(unmatched))


def copy_rows(target: Tensor, source: Tensor, match: VocabularyMatch) -> None:
    """``target[match.target_rows] = source[match.source_rows]`` (rows of an embedding, a decoder or its bias)."""
    if target.shape[1:] != source.shape[1:]:
        raise ValueError(f"rows of shape {tuple(target.shape[1:])} cannot take rows of shape {tuple(source.shape[1:])}")
    with torch.no_grad():
        rows = source.detach()[match.source_rows.to(source.device)]
        target[match.target_rows.to(target.device)] = rows.to(target.device, target.dtype)


def token_coverage(counts: Tensor, match: VocabularyMatch, skip: Collection[int] = ()) -> float:
    """Share of the training tokens whose row came from the source: ``counts`` (V,) counts each target id
    in the training data; ids in ``skip`` (padding, ``<unk>``, ...) count on neither side."""
    counts = counts.detach().to(torch.float64).clone()
    if skip:
        counts[torch.tensor(sorted(skip), dtype=torch.long)] = 0
    total = float(counts.sum())
    keep = [int(i) for i in match.target_rows.tolist() if int(i) not in skip]
    return float(counts[torch.tensor(keep, dtype=torch.long)].sum()) / total if total else 0.0


def base_cell(cell: RecurrentCell) -> RecurrentCell:
    """The innermost cell: wrappers (regularisers) own no weights and may differ between LM and target."""
    return cell.base_cell() if isinstance(cell, CellWrapper) else cell


def cell_form(cell: RecurrentCell) -> str:
    """The innermost cell's class and the options of :data:`CELL_FORM` it has, e.g. ``GRUCell(reset_after=True)``."""
    base = base_cell(cell)
    options = ", ".join(f"{name}={getattr(base, name)!r}" for name in CELL_FORM if hasattr(base, name))
    return f"{type(base).__name__}({options})"


def transfer_parts(model: nn.Module, where: str = "model.") -> tuple[nn.Embedding, Stacked]:
    """The token embedding and the recurrent stack of ``model`` that a language model initialises
    (the table in the module docstring); ``ValueError`` for any other kind or a real-valued input."""
    if isinstance(model, RNNClassifier):
        if not isinstance(model.encoder, nn.Embedding):
            raise ValueError(
                f"{type(model).__name__} reads real-valued inputs (input_size={model.input_size}): it has no "
                "vocabulary to align with a language model's, so it cannot start from one; drop "
                f"{where}init_from"
            )
        return model.encoder, model.rnn
    if isinstance(model, (RNNTagger, RNNLanguageModel)):
        if model.embedding is None:
            raise ValueError(
                f"{type(model).__name__} with one_hot=True has no embedding to start from a language model"
            )
        return model.embedding, model.rnn
    if isinstance(model, Seq2Seq):
        return model.source_embedding, model.encoder
    raise ValueError(
        f"{type(model).__name__} is not a kind that can start from a language model: init_from fills the token "
        "embedding and recurrent stack of RNNClassifier, RNNTagger, Seq2Seq (its encoder) or RNNLanguageModel"
    )


def check_tokenizers(source: Mapping[str, Any], target: Mapping[str, Any], where: str = "model.") -> list[str]:
    """Refuse tokenizers whose tokens cannot be aligned by string; return warnings for those that align badly.

    Both are a tokenizer's ``to_dict()``. Another kind (``char`` vs ``word`` vs ``bpe``) is refused; a
    closed token set (BPE) must be the same one, merges included; other options that differ (a word
    tokenizer's ``lowercase``, its ``pattern``) are returned as warnings: fewer tokens will match.
    """
    kind, lm_kind = target.get("type"), source.get("type")
    if kind != lm_kind:
        raise ValueError(
            f"the language model reads {lm_kind} tokens but the data {kind} tokens: rows of different kinds of "
            f"token cannot be aligned; tokenize the data as the language model did (data/tokenizer={lm_kind})"
        )
    if kind in CLOSED_TOKENIZERS:
        if dict(source) != dict(target):
            raise ValueError(
                f"the language model's {kind} tokenizer and the data's were trained separately (other merges): the "
                "same string can be a different piece of a word in each, so their rows cannot be aligned; train "
                "the language model and this model on the same BPE (or use a char or word tokenizer)"
            )
        return []
    return [
        f"the data's tokenizer has {name}={target.get(name)!r}, the language model's {source.get(name)!r}: fewer "
        "tokens will match"
        for name in sorted(set(source) | set(target))
        if name != "type" and source.get(name) != target.get(name)
    ]


def _check_compatible(target: Stacked, source: Stacked, embedding: nn.Embedding, lm: RNNLanguageModel, where: str):
    if lm.embedding is None:
        raise ValueError(
            "the language model was trained with one_hot=True: it has no embedding to copy (train it with an embedding)"
        )
    lm_form, form = cell_form(source.cells()[0]), cell_form(target.cells()[0])
    if form != lm_form:
        raise ValueError(
            f"{where}cell builds {form} cells but the language model's are {lm_form}: choose the language model's "
            f"cell (model/cell=..., with the same options)"
        )
    if target.hidden_size != source.hidden_size:
        raise ValueError(
            f"{where}hidden_size={target.hidden_size} but the language model has hidden_size={source.hidden_size}: "
            f"set {where}hidden_size={source.hidden_size}"
        )
    if target.num_layers != source.num_layers:
        raise ValueError(
            f"{where}num_layers={target.num_layers} but the language model has {source.num_layers} layer(s): set "
            f"{where}num_layers={source.num_layers} (a shallower model would drop the language model's top layers, "
            "a deeper one would put fresh layers above it; neither is guessed)"
        )
    if embedding.embedding_dim != lm.embedding.embedding_dim:
        raise ValueError(
            f"{where}embedding_dim={embedding.embedding_dim} but the language model's embedding has "
            f"{lm.embedding.embedding_dim} dimensions: set {where}embedding_dim={lm.embedding.embedding_dim}"
        )


def copy_cell(target: RecurrentCell, source: RecurrentCell) -> None:
    """Every parameter and buffer of ``source``'s innermost cell into ``target``'s; ``weight_ih`` into its first
    ``source.input_size`` columns, the columns past them (inputs the source never read) set to zero."""
    into, src = base_cell(target), base_cell(source)
    values = dict(into.named_parameters()) | dict(into.named_buffers())
    with torch.no_grad():
        for name, tensor in [*src.named_parameters(), *src.named_buffers()]:
            dest = values[name]
            if name == "weight_ih":
                width = tensor.shape[1]
                if dest.shape[0] != tensor.shape[0] or dest.shape[1] < width:
                    raise ValueError(f"weight_ih of shape {tuple(dest.shape)} cannot take {tuple(tensor.shape)}")
                dest[:, :width] = tensor.to(dest.dtype)
                dest[:, width:] = 0.0
            elif dest.shape != tensor.shape:
                raise ValueError(f"{name} of shape {tuple(dest.shape)} cannot take {tuple(tensor.shape)}")
            else:
                dest.copy_(tensor)


def copy_stack(target: Stacked, source: Stacked) -> None:
    """Source layer l into target layer l (its forward direction when bidirectional). Sizes as checked above."""
    cells, lm_cells = target.cells(), source.cells()
    for layer, lm_cell in enumerate(lm_cells):
        copy_cell(cells[layer * target.num_directions], lm_cell)


def init_from_language_model(
    model: nn.Module,
    lm: RNNLanguageModel,
    lm_tokens: Sequence[str],
    tokens: Sequence[str],
    where: str = "model.",
) -> TransferReport:
    """Copy ``lm``'s embedding rows (by token string) and recurrent stack into ``model`` (in place).

    Args:
        model: the target, freshly built (see :func:`transfer_parts` for the kinds).
        lm: the trained language model.
        lm_tokens: the LM's vocabulary, id order (``encoder.vocab.itos``).
        tokens: the target's vocabulary (a Seq2Seq: the source vocabulary), id order.
        where: the config path of the model's options, named in errors (``model.hidden_size``).

    Everything is checked before anything is copied: on an error ``model`` is unchanged.
    """
    if not isinstance(lm, RNNLanguageModel):
        raise ValueError(f"init_from needs a language model (RNNLanguageModel), got a {type(lm).__name__}")
    embedding, stack = transfer_parts(model, where)
    _check_compatible(stack, lm.rnn, embedding, lm, where)
    if len(tokens) != embedding.num_embeddings:
        raise ValueError(f"{len(tokens)} tokens for an embedding of {embedding.num_embeddings} rows")
    if len(lm_tokens) != lm.vocab_size:
        raise ValueError(f"{len(lm_tokens)} language-model tokens for its {lm.vocab_size} rows")
    skip = () if embedding.padding_idx is None else (embedding.padding_idx,)
    match = match_vocabularies(lm_tokens, tokens, skip)
    assert lm.embedding is not None  # checked above
    copy_rows(embedding.weight, lm.embedding.weight, match)
    copy_stack(stack, lm.rnn)
    notes = []
    if isinstance(model, RNNLanguageModel):
        if not model.tie_weights:  # tied: the decoder's weight is the embedding just copied
            copy_rows(model.decoder.weight, lm.decoder.weight, match)
        copy_rows(model.decoder.bias, lm.decoder.bias, match)
        notes.append("the decoder's rows and bias by token")
    if stack.bidirectional:
        notes.append(
            "bidirectional: each layer's forward direction starts from the language model's layer, the reverse "
            "direction from its fresh weights"
        )
    if isinstance(model, RNNTagger) and len(model.feature_embeddings):
        notes.append("the feature embeddings' input weights start at zero")
    return TransferReport(match, lm.rnn.num_layers, notes)


def input_embedding(model: nn.Module) -> nn.Embedding | None:
    """The token embedding of ``model`` (as :func:`transfer_parts` finds it) that pretrained vectors fill and
    ``freeze_embeddings`` freezes; None for a model without one (real-valued inputs, ``one_hot``, another kind)."""
    try:
        return transfer_parts(model)[0]
    except ValueError:
        return None


__all__ = [
    "CELL_FORM",
    "TransferReport",
    "VocabularyMatch",
    "base_cell",
    "cell_form",
    "check_tokenizers",
    "copy_cell",
    "copy_rows",
    "copy_stack",
    "init_from_language_model",
    "input_embedding",
    "match_vocabularies",
    "token_coverage",
    "transfer_parts",
]
