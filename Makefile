# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs labkit (editable) when missing; later runs reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

.PHONY: demo test test-fast bench release venv clean-data

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labkit demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

release: $(STAMP)
	$(BIN)/labkit release

bench: $(STAMP)
	$(BIN)/labkit bench all

clean-data:
	rm -rf data/tiny
