"""The fast ``custom`` backend: the hand-written BPTT of :mod:`seqmodels.functional`, made fast.

* :mod:`.functions` — the sequence-level autograd Functions (``lstm_sequence``, ``gru_sequence``,
  ``rnn_sequence``): the input projection as one GEMM, the recurrence in a Function whose backward is the
  reference BPTT, the weight gradients as one GEMM over all steps. Each runs one of three loops:
* :mod:`.loops` — on CPU, the time loops written in C (``csrc/``), each step calling torch's own BLAS
  ``?gemm_`` then a fused gate kernel; when torch's BLAS cannot be found (or ``SEQMODELS_NATIVE_LOOPS=0``)
  the same C step kernels driven from Python, one GEMM and one kernel call per step. The Python-driven
  loop is also what inference and the chunked LSTM/GRU forward use, so it is not only a fallback;
* the ATen-op loops in :mod:`.functions` — without a C compiler (or ``SEQMODELS_NATIVE=0``), and on a GPU,
  where :mod:`.cuda_graphs` captures them once per input signature and replays them.

:mod:`.loader` compiles ``csrc/recurrences.c`` with the system compiler on first use (cached), loads it
with ``ctypes`` and checks torch's BLAS symbols against ``torch.mm`` before the C loops may use them.
The layers choose between this backend and torch's kernels (:mod:`seqmodels.layers.backends`);
``docs/PERFORMANCE.md`` has the measured figures.
"""

from .functions import gru_sequence, lstm_sequence, needs_grad, rnn_sequence

__all__ = ["gru_sequence", "lstm_sequence", "needs_grad", "rnn_sequence"]
