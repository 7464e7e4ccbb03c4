# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the workflow on config/config.yaml
#   make test   create/update .venv, run the test suite
# Extra arguments for snakemake or pytest: make run ARGS="--configfile config/scenarios/puff.yaml"

VENV    := .venv
STAMP   := $(VENV)/.installed
PY      := $(VENV)/bin/python
CORES   ?= all
ARGS    ?=
# Rules call `python -m ...`: make the venv's interpreter the one on PATH for every job.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test report lint bench clean-results

$(STAMP): pyproject.toml
	@bash .ci/find-python.sh > /dev/null
	@test -x $(PY) || $$(bash .ci/find-python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

report: $(STAMP)
	$(VENV)/bin/snakemake --report results/report.html $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint

# The solver benchmark, then the training ones on the default dataset (made if missing).
bench: $(STAMP)
	$(PY) bench/solver.py
	$(VENV)/bin/snakemake --cores $(CORES) results/plume/dataset.npz
	$(PY) bench/training.py --moments
	$(PY) bench/predictability.py

clean-results:
	rm -rf results logs .snakemake
