# Two commands for a newcomer: `make demo` and `make test`. Everything installs from this repo's files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo demo-user demo-reset test lint typecheck unit e2e screenshots package check-tenant bench bench-profile soak clean help

help:
	@echo "make demo   - run the bot on the embedded demo tenant with the Microsoft 365 Agents Playground"
	@echo "make demo-reset - forget the demo's cases, cards and chats (delete its SQLite store)"
	@echo "make test   - install, lint, type-check and run the tests"
	@echo "make package - build and validate the Teams app package (build/appPackage.zip)"
	@echo "make check-tenant - check what the configured tenant gives the bot (permissions, roles, licences)"

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

# Start the next demo from an empty store: deletes data/bot.db, its WAL files and its .created marker (demo only).
demo-reset: $(STAMP)
	$(BIN)/python -m tools.run_demo --reset

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# node_modules too: tests/integration/test_manifest.py validates the Teams app package with npm @microsoft/app-manifest.
unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -m "not e2e"

test: lint typecheck unit

e2e: $(STAMP)
	tools/install_e2e.sh
	$(BIN)/pytest tests/e2e -m e2e -q -p no:cacheprovider

screenshots: $(STAMP)
	tools/install_e2e.sh
	E2E_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest tests/e2e -m e2e -q -p no:cacheprovider

# The tenant pre-flight: what the configured tenant (the demo tenant when none is configured) gives the bot, read-only.
# Exit 0 when every feature is available; the table names what is missing and the docs/DEPLOY.md row that fixes it.
check-tenant: $(STAMP)
	$(BIN)/python -m tools.check_tenant

# The Teams app package: build/appPackage.zip, validated offline against @microsoft/app-manifest's schema.
package: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m tools.package_app

# msgraph-sdk for bench/graph_sdk.py (our Graph client vs Microsoft's) lives in bench/.venv-graph-sdk, never in .venv.
GRAPH_SDK_VENV := bench/.venv-graph-sdk
$(GRAPH_SDK_VENV)/.installed: bench/requirements-graph-sdk.txt
	$(PYTHON) -m venv $(GRAPH_SDK_VENV)
	$(GRAPH_SDK_VENV)/bin/python -m pip install --quiet -r bench/requirements-graph-sdk.txt
	touch $@

# Benchmarks beside their baselines -> bench/results/*.json and the table in docs/PERFORMANCE.md (< 10 min on 2 cores).
# Turn and start-up baseline: the Microsoft 365 Agents SDK's quickstart echo agent (bench/echo_bot.py), same run.
# Every demo tenant the benches start logs its Graph requests there; the last step checks them against v1.0 metadata.
BENCH_CONTRACT_LOG := $(CURDIR)/build/bench-contract
bench: export DEMO_TENANT_CONTRACT_LOG := $(BENCH_CONTRACT_LOG)
bench: $(STAMP) $(GRAPH_SDK_VENV)/.installed
	rm -rf $(BENCH_CONTRACT_LOG) && mkdir -p $(BENCH_CONTRACT_LOG)
	$(BIN)/python -m bench.turns
	$(BIN)/python -m bench.startup
	@if [ -f bench/investigation.py ]; then $(BIN)/python -m bench.investigation; fi
	$(BIN)/python -m bench.graph_sdk --sdk-python $(GRAPH_SDK_VENV)/bin/python
	$(BIN)/python -m bench.outbreak
	$(BIN)/python -m bench.report
	$(BIN)/python -m demo_tenant.contract_check $(BENCH_CONTRACT_LOG)

# py-spy profiles of the turn path -> bench/profiles/ (py-spy lives in bench/.venv-bench, never in .venv).
BENCH_VENV := bench/.venv-bench
$(BENCH_VENV)/.installed: bench/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements-bench.txt
	touch $@

bench-profile: $(STAMP) $(BENCH_VENV)/.installed
	$(BIN)/python -m bench.profile
	$(BIN)/python -m bench.profile --start

# Chaos soak: users and admins while the demo tenant fails ~10% of Microsoft 365 calls, its token endpoint is down
# for 45 s and the bot's PostgreSQL (a cluster the soak makes: needs the postgresql server package) is stopped for
# 20 s (bench/soak.py; exit 1 on a failed check) -> bench/results/soak.json and its section of docs/PERFORMANCE.md.
# At most 10 minutes.
SOAK_MINUTES ?= 10
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) node_modules data build .mypy_cache .ruff_cache .pytest_cache
