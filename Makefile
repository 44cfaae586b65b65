# `make demo` and `make test` work on a fresh machine with only Python >= 3.11.
# They create (or reuse) the virtual environment $(VENV). PyTorch is installed as the
# CPU build torch==2.13.0 only when the environment has no torch yet, so a CUDA build
# that you installed first (see README) is kept.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: install install-dev demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e .

install-dev: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[dev]"

demo: install
	$(BIN)/latentscenes demo

test: install-dev
	$(BIN)/python -m pytest -q --durations=25
