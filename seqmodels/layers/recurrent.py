"""Run one cell over time, with optional per-sequence lengths."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells.base import RecurrentCell, State
from ..state import map_state


def check_input(x: Tensor, input_size: int, name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x`` is a 3-D float sequence with ``input_size`` features."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{name} must be 3-D (seq, batch, features) or (batch, seq, features), got shape {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{name} has {x.shape[-1]} features, expected input_size={input_size}")


def check_lengths(lengths: Tensor | None, batch_size: int, seq_len: int, device: torch.device) -> Tensor | None:
    """Validate ``lengths`` (B,) with values in [1, T]; return it as int64 on ``device``."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(f"lengths must have shape ({batch_size},), got {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if batch_size and (int(lengths.min()) < 1 or int(lengths.max()) > seq_len):
        raise ValueError(
            f"lengths must lie in [1, {seq_len}] (the sequence length), got min {int(lengths.min())} "
            f"and max {int(lengths.max())}"
        )
    return lengths.to(device=device, dtype=torch.long)


def step_mask(lengths: Tensor, seq_len: int) -> Tensor:
    """(T, B, 1) boolean mask, True where step t is a real step of sequence b."""
    t = torch.arange(seq_len, device=lengths.device)
    return (t[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)


class Recurrent(nn.Module):
    """Unrolls ``cell`` over a sequence.

    ``forward(x, state=None, lengths=None) -> (output, final_state)``

    Args:
        cell: any :class:`~seqmodels.cells.RecurrentCell`.
        batch_first: inputs/outputs are (B, T, ·) instead of (T, B, ·).

    Shapes: x (T, B, I); output (T, B, H); states as the cell's.
    With ``lengths`` (B,), steps t >= lengths[b] leave the state unchanged and give zero
    output, so ``final_state`` is each sequence's state at its last real step.
    """

    def __init__(self, cell: RecurrentCell, batch_first: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be a seqmodels RecurrentCell, got {type(cell).__name__}")
        self.cell = cell
        self.batch_first = batch_first

    @property
    def output_size(self) -> int:
        return self.cell.hidden_size

    def forward(self, x: Tensor, state: State | None = None, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        check_input(x, self.cell.input_size)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        lengths = check_lengths(lengths, B, T, x.device)
        output, state = self.unroll(x, state, lengths)
        return (output.transpose(0, 1) if self.batch_first else output), state

    def unroll(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Time-major unroll on validated inputs: x (T, B, I) -> (T, B, H), final state."""
        cell = self.cell
        T, B = x.shape[0], x.shape[1]
        if state is None:
            state = cell.init_state(B, x.device, x.dtype)
        x_proj = cell.input_projection(x).unbind(0)  # T × (B, G*H), one matmul for all steps
        outputs = []
        if lengths is None:
            for x_t in x_proj:
                h, state = cell.step(x_t, state)
                outputs.append(h)
        else:
            masks = step_mask(lengths, T).unbind(0)  # T × (B, 1)
            for x_t, m in zip(x_proj, masks):
                h, new_state = cell.step(x_t, state)
                state = map_state(lambda new, old: torch.where(m, new, old), new_state, state)
                outputs.append(torch.where(m, h, torch.zeros((), dtype=h.dtype, device=h.device)))
        if not outputs:
            return x.new_zeros(0, B, cell.hidden_size), state
        return torch.stack(outputs), state  # (T, B, H)
