# The two commands the README puts first. Both create .venv on first use and reinstall only when
# pyproject.toml changed (the stamp file records the last install).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
# rules call `mrisynth` and `snakemake`: put the venv first on PATH for every recipe
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test test-cluster

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	@echo ""
	@echo "Done. Results are in results/; open the report: results/report/index.html"
	@echo "      (cohort page: results/report/cohort.html)"

test: $(STAMP)
	$(BIN)/python -m pytest tests

# A real single-node SLURM on this machine runs the tiny DAG through workflow/profiles/slurm and checks it
# against a local run (needs root and apt; see workflow/profiles/README.md). Measured: 20-22 min on 2 cores
# shared with other work (load average ~18), the local and the SLURM run of the DAG side by side.
SLURM_STAMP := $(VENV)/.installed-slurm
$(SLURM_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[slurm,test]'
	@touch $(SLURM_STAMP)

test-cluster: $(SLURM_STAMP)
	$(BIN)/python -m pytest tests/cluster
	tests/cluster/run_cluster_test.sh
