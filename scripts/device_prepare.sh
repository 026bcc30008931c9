#!/usr/bin/env bash
# Gathers here what a lent GPU machine lacks, into .device_kit/ (git-ignored), for scripts/device_checks.sh.
# Needs the package registry (pip) and the shared data folder; run it from the repository root:
#   bash scripts/device_prepare.sh
# .device_kit/wheels: the pure-Python packages the machine's image does not hold (Hydra, OmegaConf and its
#   ANTLR runtime for the CLI, seqeval for two test modules), at the versions installed here;
# .device_kit/data: a copy of the data sets the checks read (PTB, CoNLL-2000, tinyshakespeare, IMDB, SST-2,
#   Multi30k), since ../shared beside the checkout does not travel. Nothing in .device_kit is committed.
# What it prints is the size that will travel (the tree and the kit together must stay under 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${SEQMODELS_DATA_DIR:-../shared/data}
KIT=.device_kit
SETS="ptb conll2000 tinyshakespeare imdb sst2 multi30k"
PACKAGES="hydra-core omegaconf antlr4-python3-runtime seqeval"

[ -x "$PY" ] || { echo "no Python at $PY: run 'make venv' first, or set PYTHON" >&2; exit 1; }
for d in $SETS; do
    [ -d "$DATA/$d" ] || { echo "data set $DATA/$d not found: set SEQMODELS_DATA_DIR to the shared data folder" >&2; exit 1; }
done
pins=()
for p in $PACKAGES; do
    v=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$p") \
        || { echo "$p is not installed in $PY: run 'make venv'" >&2; exit 1; }
    pins+=("$p==$v")
done

rm -rf "$KIT"
mkdir -p "$KIT/wheels" "$KIT/data"
# pure-Python wheels (built here where the registry only has a source archive): any Python 3 takes them
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$KIT/wheels" "${pins[@]}"
for d in $SETS; do cp -r "$DATA/$d" "$KIT/data/"; done
chmod -R u+w "$KIT"

echo "wheels: $(cd "$KIT/wheels" && ls | tr '\n' ' ')"
echo "data:   $SETS"
tree_kib=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
kit_kib=$(du -sk "$KIT" | cut -f1)
echo "travels: tree $((tree_kib / 1024)) MiB + kit $((kit_kib / 1024)) MiB = $(((tree_kib + kit_kib) / 1024)) MiB (limit 64)"
