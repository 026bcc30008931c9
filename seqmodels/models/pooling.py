"""Pool a padded sequence of outputs (B, T, D*H) into one vector per sequence (B, D*H).

Only the valid steps ``t < lengths[b]`` take part. ``lengths=None`` means every sequence is T long.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..utils.transfer import to_device_nowait


def valid_mask(lengths: Tensor | None, batch_size: int, seq_len: int, device: torch.device) -> Tensor:
    """(B, T, 1) boolean mask, True on the real steps of each sequence."""
    if lengths is None:
        return torch.ones(batch_size, seq_len, 1, dtype=torch.bool, device=device)
    t = torch.arange(seq_len, device=device)
    return (t[None, :] < to_device_nowait(lengths, device)[:, None]).unsqueeze(-1)  # (B, T, 1)


def last_pool(output: Tensor, lengths: Tensor | None, num_directions: int = 1) -> Tensor:
    """The state after reading the whole sequence, per direction.

    Forward direction: the output at the last real step ``lengths[b] - 1``. Reverse direction
    (second half of the features when ``num_directions == 2``): the output at step 0, where the
    reverse pass ends. Equals the final hidden state ``h_n`` of the last layer.
    """
    B, T, F = output.shape
    last = (
        to_device_nowait(lengths, output.device) - 1
        if lengths is not None
        else torch.full((B,), T - 1, device=output.device)
    )
    idx = last.view(B, 1, 1).expand(B, 1, F)  # (B, 1, F)
    pooled = output.gather(1, idx).squeeze(1)  # (B, F)
    if num_directions == 2:
        H = F // 2
        pooled = torch.cat([pooled[:, :H], output[:, 0, H:]], dim=-1)  # (B, 2H)
    return pooled


def mean_pool(output: Tensor, lengths: Tensor | None, num_directions: int = 1) -> Tensor:
    """Average over the valid steps: ``sum_{t<len} o_t / len``."""
    B, T, _ = output.shape
    mask = valid_mask(lengths, B, T, output.device)  # (B, T, 1)
    total = output.masked_fill(~mask, 0.0).sum(dim=1)  # (B, F)
    count = mask.sum(dim=1).to(output.dtype)  # (B, 1)
    return total / count


def max_pool(output: Tensor, lengths: Tensor | None, num_directions: int = 1) -> Tensor:
    """Feature-wise maximum over the valid steps (padding never wins, even when all values are < 0)."""
    B, T, _ = output.shape
    mask = valid_mask(lengths, B, T, output.device)  # (B, T, 1)
    return output.masked_fill(~mask, float("-inf")).amax(dim=1)  # (B, F)


def concat_pool(output: Tensor, lengths: Tensor | None, num_directions: int = 1) -> Tensor:
    """ULMFiT's concat pooling (Howard & Ruder 2018, §3.3): ``[last ; max ; mean]`` over the valid steps.

    (B, T, F) -> (B, 3F): :func:`last_pool` (the final states of both directions), :func:`max_pool`
    and :func:`mean_pool`, in that order.
    """
    parts = [last_pool(output, lengths, num_directions), max_pool(output, lengths), mean_pool(output, lengths)]
    return torch.cat(parts, dim=-1)  # (B, 3F)


POOLINGS: dict[str, Callable[[Tensor, Tensor | None, int], Tensor]] = {
    "last": last_pool,
    "mean": mean_pool,
    "max": max_pool,
    "concat": concat_pool,
}
# how many times the layer output's width each pooling returns
POOLED_WIDTH = {"last": 1, "mean": 1, "max": 1, "concat": 3}


def get_pooling(name: str) -> Callable[[Tensor, Tensor | None, int], Tensor]:
    """Look ``name`` up in :data:`POOLINGS`; ``ValueError`` listing the allowed names otherwise."""
    try:
        return POOLINGS[name]
    except (KeyError, TypeError):
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {name!r}") from None


def pooled_size(name: str, features: int) -> int:
    """Width of ``name``'s output for layer outputs of ``features`` (D*H) features: 3·D·H for concat."""
    get_pooling(name)
    return POOLED_WIDTH[name] * features
