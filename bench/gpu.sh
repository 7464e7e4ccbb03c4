#!/usr/bin/env bash
# The GPU measurements of bench/training.py, on a machine whose python3 has a CUDA torch,
# numpy, scipy, tqdm and pytest (no venv, no dolfinx: bring the dataset with the tree).
# From the repository root:
#
#   PYTHONPATH=. bash bench/gpu.sh [dataset] [out_dir]
#
# 1. the CUDA tests (they skip on a machine without a GPU, so here they must pass, not skip);
# 2. bench/training.py with every run on the GPU, one at a time, 3 seeds ->
#    out_dir/training_cuda.json (wall-clock speed-ups on the GPU; FLOPs as on the CPU).
# STEPS (default: the train spec's steps, those of the default run) and SEEDS (default
# "0 1 2") shorten it to fit a time limit.
set -euo pipefail
dataset=${1:-results/plume/dataset.npz}
out=${2:-bench/results}
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
python3 -m pytest -q -p no:cacheprovider -rs tests/surrogate -k cuda
mkdir -p "$out"
# DMD_BENCH_RUNS empty: every run trained and timed here, none read back (bench/run_store.py).
# shellcheck disable=SC2086  # SEEDS is a list; STEPS, when set, is one number
DMD_BENCH_RUNS= python3 bench/training.py --device cuda --jobs 1 --moments ${STEPS:+--steps $STEPS} \
    --seeds ${SEEDS:-0 1 2} --dataset "$dataset" --out "$out/training_cuda.json"
