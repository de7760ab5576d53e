# Two commands for a newcomer: `make demo` and `make test`. Everything installs from this repo's files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo demo-user test lint typecheck unit e2e screenshots clean help

help:
	@echo "make demo   - run the bot on the embedded demo tenant with the Microsoft 365 Agents Playground"
	@echo "make test   - install, lint, type-check and run the tests"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m tools.run_demo --config .m365agentsplayground.yml

demo-user: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m tools.run_demo --config playground/megan.m365agentsplayground.yml

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not e2e"

test: lint typecheck unit

e2e: $(STAMP)
	tools/install_e2e.sh
	$(BIN)/pytest tests/e2e -m e2e -q -p no:cacheprovider

screenshots: $(STAMP)
	tools/install_e2e.sh
	E2E_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest tests/e2e -m e2e -q -p no:cacheprovider

clean:
	rm -rf $(VENV) node_modules data build .mypy_cache .ruff_cache .pytest_cache
