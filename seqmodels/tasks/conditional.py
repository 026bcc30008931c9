"""What :class:`~seqmodels.tasks.LanguageModelingTask` does with a conditional language model's batches.

A batch of conditional data is a dict (:mod:`seqmodels.data.conditional_text`): ``tokens`` (B, T) holding
``[start, x_1..x_n, <eos>]`` then padding, ``lengths`` (B,) = n + 2, and ``condition`` (B, K) long and/or
``condition_values`` (B, F) float. The loss is the next-token cross-entropy over the valid positions only::

    loss = -1/N Σ_b Σ_{t < lengths_b - 1} log p(tokens[b, t+1] | tokens[b, ≤t], c_b),   N = Σ_b (lengths_b - 1)

(padding never counts). Every row starts from its own condition's state: nothing is carried across batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..data.conditions import as_conditions
from ..inference.conditional import condition_or_typical, is_conditional
from ..inference.generation import generate
from ..kernels.cross_entropy import cross_entropy
from ..models.conditional_lm import Condition
from ..utils.transfer import to_device_nowait

IGNORE = -100  # cross_entropy's ignore_index: the padded targets


def batch_condition(batch: Mapping[str, Any]) -> Condition:
    """The condition of a batch dict as the model takes it: ``condition`` (B, K), ``condition_values``
    (B, F), or the pair of both."""
    ids, values = batch.get("condition"), batch.get("condition_values")
    if ids is None and values is None:
        raise ValueError(
            f"a conditional language model's batch needs 'condition' (B, K) and/or 'condition_values' (B, F); "
            f"it has {sorted(batch)}"
        )
    if ids is None:
        return values  # type: ignore[return-value]  # checked above: not both None
    return ids if values is None else (ids, values)


def conditional_loss(model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
    """``(mean loss over the valid positions, N)`` of a batch dict (see the module docstring); N a 0-d tensor."""
    if not is_conditional(model):
        raise ValueError(
            f"the data yields conditional batches (a dict with {sorted(batch)[:5]}) but the model is a "
            f"{type(model).__name__}: train a ConditionalLanguageModel on them (model=conditional_lm)"
        )
    if not isinstance(batch, Mapping):
        raise ValueError(
            "a ConditionalLanguageModel trains on batch dicts {tokens, lengths, condition and/or condition_values} "
            f"(e.g. data=conditional_text), but the data yields a {type(batch).__name__} (a plain language model's "
            "(inputs, targets) windows, which carry no condition)"
        )
    for key in ("tokens", "lengths"):
        if key not in batch:
            raise ValueError(f"a conditional language model's batch needs {key!r}; it has {sorted(batch)}")
    tokens, lengths = batch["tokens"], batch["lengths"]
    if tokens.dim() != 2 or tokens.shape[1] < 2 or lengths.shape != tokens.shape[:1]:
        raise ValueError(
            f"tokens must be (B, T >= 2) with lengths (B,), got {tuple(tokens.shape)} and {tuple(lengths.shape)}"
        )
    logits, _ = model(tokens[:, :-1], batch_condition(batch))  # (B, T-1, V)
    steps = torch.arange(tokens.shape[1] - 1, device=tokens.device)  # (T-1,)
    valid = steps[None, :] < (
        to_device_nowait(lengths, tokens.device)[:, None] - 1
    )  # (B, T-1): targets before each row's end
    targets = tokens[:, 1:].masked_fill(~valid, IGNORE)  # (B, T-1)
    loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
    return loss, valid.sum()


def datamodule_conditions(datamodule: Any) -> dict[str, Any] | None:
    """A data module's ``conditions`` (a :class:`~seqmodels.data.conditions.Conditions` or its dict) as plain data."""
    conditions = as_conditions(getattr(datamodule, "conditions", None))
    return None if conditions is None else conditions.to_dict()


def sample_text(
    model: nn.Module, encoder: Any, conditions: Mapping[str, Any] | None, prompt: str, **sampling: Any
) -> str | None:
    """A sample under the conditions' typical condition (each field's most frequent training value, the mean of a
    real-valued one), or None when there are no conditions or no defaults to start from."""
    fields = as_conditions(conditions)
    if fields is None or fields.defaults is None:
        return None
    condition = condition_or_typical(model, fields, None)
    return generate(model, encoder, prompt, condition=condition, **sampling)


__all__ = ["batch_condition", "conditional_loss", "datamodule_conditions", "is_conditional", "sample_text"]
