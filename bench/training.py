"""Benchmark: FLOPs and wall-clock of POD-DMD accelerated training against Adam baselines.

    .venv/bin/python bench/training.py --dataset results/plume/dataset.npz \\
        --seeds 0 1 2 --moments --out bench/results/training.json

Per seed it trains plain Adam (the baseline: the config's rate and schedule), the POD-DMD method
(same initial weights, data, learning rate), a tuned baseline (the best learning rate and
schedule of a sweep on the first seed: the config's rate, 1e-3, 3e-3, 1e-2, 3e-2 and 1e-1,
each constant and cosine) and the DMD method on top of that tuned schedule, with the moment policy
(train.dmd.moments) that a sweep on the first seed finds best on that schedule: both methods
get one tuning sweep, chosen by final validation loss.
Targets, on the training and on the validation loss, come from the baseline's own curve:
(a) its final loss, (b) QuACK's 1%-relative-loss target L_min + 0.01 (L_0 - L_min) (Luo et
al., NeurIPS 2023). Speed-up = baseline FLOPs (or wall seconds) to the target / the method's,
all overheads counted (surrogate/flops.py). Each run is a separate process with one torch
thread; two run at a time.
"""

import argparse
import copy
import json
import math
import platform
import tempfile
from pathlib import Path

import numpy as np
import run_store
import torch

from surrogate.accelerator import EVENT_KINDS, MOMENT_POLICIES
from surrogate.parallel import run_jobs
from surrogate.spec import DEFAULTS, resolve_spec
from surrogate.train import run_training


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys written over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


# Spec keys plain Adam's runs do not read (the check pairs are drawn from a generator of
# their own).
NOT_READ_BY_ADAM = ("methods", "dmd", "koopman", "check_points", "check_samples")


def with_defaults(spec: dict) -> dict:
    """``spec`` with the keys added to the defaults since it was stored (``optimizer.hold``,
    say) filled in, sections merged one level deep; its other values kept as they are."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in spec.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = out[key] | value
        else:
            out[key] = value
    return out


# The defaults before 2026-11-24: Adam at lr 3e-2 (cosine) on 4096-point batches for 6500
# steps, the validation loss every 25 steps, jumps checked on 8192 pairs, no `patience`
# restart. Every benchmark measured on them pins these to repeat its runs (`--base`).
BATCH4096 = {
    "optimizer": {"lr": 0.03, "batch_size": 4096, "schedule": "cosine"},
    "steps": 6500,
    "eval_every": 25,
    "check_points": 8192,
    "dmd": {"patience": None},
}
# The defaults before sliding windows with a limited climb and restarts (fresh windows of 10,
# checks on 16384 pairs), on those batches: the benchmarks measured before then pin these.
FRESH_WINDOWS = merge(
    BATCH4096,
    {"check_points": 16384, "dmd": {"every": None, "max_climb": None, "restart": None}},
)

# What ``--base`` names: the spec the JSON of ``--spec`` is written over (before the defaults).
BASES = {"default": {}, "batch4096": BATCH4096, "fresh_windows": FRESH_WINDOWS}


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base`` and ``--spec``, read back by ``given_spec``."""
    parser.add_argument(
        "--base",
        choices=list(BASES),
        default="default",
        help="earlier defaults to start from: batch4096 (before 2026-11-24) or fresh_windows "
        "(before sliding windows); default: today's",
    )
    parser.add_argument("--spec", default="{}", help="train spec JSON over the base")


