# HPML-CNN. Two commands do all the set-up on a fresh machine:
#   make lab    install what is missing, then open the workshop in JupyterLab
#   make test   install what is missing, then run every test (notebooks in smoke mode included)
# Also: make notebooks (full-mode run, executed copies + HTML under build/), make bench (benchmarks).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PORT ?= 8888
TOKEN ?=
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help setup lab test notebooks bench docs clean

help:
	@echo "make lab        install if needed, then open JupyterLab at notebooks/00-setup-check.ipynb"
	@echo "make test       install if needed, then run all tests (about 10 minutes on 2 cores)"
	@echo "make notebooks  run every notebook in full mode; executed copies and HTML in build/notebooks"
	@echo "make bench      run the benchmarks; table printed and written to bench/results.json"
	@echo "make docs       copy the latest results into docs/reference/ and regenerate the measured tables"
	@echo "make clean      remove build/ (keeps .venv)"

setup:
	@PYTHON=$(PYTHON) bash scripts/setup.sh

# JupyterLab on 127.0.0.1 only, with a token (printed in the URL below; TOKEN=... to choose one).
# Containers and CI often run as root, which JupyterLab refuses unless told: allowed only in that case.
lab: setup
	cd notebooks && ../$(VENV)/bin/jupyter lab 00-setup-check.ipynb --ip=127.0.0.1 --port=$(PORT) \
		$(if $(TOKEN),--IdentityProvider.token=$(TOKEN)) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

notebooks: setup
	$(VENV)/bin/python -m tools.notebook_runner --mode full --html --out build/notebooks \
		--results build/notebook_results.json --report build/report.md

bench: setup
	$(VENV)/bin/python bench/run.py

# The measured tables of README.md and docs/INSTRUCTOR.md come from results files, never from typing:
# those of `make test` (smoke) and `make notebooks` (full) and `make bench`, whichever exist.
docs: setup
	@mkdir -p docs/reference
	@if [ -f bench/results.json ]; then cp bench/results.json docs/reference/bench_results.json; fi
	$(VENV)/bin/python -m tools.module_map
	$(VENV)/bin/python scripts/write_docs.py --merge-results build/notebook_results.json

clean:
	rm -rf build
