"""Layer-normalised LSTM and GRU cells (Ba, Kiros & Hinton 2016; the form of lmnt-com/haste)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import RecurrentCell


def _norm(x: Tensor, ln: nn.LayerNorm) -> Tensor:
    """LN(x) = γ ⊙ (x - mean(x)) / sqrt(var(x) + eps) [+ β], over the last dimension."""
    return nn.functional.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


class _LayerNormCell(RecurrentCell):
    """Shared part: the input and recurrent pre-activations are normalised separately, then biased.

    ``input_projection(x) = LN_ih(W_ih x) + b_ih`` (batched over all steps) and
    ``hidden_projection(h) = LN_hh(W_hh h) + b_hh``. Each LN normalises the whole G*H pre-activation
    vector (all gates together, as Ba et al. and haste do) and has a gain γ (init 1) but no shift:
    the biases after it play that role. Parameters: those of every cell, plus ``ln_ih.weight`` and
    ``ln_hh.weight`` (G*H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_gates: int, eps: float) -> None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        super().__init__(input_size, hidden_size, bias, num_gates=num_gates)
        gh = num_gates * hidden_size
        self.ln_ih = nn.LayerNorm(gh, eps=self.eps, bias=False)
        self.ln_hh = nn.LayerNorm(gh, eps=self.eps, bias=False)

    def reset_parameters(self) -> None:
        """Weights and biases uniform in ±1/√H as torch; layer-norm gains 1 and shifts 0."""
        super().reset_parameters()
        for module in self.children():
            if isinstance(module, nn.LayerNorm):  # all of them
                module.reset_parameters()

    def input_projection(self, x: Tensor) -> Tensor:
        out = _norm(nn.functional.linear(x, self.weight_ih), self.ln_ih)  # (..., G*H)
        return out if self.bias_ih is None else out + self.bias_ih

    def hidden_projection(self, h: Tensor) -> Tensor:
        out = _norm(nn.functional.linear(h, self.weight_hh), self.ln_hh)  # (B, G*H)
        return out if self.bias_hh is None else out + self.bias_hh

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", eps={self.eps}" if self.eps != 1e-5 else "")


class LayerNormLSTMCell(_LayerNormCell):
    """LSTM with layer normalisation of the gate pre-activations and of the cell state.

    Ba, Kiros & Hinton, "Layer Normalization" (2016), §3.1 and the LN-LSTM of haste; gate order
    i, f, g, o as torch::

        [i, f, g, o] = LN_ih(W_ih x) + b_ih + LN_hh(W_hh h) + b_hh
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
        h' = σ(o) ⊙ tanh(LN_c(c'))

    where ``LN(v) = γ ⊙ (v - μ(v)) / sqrt(σ²(v) + eps) + β`` over the features of each row;
    LN_ih, LN_hh have a gain γ only (4H,), LN_c a gain and a shift (H,). The carried state c' is
    the *unnormalised* cell, as in the paper. State ``(h, c)``, each (B, H).

    Args:
        forget_bias: added to the forget-gate slice of ``bias_ih`` at init (as :class:`LSTMCell`).
        eps: the layer norms' epsilon.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 0.0, eps: float = 1e-5
    ) -> None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            raise ValueError(f"forget_bias must be a number, got {forget_bias!r}")
        if forget_bias != 0.0 and not bias:
            raise ValueError(f"forget_bias={forget_bias!r} needs bias=True")
        self.forget_bias = float(forget_bias)
        super().__init__(input_size, hidden_size, bias, num_gates=4, eps=eps)
        self.ln_c = nn.LayerNorm(hidden_size, eps=self.eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias != 0.0:
            H = self.hidden_size
            with torch.no_grad():
                self.bias_ih[H : 2 * H] += self.forget_bias

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.hidden_size, self.hidden_size)

    def step(self, x_proj: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        i, f, g, o = (x_proj + self.hidden_projection(h)).split(self.hidden_size, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(_norm(c_new, self.ln_c))
        return h_new, (h_new, c_new)

    def gate_activations(self, x_proj: Tensor, state: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """The gates of one step, each (B, H): input ``i``, forget ``f``, output ``o``."""
        i, f, _, o = (x_proj + self.hidden_projection(state[0])).split(self.hidden_size, dim=-1)
        return {"input": torch.sigmoid(i), "forget": torch.sigmoid(f), "output": torch.sigmoid(o)}

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")


class LayerNormGRUCell(_LayerNormCell):
    """GRU (torch's reset-after form) with layer normalisation of the gate pre-activations.

    The LN-GRU of Ba et al. (2016): input and recurrent sums normalised separately; gate order
    r, z, n as torch::

        [x_r, x_z, x_n] = LN_ih(W_ih x) + b_ih
        [h_r, h_z, h_n] = LN_hh(W_hh h) + b_hh
        r = σ(x_r + h_r),  z = σ(x_z + h_z),  n = tanh(x_n + r ⊙ h_n)
        h' = (1 - z) ⊙ n + z ⊙ h

    LN_ih and LN_hh have a gain γ (3H,) and no shift. State h (B, H).

    Args:
        eps: the layer norms' epsilon.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, eps: float = 1e-5) -> None:
        super().__init__(input_size, hidden_size, bias, num_gates=3, eps=eps)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        x_r, x_z, x_n = x_proj.split(self.hidden_size, dim=-1)
        h_r, h_z, h_n = self.hidden_projection(h).split(self.hidden_size, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h_new = n + z * (h - n)  # = (1 - z) * n + z * h
        return h_new, h_new

    def gate_activations(self, x_proj: Tensor, state: Tensor) -> dict[str, Tensor]:
        """The gates of one step, each (B, H): reset ``r`` and update ``z``."""
        x_r, x_z, _ = x_proj.split(self.hidden_size, dim=-1)
        h_r, h_z, _ = self.hidden_projection(state).split(self.hidden_size, dim=-1)
        return {"reset": torch.sigmoid(x_r + h_r), "update": torch.sigmoid(x_z + h_z)}
