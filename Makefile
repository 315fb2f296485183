# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs labkit (editable, with the maintainers' `dev` extra:
# import-linter) when missing; later runs reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

.PHONY: demo test test-fast lint-imports bench release venv clean-data

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labkit demo

# lint-imports checks labkit's declared layers (pyproject.toml [tool.importlinter])
test: $(STAMP)
	$(BIN)/lint-imports
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
