# Two entry points for a fresh machine: `make run` (serve on SQLite) and `make test`.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint venv

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/init_env.py
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py bootstrap_dev --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py serve --bind $(HOST) --port $(PORT)

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
