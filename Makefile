# dealgate: `make run` serves on 127.0.0.1:8000; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test migrate openapi bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("dealgate needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/dealgate admin bootstrap --if-empty
	$(BIN)/uvicorn --factory app.main:create_app --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

openapi: $(STAMP)
	$(BIN)/dealgate openapi > openapi.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.gates
	$(BIN)/python -m bench.transitions
	$(BIN)/python -m bench.dryrun

clean:
	rm -rf $(VENV) dealgate.db dealgate.db-wal dealgate.db-shm
