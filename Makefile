# Ytung — the README's two commands are `make run` and `make test`.
# ref: https://www.gnu.org/software/make/manual/make.html
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.ytung-installed
TEST_INSTALLED := $(VENV)/.ytung-test-installed
CHP := node_modules/.bin/configurable-http-proxy
PYTEST_ARGS ?=
# jlpm and jupyter-builder (the lab extension's build) come from the venv
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test bench lint format install install-test browser i18n clean

run: install
	$(BIN)/ytung-db upgrade
	$(BIN)/jupyterhub -f hub_config/jupyterhub_config.py

test: install install-test browser
	cd labextension && { [ -d node_modules ] || jlpm install; } && jlpm test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install install-test
	$(BIN)/python benchmarks/spawn.py
	@for b in benchmarks/*.py; do [ "$$b" = benchmarks/spawn.py ] || $(BIN)/python $$b; done

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(INSTALLED) $(CHP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the project (editable) with the hub and lab extras; the lab extension is built by the
# hatch-jupyter-builder hook and linked into the venv for development
$(INSTALLED): pyproject.toml labextension/package.json labextension/yarn.lock | $(BIN)/python
	$(BIN)/pip install -e ".[hub,lab,ml]"
	$(BIN)/jupyter labextension develop --overwrite .
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyterlab/apputils-extension:announcements
	install -D -m 644 jupyter-config/lab-settings/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

install-test: $(TEST_INSTALLED)

$(TEST_INSTALLED): pyproject.toml | $(INSTALLED)
	$(BIN)/pip install -e ".[hub,lab,test]"
	touch $@

$(CHP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium for the browser tests (never a browser downloaded by a test tool)
browser:
	@{ command -v chromium >/dev/null && fc-list :lang=zh | grep -q .; } || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver fonts-noto-cjk; }

clean:
	rm -rf $(VENV) node_modules labextension/node_modules labextension/lib ytung_server_ext/labextension .ytung
