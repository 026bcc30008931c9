"""Where a layer reads the values of ``lengths``: on a host copy, never on the device.

On a GPU every read of a device tensor's value from Python (``int()``, ``.item()``, ``.tolist()``...) waits for
all the work queued before it. A layer needs the lengths' values to check their range, to decide whether a
batch is full length, and to pack it for torch's kernel; :func:`seqmodels.utils.checks.checked_lengths` gives a
host copy for all of these (no copy back when the lengths come from the CPU, as the collates make them) and a
device copy for the masks. On a CPU-only machine the two are the same tensor, so the tests mark the device copy:
``checked_lengths`` as the layers call it returns it as :class:`OnDevice`, a tensor subclass whose values cannot
be read, and which every tensor computed from it (the masks, the reversed indices) stays.
"""

from __future__ import annotations

import pytest
import torch

import seqmodels
import seqmodels.layers.sequence
from seqmodels.layers.backends import PackedOnHost
from seqmodels.utils.checks import checked_lengths
from seqmodels.utils.transfer import to_device_nowait

LENGTHS = [6, 2, 5, 1]
READS = {
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__int__,
    torch.Tensor.__float__,
    torch.Tensor.__bool__,
    torch.Tensor.__index__,
}


class OnDevice(torch.Tensor):
    """A tensor standing for one on a GPU: reading a value of it, or of anything computed from it, fails."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in READS:
            raise AssertionError(f"{func.__name__} read a value of the device copy of the lengths")
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.fixture
def marked_device_copy(monkeypatch):
    def marked(*args, **kwargs):
        checked = checked_lengths(*args, **kwargs)
        return None if checked is None else (checked[0], checked[1].as_subclass(OnDevice))

    monkeypatch.setattr(seqmodels.layers.sequence, "checked_lengths", marked)


def test_the_marked_copy_refuses_reads_of_itself_and_of_what_is_computed_from_it():
    """The oracle itself."""
    lengths = torch.tensor(LENGTHS).as_subclass(OnDevice)
    mask = torch.arange(6)[:, None] < lengths[None, :]
    for read in (lambda: int(lengths.max()), lambda: bool(mask.all()), lambda: mask.tolist()):
        with pytest.raises(AssertionError, match="device copy"):
            read()


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_checked_lengths_gives_a_host_copy_and_a_device_copy(dtype):
    host, on_device = checked_lengths(torch.tensor(LENGTHS, dtype=dtype), 4, 6, torch.device("cpu"))
    assert host.device.type == "cpu" and host.dtype == torch.long and host.tolist() == LENGTHS
    assert on_device.dtype == torch.long and on_device.tolist() == LENGTHS
    assert checked_lengths(None, 4, 6, torch.device("cpu")) is None


def test_checked_lengths_names_the_range_it_was_given():
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\].*min 0 and max 7"):
        checked_lengths(torch.tensor([0, 7, 3, 2]), 4, 6, torch.device("cpu"))


@pytest.mark.parametrize("backend", ["custom", "torch", "auto"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_a_layer_never_reads_the_device_copy_of_the_lengths(marked_device_copy, backend, kind, bidirectional):
    layer = {"lstm": seqmodels.LSTM, "gru": seqmodels.GRU, "rnn": seqmodels.RNN}[kind](
        5, 7, num_layers=2, bidirectional=bidirectional, backend=backend
    )
    x = torch.randn(6, 4, 5, requires_grad=True)  # (T, B, I)
    out, _ = layer(x, lengths=torch.tensor(LENGTHS))
    out.sum().backward()
    assert out.shape == (6, 4, 14 if bidirectional else 7) and x.grad is not None


def test_packing_on_the_host_packs_as_torch_does():
    """Against torch.nn.utils.rnn's packing (the oracle): the same data and batch sizes, and unpacking its data
    gives torch's padded output in the original order."""
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    lengths = torch.tensor([2, 6, 1, 5])  # sorted by [1, 3, 0, 2], whose inverse differs from it
    packed = PackedOnHost.pack(x, lengths)
    oracle = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    assert torch.equal(packed.data, oracle.data) and torch.equal(packed.batch_sizes, oracle.batch_sizes)
    assert torch.equal(packed.order, oracle.sorted_indices) and torch.equal(packed.unorder, oracle.unsorted_indices)
    doubled = packed.data * 2
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(oracle._replace(data=doubled), total_length=6)
    assert torch.equal(packed.unpack(doubled, 6), expected)


@pytest.mark.parametrize("dtype", [None, torch.long])
def test_to_device_nowait_on_the_cpu_is_a_plain_move(dtype):
    lengths = torch.tensor(LENGTHS, dtype=torch.int32)
    moved = to_device_nowait(lengths, "cpu", dtype)
    assert moved.dtype == (dtype or torch.int32) and moved.tolist() == LENGTHS


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_device_nowait_copies_up_without_waiting_for_the_gpu():
    busy = torch.randn(2048, 2048, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _ = busy @ busy  # queued work a blocking copy would wait for
        moved = to_device_nowait(torch.tensor(LENGTHS, dtype=torch.int32), busy.device, torch.long)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert moved.device.type == "cuda" and moved.dtype == torch.long and moved.cpu().tolist() == LENGTHS


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["custom", "torch"])
def test_a_cuda_layer_given_host_lengths_never_waits_for_the_gpu(backend):
    layer = seqmodels.LSTM(5, 7, num_layers=2, bidirectional=True, backend=backend).cuda()
    x = torch.randn(6, 4, 5, device="cuda", requires_grad=True)
    lengths = torch.tensor(LENGTHS)  # on the host, as the collates make them
    layer(x, lengths=lengths)[0].sum().backward()  # first call: CUDA graphs captured, cuDNN planned
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, _ = layer(x, lengths=lengths)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
