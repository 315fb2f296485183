# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs both packages editable when missing (later runs reuse it):
# the student package `labkit` (the root) and the course tools `labkit-course` (course/, with
# the maintainers' `dev` extra: pytest, import-linter, ruff).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

.PHONY: demo test test-fast lint-imports bench release venv clean-data

venv: $(STAMP)

$(STAMP): pyproject.toml course/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . -e './course[dev]'
	# Colab's pinned kernel stack, for tests/test_colab.py (which then needs no network)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --dest $(VENV)/colab-wheels \
	    ipykernel==5.5.6 ipython==7.34.0 notebook==6.5.5
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labkit demo

# lint-imports checks the packages' declared layers (pyproject.toml [tool.importlinter]);
# ruff checks the code (pyproject.toml [tool.ruff])
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow" tests

lint-imports: $(STAMP)
	$(BIN)/lint-imports

release: $(STAMP)
	$(BIN)/labkit release

bench: $(STAMP)
	$(BIN)/labkit bench all

clean-data:
	rm -rf data/tiny
