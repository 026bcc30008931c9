"""The speed and memory benchmarks behind ``seqmodels-bench`` (measured figures, never tests).

* :mod:`.kernels` — ``seqmodels-bench``: our recurrences against torch's fused kernels, side by side;
* :mod:`.training` — ``seqmodels-bench --e2e``: whole training steps, ours against a plain loop;
* :mod:`.interleaved` — ``python -m seqmodels.bench.interleaved``: the same, the two sides taking turns
  every few steps within one run (for differences of a few per cent on a noisy machine);
* :mod:`.memory` — ``python -m seqmodels.bench.memory``: peak memory on long inputs;
* :mod:`.data` — ``python -m seqmodels.bench.data``: the data pipeline against what training consumes.
* :mod:`.syncs` — ``python -m seqmodels.bench.syncs``: where a training step reads tensor values on the host
  (on a GPU, where it synchronises).

Figures and how they were measured: ``docs/PERFORMANCE.md``.
"""
