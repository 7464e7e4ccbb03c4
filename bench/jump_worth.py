"""Benchmark: how many Adam steps an accepted jump is worth on the default (mini-batch) network.

    .venv/bin/python bench/jump_worth.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 --out bench/results/jump_worth.json                  # about 6 min

The `dmd` method with the default network and accelerator settings, except that jumps are
written at once, in windows of 15 (``apply: at_once``, the default until spread jumps), Adam
at a constant learning rate of 1e-3 (``SPEC``), trains as in `surrogate.train`. At the accepted
jumps named by ``--jumps`` (1 = the first accepted one) the run forks twice:

- *without the jump*: plain Adam from the weights, optimizer state and batch generator just
  before the jump, for 3 x horizon + ``--after`` steps;
- *after the jump*: plain Adam from the jumped weights and the optimizer state the
  accelerator left (its `moments` policy), for ``--after`` steps, with the same batches.

The validation loss of both forks is taken every ``--every`` steps. The jump's worth k steps
after it is the step at which the fork without the jump first reaches the loss of the fork
after it, minus k (both on the ``--every`` grid; null: not reached within the fork). k = 0 is
what the loss right after the jump says; k > 0 includes the relaxation of the directions the
jump disturbed. Late in training the loss falls by less than its batch-to-batch scatter over
hundreds of steps, and the worth is noise there.
"""

import argparse
import copy
import json
from pathlib import Path

import torch
from training import BATCH4096, merge

from surrogate.data import load_dataset
from surrogate.methods import adam_optimizer, build_method
from surrogate.parallel import run_jobs
from surrogate.problems import make_problem
from surrogate.spec import resolve_spec

OFFSETS = (0, 50, 100, 300, 600)
# The default network at a constant learning rate (the forks have no schedule to follow), and
# jumps written when accepted, in fresh windows of 15 (the defaults before spread jumps) checked
# on 16384 pairs, on the 4096-point batches of that time (training.BATCH4096).
SPEC = merge(
    BATCH4096,
    {
        "device": "cpu",
        "threads": 1,
        "check_points": 16384,
        "optimizer": {"lr": 0.001, "schedule": "constant"},
        "dmd": {
            "window": 15,
            "apply": "at_once",
            "every": None,
            "max_climb": None,
            "restart": None,
        },
    },
)


def reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """First step of ``curve`` (step, loss) whose loss is <= target."""
    return next((k for k, v in curve if v <= target), None)


def worth(without: list[tuple[int, float]], after: list[tuple[int, float]]) -> dict:
    """Steps gained at each offset k of ``after`` (see the module docstring)."""
    out = {}
    for k, loss in after:
        step = reach(without, loss)
        out[str(k)] = None if step is None else step - k
    return out


def measure(job: tuple) -> list[dict]:
    dataset, seed, jumps, after, every = job
    torch.set_num_threads(1)
    spec = resolve_spec(SPEC)
    problem = make_problem(load_dataset(dataset), spec, torch.device("cpu"), seed)
    torch.manual_seed(seed)
    model = problem.network(spec)
    optimizer, accel = build_method("dmd", model, spec, problem)
    generator = torch.Generator().manual_seed(seed)

    def val(m) -> float:
        return float(problem.loss(m, "val"))

    def fork(weights: dict, state: dict, batches: torch.Tensor, steps: int):
        m = problem.network(spec)
        m.load_state_dict(weights)
        opt = adam_optimizer(m, spec)
        opt.load_state_dict(state)
        g = torch.Generator()
        g.set_state(batches)
        curve = [(0, val(m))]
        for k in range(1, steps + 1):
            opt.zero_grad(set_to_none=True)
            problem.train_loss(m, g).backward()
            opt.step()
            if k % every == 0:
                curve.append((k, val(m)))
        return curve

    rows, accepted = [], 0
    for step in range(1, spec["steps"] + 1):
        optimizer.zero_grad(set_to_none=True)
        problem.train_loss(model, generator).backward()
        optimizer.step()
        before = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
        batches = generator.get_state()
        event = accel.step(lambda: problem.check_loss(model))
        if event is None or event.kind != "jump_accepted":
            continue
        accepted += 1
        if accepted not in jumps:
            continue
        horizon = int(event.info["horizon"])
        without = fork(*before, batches, 3 * horizon + after)
        state = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
        with_jump = fork(*state, batches, after)
        gained = worth(without, with_jump)
        rows.append(
            {
                "seed": seed,
                "jump": accepted,
                "step": step,
                "horizon": horizon,
                "val_before": without[0][1],
                "val_after_jump": with_jump[0][1],
                "worth": gained,
                "without_jump": without,
                "after_jump": with_jump,
            }
        )
        if accepted >= max(jumps):
            break
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jumps", type=int, nargs="+", default=[1, 4, 8, 12])
    parser.add_argument("--after", type=int, default=600, help="steps of the forks after k=0")
    parser.add_argument("--every", type=int, default=25, help="steps between loss evaluations")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="bench/results/jump_worth.json")
    args = parser.parse_args(argv)
    if min(args.jumps) < 1 or args.after < 1 or args.every < 1:
        parser.error("--jumps, --after and --every must be >= 1")

    jobs = [(args.dataset, s, set(args.jumps), args.after, args.every) for s in args.seeds]
    found = run_jobs(measure, jobs, workers=args.jobs, desc="seeds")
    rows = [row for seed_rows in found for row in seed_rows]
    result = {
        "dataset": args.dataset,
        "spec": resolve_spec(SPEC),
        "seeds": args.seeds,
        "every": args.every,
        "jumps": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    offsets = [k for k in OFFSETS if k <= args.after and k % args.every == 0]
    print("| seed | jump | step | horizon | " + " | ".join(f"k = {k}" for k in offsets) + " |")
    print("|---" * (4 + len(offsets)) + "|")
    for r in rows:
        cells = [r["seed"], r["jump"], r["step"], r["horizon"]]
        cells += ["-" if r["worth"][str(k)] is None else r["worth"][str(k)] for k in offsets]
        print("| " + " | ".join(map(str, cells)) + " |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
