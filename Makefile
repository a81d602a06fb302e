# One entry point for humans and CI. Only python3 (>= 3.11) is needed; the rest installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STACK  ?= dev

.PHONY: install preview synth check cost test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

preview: $(STAMP)  ## offline preview of a stack (no Pulumi CLI, no cloud credentials)
	$(BIN)/blueprint preview $(STACK)

synth: $(STAMP)
	$(BIN)/blueprint synth $(STACK) -o $(STACK).graph.json

check: $(STAMP)
	$(BIN)/blueprint check $(STACK)

cost: $(STAMP)
	$(BIN)/blueprint cost $(STACK)

test: $(STAMP)  ## the whole test suite, as CI runs it
	$(BIN)/ruff check components infra policies tests examples benchmarks
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check components infra policies tests examples benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache *.graph.json
