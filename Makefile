# dealgate: `make run` serves on 127.0.0.1:8000; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz migrate openapi bench clean

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
	$(BIN)/dealgate serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long versions of the generated tests: more examples per operation, more random sequences,
# and Schemathesis against a real server.
fuzz: $(STAMP)
	DEALGATE_FUZZ_EXAMPLES=$${DEALGATE_FUZZ_EXAMPLES:-40} DEALGATE_MODEL_RUNS=$${DEALGATE_MODEL_RUNS:-200} \
		$(BIN)/python -m pytest tests/test_api_fuzz.py tests/test_model.py -p no:cacheprovider $(PYTEST_ARGS)
	$(BIN)/python -m tests.fuzz_server --examples $${DEALGATE_FUZZ_EXAMPLES:-40}

openapi: $(STAMP)
	$(BIN)/dealgate openapi > openapi.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) dealgate.db dealgate.db-wal dealgate.db-shm
