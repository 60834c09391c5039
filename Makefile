# Every target does its own set-up from a fresh clone.
# The virtual environment lives outside the clone by default so that a second
# clone (or CI on the same machine) reuses it instead of reinstalling torch.
# Use `make test VENV=.venv` for an environment inside the clone.
PYTHON ?= python3
VENV ?= $(HOME)/.cache/audioup/venv
PY := $(VENV)/bin/python
STAMP := .make-stamps/install

.PHONY: install test test-fast demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	@mkdir -p .make-stamps && touch $@

install: $(STAMP)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

demo: install
	$(VENV)/bin/audioup demo --out runs/demo

bench: install
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf .make-stamps runs build *.egg-info
