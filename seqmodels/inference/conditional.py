"""A conditional language model's condition, from text to tensors (sampling and scoring themselves are
:func:`~seqmodels.inference.generation.generate` and :func:`~seqmodels.inference.generation.score` with
``condition=``).

The condition is given as :class:`~seqmodels.data.conditions.Conditions` reads it: the command-line string
``"field:value field:value"`` or a mapping. The fields and their values come from the checkpoint
(``checkpoint["seqmodels"]["conditions"]``, written by the task from the training data).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoints import CHECKPOINT_KEY, load_checkpoint
from ..data.conditions import Conditions, as_conditions
from ..models.conditional_lm import Condition, ConditionalLanguageModel


def is_conditional(model: nn.Module) -> bool:
    return isinstance(model, ConditionalLanguageModel)


def stored_conditions(checkpoint: Mapping[str, Any]) -> Conditions | None:
    """The condition fields a checkpoint stores (None when it stores none)."""
    data = (checkpoint.get(CHECKPOINT_KEY) or {}).get("conditions")
    return None if data is None else Conditions.from_dict(data)


def load_conditions(path: str | Path) -> Conditions | None:
    """:func:`stored_conditions` of the checkpoint file ``path``."""
    return stored_conditions(load_checkpoint(path))


def condition_input(
    model: nn.Module, conditions: Conditions | None, condition: Any, source: str = "the model"
) -> Condition | None:
    """The condition as ``model`` takes it (a batch of one, on the model's device), or None for a plain language
    model given none.

    Raises ``ValueError`` when a plain model is given a condition, when a conditional one is given none (listing
    its fields and values) or when the checkpoint stores no condition fields;
    :class:`~seqmodels.data.conditions.UnknownConditionError` for a field or value the training data never had.
    """
    empty = (
        condition is None
        or (isinstance(condition, str) and not condition.strip())
        or (isinstance(condition, Mapping) and not condition)
    )
    if not is_conditional(model):
        if not empty:
            raise ValueError(f"{source} is a language model without a condition; drop condition={condition!r}")
        return None
    if conditions is None:
        raise ValueError(
            f"{source} is a conditional language model but stores no condition fields (their values name the ids); "
            "it was not trained by seqmodels-train from a conditional data module"
        )
    if empty:
        raise ValueError(
            f"{source} is a conditional language model: give a condition, e.g. condition={conditions.example()!r} "
            f"({conditions.known()})"
        )
    if isinstance(condition, Mapping):
        condition = {str(k): v for k, v in condition.items()}  # a Hydra DictConfig as a plain dict
    return conditions.tensors(condition, device=next(model.parameters()).device)


def condition_or_typical(
    model: nn.Module, conditions: Any, condition: Any, source: str = "the model"
) -> Condition | None:
    """:func:`condition_input`, with a conditional model given no condition sampled under its data's typical one
    (``conditions.defaults``: each field's most frequent training value, each real-valued field's mean) when
    there is one: what the end-of-training sample uses."""
    fields = as_conditions(conditions)
    given = condition is not None and not (isinstance(condition, (str, Mapping)) and not condition)
    if is_conditional(model) and not given and fields is not None and fields.defaults is not None:
        condition = fields.defaults
    return condition_input(model, fields, condition, source)


__all__ = ["condition_input", "condition_or_typical", "is_conditional", "load_conditions", "stored_conditions"]
