"""CUDA graphs for the custom backend's ATen time loops (seqmodels.kernels.cuda_graphs).

The plumbing (signature cache, static inputs copied in, outputs cloned out, failed captures falling back)
runs on any machine with a stand-in graph that replays by calling the function again into the same static
output buffers; the real capture and replay run in the CUDA tests at the end.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import seqmodels
from seqmodels.kernels import cuda_graphs, gru, rnn
from seqmodels.kernels import loader as native

pytestmark = pytest.mark.usefixtures("seed")

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; torch.cuda.is_available() is False"
)
T, B, I, H = 6, 3, 4, 5
LENGTHS = torch.tensor([4, 6, 1])


class ReplayByCalling(cuda_graphs._Graph):
    """A graph stand-in: 'capture' runs the function once; 'replay' runs it again and writes the results
    into the same static output tensors, which is what a CUDA graph replay does to its outputs."""

    captures = 0
    replays = 0

    def _capture(self, fn, flags):
        type(self).captures += 1
        self._call = lambda: fn(*self.inputs, *flags)
        return self._call()

    def _replay(self):
        type(self).replays += 1
        for static, fresh in zip(self.outputs, self._call()):
            if static is not None:
                static.copy_(fresh)


@pytest.fixture
def stand_in_graphs(monkeypatch):
    """Graphs on for CPU tensors, through the stand-in; the C kernels off so that the ATen loops run."""
    cuda_graphs.clear()
    ReplayByCalling.captures = ReplayByCalling.replays = 0
    monkeypatch.setattr(cuda_graphs, "_Graph", ReplayByCalling)
    monkeypatch.setattr(cuda_graphs, "_on_cuda", lambda args: True)  # CPU tensors too
    monkeypatch.setattr(native, "kernels", lambda *tensors: None)
    yield ReplayByCalling
    cuda_graphs.clear()


def run_layer(kind, x, state, lengths, graphs: bool, monkeypatch):
    """Output, final state and all gradients of a fixed loss through the custom backend."""
    torch.manual_seed(1)
    module = getattr(seqmodels, kind.upper())(I, H, num_layers=2, backend="custom").double()
    if not graphs:
        monkeypatch.setenv("SEQMODELS_CUDA_GRAPHS", "0")
    out, h_n = module(x, state, lengths=lengths)
    flat = list(h_n) if isinstance(h_n, tuple) else [h_n]
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum() + sum(
        (h * 0.3).sum() for h in flat
    )
    leaves = [x] + ([] if state is None else list(state) if isinstance(state, tuple) else [state])
    grads = torch.autograd.grad(loss, leaves + list(module.parameters()))
    monkeypatch.delenv("SEQMODELS_CUDA_GRAPHS", raising=False)
    return [out, *flat, *grads]


@pytest.mark.parametrize(
    "kind,lengths,with_state", list(itertools.product(["rnn", "gru", "lstm"], [None, LENGTHS], [False, True]))
)
def test_replayed_loops_give_the_eager_numbers(kind, lengths, with_state, stand_in_graphs, monkeypatch):
    """Each call goes through a captured signature and comes back identical to the eager loops, twice over
    with different inputs (the second call replays the graphs made by the first)."""
    for _call in range(2):
        x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
        state = None
        if with_state:
            make = lambda: torch.randn(2, B, H, dtype=torch.float64, requires_grad=True)  # noqa: E731
            state = (make(), make()) if kind == "lstm" else make()
        eager = run_layer(kind, x, state, lengths, graphs=False, monkeypatch=monkeypatch)
        replayed = run_layer(kind, x, state, lengths, graphs=True, monkeypatch=monkeypatch)
        for a, b in zip(replayed, eager):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    # forward and backward of two layers (different input sizes): 4 signatures, captured once each
    assert stand_in_graphs.captures == 4
    assert stand_in_graphs.replays == 8


def test_outputs_are_fresh_tensors_not_the_static_buffers(stand_in_graphs):
    x = torch.randn(T, B, I, dtype=torch.float64)
    w_ih, w_hh = torch.randn(3 * H, I, dtype=torch.float64), torch.randn(3 * H, H, dtype=torch.float64)
    h0 = torch.zeros(B, H, dtype=torch.float64)
    first = cuda_graphs.run(gru.aten_forward, (x, h0, w_ih, w_hh, None, None, None))
    kept = first[0].clone()
    second = cuda_graphs.run(gru.aten_forward, (2 * x, h0, w_ih, w_hh, None, None, None))
    assert torch.equal(first[0], kept), "a replay overwrote the tensors returned by the call before it"
    assert not torch.equal(second[0], first[0])
    assert first[4] is None and second[4] is None  # h_prev without a mask


def test_a_failed_capture_warns_once_and_runs_eagerly(monkeypatch):
    cuda_graphs.clear()
    monkeypatch.setattr(cuda_graphs, "_on_cuda", lambda args: True)
    monkeypatch.setattr(cuda_graphs, "_warned", False)

    class Broken(cuda_graphs._Graph):
        def _capture(self, fn, flags):
            raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(cuda_graphs, "_Graph", Broken)
    x = torch.randn(T, B, H, dtype=torch.float64)
    w = torch.randn(H, H, dtype=torch.float64)
    h0 = torch.zeros(B, H, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="CUDA graph capture of seqmodels.kernels.rnn.aten_forward failed"):
        out = cuda_graphs.run(rnn.aten_forward, (x, h0, w, w, None, None), (False,))
    again = cuda_graphs.run(rnn.aten_forward, (x, h0, w, w, None, None), (False,))  # no second warning
    expected = rnn.aten_forward(x, h0, w, w, None, None, False)
    for a, b, c in zip(out, again, expected):
        assert (a is None and c is None) or (torch.equal(a, c) and torch.equal(b, c))
    cuda_graphs.clear()


def test_graphs_apply_only_to_cuda_tensors_and_can_be_switched_off(monkeypatch):
    cpu = torch.zeros(2, 2)
    assert not cuda_graphs.applies([cpu, None])
    assert not cuda_graphs.applies([None])
    monkeypatch.setenv("SEQMODELS_CUDA_GRAPHS", "0")
    assert not cuda_graphs.enabled()


def test_the_cache_keeps_at_most_max_graphs(stand_in_graphs, monkeypatch):
    monkeypatch.setattr(cuda_graphs, "MAX_GRAPHS", 3)
    w = torch.randn(H, H, dtype=torch.float64)
    h0 = torch.zeros(1, H, dtype=torch.float64)
    for steps in range(1, 6):
        cuda_graphs.run(
            rnn.aten_forward, (torch.randn(steps, 1, H, dtype=torch.float64), h0, w, w, None, None), (False,)
        )
    assert len(cuda_graphs._cache) == 3
    # the most recent signatures stayed: running T=5 again replays, T=1 captures anew
    before = stand_in_graphs.captures
    cuda_graphs.run(rnn.aten_forward, (torch.randn(5, 1, H, dtype=torch.float64), h0, w, w, None, None), (False,))
    assert stand_in_graphs.captures == before
    cuda_graphs.run(rnn.aten_forward, (torch.randn(1, 1, H, dtype=torch.float64), h0, w, w, None, None), (False,))
    assert stand_in_graphs.captures == before + 1


# ------------------------------------------------------------------------- on a GPU
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("kind,lengths", list(itertools.product(["rnn", "gru", "lstm"], [None, LENGTHS])))
def test_cuda_graph_replays_match_the_eager_loops(kind, lengths, monkeypatch):
    """Real captures: a 3-layer stack whose layers 2 and 3 share a signature (so one graph serves both, and
    its outputs must be copied out before the next layer replays it), three calls with new inputs each."""
    cuda_graphs.clear()
    torch.manual_seed(0)
    module = getattr(seqmodels, kind.upper())(I, H, num_layers=3, backend="custom").double().cuda()
    for _ in range(3):
        x = torch.randn(T, B, I, dtype=torch.float64, device="cuda", requires_grad=True)
        results = []
        for graphs in ("1", "0"):
            monkeypatch.setenv("SEQMODELS_CUDA_GRAPHS", graphs)
            out, h_n = module(x, lengths=lengths)
            flat = list(h_n) if isinstance(h_n, tuple) else [h_n]
            loss = (out.sin()).sum() + sum((h * h).sum() for h in flat)
            results.append([out, *flat, *torch.autograd.grad(loss, [x, *module.parameters()])])
        for a, b in zip(*results):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # one forward and one backward graph per distinct layer signature (layer 1, layers 2-3)
    assert len(cuda_graphs._cache) == 4
    assert all(isinstance(g, cuda_graphs._Graph) for g in cuda_graphs._cache.values()), "a capture failed"
    cuda_graphs.clear()


def test_inference_mode_calls_run_eagerly_so_later_training_calls_can_capture(stand_in_graphs):
    """A signature first met under torch.inference_mode (Lightning's validation) must not leave inference
    tensors as static buffers: the training call after it copies its inputs into them."""
    x = torch.randn(T, B, H, dtype=torch.float64)
    w = torch.randn(H, H, dtype=torch.float64)
    h0 = torch.zeros(B, H, dtype=torch.float64)
    with torch.inference_mode():
        cuda_graphs.run(rnn.aten_forward, (x, h0, w, w, None, None), (False,))
    assert stand_in_graphs.captures == 0
    out = cuda_graphs.run(rnn.aten_forward, (x, h0, w, w, None, None), (False,))
    assert stand_in_graphs.captures == 1
    torch.testing.assert_close(out[2], rnn.aten_forward(x, h0, w, w, None, None, False)[2])


def test_double_backward_is_refused_clearly(stand_in_graphs):
    """The BPTT writes into buffers and records no graph of its own: a second derivative is an error, never
    a silently detached result."""
    module = seqmodels.GRU(I, H, backend="custom").double()
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    out, _ = module(x)
    (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|marked with @once_differentiable"):
        g.sum().backward()
