"""Data pipeline benchmark: tokenization, caching and DataModule iteration speed vs training consumption.

    python scripts/bench_data.py [--data-dir ../shared/data] [--imdb] [--json out.json]

See ``seqmodels.data.benchmark`` for what is measured.
"""

from seqmodels.data.benchmark import main

if __name__ == "__main__":
    main()
