"""Benchmark: which network the surrogate should default to, at an equal FLOP budget.

    .venv/bin/python bench/networks.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 2 --out bench/results/networks.json

Every candidate is trained with plain Adam (lr 1e-3) until it has spent the FLOPs of
``--steps`` full-batch steps of the field network 5-128-128-2145 (``FIELD``; surrogate/flops.py
counts both kinds the same way), and is scored by the test relative L2 error in physical units,
which does not depend on how a network kind normalises its outputs. ``field`` networks map the
parameters to the whole field; ``pointwise`` networks map (coordinates, parameters) to one value
and train on random mini-batches of (sample, point) pairs. Each run is a separate process with
one torch thread; two run at a time.
"""

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from training import merge

from surrogate.data import load_dataset
from surrogate.parallel import run_jobs
from surrogate.problems import make_problem
from surrogate.spec import resolve_spec
from surrogate.train import run_training

# The budget: --steps full-batch steps of this field network.
FIELD = {
    "network": {
        "kind": "field",
        "width": 128,
        "depth": 2,
        "activation": "tanh",
        "init": "xavier_uniform",
    },
    "optimizer": {"lr": 0.001, "batch_size": 0, "schedule": "constant"},
}
POINTWISE = {
    "network": {"kind": "pointwise", "activation": "tanh", "init": "xavier_uniform"},
    "optimizer": {"lr": 0.001, "batch_size": 4096, "schedule": "constant"},
}
# name -> train spec overrides (complete, so that changed defaults do not change the runs).
CANDIDATES = {
    "field_w128_d2_tanh": FIELD,
    "field_w256_d2_tanh": merge(FIELD, {"network": {"width": 256}}),
    "field_w128_d3_tanh": merge(FIELD, {"network": {"depth": 3}}),
    "field_w128_d2_gelu": merge(FIELD, {"network": {"activation": "gelu"}}),
    "field_w128_d2_relu": merge(
        FIELD, {"network": {"activation": "relu", "init": "kaiming_uniform"}}
    ),
    "pointwise_w64_d3_tanh": merge(POINTWISE, {"network": {"width": 64, "depth": 3}}),
    "pointwise_w128_d4_tanh": merge(POINTWISE, {"network": {"width": 128, "depth": 4}}),
}


def _run(job: tuple) -> tuple[str, int, dict]:
    name, seed, spec, dataset = job
    with tempfile.TemporaryDirectory() as tmp:
        history = run_training(dataset, "adam", seed, spec, tmp, progress=False)
    last = history["records"][-1]
    return (
        name,
        seed,
        {
            "steps": last["step"],
            "flops": last["flops"],
            "wall_s": last["wall_s"],
            "train_loss": last["train_loss"],
            "val_loss": last["val_loss"],
            "test_rel_l2": history["test_rel_l2"],
            "n_params": history["n_params"],
        },
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    parser.add_argument("--steps", type=int, default=1000, help="of the FIELD network")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="bench/results/networks.json")
    args = parser.parse_args(argv)

    base = {"device": "cpu", "threads": 1, "eval_every": 50}
    default = resolve_spec(merge(base, FIELD))
    data = load_dataset(args.dataset)
    problem = make_problem(data, default, torch.device("cpu"), 0)
    torch.manual_seed(0)
    step = problem.step_flops(problem.network(default))
    budget = step * args.steps  # optimizer FLOPs are small beside these; stop on the budget
    jobs = []
    for name, over in CANDIDATES.items():
        spec = resolve_spec(merge(base, over) | {"steps": 10**7, "flop_budget": budget})
        jobs += [(name, seed, spec, args.dataset) for seed in args.seeds]
    runs: dict[str, dict] = {}
    for name, seed, result in run_jobs(_run, jobs, workers=args.jobs, desc="training runs"):
        runs.setdefault(name, {})[str(seed)] = result
        print(f"{name} seed {seed}: test rel. L2 {result['test_rel_l2']:.4f}", flush=True)

    summary = {}
    for name, by_seed in runs.items():
        rel = [r["test_rel_l2"] for r in by_seed.values()]
        summary[name] = {
            "test_rel_l2_mean": float(np.mean(rel)),
            "test_rel_l2_min": min(rel),
            "test_rel_l2_max": max(rel),
            "steps": by_seed[str(args.seeds[0])]["steps"],
            "wall_s_mean": float(np.mean([r["wall_s"] for r in by_seed.values()])),
            "n_params": by_seed[str(args.seeds[0])]["n_params"],
        }
    result = {
        "dataset": args.dataset,
        "flop_budget": budget,
        "seeds": args.seeds,
        "candidates": CANDIDATES,
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__},
        "summary": summary,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        f"| network | params | steps in {budget:.3g} FLOPs | test rel. L2 mean [min-max] | wall s |"
    )
    print("|---|---|---|---|---|")
    for name, s in sorted(summary.items(), key=lambda kv: kv[1]["test_rel_l2_mean"]):
        print(
            f"| {name} | {s['n_params']} | {s['steps']} | {s['test_rel_l2_mean']:.4f} "
            f"[{s['test_rel_l2_min']:.4f}-{s['test_rel_l2_max']:.4f}] | {s['wall_s_mean']:.1f} |"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
