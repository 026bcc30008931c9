"""The recurrent layers under ``torch.autocast`` (what ``trainer.precision=bf16-mixed`` runs) against torch.nn.

Our own recurrence (the ``custom`` backend) runs outside autocast in the weights' dtype, so under CPU autocast
it must give what torch.nn gives in float32 without autocast, the backward called inside the autocast block
included; torch's kernel (the ``torch`` backend) follows autocast, so it must give what torch.nn gives under
the same autocast. Under autocast a state in bfloat16 (what torch's kernel leaves for the next batch) is taken
with a float32 input; outside it the state's dtype is still checked.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqmodels
from seqmodels.cells import GRUCell
from seqmodels.layers import Stacked
from tests.helpers import copy_torch_rnn_weights, max_abs_diff

pytestmark = pytest.mark.usefixtures("seed")

T, B, I, H, LAYERS = 6, 4, 5, 7, 2
LENGTHS = torch.tensor([6, 4, 1, 5])
MODES = {
    "rnn": (seqmodels.RNN, torch.nn.RNN),
    "gru": (seqmodels.GRU, torch.nn.GRU),
    "lstm": (seqmodels.LSTM, torch.nn.LSTM),
}
BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def make_pair(mode: str, bidirectional: bool, backend: str):
    ours_cls, torch_cls = MODES[mode]
    ref = torch_cls(I, H, num_layers=LAYERS, bidirectional=bidirectional)
    ours = ours_cls(I, H, num_layers=LAYERS, bidirectional=bidirectional, backend=backend)
    copy_torch_rnn_weights(ours.cells(), ref)
    return ours, ref


def bfloat16_state(mode: str, bidirectional: bool):
    n = LAYERS * (2 if bidirectional else 1)
    make = lambda: torch.randn(n, B, H).bfloat16()  # noqa: E731
    return (make(), make()) if mode == "lstm" else make()


def as_float(state):
    return tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()


def torch_run(ref, x, state, lengths):
    if lengths is None:
        return ref(x, state)
    out, final = ref(pack_padded_sequence(x, lengths, enforce_sorted=False), state)
    return pad_packed_sequence(out, total_length=T)[0], final


def loss_of(out, state) -> torch.Tensor:
    parts = state if isinstance(state, tuple) else (state,)
    return out.float().pow(2).sum() + sum(s.float().sum() for s in parts)


def grads(module, x):
    return [x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", list(MODES))
def test_custom_backend_under_autocast_is_torch_in_float32(mode, bidirectional, lengths):
    ours, ref = make_pair(mode, bidirectional, "custom")
    x = torch.randn(T, B, I)
    state = bfloat16_state(mode, bidirectional)  # as the previous batch left it under autocast
    x_ref = x.clone().requires_grad_()
    out_ref, final_ref = torch_run(ref, x_ref, as_float(state), lengths)
    loss_of(out_ref, final_ref).backward()

    x_ours = x.clone().requires_grad_()
    with torch.autocast(**BF16):
        out, final = ours(x_ours, state, lengths=lengths)
        loss_of(out, final).backward()  # the backward under autocast too, the harder case

    assert out.dtype == torch.float32
    assert max_abs_diff(out, out_ref) < 1e-5
    assert max_abs_diff(final, final_ref) < 1e-5
    ours_grads, ref_grads = grads(ours, x_ours), grads(ref, x_ref)
    assert len(ours_grads) == len(ref_grads)
    for mine, theirs in zip(ours_grads, ref_grads):
        assert max_abs_diff(mine, theirs) < 1e-4 * max(1.0, theirs.abs().max().item())


@pytest.mark.parametrize("mode", list(MODES))
def test_torch_backend_under_autocast_is_torch_under_autocast(mode):
    ours, ref = make_pair(mode, False, "torch")
    x = torch.randn(T, B, I)
    state = bfloat16_state(mode, False)
    with torch.autocast(**BF16):
        out_ref, final_ref = ref(x, state)
        out, final = ours(x, state)
    assert out.dtype == out_ref.dtype
    assert max_abs_diff(out.float(), out_ref.float()) == 0.0
    assert max_abs_diff(as_float(final), as_float(final_ref)) == 0.0


def test_a_state_of_another_dtype_is_refused_outside_autocast():
    ours, _ = make_pair("gru", False, "custom")
    with pytest.raises(ValueError, match=r"state\[0\] is torch.bfloat16 on cpu but the input is torch.float32"):
        ours(torch.randn(T, B, I), bfloat16_state("gru", False))


def test_a_generic_loop_cell_carries_its_state_under_autocast():
    """A GRU with the reset gate before the matmul has no fused kernel: the step loop runs under autocast
    (its products in bfloat16), close to the same cells in float32, batch after batch."""
    layer = Stacked(functools.partial(GRUCell, reset_after=False), I, H, num_layers=LAYERS)
    x1, x2 = torch.randn(T, B, I), torch.randn(T, B, I)
    with torch.no_grad():
        expected, state = layer(x1)
        expected, _ = layer(x2, state)
        with torch.autocast(**BF16):
            out, state = layer(x1)
            out, _ = layer(x2, state)
    assert max_abs_diff(out.float(), expected) < 0.05


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; torch.cuda.is_available() is False")
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["16-mixed", "bf16-mixed"])
def test_on_cuda_custom_is_float32_and_torch_follows_autocast(dtype, mode, lengths, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # the float32 reference in float32
    cuda = torch.device("cuda")
    ours, ref = (m.to(cuda) for m in make_pair(mode, True, "custom"))
    x = torch.randn(T, B, I, device=cuda)
    state = bfloat16_state(mode, True)
    state = tuple(s.to(cuda, dtype) for s in state) if isinstance(state, tuple) else state.to(cuda, dtype)
    on_device = None if lengths is None else lengths.to(cuda)
    want, want_final = torch_run(ref, x, as_float(state), lengths)
    with torch.autocast("cuda", dtype=dtype):
        out, final = ours(x, state, lengths=on_device)
        ours.backend = "torch"
        out_torch, _ = ours(x, state, lengths=on_device)
        torch_autocast, _ = torch_run(ref, x, state, lengths)
    assert out.dtype == torch.float32
    assert max_abs_diff(out, want) < 1e-4 and max_abs_diff(final, want_final) < 1e-4
    assert out_torch.dtype == torch_autocast.dtype == dtype
    assert max_abs_diff(out_torch.float(), torch_autocast.float()) < 1e-2
