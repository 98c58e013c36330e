# Every target bootstraps .venv on first use; a stamp keeps it idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli (and the cfn-lint it brings) pins its own dependencies, so it lives in a venv
# of its own; tests/packaging runs its sam and cfn-lint on the generated SAM template.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: demo test dev bench lint postgres clean sam-tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $(SAM_STAMP)

sam-tools: $(SAM_STAMP)

demo: $(STAMP)
	$(BIN)/faaskit demo

test: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m pytest -q

dev: $(STAMP)
	$(BIN)/faaskit dev examples/shop

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks
	$(BIN)/mypy

# Starts the machine's PostgreSQL cluster when it is down (CI and fresh machines).
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start

clean:
	rm -rf $(VENV) $(SAM_VENV) .faaskit .pytest_cache .mypy_cache .ruff_cache
