"""The fused C gate kernels (seqmodels/kernels/loader.py) give the same numbers as the ATen-op path
and the readable reference BPTT, and the library works without them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from seqmodels.cells import GRUCell, LSTMCell
from seqmodels.functional import gru_backward, gru_forward, lstm_backward, lstm_forward
from seqmodels.kernels import common, gru_sequence, lstm_sequence, rnn_sequence
from seqmodels.kernels import loader as native
from seqmodels.utils.checks import step_mask
from tests.helpers import max_abs_diff

needs_compiler = pytest.mark.skipif(shutil.which(native._compiler()) is None, reason="no C compiler on PATH")


@pytest.fixture(params=["native", "native-python-loops", "aten"])
def path(request, monkeypatch):
    """Run the fused Functions with the C kernels (the LSTM's time loops in C, then driven from Python) and
    with ATen ops."""
    if request.param.startswith("native"):
        if shutil.which(native._compiler()) is None:
            pytest.skip("no C compiler on PATH")
        monkeypatch.setenv(native.ENV_SWITCH, "1")
        monkeypatch.setenv(native.LOOPS_SWITCH, "0" if request.param == "native-python-loops" else "1")
        kernels = native.kernels(torch.zeros(1, dtype=torch.float64))
        assert kernels is not None
        if request.param == "native" and kernels.blas is None:
            pytest.skip("this torch build exports no BLAS ?gemm_: the C time loops do not run")
        assert (kernels.blas is None) == (request.param == "native-python-loops")
    else:
        monkeypatch.setenv(native.ENV_SWITCH, "0")
        assert native.kernels(torch.zeros(1)) is None
    return request.param


def weights(kind: str, I: int, H: int, dtype=torch.float64):
    torch.manual_seed(1)
    cell = LSTMCell(I, H) if kind == "lstm" else GRUCell(I, H)
    return [p.detach().to(dtype).requires_grad_() for p in cell.parameters()]


def sequence(kind, x, h0, c0, w, mask):
    """``[out, h_n, c_n]`` of the fused LSTM, ``[out, h_n]`` of the fused GRU (which ignores c0)."""
    if kind == "lstm":
        out, (h, c) = lstm_sequence(x, h0, c0, *w, mask)
        return [out, h, c]
    out, h = gru_sequence(x, h0, *w, mask)
    return [out, h]


def run(kind, x, h0, c0, w, d_out, d_h, d_c, lengths=None):
    """Outputs, final states and every gradient of ``Σ d_out·out + d_h·h_n (+ d_c·c_n)``."""
    inputs = [x, h0, c0, *w] if kind == "lstm" else [x, h0, *w]
    mask = None if lengths is None else step_mask(lengths, x.shape[0])
    out, *states = sequence(kind, x, h0, c0, w, mask)
    loss = out.new_zeros(())
    if d_out is not None:
        loss = loss + (out * d_out).sum()
    if d_h is not None:
        loss = loss + (states[0] * d_h).sum()
    if kind == "lstm" and d_c is not None:
        loss = loss + (states[1] * d_c).sum()
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [out, *states], [g if g is not None else torch.zeros_like(i) for g, i in zip(grads, inputs)]


def reference(kind, x, h0, c0, w, d_out, d_h, d_c, lengths=None):
    T, B, H = x.shape[0], x.shape[1], h0.shape[1]
    zeros = x.new_zeros(T, B, H)
    d_out = zeros if d_out is None else d_out
    d_h = zeros[0] if d_h is None else d_h
    if kind == "lstm":
        out, (h, c), cache = lstm_forward(x, h0, c0, *w, lengths=lengths)
        grads = lstm_backward(d_out, d_h, zeros[0] if d_c is None else d_c, cache)
        return [out, h, c], list(grads)
    out, h, cache = gru_forward(x, h0, *w, lengths=lengths)
    return [out, h], list(gru_backward(d_out, d_h, cache))


CASES = {
    # name: T, B, I, H, which gradients reach the outputs
    "all": (6, 4, 5, 7, ("out", "h", "c")),
    "outputs only": (6, 4, 5, 7, ("out",)),
    "final state only": (6, 4, 5, 7, ("h", "c")),
    "one step": (1, 3, 2, 4, ("out", "h", "c")),
    "batch of one": (5, 1, 3, 8, ("out", "h", "c")),
    "rows split over threads": (3, 32, 4, 300, ("out", "h", "c")),  # B·H ≥ PARALLEL_MIN_ELEMENTS
}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("unequal_lengths", [False, True], ids=["full", "lengths"])
def test_fused_matches_reference_float64(path, kind, case, unequal_lengths):
    T, B, I, H, graded = CASES[case]
    # lengths 1..T, the longest first so that one sequence fills the batch (the layers' convention)
    lengths = torch.arange(B) % T + 1 if unequal_lengths else None
    if lengths is not None:
        lengths[0] = T
    w = weights(kind, I, H)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    d_out = torch.randn(T, B, H, dtype=torch.float64) if "out" in graded else None
    d_h = torch.randn(B, H, dtype=torch.float64) if "h" in graded else None
    d_c = torch.randn(B, H, dtype=torch.float64) if "c" in graded else None
    values, grads = run(kind, x, h0, c0, w, d_out, d_h, d_c, lengths)
    ref_values, ref_grads = reference(kind, x, h0, c0, w, d_out, d_h, d_c, lengths)
    assert max_abs_diff(values, ref_values) <= 1e-12
    assert max_abs_diff(grads, ref_grads) <= 1e-10


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, torch.tensor([5, 2, 4])], ids=["full", "lengths"])
def test_strided_inputs_and_gradients(path, kind, lengths):
    """Batch-first inputs seen time-major, an expanded initial state and a transposed output gradient."""
    T, B, I, H = 5, 3, 4, 6
    w = weights(kind, I, H)
    x = torch.randn(B, T, I, dtype=torch.float64).transpose(0, 1).requires_grad_()
    h0 = torch.randn(1, H, dtype=torch.float64).expand(B, H).requires_grad_()
    c0 = torch.randn(H, B, dtype=torch.float64).t().requires_grad_()
    d_out = torch.randn(B, T, H, dtype=torch.float64).transpose(0, 1)
    d_h = torch.randn(H, B, dtype=torch.float64).t()
    values, grads = run(kind, x, h0, c0, w, d_out, d_h, None, lengths)
    ref_values, ref_grads = reference(kind, x, h0, c0, w, d_out.contiguous(), d_h.contiguous(), None, lengths)
    assert max_abs_diff(values, ref_values) <= 1e-12
    assert max_abs_diff(grads, ref_grads) <= 1e-10


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, torch.tensor([4, 1])], ids=["full", "lengths"])
def test_gradcheck(path, kind, lengths):
    w = weights(kind, 3, 4)
    mask = None if lengths is None else step_mask(lengths, 4)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    if kind == "lstm":
        fn = lambda *a: lstm_sequence(*a, mask)[0]  # noqa: E731
        args = (x, h0, c0, *w)
    else:
        fn = lambda *a: gru_sequence(*a, mask)[0]  # noqa: E731
        args = (x, h0, *w)
    assert torch.autograd.gradcheck(fn, args)


@needs_compiler
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, torch.tensor([20, 3, 17, 9, 20, 1, 5, 12] * 5)], ids=["full", "lengths"])
@pytest.mark.parametrize("loops", ["packed-gemm", "gemm", "python"])
def test_float32_native_equals_aten(monkeypatch, kind, lengths, loops):
    """float32 (the only dtype with MKL's packed GEMM): the C loops with and without packing the recurrent
    weight, and the Python-driven loops, against ATen ops."""
    kernels = native.kernels(torch.zeros(1))
    if loops == "packed-gemm" and not kernels.packed_gemm:
        pytest.skip("this torch build exports no MKL packed GEMM")
    if loops == "gemm" and kernels._blas is not None:
        import ctypes

        monkeypatch.setattr(kernels, "_blas", (ctypes.c_void_p * 4)(kernels._blas[0]))  # ?gemm_ alone
    monkeypatch.setenv(native.LOOPS_SWITCH, "0" if loops == "python" else "1")
    T, B, I, H = 20, 40, 16, 32  # B ≥ 32: the loops pack the weight (PACK_MIN_ROWS)
    w = weights(kind, I, H, torch.float32)
    x = torch.randn(T, B, I, requires_grad=True)
    h0, c0 = torch.randn(B, H, requires_grad=True), torch.randn(B, H, requires_grad=True)
    d_out, d_h, d_c = torch.randn(T, B, H), torch.randn(B, H), torch.randn(B, H)
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(native.ENV_SWITCH, switch)
        results[switch] = run(kind, x, h0, c0, w, d_out, d_h, d_c, lengths)
    for a, b in zip(results["1"][0] + results["1"][1], results["0"][0] + results["0"][1]):
        assert (a - b).abs().max().item() <= 2e-5 * max(1.0, b.abs().max().item())


@needs_compiler
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, torch.tensor([6, 2, 5])], ids=["full", "lengths"])
def test_backward_scratch_is_reused_and_never_returned(kind, lengths):
    """The backward's (T, B, 4H) gate gradients live in one reused buffer per thread: consecutive backward
    calls give the same gradients as fresh ones would, and no gradient handed back is a view of it."""
    T, B, I, H = 6, 3, 4, 5
    w = weights(kind, I, H, torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    d_out, d_h, d_c = (torch.randn(T, B, H, dtype=torch.float64) for _ in range(3))
    first = run(kind, x, h0, c0, w, d_out, d_h, d_c, lengths)
    buffer = common._scratch.buffers[f"{kind}_backward"]
    start, end = buffer.data_ptr(), buffer.data_ptr() + buffer.numel() * buffer.element_size()
    second = run(kind, x, h0, c0, w, 2 * d_out, 2 * d_h, 2 * d_c, lengths)  # same shapes: the buffer again
    assert common._scratch.buffers[f"{kind}_backward"].data_ptr() == start
    for a, b in zip(first[1], second[1]):
        torch.testing.assert_close(b, 2 * a, rtol=1e-12, atol=1e-12)  # linear in the incoming gradient
        storage = b.untyped_storage()
        assert not start <= storage.data_ptr() < end, "a returned gradient lives in the scratch buffer"


def test_switched_off_or_not_applicable(monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.kernels(torch.zeros(2)) is None
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    assert native.kernels(torch.zeros(2, dtype=torch.float16)) is None
    assert native.kernels(torch.zeros(2), torch.zeros(2, dtype=torch.float64)) is None


def test_build_failure_names_the_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(RuntimeError, match="no-such-cc"):
        native.build(tmp_path / "cache")


def test_without_a_compiler_the_aten_path_runs_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SEQMODELS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    native._load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="fused CPU kernels unavailable"):
            assert native.kernels(torch.zeros(1)) is None
        T, B, I, H = 4, 2, 3, 5
        w = weights("lstm", I, H)
        x, h0, c0 = (
            torch.randn(T, B, I, dtype=torch.float64),
            torch.randn(B, H, dtype=torch.float64),
            torch.randn(B, H, dtype=torch.float64),
        )
        values, _ = run(
            "lstm",
            x.requires_grad_(),
            h0.requires_grad_(),
            c0.requires_grad_(),
            w,
            torch.ones(T, B, H, dtype=torch.float64),
            None,
            None,
        )
        ref_values, _ = reference("lstm", x, h0, c0, w, None, None, None)
        assert max_abs_diff(values, ref_values) <= 1e-12
    finally:
        native._load.cache_clear()  # the next test builds (or finds) the real library again


@needs_compiler
def test_cached_library_is_reused(tmp_path):
    first = native.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert native.build(tmp_path) == first and first.stat().st_mtime_ns == stamp


@needs_compiler
def test_loading_keeps_denormals():
    """Built with -ffast-math but linked without it: loading must not switch the process to flush-to-zero."""
    script = (
        "import torch; from seqmodels.kernels import loader as native; "
        "assert native.kernels(torch.zeros(1)) is not None; "
        "x = torch.tensor([1e-39]) * 1.0; print(float(x[0]) != 0.0)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, torch.tensor([5, 2, 4])], ids=["full", "lengths"])
@pytest.mark.parametrize("chunk_steps", [1, 2, 8], ids=lambda n: f"chunk{n}")
def test_inference_matches_reference(path, monkeypatch, kind, lengths, chunk_steps):
    """Without autograd the loops keep nothing for backward and project the input a few steps at a time."""
    T, B, I, H = 5, 3, 4, 6
    G = (4 if kind == "lstm" else 3) * H
    monkeypatch.setattr(common, "INFERENCE_CHUNK_BYTES", chunk_steps * B * G * 8)  # float64
    w = [p.detach() for p in weights(kind, I, H)]
    x = torch.randn(B, T, I, dtype=torch.float64).transpose(0, 1)  # batch-first input, time-major view
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(1, H, dtype=torch.float64).expand(B, H)
    mask = None if lengths is None else step_mask(lengths, T)
    before = [h0.clone(), c0.clone()]
    with torch.no_grad():
        values = sequence(kind, x, h0, c0, w, mask)
    ref_values, _ = reference(kind, x, h0, c0, w, None, None, None, lengths)
    assert max_abs_diff(values, ref_values) <= 1e-12
    assert torch.equal(h0, before[0]) and torch.equal(c0, before[1])  # read, never written


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_incoming_gradients_and_states_are_not_modified(path, kind):
    """The loops overwrite their running dh/dc buffers: never the caller's gradients or initial states."""
    T, B, I, H = 4, 3, 2, 5
    w = weights(kind, I, H)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    outputs = sequence(kind, x, h0, c0, w, None)
    incoming = [torch.randn_like(o) for o in outputs]
    kept = [g.clone() for g in incoming] + [h0.detach().clone(), c0.detach().clone()]
    torch.autograd.backward(outputs, incoming)
    for before, now in zip(kept, incoming + [h0.detach(), c0.detach()]):
        assert torch.equal(before, now)


@needs_compiler
def test_time_loops_find_torchs_blas_and_can_be_switched_off(monkeypatch):
    """The C time loops call the ?gemm_ torch exports (checked against torch.mm when loaded); without it, or
    with SEQMODELS_NATIVE_LOOPS=0, the step kernels are driven from Python instead."""
    import ctypes
    from pathlib import Path

    kernels = native.kernels(torch.zeros(1))
    try:
        _ = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / native.BLAS_LIBRARIES[0])).sgemm_
    except (OSError, AttributeError):
        pytest.skip("this torch build does not export sgemm_ from libtorch_cpu")
    assert kernels.blas is not None
    monkeypatch.setenv(native.LOOPS_SWITCH, "0")
    assert kernels.blas is None
    monkeypatch.setattr(native, "BLAS_LIBRARIES", ("libno-such-blas.so",))
    assert native._blas_table(kernels, "f32") is None


