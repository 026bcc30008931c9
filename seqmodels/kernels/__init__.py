"""The fast ``custom`` backend: the hand-written BPTT of :mod:`seqmodels.functional`, made fast.

Each recurrence is split where autograd is already optimal and where it is not:

* the input path ``X̂ = X W_ihᵀ + b`` for all T steps is one GEMM, written straight into the buffer that then
  receives each step's ``W_hh h_{t-1}`` in place (``addmm_``);
* the recurrence runs inside a :class:`torch.autograd.Function` whose forward writes each step into
  preallocated (T, B, ·) buffers (no autograd graph, no per-step tensors kept) and whose backward is the
  step-by-step BPTT of :mod:`seqmodels.functional` (same equations; see the docstrings of
  :func:`~seqmodels.functional.lstm_forward`, ``gru_forward``, ``rnn_forward``), collecting the per-step gate
  gradients ``D`` (T, B, G·H) so that ``dW_ih = Dᵀ X``, ``dW_hh = Dᵀ H_prev`` and ``dX = D W_ih`` are one GEMM
  each over all T·B rows.

Only ``W_hhᵀ d_gates_t`` and the elementwise gate math run inside the time loop. Every factor of the backward
that does not depend on the incoming gradient (the gates' derivatives, ``o ⊙ (1 - tanh² c)``, …) is computed
for all steps at once before the loop (or inside the step's fused C kernel), so a step of BPTT is one GEMM and
one kernel call or a handful of ATen ops. With a mask the semantics are those of
:class:`seqmodels.layers.Recurrent`: a padded step keeps the state and outputs zero.

One file per cell holds all of that cell's backend:

* :mod:`.lstm`, :mod:`.gru`, :mod:`.rnn` — the public ``lstm_sequence`` / ``gru_sequence`` / ``rnn_sequence``,
  the cell's autograd Function (its docstring has the backward's math), the ATen-op loops ``aten_forward`` /
  ``aten_backward``, and the drivers of the C kernels: ``c_loop_forward`` / ``c_loop_backward`` (the LSTM's
  also ``*_masked``) for training and ``c_inference`` (LSTM, GRU) when nothing needs gradients;
* :mod:`.common` — what they share: input projection and its gradients, ``W_hhᵀ``, ``needs_grad``, the
  per-thread ``scratch`` buffers, raw ``addresses`` for the kernels, the inference chunking;
* :mod:`.loader` — compiles ``csrc/recurrences.c`` with the system compiler on first use (cached), loads it
  with ``ctypes`` and checks torch's BLAS symbols against ``torch.mm`` before the C time loops may use them;
* :mod:`.cuda_graphs` — captures the ATen-op loops once per input signature on a GPU and replays them.

Three tiers of loop, chosen per call:

1. **C time loops** (CPU, a C compiler, torch's ``?gemm_`` found): the whole sequence in one C call, each step
   torch's own BLAS GEMM then a fused gate kernel — training for all three cells (the RNN's without a mask),
   and the RNN's inference.
2. **A Python loop over the C step kernels**: one ``torch.mm`` and one ctypes kernel call per step. It is what
   LSTM and GRU *inference* always run (``c_inference``: the input projected a chunk of steps at a time,
   nothing kept for a backward — the default for GRU evaluation on CPU, since ``auto`` picks ``custom``
   there), and what training falls back to when torch's BLAS symbols cannot be found (another BLAS build,
   another platform) or ``SEQMODELS_NATIVE_LOOPS=0``. The RNN has none (its step is one GEMM and one activation).
3. **ATen-op loops** (no compiler, ``SEQMODELS_NATIVE=0``, ``torch.compile``, GPU).

Tier 2 earns its place. It is not a dead fallback: every CPU LSTM/GRU call of ``custom`` without gradients
runs it, and the ``fwd`` rows of ``custom`` in ``docs/PERFORMANCE.md`` are its timings (faster than
``torch.nn`` for the GRU, slower for the LSTM, which is why ``auto`` runs float32 LSTM inference on oneDNN).
It is also faster than the ATen-op loop that would replace it, for inference and training, by more than the
C time loops gain over it (the measurements: ``docs/PERFORMANCE.md``, "The three loop tiers"). And it costs
little: the step kernels are the C loops' own, so it adds only the Python-driven branches of the ``c_loop_*``
drivers, which the ``native-python-loops`` test parameter checks against the reference BPTT in float64.
"""

from .common import needs_grad
from .gru import gru_sequence
from .lstm import lstm_sequence
from .rnn import rnn_sequence

__all__ = ["gru_sequence", "lstm_sequence", "needs_grad", "rnn_sequence"]
