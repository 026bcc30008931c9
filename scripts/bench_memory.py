"""Memory on long inputs: peak RSS (and CUDA memory) of evaluating a language model over a 1M-token stream
and of classifying 10,000-step sequences.

    python scripts/bench_memory.py [--tokens 1000000] [--steps 10000] [--json out.json]

See ``seqmodels.bench_memory`` for what is measured.
"""

from seqmodels.bench_memory import main

if __name__ == "__main__":
    main()
