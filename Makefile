# zerograd — two commands: `make run` (whole service, embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint deps browser services clean

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

deps: $(STAMP)
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) || \
	  echo "warning: bubblewrap not installed; the sandbox uses its weaker fallback"; }

browser:  # Debian's chromium for the Playwright tests (only `make test` needs it)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "warning: chromium not installed; browser tests (-m browser) cannot run"; }

services:
	@bash scripts/services.sh

test: deps browser services
	$(PY) -m ruff check .
	$(PY) -m mypy app grader reference workers
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: deps
	$(PY) -m ruff check . && $(PY) -m mypy app grader reference workers

run: deps
	$(PY) -m app.serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
