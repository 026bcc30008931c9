#!/usr/bin/env bash
# The checks that need a GPU, in one run, for a lent CUDA machine (results under $OUT, default ./device_out):
#   1. the CUDA tests (pytest -m cuda);
#   2. the end-to-end training speed on the GPU against the plain loop and pytorch/examples' word LM;
#   2b. where a training step synchronises with the GPU (seqmodels.bench.syncs: host reads and sync debug mode);
#   3. the pending GPU runs, each cut off by trainer.max_time: ULMFiT's language model on IMDB's training reviews,
#      then the IMDB and SST-2 classifiers from it, and the same classifiers from scratch.
# Each step writes its log; a step that fails does not stop the next. Needs ../shared/data (SEQMODELS_DATA_DIR).
#   bash scripts/device_checks.sh [minutes for the language model, default 4] [minutes per classifier, default 1]
# (15 minutes of a lent machine hold the start, the tests, the benchmark, the sync report (about a minute) and
#  about 4 + 8 x 1 minutes of training: pass 3 and 1, or fewer, when the start took long)
set -u
OUT=${OUT:-device_out}
LM_MINUTES=${1:-4}
MINUTES=${2:-1}
PY=${PYTHON:-python}
export SEQMODELS_DATA_DIR=${SEQMODELS_DATA_DIR:-../shared/data}
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" > "$OUT/torch.txt" 2>&1

$PY -m pytest -m cuda -q -p no:cacheprovider > "$OUT/cuda_tests.log" 2>&1; echo "cuda tests rc=$?"
seqmodels-bench --device cuda --only-e2e --e2e-batches 200 --e2e-repeats 3 --json "$OUT/e2e_cuda.json" \
    > "$OUT/e2e_cuda.log" 2>&1; echo "e2e rc=$?"
$PY -m seqmodels.bench.syncs --device cuda --steps 20 --experiment default conll2000_chunk_bilstm \
    --json "$OUT/syncs_cuda.json" > "$OUT/syncs_cuda.log" 2>&1; echo "syncs rc=$?"

QUIET="trainer=gpu '~callbacks.rich_progress_bar' trainer.enable_progress_bar=false"
train() {  # label, minutes, overrides...
    label=$1; minutes=$2; shift 2
    eval seqmodels-train "$@" hydra.run.dir="$OUT/results/$label" trainer.max_time=00:00:$minutes:00 $QUIET \
        > "$OUT/$label.log" 2>&1
    echo "$label rc=$?"
}
train imdb_lm "$LM_MINUTES" experiment=imdb_lm
LM="$OUT/results/imdb_lm/checkpoints/last.ckpt"
train imdb_ulmfit "$MINUTES" experiment=imdb_ulmfit model.init_from="$LM"
train imdb_lstm_scratch "$MINUTES" experiment=imdb_lstm_scratch
train sst2_from_imdb_lm "$MINUTES" experiment=sst2_from_imdb_lm model.init_from="$LM"
train sst2_lstm_scratch "$MINUTES" experiment=sst2_lstm_scratch
for n in 250 2500; do
    train imdb_ulmfit_n$n "$MINUTES" experiment=imdb_ulmfit model.init_from="$LM" data.train_examples=$n
    train imdb_lstm_scratch_n$n "$MINUTES" experiment=imdb_lstm_scratch data.train_examples=$n
done
# checkpoints stay behind: only the records and event files come back
find "$OUT/results" -name "*.ckpt" -delete
