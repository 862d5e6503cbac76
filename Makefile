# Two commands: `make run` (set up, start the app) and `make test` (set up, run the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test test-slow mutation lint bench clean-venv

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip==26.3"

# torch goes first and alone: asked for by another package it would pull a multi-GB CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -c requirements.lock -e ".[dev]"
	# Only for the CLIP BPE merges file it ships (the unCLIP tokenizer); its dependencies
	# (torchvision, timm) would pull another torch build, and nothing imports it.
	$(PIP) install --quiet --no-deps "open-clip-torch==3.3.0"
	@touch $@

run: $(VENV)/.installed
	$(BIN)/studio app --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# The slow tests (every `studio` command as its own process, the bundled models on the whole
# validation split): CI runs them after `make test`.
test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m slow

# Small bugs planted one at a time in the timing, format and manifest modules (docs/testing.md).
mutation: $(VENV)/.installed
	$(BIN)/python bench/mutation.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	$(BIN)/python bench/onsets_speed.py
	$(BIN)/python bench/chart_speed.py

clean-venv:
	rm -rf $(VENV)
