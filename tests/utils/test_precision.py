"""seqmodels.utils.precision: whether autocast is on, and a computation run outside it."""

from __future__ import annotations

import warnings

import pytest
import torch

from seqmodels.utils.precision import autocast_enabled, outside_autocast


def test_autocast_enabled_follows_the_autocast_block():
    assert not autocast_enabled("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert autocast_enabled("cpu")
        assert not autocast_enabled("cuda")
    assert not autocast_enabled("cpu")


def test_autocast_enabled_on_a_torch_without_the_device_argument(monkeypatch):
    """torch < 2.4: ``is_autocast_enabled()`` takes no device and answers for CUDA; the CPU has its own query."""
    cuda_query = torch.is_autocast_enabled

    def old_query(*args):
        if args:
            raise TypeError("is_autocast_enabled() takes 0 positional arguments but 1 was given")
        return cuda_query("cuda")

    def answers() -> tuple[bool, bool]:
        monkeypatch.setattr(torch, "is_autocast_enabled", old_query)  # torch's own autocast blocks call it too
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch 2.4+ calls the CPU query deprecated
                return autocast_enabled("cpu"), autocast_enabled("cuda")
        finally:
            monkeypatch.undo()

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert answers() == (True, False)
    assert answers() == (False, False)


def test_outside_autocast_runs_in_the_given_dtype_and_keeps_gradients():
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(4, 2).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = a @ b.float()
        product = outside_autocast(lambda x, y, flag: (x @ y, flag), torch.float32, a, b, flag="kept")
    assert inside.dtype == torch.bfloat16  # what autocast would have made of it
    out, flag = product
    assert out.dtype == torch.float32 and flag == "kept"
    torch.testing.assert_close(out, a.detach() @ b.detach().float())
    out.sum().backward()
    assert a.grad is not None and a.grad.dtype == torch.float32
    assert b.grad is not None and b.grad.dtype == torch.bfloat16
    with pytest.raises(TypeError):
        outside_autocast(lambda x: x, torch.float32)  # x is required