def given_spec(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The base named by ``--base`` with ``--spec`` over it; a parser error for bad JSON."""
    try:
        over = json.loads(args.spec)
    except json.JSONDecodeError as err:
        parser.error(f"--spec is not JSON: {err}")
    if not isinstance(over, dict):
        parser.error(f"--spec must be a JSON object, got {args.spec!r}")
    return merge(BASES[args.base], over)


LR_SWEEP = (0.001, 0.003, 0.01, 0.03, 0.1)
SCHEDULES = ("constant", "cosine")


def _run(job: tuple) -> tuple[str, int, list[dict], float]:
    """One training run of a benchmark: (name, seed, records, test relative L2). Kept under
    bench/run_store.py's directory: a finished run is read back, not trained again, and an
    interrupted one resumes from its last checkpoint."""
    name, method, seed, spec, dataset = job

    def train(out_dir) -> dict:
        history = run_training(dataset, method, seed, spec, out_dir, progress=False)
        keep = ("step", "flops", "wall_s", "train_loss", "val_loss", "event")
        records = [{k: r[k] for k in keep} for r in history["records"]]
        return {"records": records, "test_rel_l2": history["test_rel_l2"]}

    base = run_store.runs_dir()
    if base is None:
        with tempfile.TemporaryDirectory() as tmp:
            done = train(tmp)
    else:
        run = base / run_store.run_key(method, seed, spec, dataset)
        with run_store.locked(run):
            done = run_store.load_done(run)
            if done is None:
                done = train(run)
                run_store.save_done(run, done)
    return name, seed, done["records"], done["test_rel_l2"]


SIGNIFICANT_DIGITS = 7


def compact(value):
    """``value`` with every float rounded to SIGNIFICANT_DIGITS significant digits (a float32
    loss holds about 7; the wall-clock is noise long before that), nested lists and dicts
    through."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value


COLUMNS = "record_columns"


def columnar(value):
    """``value`` with every list of two or more records (mappings with the same keys in the
    same order, as a run's history has) written as ``{COLUMNS: {key: [values]}}``: the keys
    once per curve instead of once per record, which halves a curve's text. ``rows`` undoes
    it."""
    if isinstance(value, dict):
        return {k: columnar(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        first = value[0] if value else None
        if (
            len(value) >= 2
            and isinstance(first, dict)
            and first
            and all(isinstance(r, dict) and list(r) == list(first) for r in value)
        ):
            return {COLUMNS: {k: [columnar(r[k]) for r in value] for k in first}}
        return [columnar(v) for v in value]
    return value


def rows(value):
    """The inverse of ``columnar``: each ``{COLUMNS: {key: [values]}}`` back to its records
    (so a mapping whose one key is COLUMNS cannot be stored as itself). ValueError for
    columns that are not lists of one length."""
    if isinstance(value, dict):
        if list(value) == [COLUMNS] and isinstance(value[COLUMNS], dict):
            columns = {k: rows(v) for k, v in value[COLUMNS].items()}
            if not columns or not all(isinstance(v, list) for v in columns.values()):
                raise ValueError(f"record columns must be lists, not {value[COLUMNS]!r:.80}")
            lengths = {k: len(v) for k, v in columns.items()}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"record columns of different lengths: {lengths}")
            records = zip(*columns.values(), strict=True)
            return [dict(zip(columns, values, strict=True)) for values in records]
        return {k: rows(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rows(v) for v in value]
    return value


def write_result(path: str | Path, result: dict) -> None:
    """Write a benchmark's JSON without indentation, with floats to 7 significant digits and
    the records of its ``curves`` by column (``columnar``): the curves are most of it, and the
    tracked tree (bench/results included) plus the dataset must fit the 64 MiB that travel to
    a GPU machine (bench/gpu.sh). ``read_result`` reads it back."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = compact(result)
    if "curves" in result:
        result["curves"] = columnar(result["curves"])
    out.write_text(json.dumps(result, separators=(",", ":")))


def read_result(path: str | Path) -> dict:
    """A benchmark's JSON with its curves as lists of records again (what ``write_result``
    was given, floats rounded, tuples as lists); files written before curves were stored by
    column read as they are."""
    return rows(json.loads(Path(path).read_text()))


def final_val(records: list[dict]) -> float:
    """The last validation loss a run recorded (the last step may fall between evaluations)."""
    return next(r["val_loss"] for r in reversed(records) if r["val_loss"] is not None)


def thin(records: list[dict]) -> list[dict]:
    """The records a curve in the JSON keeps: evaluated steps and events (every step would
    make tens of MB; the targets and speed-ups are computed from the full records first)."""
    return [r for r in records if r["val_loss"] is not None or r["event"] is not None]


def jump_counts(records: list[dict]) -> dict[str, int]:
    """Accepted and rejected jumps and restarts of a run."""
    count = {kind: sum(r["event"] == kind for r in records) for kind in EVENT_KINDS}
    return {
        "jumps_accepted": count["jump_accepted"],
        "jumps_rejected": count["jump_rejected"],
        "restarts": count["restart"],
    }


def spread(values: list[float]) -> dict[str, float | None]:
    """Mean, min and max of ``values`` (None for each when there are none)."""
    return {
        "mean": float(np.mean(values)) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def _finite_or_inf(value) -> float:
    return value if value is not None and math.isfinite(value) else math.inf


def cost_to(records: list[dict], key: str, target: float) -> tuple[float | None, float | None]:
    """(FLOPs, wall seconds) at the first record whose ``key`` loss is <= target."""
    for r in records:
        if r[key] is not None and r[key] <= target:
            return r["flops"], r["wall_s"]
    return None, None


def targets(baseline: list[dict], key: str) -> dict[str, float]:
    losses = np.array([r[key] for r in baseline if r[key] is not None])
    lmin = float(losses.min())
    return {"final": float(losses[-1]), "quack_1pct": lmin + 0.01 * (float(losses[0]) - lmin)}


def compare(runs: dict, seeds: list[int]) -> dict:
    """Per seed, per loss, per target: cost of every method and its speed-up over Adam."""
    table = {}
    for seed in seeds:
        base = runs["adam"][seed]["records"]
        for key in ("train_loss", "val_loss"):
            for tname, target in targets(base, key).items():
                base_flops, base_wall = cost_to(base, key, target)
                row = {"target": target}
                for method, by_seed in runs.items():
                    flops, wall = cost_to(by_seed[seed]["records"], key, target)
                    row[method] = {
                        "flops": flops,
                        "wall_s": wall,
                        "flops_speedup": base_flops / flops if flops else None,
                        "wall_speedup": base_wall / wall if wall else None,
                    }
                table.setdefault(f"{key}/{tname}", {})[str(seed)] = row
    return table


def overhead(records: list[dict], base: list[dict]) -> dict:
    """FLOPs a method spends beyond its optimizer steps, against the backprop it replaces.

    A step of the method costs what its first step cost (no accelerator acts on step 1);
    everything above steps x that is the accelerator's (loss checks, POD, DMD, lifts).
    ``of_replaced``: that overhead up to the baseline's final validation loss, divided by the
    backprop FLOPs the method did not spend to get there (baseline's minus its own steps').
    """
    per_step = records[0]["flops"]
    total = records[-1]["flops"] - per_step * records[-1]["step"]
    out = {"flops": total, "fraction_of_all": total / records[-1]["flops"], "of_replaced": None}
    target = targets(base, "val_loss")["final"]
    reached = next(
        (r for r in records if r["val_loss"] is not None and r["val_loss"] <= target), None
    )
    base_flops, _ = cost_to(base, "val_loss", target)
    if reached is not None and base_flops is not None:
        spent = reached["flops"] - per_step * reached["step"]
        replaced = base_flops - per_step * reached["step"]
        out["of_replaced"] = spent / replaced if replaced > 0 else None
    return out


def summarise(table: dict, methods: list[str]) -> dict:
    out = {}
    for target, by_seed in table.items():
        out[target] = {}
        for method in methods:
            for kind in ("flops_speedup", "wall_speedup"):
                values = [row[method][kind] for row in by_seed.values()]
                reached = [v for v in values if v is not None]
                out[target].setdefault(method, {})[kind] = spread(reached) | {
                    "reached": f"{len(reached)}/{len(values)}"
                }
    return out


def markdown(summary: dict, methods: list[str]) -> str:
    lines = ["| target | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for target, by_method in summary.items():
        cells = []
        for m in methods:
            f, w = by_method[m]["flops_speedup"], by_method[m]["wall_speedup"]
            if f["mean"] is None:
                cells.append(f"not reached ({f['reached']})")
            else:
                cells.append(
                    f"{f['mean']:.2f}x [{f['min']:.2f}-{f['max']:.2f}] FLOPs, "
                    f"{w['mean']:.2f}x wall ({f['reached']})"
                )
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine(device: str) -> dict:
    """What the timings were taken on."""
    out = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="results/plume/dataset.npz")
    add_spec_arguments(parser)
    parser.add_argument("--steps", type=int, default=None, help="default: the spec's steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--moments", action="store_true", help="also ablate moment policies")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where every run trains (cuda: use --jobs 1, so that runs do not share the GPU)",
    )
    parser.add_argument("--out", default="bench/results/training.json")
    args = parser.parse_args(argv)

    given = given_spec(parser, args) | {"threads": 1}
    try:
        spec = resolve_spec(given | ({"steps": args.steps} if args.steps else {}))
    except ValueError as err:
        parser.error(f"--base / --spec / --steps: {err}")
    spec["device"] = args.device
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    lr = spec["optimizer"]["lr"]

    def with_opt(**opt):
        return spec | {"optimizer": spec["optimizer"] | opt}

    runs: dict[str, dict] = {}

    def execute(jobs):
        done = run_jobs(_run, jobs, workers=args.jobs, desc="training runs")
        for name, seed, records, rel in done:
            runs.setdefault(name, {})[seed] = {"records": records, "test_rel_l2": rel}

    jobs = [("adam", "adam", s, spec, args.dataset) for s in args.seeds]
    jobs += [("dmd", "dmd", s, spec, args.dataset) for s in args.seeds]
    rates = dict.fromkeys((lr, *LR_SWEEP))  # the config's rate first, each rate once
    grid = [(x, sched) for x in rates for sched in SCHEDULES]
    grid = [g for g in grid if g != (lr, spec["optimizer"]["schedule"])]  # that is "adam"
    # A cosine keeps the spec's hold (train.optimizer.hold); a constant rate has none.
    held = {"cosine": {}, "constant": {"hold": 0.0}}
    sweep = {
        f"adam_lr{x:g}_{sched}": with_opt(lr=x, schedule=sched, **held[sched]) for x, sched in grid
    }
    jobs += [(name, "adam", args.seeds[0], s, args.dataset) for name, s in sweep.items()]
    if args.moments:
        for policy in MOMENT_POLICIES:
            moment_spec = spec | {"dmd": spec["dmd"] | {"moments": policy}}
            jobs.append((f"dmd_moments_{policy}", "dmd", args.seeds[0], moment_spec, args.dataset))
    execute(jobs)

    # Tuned baseline: the sweep's best final validation loss (the config's own setting
    # included) on every seed. The DMD method rides the same setting with the moment policy
    # that is best on it for the first seed (its own one-knob sweep).
    first = args.seeds[0]
    finals = {(lr, spec["optimizer"]["schedule"]): final_val(runs["adam"][first]["records"])}
    finals |= {
        (x, sched): final_val(runs[f"adam_lr{x:g}_{sched}"][first]["records"]) for x, sched in grid
    }
    best_lr, best_schedule = min(finals, key=lambda g: _finite_or_inf(finals[g]))
    tuned = sweep.get(f"adam_lr{best_lr:g}_{best_schedule}", spec)

    def tuned_dmd(policy):
        return tuned | {"dmd": tuned["dmd"] | {"moments": policy}}

    same = tuned["optimizer"] == spec["optimizer"]  # the config's own setting won the sweep
    if same:
        runs["adam_tuned"] = runs["adam"]
        if args.moments:  # and the moment sweep on it has run already
            for p in MOMENT_POLICIES:
                runs[f"dmd_tuned_{p}"] = runs[f"dmd_moments_{p}"]
    execute(
        ([] if same else [("adam_tuned", "adam", s, tuned, args.dataset) for s in args.seeds])
        + [
            (f"dmd_tuned_{p}", "dmd", first, tuned_dmd(p), args.dataset)
            for p in MOMENT_POLICIES
            if f"dmd_tuned_{p}" not in runs
        ]
    )
    moment_finals = {
        p: final_val(runs[f"dmd_tuned_{p}"][first]["records"]) for p in MOMENT_POLICIES
    }
    best_policy = min(moment_finals, key=lambda p: _finite_or_inf(moment_finals[p]))
    if same and best_policy == spec["dmd"]["moments"]:
        runs["dmd_tuned"] = runs["dmd"]
    else:
        runs["dmd_tuned"] = {first: runs[f"dmd_tuned_{best_policy}"][first]}
        rest = args.seeds[1:]
        execute([("dmd_tuned", "dmd", s, tuned_dmd(best_policy), args.dataset) for s in rest])

    all_seed_methods = ["adam", "dmd", "adam_tuned", "dmd_tuned"]
    table = compare({m: runs[m] for m in all_seed_methods}, args.seeds)
    summary = summarise(table, all_seed_methods)
    # The same question against the tuned schedule: its own curve sets the targets.
    tuned_table = compare({"adam": runs["adam_tuned"], "dmd": runs["dmd_tuned"]}, args.seeds)
    tuned_summary = summarise(tuned_table, ["adam", "dmd"])
    single = {m: by_seed for m, by_seed in runs.items() if m not in all_seed_methods}
    single_table = compare({"adam": runs["adam"]} | single, [first])
    result = {
        "dataset": args.dataset,
        "spec": spec,
        "seeds": args.seeds,
        "sweep_final_val_loss": {f"lr{x:g}_{sched}": v for (x, sched), v in finals.items()},
        "tuned": {
            "lr": best_lr,
            "schedule": best_schedule,
            "dmd_moments": best_policy,
            "dmd_moments_sweep_final_val_loss": moment_finals,
        },
        "machine": machine(args.device),
        "summary": summary,
        "per_seed": table,
        "summary_vs_tuned": tuned_summary,
        "per_seed_vs_tuned": tuned_table,
        f"single_seed_{first}": single_table,
        "final": {
            m: {
                str(s): {
                    "train_loss": v["records"][-1]["train_loss"],
                    "val_loss": final_val(v["records"]),
                    "flops": v["records"][-1]["flops"],
                    "wall_s": v["records"][-1]["wall_s"],
                    "test_rel_l2": v["test_rel_l2"],
                    **jump_counts(v["records"]),
                    "overhead": overhead(v["records"], runs["adam"][s]["records"]),
                }
                for s, v in by_seed.items()
            }
            for m, by_seed in runs.items()
        },
        "curves": {
            m: {str(s): thin(v["records"]) for s, v in by_seed.items()}
            for m, by_seed in runs.items()
        },
    }
    write_result(args.out, result)
    print(markdown(summary, all_seed_methods))
    print("\nagainst the tuned baseline (adam = adam_tuned, dmd = dmd_tuned):")
    print(markdown(tuned_summary, ["adam", "dmd"]))
    for m in ("dmd", "dmd_tuned"):
        shares = [v["overhead"] for v in result["final"][m].values()]
        replaced = [x["of_replaced"] for x in shares if x["of_replaced"] is not None]
        print(
            f"{m} overhead: {100 * np.mean([x['fraction_of_all'] for x in shares]):.1f}% of all "
            f"FLOPs; {100 * np.mean(replaced) if replaced else float('nan'):.1f}% of the "
            "backprop it replaces (to Adam's final val loss)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
