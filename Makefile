# The two commands of the README: `make test` and `make train`. Both create .venv when missing.
# Also: make test-fast (no slow tests), make lint, make typecheck, make mutate (mutation testing).
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast lint format typecheck train clean mutate mutate-report

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned, so that the project's range installs nothing more. The extras: the test tools, and
# ONNX export + Optuna sweeps, so that their tests run instead of skipping (tests/inference/test_export.py,
# tests/commands/test_configs.py). Rebuilt when pyproject.toml or this file changes.
EXTRAS ?= test,export,sweep
$(STAMP): $(BIN)/python pyproject.toml Makefile
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

# the suite runs in TEST_WORKERS processes (pytest-xdist; 0 runs it in this one): most slow tests wait on a
# console script's start-up, and two of them overlap well on two cores
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# everything but the tests marked slow (whole training runs, subprocess CLIs): a minute or two. In one
# process: these tests compute on torch's threads, and two processes of them only contend for the cores
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check seqmodels tests scripts examples
	$(BIN)/python -m ruff format --check seqmodels tests scripts examples

# rewrites the files: ruff's fixes, then its formatter
format: $(STAMP)
	$(BIN)/python -m ruff check --fix seqmodels tests scripts examples
	$(BIN)/python -m ruff format seqmodels tests scripts examples

typecheck: $(STAMP)
	$(BIN)/python -m mypy seqmodels

# Mutation testing (not part of `make test`; docs/TESTING.md): mutmut 3 mutates the modules configured in
# pyproject.toml ([tool.mutmut]) one function at a time and runs the tests that execute it, one module at a
# time, one worker (minutes per module on 2 cores; the kernels and seqmodels/functional the longest). Results
# stay in mutants/ (a rerun only tries what changed); `make mutate-report` prints each module's score and its
# survivors. One module: make mutate MUTATE_MODULES=seqmodels.data.resumable
# A seeded sample of N mutants per module instead of all: make mutate MUTATE_SAMPLE=40 (the names are read from
# mutants/, which any earlier run fills with every configured module's mutants)
MUTATE_MODULES ?= seqmodels.checkpoints.trust seqmodels.inference.decoding seqmodels.data.resumable \
	seqmodels.callbacks.probe seqmodels.callbacks.gradient_flow seqmodels.functional \
	seqmodels.data.corpora.labeled_text seqmodels.data.corpora.text_classification \
	seqmodels.data.corpora.series_files seqmodels.data.corpora.series_readers seqmodels.data.corpora.text_files \
	seqmodels.kernels
MUTATE_SAMPLE ?=
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet "mutmut>=3.8,<4"
	set -f; for module in $(MUTATE_MODULES); do \
		names="$$module.*"; \
		if [ -n "$(MUTATE_SAMPLE)" ]; then \
			names=$$($(BIN)/python scripts/mutation_report.py mutants --sample $(MUTATE_SAMPLE) $$module) || exit 1; \
		fi; \
		SEQMODELS_DATA_DIR=$${SEQMODELS_DATA_DIR:-$(CURDIR)/../shared/data} OMP_NUM_THREADS=1 \
			$(BIN)/mutmut run --max-children 1 $$names || exit 1; \
	done
	$(BIN)/python scripts/mutation_report.py mutants --survivors

mutate-report:
	$(BIN)/python scripts/mutation_report.py mutants --survivors

# the default experiment (a character LSTM on Python's standard library, < 5 min on 2 CPU cores);
# prints where the TensorBoard logs and checkpoints went and a sample. More: make train TRAIN_ARGS="model/cell=gru"
train: $(STAMP)
	$(BIN)/seqmodels-train $(TRAIN_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
