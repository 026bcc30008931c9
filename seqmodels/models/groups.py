"""Layer groups: a model's parameters cut into named groups ordered from the input to the output.

The unit of the fine-tuning recipe of ULMFiT (Howard & Ruder 2018): discriminative learning rates
give group g of G the rate ``lr / decay^(G-1-g)``, gradual unfreezing thaws the groups from the
last one back to the first. Every parameter is in exactly one group (a tied weight once, in the first
group that reaches it). Groups with no parameters are left out.

Groups, input -> output:

* ``RNNLanguageModel``: ``embedding`` (absent with ``one_hot``; holds a tied decoder weight),
  ``rnn.0`` … ``rnn.{L-1}``, ``decoder``;
* ``ConditionalLanguageModel``: ``embedding``, ``condition`` (the condition's embeddings), ``rnn.0`` …,
  ``decoder``;
* ``RNNClassifier``: ``embedding`` (its ``encoder``: the token embedding or the linear input projection;
  absent for raw real-valued inputs), ``rnn.0`` …, ``head``;
* ``RNNTagger``: ``embedding`` (the word and feature embeddings), ``rnn.0`` …, ``head``;
* ``RNNFrameModel``: ``rnn.0`` …, ``head`` (the frames enter the first layer directly);
* ``Seq2Seq``: the encoder side ``source_embedding``, ``encoder.0`` …, ``bridge``, then the decoder side
  ``target_embedding``, ``decoder.0`` …, ``attention``, ``output`` (the readout ``combine`` and the
  ``output`` layer): data-flow order, the decoder's output last.

A learned initial state (``learn_initial_state``) goes with the layer it starts: the h_0 (and c_0)
vectors of layer l, both directions, are in ``rnn.l``; so do the projections of a
``ConditionalLanguageModel``'s condition to layer l's initial state.

Any other model: it may define ``layer_groups()`` returning the same list (the extension point);
else :func:`layer_groups` raises ``TypeError`` naming its class. No silent single group: a rate decay
or an unfreezing schedule over one group would quietly do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from ..layers.stacked import Stacked
from .classifier import RNNClassifier
from .conditional_lm import ConditionalLanguageModel
from .frame_model import RNNFrameModel
from .initial_state import LearnedInitialState
from .language_model import RNNLanguageModel
from .seq2seq import Seq2Seq
from .tagger import RNNTagger

LayerGroups = list[tuple[str, list[nn.Parameter]]]


def _params(*modules: nn.Module | None) -> list[nn.Parameter]:
    return [p for m in modules if m is not None for p in m.parameters()]


def _stack_groups(prefix: str, stack: Stacked, *per_state: Iterable[nn.Parameter | nn.Module] | None) -> LayerGroups:
    """``prefix.l`` for each layer l of ``stack``, with what ``per_state`` holds for its cells' initial states.

    Each of ``per_state`` (None: nothing) gives one parameter or module per state tensor of the stack, in its
    state list's order (L*D cell states in torch's order, each a tensor or an (h, c) tuple): a learned
    initial state's vectors, a conditional model's projections to them.
    """
    groups = [(f"{prefix}.{i}", list(layer.parameters())) for i, layer in enumerate(stack.layers)]
    for items in per_state:
        if items is None:
            continue
        it = iter(items)
        for cell_index, cell_state in enumerate(stack.init_state(1)):
            layer = cell_index // stack.num_directions
            for _ in range(1 if isinstance(cell_state, Tensor) else len(cell_state)):
                item = next(it)
                groups[layer][1].extend(item.parameters() if isinstance(item, nn.Module) else [item])
    return groups


def _values(initial: LearnedInitialState | None) -> list[nn.Parameter] | None:
    return None if initial is None else list(initial.values)


def _known_groups(model: nn.Module) -> LayerGroups | None:
    if isinstance(model, ConditionalLanguageModel):  # a language model and its condition's parameters
        return [
            ("embedding", _params(model.embedding)),
            ("condition", _params(model.condition_embeddings)),
            *_stack_groups("rnn", model.rnn, _values(model.initial_state), model.init_projections),
            ("decoder", _params(model.decoder)),
        ]
    if isinstance(model, RNNLanguageModel):
        return [
            ("embedding", _params(model.embedding)),
            *_stack_groups("rnn", model.rnn, _values(model.initial_state)),
            ("decoder", _params(model.decoder)),
        ]
    if isinstance(model, RNNClassifier):
        return [
            ("embedding", _params(model.encoder)),
            *_stack_groups("rnn", model.rnn, _values(model.initial_state)),
            ("head", _params(model.head)),
        ]
    if isinstance(model, RNNFrameModel):
        return [*_stack_groups("rnn", model.rnn), ("head", _params(model.head))]
    if isinstance(model, RNNTagger):
        return [
            ("embedding", _params(model.embedding, model.feature_embeddings)),
            *_stack_groups("rnn", model.rnn),
            ("head", _params(model.head)),
        ]
    if isinstance(model, Seq2Seq):
        return [
            ("source_embedding", _params(model.source_embedding)),
            *_stack_groups("encoder", model.encoder),
            ("bridge", _params(model.bridge)),
            ("target_embedding", _params(model.target_embedding)),
            *_stack_groups("decoder", model.decoder),
            ("attention", _params(model.attention)),
            ("output", _params(model.combine, model.output)),
        ]
    return None


def _check_groups(model: nn.Module, groups: Iterable[tuple[str, list[nn.Parameter]]]) -> LayerGroups:
    """Drop tied repeats (first group wins) and empty groups; every parameter of ``model`` must be in one."""
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=True)}
    seen: set[int] = set()
    out: LayerGroups = []
    for group, params in groups:
        kept = []
        for p in params:
            if id(p) not in names:
                raise ValueError(f"layer group {group!r} of {type(model).__name__} holds a parameter not in the model")
            if id(p) not in seen:
                seen.add(id(p))
                kept.append(p)
        if kept:
            if any(name == group for name, _ in out):
                raise ValueError(f"{type(model).__name__} has two layer groups named {group!r}")
            out.append((group, kept))
    missing = [name for key, name in names.items() if key not in seen]
    if missing:
        raise ValueError(
            f"{type(model).__name__} has parameters in no layer group: {', '.join(missing)}; a model with modules "
            "of its own defines layer_groups() -> [(name, [parameters]), ...] ordered input -> output"
        )
    return out


def layer_groups(model: nn.Module) -> LayerGroups:
    """The parameters of ``model`` as ``[(name, [parameters])]``, ordered input -> output (see the module doc).

    A model's own ``layer_groups()`` method, when it has one, takes precedence. Raises ``TypeError``
    for a model that has neither, naming its class; ``ValueError`` when a parameter is in no group
    (a subclass that added modules).
    """
    own = getattr(model, "layer_groups", None)
    groups = own() if callable(own) else _known_groups(model)
    if groups is None:
        known = ", ".join(
            c.__name__
            for c in (RNNLanguageModel, ConditionalLanguageModel, RNNClassifier, RNNTagger, Seq2Seq, RNNFrameModel)
        )
        raise TypeError(
            f"no layer groups for {type(model).__name__}: layer groups are defined for {known}; give the model "
            "a layer_groups() method returning [(name, [parameters]), ...] ordered input -> output"
        )
    return _check_groups(model, groups)


def group_names(model: nn.Module) -> list[str]:
    """The names of :func:`layer_groups` in order."""
    return [name for name, _ in layer_groups(model)]
