#!/usr/bin/env bash
# The checks that need a GPU, for a lent CUDA machine, in the order they matter, all inside one time budget.
#
# Here, first (needs the package registry and ../shared/data):
#   bash scripts/device_prepare.sh          # .device_kit/: the wheels the machine lacks and the data sets
# Then one device call, carry [".device_kit"], timeout_s 600:
#   bash scripts/device_checks.sh 560       # seconds this command may take, packing included
# and right after it, on the same warm machine (it goes back after 30 s idle), for what device time is left:
#   bash scripts/device_checks.sh 200 medium    # continues ptb_word_lstm_medium from its last.ckpt
#
# Stages (default: tests kernels e2e syncs medium), each cut to fit the budget, a failure not stopping the next:
#   tests    the CUDA tests (pytest -m cuda)
#   kernels  seqmodels-bench --device cuda: the layer grid and generation against torch.nn (cuDNN)
#   e2e      python -m seqmodels.bench.training --device cuda --bare: seqmodels-train (every default, and bare)
#            against the plain loop and pytorch/examples' word_language_model, PTB, three rounds
#   syncs    python -m seqmodels.bench.syncs --device cuda: host reads and synchronisations per training step
#   medium   ptb_word_lstm_medium (39 epochs) for the time left, cut by trainer.max_time; run again, it resumes
#            from last.ckpt (the time limit counts the earlier parts: Lightning's timer is in the checkpoint);
#            then the sentence scores of its best checkpoint (scores.json, read by scripts/results.py)
#   ulmfit   the transfer runs: IMDB's language model, then four classifiers and the learning curve
#            (ULMFIT_LM_MINUTES, default 4, and ULMFIT_MINUTES per classifier, default 1)
# Sizes known so far: ptb_word_lstm_medium ran 26 s an epoch on an H200 it shared with a second run (39 epochs:
# about 17 minutes), so with the other stages in the same 15 minutes of device time it will not finish in one
# session: its checkpoints stay on the machine (80 MB, over what a call returns), so a session with time left
# for it alone runs `bash scripts/device_checks.sh 560 medium`, then `... 200 medium` right after.
# To try the script without a GPU: TRAINER=cpu, the stages tests and medium, and MEDIUM_OVERRIDES (extra overrides
# of the medium run, e.g. a small model and trainer.limit_train_batches). PYTHON picks the interpreter (python3).
# Runs and logs go to device_runs/ (git-ignored, kept on a warm machine between calls). What comes back is one
# file, $OUT/device_results.tgz (logs, JSON, run records, event files, scores; no checkpoints): a call returns at
# most 8 files. Unpack it here with `tar xzf .../device_results.tgz -C logs/device`; the run directories under
# results/ are what `python scripts/results.py --runs logs/device/results` reads.
set -u
cd "$(dirname "$0")/.."
BUDGET=${1:?usage: device_checks.sh SECONDS [tests|kernels|e2e|syncs|medium|ulmfit ...]}
shift
STAGES=${*:-tests kernels e2e syncs medium}
DEADLINE=$((SECONDS + BUDGET))
PACK_S=20           # kept for packing the results
MEDIUM_AFTER_S=90   # kept after medium's training for its test pass, the scores and packing
PY=${PYTHON:-python3}
KIT=.device_kit
WORK=device_runs
SITE=/tmp/seqmodels_site
OUT=${OUT:-device_out}
mkdir -p "$WORK/logs" "$OUT"
left() { echo $((DEADLINE - SECONDS)); }
say() { echo "[$(date -u +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$WORK/logs/stages.txt"; }

# run LABEL CAP_SECONDS COMMAND...: the command under `timeout`, cut at CAP or at what the budget leaves
run() {
    local label=$1 cap=$2
    shift 2
    local s=$(($(left) - PACK_S))
    ((s > cap)) && s=$cap
    if ((s < 10)); then say "$label skipped: ${s}s left"; return; fi
    say "$label: up to ${s}s"
    timeout --signal=INT --kill-after=10 "$s" "$@" > "$WORK/logs/$label.log" 2>&1
    say "$label rc=$? ($(tail -n 1 "$WORK/logs/$label.log" | cut -c1-150))"
}

