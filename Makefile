# Two commands on a fresh machine: `make demo` installs and runs it, `make test` tests it.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint bench clean

$(BIN)/studybot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/studybot

demo: install
	$(BIN)/studybot ask "why add randomness to retry delays"

test: install
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/studybot quiz --lint
	$(BIN)/pytest

# The quick lane while working: no servers, no subprocesses (CI runs everything).
test-fast: install
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/pytest -m "not slow" -q

bench: install
	$(BIN)/studybot bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
