# hopthu — the two commands of the quick start are `make demo` and `make test`.
# Both do all set-up on a fresh Debian 12 machine that has only `make` and `git`: system packages (python3
# and python3-venv among them), a virtualenv, the package itself (scripts/check-fresh-debian proves it).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Outside the repository (one-time passwords wait there) and passable by the Dovecot mail user.
DEMO_DIR ?= /var/tmp/hopthu-demo
export PATH := $(CURDIR)/$(BIN):$(PATH)

# Debian packages the servers and the pipeline need (see scripts/install-system-packages).
.PHONY: system venv ci-tools setup lint test test-unit demo demo-down bench clean

system:
	@scripts/install-system-packages

# Order-only on `system`: python3 and python3-venv must be there first, even with `make -j` or `make venv`.
$(VENV)/.installed: pyproject.toml | system
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# gitlab-ci-local (npm), which the tests use to run the real .gitlab-ci.yml
ci-tools: system
	@scripts/install-gitlab-ci-local

setup: system venv ci-tools

PY_SOURCES := tools tests bench scripts roles

lint: venv
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q playbooks roles

test: setup lint
	$(BIN)/pytest -q

test-unit: venv
	$(BIN)/pytest -q -m 'not slapd and not mail and not slow and not node'

demo: system venv
	scripts/demo "$(DEMO_DIR)"

demo-down: venv
	-[[ -f "$(DEMO_DIR)/password-page.pid" ]] && kill "$$(cat "$(DEMO_DIR)/password-page.pid")" && rm -f "$(DEMO_DIR)/password-page.pid"
	$(BIN)/hopthu server stop --dir "$(DEMO_DIR)/directory"

bench: setup
	$(PY) bench/naming.py
	cd bench && ../$(PY) ldap_write.py
	cd bench && ../$(PY) apply.py
	$(PY) bench/read_identities.py
	$(PY) bench/history.py
	cd bench && ../$(PY) import.py
	$(PY) bench/password_page.py
	$(PY) bench/status.py
	$(PY) bench/export.py
	cd bench && ../$(PY) replication.py
	$(PY) bench/merge.py
	$(PY) bench/signing.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
