# The two commands of the README: `make test` and `make train`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned, so that the project's range installs nothing more
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the default experiment (a character LSTM on Python's standard library, < 5 min on 2 CPU cores);
# prints where the TensorBoard logs and checkpoints went and a sample. More: make train TRAIN_ARGS="model/cell=gru"
train: $(STAMP)
	$(BIN)/seqmodels-train $(TRAIN_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
