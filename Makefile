# livecast: two commands for a newcomer.
#   make run   - create .venv, install, start livecast on embedded defaults (SQLite, local disk)
#   make test  - install the test extras and run every check
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# PostgreSQL used by the database tests when reachable; unset it to run SQLite only.
export LIVECAST_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

VENDOR := src/livecast/web/static/vendor
# One stamp for every front-end file copied from web/node_modules, rebuilt when the pins change.
VENDOR_STAMP := $(VENDOR)/.installed

.PHONY: run test lint typecheck unit fuzz-api e2e install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The watch page's players come from the npm registry, pinned by web/package-lock.json:
# hls.js (the default) and dash.js (?player=dash).
$(VENDOR_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed to build the watch page"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp web/node_modules/hls.js/dist/hls.min.js $(VENDOR)/hls.min.js
	cp web/node_modules/dashjs/dist/modern/umd/dash.all.min.js $(VENDOR)/dash.all.min.js
	@touch $@

install: $(STAMP) $(VENDOR_STAMP)

run: install
	$(BIN)/livecast serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: install
	bash scripts/system-deps.sh
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15 --cov --cov-report=term:skip-covered

fuzz-api: $(STAMP)
	$(BIN)/python scripts/fuzz_api.py

# pytest runs last, so that its summary line ends the output.
test: lint typecheck fuzz-api unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