@needs_compiler
def test_the_blas_check_holds_under_mixed_precision():
    """The first forward may load the kernels inside torch.autocast (bf16-mixed on CPU): the check's reference
    product must still be float32, or every load there would find the BLAS wrong (or fail on the dtypes)."""
    import ctypes
    from pathlib import Path

    kernels = native.kernels(torch.zeros(1))
    try:
        _ = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / native.BLAS_LIBRARIES[0])).sgemm_
    except (OSError, AttributeError):
        pytest.skip("this torch build does not export sgemm_ from libtorch_cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert native._blas_table(kernels, "f32") is not None


def test_ctypes_signatures_match_the_c_prototypes():
    """native._SIGNATURES tells ctypes each argument's kind: a pointer/long mix-up there would pass
    garbage to C, so it is read back from the C source."""
    import re

    source = native.SOURCE.with_name("recurrences_impl.h").read_text()
    for name, signature in native._SIGNATURES.items():
        found = re.search(rf"void NAME\({name}\)\((.*?)\)\s*{{", source, re.S)
        assert found, f"{name} is not defined in recurrences_impl.h"
        kinds = "".join("p" if "*" in arg else "l" for arg in found.group(1).split(","))
        assert kinds == "ll" + signature, name


@needs_compiler
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("B", [3, 40], ids=["B3", "B40-packed"])
def test_rnn_c_loop_equals_aten(monkeypatch, nonlinearity, B):
    """The vanilla RNN's C loop (float32; from 32 rows with the packed weight) against its ATen loop, with
    gradients through the outputs and the final state."""
    if native.kernels(torch.zeros(1)).blas is None:
        pytest.skip("this torch build exports no BLAS ?gemm_: the C time loops do not run")
    torch.manual_seed(0)
    T, I, H = 7, 5, 24
    w_ih, w_hh = torch.randn(H, I) * 0.4, torch.randn(H, H) * 0.3
    b_ih, b_hh = torch.randn(H) * 0.1, torch.randn(H) * 0.1
    x, h0 = torch.randn(T, B, I), torch.randn(B, H)
    d_out, d_h = torch.randn(T, B, H), torch.randn(B, H)
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(native.LOOPS_SWITCH, switch)
        inputs = [t.clone().requires_grad_() for t in (x, h0, w_ih, w_hh, b_ih, b_hh)]
        out, h = rnn_sequence(*inputs, None, nonlinearity)
        grads = torch.autograd.grad((out * d_out).sum() + (h * d_h).sum(), inputs)
        results[switch] = [out, h, *grads]
    for a, b in zip(results["1"], results["0"]):
        assert (a - b).abs().max().item() <= 2e-5 * max(1.0, b.abs().max().item())
