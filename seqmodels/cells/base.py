"""The one cell contract every recurrent layer in seqmodels runs on.

A cell is one time step of a recurrence. It holds torch-compatible parameters

    weight_ih  (G*H, I)    weight_hh  (G*H, H)    bias_ih  (G*H,)    bias_hh  (G*H,)

for G gates of hidden size H and input size I, in torch's gate order, so that
``cell.load_state_dict(torch.nn.LSTMCell(...).state_dict())`` works strictly.

A step is split in two so that layers can batch the input path over all time steps:

    x_proj = input_projection(x)          # W_ih x + b_ih, shape (..., G*H); one matmul for (T, B, I)
    h, state = step(x_proj_t, state)      # the recurrence proper, shape (B, G*H) -> (B, H)

``forward(x, state)`` is the two composed, the call users make for a single step.

Writing a new cell: subclass :class:`RecurrentCell`, pass ``num_gates`` to ``__init__``
and implement :meth:`step`. Override :meth:`init_state` when the state is not a single
``(B, H)`` tensor (LSTM's is ``(h, c)``). Nothing else needs to change: every layer, model,
task and config then runs the new cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..utils.checks import check_positive_int

State = Any  # a Tensor or a tuple of Tensors, each (B, H)
CellFactory = Callable[..., "RecurrentCell"]  # a cell class or partial: cell(input_size=..., hidden_size=...)


class RecurrentCell(nn.Module):
    """Base class of all cells: parameters, initialisation, state and the step contract.

    Args:
        input_size: I, features of each input step.
        hidden_size: H, features of the hidden state.
        bias: whether ``bias_ih`` and ``bias_hh`` exist.
        num_gates: G, how many H-sized blocks ``weight_ih``/``weight_hh`` stack
            (1 for a vanilla RNN, 3 for GRU, 4 for LSTM).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, num_gates: int = 1) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_gates = check_positive_int("num_gates", num_gates)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        self.bias = bias
        gh = num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gh))
            self.bias_hh = nn.Parameter(torch.empty(gh))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's init: every parameter uniform in ±1/√H."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    # ----------------------------------------------------------------- state
    @property
    def state_size(self) -> int | tuple[int, ...]:
        """Feature size of the state: ``H``, or a tuple of sizes for a tuple state."""
        return self.hidden_size

    def init_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """The zero state for ``batch_size`` sequences: ``(B, H)`` (tuple states: one per entry)."""
        device = device if device is not None else self.weight_hh.device
        dtype = dtype if dtype is not None else self.weight_hh.dtype
        sizes = self.state_size
        if isinstance(sizes, int):
            return torch.zeros(batch_size, sizes, device=device, dtype=dtype)
        return tuple(torch.zeros(batch_size, s, device=device, dtype=dtype) for s in sizes)

    # ------------------------------------------------------------------ step
    def input_projection(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih`` over any leading shape: (..., I) -> (..., G*H)."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def hidden_projection(self, h: Tensor) -> Tensor:
        """``W_hh h + b_hh``: (B, H) -> (B, G*H)."""
        return nn.functional.linear(h, self.weight_hh, self.bias_hh)

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of the recurrence given the projected input.

        Args:
            x_proj: ``input_projection(x_t)``, shape (B, G*H).
            state: the previous state (see :meth:`init_state`).

        Returns:
            ``(h_t, new_state)``: the output (B, H) and the state after the step.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step(x_proj, state)")

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One time step: x (B, I) and an optional state -> ``(h (B, H), new_state)``."""
        if x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ValueError(f"input must have shape (batch, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        return self.step(self.input_projection(x), state)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s
