# Every target creates and reuses the virtual environment in .venv by itself:
# on a fresh clone `make demo` and `make test` need no set-up before them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins libraries that clash with the Google clients: it gets a virtualenv of its own.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# The cold start is measured in what a deployed function has: requirements.txt alone.
BUNDLE_VENV := $(VENV)/tools/bundle
BUNDLE_STAMP := $(BUNDLE_VENV)/.installed

.PHONY: install test lint types pytest demo bench chaos clean

install: $(STAMP)

# Reinstall only when the requirements or the package metadata change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# ruff, then the layers (import-linter contracts in pyproject.toml): a wrong import fails here.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'

$(BUNDLE_STAMP): requirements.txt
	@test -x $(BUNDLE_VENV)/bin/python || $(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install --quiet -r requirements.txt
	@touch $@

pytest: $(STAMP) $(CHECKOV)
	$(BIN)/python -m pytest

test: lint types pytest

demo: $(STAMP)
	$(BIN)/python -m batchline_cli.demo

# Every benchmark runs, whichever misses its target; the status says whether any did.
BENCHMARKS := validate complete submit coldstart emulators
bench: $(STAMP) $(BUNDLE_STAMP)
	@status=0; for name in $(BENCHMARKS); do \
		echo "== bench/$$name.py"; $(BIN)/python bench/$$name.py || status=1; \
	done; exit $$status

# The full chaos plan on a local cloud of its own (the small plan runs in `make test`).
chaos: $(STAMP)
	$(BIN)/python -m localcloud.chaos --scale full

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
