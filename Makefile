# Every target creates/uses .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := $(CURDIR)/demo-state
DEMO_ENV := WEDSYNC_HOME=$(DEMO)/home WEDSYNC_CONFIG=$(DEMO)/config.toml

.PHONY: demo test bench lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(DEMO_ENV) $(BIN)/wedsync init --demo
	$(DEMO_ENV) $(BIN)/wedsync import csv examples/clients-messy.csv --rejects $(DEMO)/rejects.csv || [ $$? -eq 1 ]
	$(DEMO_ENV) $(BIN)/wedsync sync
	$(DEMO_ENV) $(BIN)/wedsync send --flush || true
	$(DEMO_ENV) $(BIN)/wedsync status
	@echo
	@echo "Local calendar (one .ics per event, readable by khal/vdirsyncer): $(DEMO)/home/default/calendars/studio"
	@ls $(DEMO)/home/default/calendars/studio | head -5; echo "... $$(ls $(DEMO)/home/default/calendars/studio | wc -l) events"
	@echo "Rejected rows with reasons: $(DEMO)/rejects.csv"

test: $(STAMP)
	$(BIN)/ruff check wedsync_cli tests benchmarks scripts examples
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check wedsync_cli tests benchmarks scripts examples

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info .pytest_cache
