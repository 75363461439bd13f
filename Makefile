# One command per job; each sets up what it needs first.
#   make app    the notebook app on the built-in demo data
#   make test   the whole test suite (installs Chromium for the browser tests when run as root)
#   make demo   the command-line build of the demo, with its web atlas, into out/demo
#   make bench  speed and memory benchmarks (prints ratios against the baselines)
#   make lock   rewrite constraints.txt from the test environment (after changing a dependency)
#
# Installs take the exact versions in constraints.txt (pyproject.toml keeps the ranges); `make app`
# installs the package alone, `make test` adds the test and Spark extras, each with its own marker.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 2718
APP_ARGS ?=

CONSTRAINTS ?= constraints.txt

.PHONY: setup setup-app app demo test chromium java bench check lock clean

$(VENV)/.installed-app: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[test,spark]"
	touch $@

setup-app: $(VENV)/.installed-app
setup: $(VENV)/.installed-test

# `atlas app` serves the notebook with a fresh access token and prints the address that carries it;
# to share it: make app APP_ARGS="--host 0.0.0.0 --uploads-only" (or --data-root DIR).
app: setup-app
	$(VENV)/bin/atlas app --port $(PORT) $(APP_ARGS)

demo: setup-app
	$(VENV)/bin/atlas build --demo --out out/demo --html

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "Chromium is missing: install it (e.g. 'sudo apt-get install chromium') or the browser tests are skipped."; fi; }

java:
	@command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; \
	  else echo "Java is missing: install a JDK 17+ (e.g. 'sudo apt-get install openjdk-17-jre-headless') or the Spark tests are skipped."; fi; }

test: setup chromium java
	$(PY) -m pytest

check: setup-app
	$(VENV)/bin/marimo check notebooks/

bench: setup
	$(PY) bench/bench_core.py
	$(PY) bench/bench_web.py
	$(PY) bench/bench_app.py

# from the ranges (keeping installed versions that satisfy them), then the pins of what was installed
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test,spark]"
	$(PY) .ci/constraints.py > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf out .pytest_cache
