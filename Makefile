# bows -- Bag-of-Words Superposition. `make help` lists the targets.
# Hydra overrides pass through ARGS, e.g.  make train ARGS="train.weight_decay=1.0 model.latent_size=500"
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
ARGS ?=
STAMP := $(VENV)/.installed
# where runs write: paths.root defaults to $BOWS_DATA, else data/
DATA_ROOT := $(or $(BOWS_DATA),data)

.PHONY: help install download vocab binarize data stats train sweep analyze report smoke all \
        synthetic citymap structure status reproduce-paper test test-slow test-all browser bench bench-data bench-train bench-dynamics \
        bench-scale bf16-check lint check clean data-shards

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install bows (TORCH_SPEC=torch on GPU machines)

download: $(STAMP) ## stage 1: fetch the corpus into Parquet (corpus=embedded|wikitext103|openwebtext|local)
	$(PY) -m bows.data.download $(ARGS)

vocab: $(STAMP) ## stage 2: tokenize and build the 10k-word vocabulary
	$(PY) -m bows.data.vocab $(ARGS)

binarize: $(STAMP) ## stage 3: binary bag-of-words windows (CSR) per split, with statistics
	$(PY) -m bows.data.binarize $(ARGS)

data: binarize ## download + vocab + binarize (each skipped when up to date)

SHARDS ?= 4
LAUNCHER ?= joblib
LAUNCH_ARGS ?=
SHARD_LIST = $(shell seq -s, 0 $$(( $(SHARDS) - 1 )))
data-shards: $(STAMP) ## data in SHARDS parallel jobs per stage through a Hydra launcher (LAUNCHER=joblib|submitit_slurm), then the merge
	$(PY) -m bows.data.download $(ARGS)
	$(PY) -m bows.data.vocab -m hydra/launcher=$(LAUNCHER) data.num_shards=$(SHARDS) data.shard=$(SHARD_LIST) $(LAUNCH_ARGS) $(ARGS)
	$(PY) -m bows.data.binarize -m hydra/launcher=$(LAUNCHER) data.num_shards=$(SHARDS) data.shard=$(SHARD_LIST) $(LAUNCH_ARGS) $(ARGS)
	$(PY) -m bows.data.binarize data.num_shards=$(SHARDS) $(ARGS)

stats: $(STAMP) ## co-activation statistics of the windows (counts, correlation, PMI)
	$(PY) -m bows.data.stats $(ARGS)

train: $(STAMP) ## train one tied ReLU autoencoder (builds missing data first)
	$(PY) -m bows.training.train $(ARGS)

sweep: $(STAMP) ## Hydra multirun over weight decay (conf/sweep/weight_decay.yaml)
	$(PY) -m bows.training.train -m +sweep=weight_decay $(ARGS)

analyze: $(STAMP) ## feature-geometry analyses of a run (analyze.run=...) or sweep (analyze.sweep=...)
	$(PY) -m bows.analysis.analyze $(ARGS)

report: $(STAMP) ## static HTML report of a run or sweep
	$(PY) -m bows.analysis.report $(ARGS)

smoke: $(STAMP) ## try this first: the whole study on a tiny corpus slice in about a minute (W&B off)
	$(PY) -m bows.experiments.study +experiment=smoke $(ARGS)

all: $(STAMP) ## the whole study on the default corpus: data, stats, two models, analyses, report
	$(PY) -m bows.experiments.study $(ARGS)

structure: $(STAMP) ## structure vs latent size (months / Roman-numeral Gram norms, 3 seeds, wd 1; ~hours on 2 CPUs)
	$(PY) -m bows.experiments.structure $(ARGS)

synthetic: $(STAMP) ## synthetic correlated features (SPEC 5.8)
	$(PY) -m bows.experiments.synthetic $(ARGS)

citymap: $(STAMP) ## value-coding city map (US cities, compass-direction embeddings)
	$(PY) -m bows.experiments.citymap $(ARGS)

status: $(STAMP) ## what exists under the data root and its state, what `make all` would run (ARGS="--gc [--delete]")
	@$(PY) -m bows.status $(ARGS)

reproduce-paper: $(STAMP) ## the paper's runs on WikiText-103: L=1000 at wd 4 and the wd-1 structure sweep (GPU + HF hub)
	$(PY) -m bows.data.binarize corpus=wikitext103 $(ARGS)
	$(PY) -m bows.training.train +experiment=paper_wd4 $(ARGS)
	$(PY) -m bows.training.train -m +experiment=paper_structure_sweep $(ARGS)

test: $(STAMP) ## fast tests (no network, a few minutes)
	$(PY) -m pytest -q -m "not slow" $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

browser: ## headless Chromium for the report's browser test (Debian package `chromium`; needs root or sudo)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; then :; \
	  else echo "browser: chromium is not installed and could not be installed; the browser test will be skipped"; fi; }

test-slow: $(STAMP) browser ## end-to-end tests (real sweeps, real embedded corpus, the report in headless Chromium)
	$(PY) -m pytest -q -m slow $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

test-all: test test-slow ## every test

bench: bench-data bench-train bench-dynamics ## all benchmarks (tables printed, JSON under data/bench/)

bench-data: $(STAMP) ## tokenize + vocab + windows throughput on a WikiText-shaped corpus
	$(PY) scripts/bench_data.py $(ARGS)

bench-train: $(STAMP) ## training throughput per GEMM backend and precision vs the measured step bound
	$(PY) scripts/bench_train.py $(ARGS)

bench-scale: $(STAMP) ## data stages on 0.1/0.3/1 GB synthetic corpora: rows/s and peak RSS per stage; streaming vs resident training
	$(PY) scripts/bench_scale.py $(ARGS)

bench-dynamics: $(STAMP) ## overhead of the per-interval geometry dynamics (||W||_F, norms, D, grad norm)
	$(PY) scripts/bench_dynamics.py $(ARGS)


bf16-check: $(STAMP) ## bf16 vs the fp32 seed spread of the geometry metrics (ARGS="--latent 1000 --steps 4000 --lr 5e-4": full size)
	$(PY) scripts/bf16_check.py $(ARGS)

lint: $(STAMP) ## ruff (lint + format check) and pyright (basic mode) over bows, scripts, tests
	$(VENV)/bin/ruff check bows scripts tests
	$(VENV)/bin/ruff format --check bows scripts tests
	$(VENV)/bin/pyright

check: lint test ## lint, type check and the fast tests (what CI runs, with test-slow)

clean: ## remove Hydra logs under $BOWS_DATA (default data/); keeps artifacts and runs
	rm -rf "$(DATA_ROOT)/outputs" "$(DATA_ROOT)/multirun"