setup() {
    if [ -d "$KIT/data" ]; then export SEQMODELS_DATA_DIR=$PWD/$KIT/data; fi
    export SEQMODELS_DATA_DIR=${SEQMODELS_DATA_DIR:-../shared/data}
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}  # the carried wheels, once installed (kept while warm)
    if ! "$PY" -c "import hydra, omegaconf, seqeval" 2> /dev/null; then
        "$PY" -m pip install --quiet --no-index --no-deps --no-compile --target "$SITE" "$KIT"/wheels/*.whl
    fi
    if ! command -v seqmodels-train > /dev/null || [ -d "$SITE/project" ]; then
        # the project itself, its configs inside, and its console scripts; installed again at each call, so
        # that a call runs the tree it carried
        rm -rf "$SITE/project"
        "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation --target "$SITE/project" . \
            > "$WORK/logs/install.log" 2>&1 || { say "installing the project failed"; tail "$WORK/logs/install.log"; }
        export PYTHONPATH=$SITE/project:$PYTHONPATH PATH=$SITE/project/bin:$PATH
    fi
    nvidia-smi > "$WORK/logs/nvidia-smi.txt" 2>&1
    "$PY" -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA')" 2>&1 | tee "$WORK/logs/versions.txt"
    if ! "$PY" -c "import seqmodels.commands.train, seqmodels.bench.training, seqmodels.bench.syncs" \
        > "$WORK/logs/import.log" 2>&1; then  # e.g. an API this torch lacks: stop before spending the budget
        say "the project does not import here: $(tail -n 1 "$WORK/logs/import.log")"
        pack
        exit 1
    fi
    say "setup done: data $SEQMODELS_DATA_DIR, seqmodels-train at $(command -v seqmodels-train)"
}

QUIET=(trainer="${TRAINER:-gpu}" "~callbacks.rich_progress_bar" trainer.enable_progress_bar=false)
read -r -a MEDIUM_EXTRA <<< "${MEDIUM_OVERRIDES:-}"

medium() {
    local run_dir=$WORK/results/ptb_word_lstm_medium granted=$WORK/medium_granted_s
    local s=$(($(left) - MEDIUM_AFTER_S)) resume=() before=0
    if ((s < 60)); then say "medium skipped: ${s}s left for training"; return; fi
    if [ -f "$run_dir/checkpoints/last.ckpt" ] && [ -f "$granted" ]; then
        before=$(cat "$granted")
        resume=(ckpt_path=last)
    fi
    local total=$((before + s))
    echo "$total" > "$granted"
    local max_time
    max_time=$(printf "00:%02d:%02d:%02d" $((total / 3600)) $((total % 3600 / 60)) $((total % 60)))
    say "medium: ${s}s more (trainer.max_time=$max_time${resume:+, resuming})"
    timeout --signal=INT --kill-after=10 $(($(left) - PACK_S)) seqmodels-train experiment=ptb_word_lstm_medium \
        "${QUIET[@]}" hydra.run.dir="$run_dir" trainer.max_time="$max_time" "${resume[@]}" "${MEDIUM_EXTRA[@]}" \
        >> "$WORK/logs/medium.log" 2>&1
    say "medium rc=$? ($(grep -E '^ *(val|test)/ppl |^Best checkpoint' "$WORK/logs/medium.log" | tail -n 3 | tr -s ' \n' ' '))"
    "$PY" - "$run_dir" >> "$WORK/logs/medium.log" 2>&1 << 'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, "scripts")
from results import score_examples  # writes the run's scores.json from its best checkpoint
run = Path(sys.argv[1])
record = json.loads((run / "result.json").read_text())
print(score_examples(record.get("best_model_path"), run / "scores.json"))
EOF
    say "medium scores rc=$?"
}

ulmfit() {
    local lm_minutes=${ULMFIT_LM_MINUTES:-4} minutes=${ULMFIT_MINUTES:-1} lm=$WORK/results/imdb_lm/checkpoints/last.ckpt
    train_for() {  # label, minutes, overrides...
        local label=$1 m=$2
        shift 2
        run "$label" $((m * 60 + 60)) seqmodels-train "$@" "${QUIET[@]}" hydra.run.dir="$WORK/results/$label" \
            trainer.max_time=00:00:$m:00
    }
    train_for imdb_lm "$lm_minutes" experiment=imdb_lm
    train_for imdb_ulmfit "$minutes" experiment=imdb_ulmfit model.init_from="$lm"
    train_for imdb_lstm_scratch "$minutes" experiment=imdb_lstm_scratch
    train_for sst2_from_imdb_lm "$minutes" experiment=sst2_from_imdb_lm model.init_from="$lm"
    train_for sst2_lstm_scratch "$minutes" experiment=sst2_lstm_scratch
    for n in 250 2500; do
        train_for imdb_ulmfit_n$n "$minutes" experiment=imdb_ulmfit model.init_from="$lm" data.train_examples=$n
        train_for imdb_lstm_scratch_n$n "$minutes" experiment=imdb_lstm_scratch data.train_examples=$n
    done
}

pack() {  # everything but the checkpoints, in one file
    tar czf "$OUT/device_results.tgz" --exclude='*.ckpt' -C "$WORK" . \
        && say "packed $(du -h "$OUT/device_results.tgz" | cut -f1) into $OUT/device_results.tgz"
}

say "budget ${BUDGET}s, stages: $STAGES"
setup
for stage in $STAGES; do
    case $stage in
        tests) run cuda_tests 240 "$PY" -m pytest -m cuda -q -p no:cacheprovider ;;
        kernels) run kernels_cuda 200 seqmodels-bench --device cuda --min-run-time 0.2 --json "$WORK/kernels_cuda.json" ;;
        e2e) run e2e_cuda 240 "$PY" -m seqmodels.bench.training --device cuda --bare --batches 200 --warmup 20 \
            --repeats 3 --json "$WORK/e2e_cuda.json" ;;
        syncs) run syncs_cuda 150 "$PY" -m seqmodels.bench.syncs --device cuda --steps 20 \
            --experiment default conll2000_chunk_bilstm multi30k_gru_attention --json "$WORK/syncs_cuda.json" ;;
        medium) medium ;;
        ulmfit) ulmfit ;;
        *) say "unknown stage $stage (tests kernels e2e syncs medium ulmfit)" ;;
    esac
done
pack
