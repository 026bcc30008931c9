"""Shared pieces of the hand-written BPTT: argument checks, masks, and the batched weight GEMMs.

Every recurrence here has the same outer shape. The input path ``W_ih x_t + b_ih`` does not depend
on the state, so the forward pass computes it for all T steps with one GEMM, and the backward pass
gets its gradients with one GEMM each once the per-step gate gradients ``d_gates_t`` (B, G*H) are
known::

    D = stack_t d_gates_t                       (T*B, G*H)
    dW_ih = Dᵀ · X                              X = stack_t x_t          (T*B, I)
    dW_hh = Dᵀ · H_prev                         H_prev = stack_t h_{t-1} (T*B, H)
    db    = Σ_rows D
    dX    = D · W_ih                            (T*B, I), i.e. dx_t = W_ihᵀ d_gates_t for every t

Only ``dh_{t-1} = W_hhᵀ d_gates_t`` has to stay inside the time loop.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..utils.checks import check_input, check_lengths, step_mask


class Grads(NamedTuple):
    """Gradients of a single-state recurrence (vanilla RNN, GRU); ``None`` for an absent bias."""

    x: Tensor  # (T, B, I)
    h0: Tensor  # (B, H)
    weight_ih: Tensor  # (G*H, I)
    weight_hh: Tensor  # (G*H, H)
    bias_ih: Tensor | None  # (G*H,)
    bias_hh: Tensor | None  # (G*H,)


class LSTMGrads(NamedTuple):
    """Gradients of an LSTM recurrence; ``None`` for an absent bias."""

    x: Tensor  # (T, B, I)
    h0: Tensor  # (B, H)
    c0: Tensor  # (B, H)
    weight_ih: Tensor  # (4H, I)
    weight_hh: Tensor  # (4H, H)
    bias_ih: Tensor | None  # (4H,)
    bias_hh: Tensor | None  # (4H,)


def check_recurrence_args(
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    num_gates: int,
    lengths: Tensor | None,
) -> tuple[int, Tensor | None]:
    """Validate the arguments shared by every ``*_forward``; return ``(H, mask)``.

    ``mask`` is ``None`` without ``lengths``, else (T, B, 1) boolean, True at real steps.
    Raises ``ValueError`` naming the offending argument.
    """
    if not isinstance(weight_hh, Tensor) or weight_hh.dim() != 2:
        raise ValueError(f"weight_hh must be a 2-D tensor ({num_gates}*H, H), got {_shape(weight_hh)}")
    H = weight_hh.shape[1]
    if H == 0 or weight_hh.shape[0] != num_gates * H:
        raise ValueError(f"weight_hh must have shape ({num_gates}*H, H), got {tuple(weight_hh.shape)}")
    if not isinstance(weight_ih, Tensor) or weight_ih.dim() != 2 or weight_ih.shape[0] != num_gates * H:
        raise ValueError(f"weight_ih must have shape ({num_gates * H}, input_size), got {_shape(weight_ih)}")
    check_input(x, weight_ih.shape[1], name="x")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None and (not isinstance(b, Tensor) or tuple(b.shape) != (num_gates * H,)):
            raise ValueError(f"{name} must be None or have shape ({num_gates * H},), got {_shape(b)}")
    T, B = x.shape[0], x.shape[1]
    lengths = check_lengths(lengths, B, T, x.device)
    return H, (None if lengths is None else step_mask(lengths, T))


def initial_state(name: str, state: Tensor | None, x: Tensor, hidden_size: int) -> Tensor:
    """``state`` checked to be (B, H), or zeros (B, H) when it is ``None``."""
    B = x.shape[1]
    if state is None:
        return x.new_zeros(B, hidden_size)
    if not isinstance(state, Tensor) or tuple(state.shape) != (B, hidden_size):
        raise ValueError(f"{name} must be None or have shape ({B}, {hidden_size}), got {_shape(state)}")
    return state


def stack_steps(steps: list[Tensor], empty: tuple[int, ...], like: Tensor) -> Tensor:
    """``torch.stack(steps)`` (T, ...), or an empty (0, *empty) tensor when there are no steps."""
    return torch.stack(steps) if steps else like.new_zeros((0, *empty))


def grad_or_zeros(name: str, grad: Tensor | None, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """The incoming gradient ``name`` checked to have ``shape``, or zeros when it is ``None``."""
    if grad is None:
        return like.new_zeros(shape)
    if not isinstance(grad, Tensor) or tuple(grad.shape) != tuple(shape):
        raise ValueError(f"{name} must be None or have shape {tuple(shape)}, got {_shape(grad)}")
    return grad


def linear_grads(d_out: Tensor, inp: Tensor, with_bias: bool) -> tuple[Tensor, Tensor | None]:
    """Weight and bias gradients of ``out = inp · Wᵀ + b`` summed over all leading dims, one GEMM.

    Args:
        d_out: (T, B, N) gradient of ``out``.
        inp: (T, B, K) the layer's input.
        with_bias: whether to return ``db`` (else ``None``).

    Returns:
        ``dW = d_outᵀ · inp`` (N, K) over all T*B rows, and ``db = Σ_rows d_out`` (N,).
    """
    d2 = d_out.reshape(-1, d_out.shape[-1])  # (T*B, N)
    dW = d2.t().mm(inp.reshape(-1, inp.shape[-1]))  # (N, K)
    return dW, (d2.sum(0) if with_bias else None)


def _shape(t: object) -> str:
    return str(tuple(t.shape)) if isinstance(t, Tensor) else type(t).__name__
