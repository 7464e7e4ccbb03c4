"""Operation-count and wall-clock savings of accelerated training at equal loss.

Targets are taken, per seed, from the baseline run of the same seed and applied to one loss
(`val_loss` or `train_loss`):

- `baseline_final`: the loss the baseline ends at (its last record).
- `relative_1pct`: L_min + f (L_0 - L_min) with f = 0.01, the "1% relative loss" of QuACK
  (Luo et al., NeurIPS 2023); L_0 is the loss of the baseline's first record and L_min the
  lowest loss on the baseline curve.

Crossing rule: a run reaches a target at the first record, in step order, whose loss is
<= the target; the cost to target is that record's cumulative `flops` and `wall_s`.
A run that never crosses is reported with `reached: false` and no cost and no saving.
Saving = 1 - cost_method / cost_baseline at the same target and seed.

Along the run: the same comparison at the losses the baseline has reached after each tenth
of its FLOPs (the level at fraction f is the lowest loss of its records up to f of its last
FLOP count; the baseline's cost is where it first reaches that level). It shows where the
saving is made: on the default run the jumps reach the levels of the high learning rate
sooner and those of the cosine's decay at the baseline's cost (docs/acceleration.md).
"""

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from surrogate.report.config import LOSS_KEYS

TARGET_KINDS = ("baseline_final", "relative_1pct")
STAT_KEYS = (
    "flops_to_target",
    "wall_s_to_target",
    "flops_saving",
    "wall_saving",
    "flops_speedup",
    "test_rel_l2",
)
CROSSING_RULE = (
    "a run reaches a target at the first record (in step order) whose loss is <= the target; "
    "its cumulative flops and wall_s are the cost to target"
)
REQUIRED_RECORD_KEYS = ("step", "flops", "wall_s", "train_loss", "val_loss", "event")


def curves_from_history(history: dict) -> dict[str, np.ndarray]:
    """The per-step arrays of a history.json object (records sorted by step; null loss -> NaN)."""
    records = history.get("records")
    if not records:
        raise ValueError(
            f"history of method {history.get('method')!r} seed {history.get('seed')!r} "
            "has no records"
        )
    missing = [key for key in REQUIRED_RECORD_KEYS if key not in records[0]]
    if missing:
        raise ValueError(f"history records lack keys {missing}; required: {REQUIRED_RECORD_KEYS}")
    records = sorted(records, key=lambda r: r["step"])
    curves = {
        key: np.array([np.nan if r[key] is None else r[key] for r in records], dtype=float)
        for key in ("flops", "wall_s", *LOSS_KEYS)
    }
    curves["step"] = np.array([r["step"] for r in records], dtype=np.int64)
    curves["event"] = np.array([r["event"] or "" for r in records], dtype=object)
    return curves


def first_crossing(loss: np.ndarray, target: float) -> int | None:
    """Index of the first entry of `loss` that is <= `target` (NaN never crosses), or None."""
    hits = np.flatnonzero(loss <= target)
    return int(hits[0]) if hits.size else None


def target_loss(baseline_loss: np.ndarray, kind: str, fraction: float = 0.01) -> float:
    """The target of `kind` on one baseline loss curve (see the module docstring)."""
    finite = baseline_loss[np.isfinite(baseline_loss)]
    if finite.size == 0 or not np.isfinite(baseline_loss[-1]):
        raise ValueError(
            "the baseline loss curve must end at a finite value to define a target, "
            f"got last value {float(baseline_loss[-1])}"
        )
    if kind == "baseline_final":
        return float(baseline_loss[-1])
    if kind == "relative_1pct":
        first, lowest = float(finite[0]), float(finite.min())
        return lowest + fraction * (first - lowest)
    raise ValueError(f"target kind must be one of {list(TARGET_KINDS)}, got {kind!r}")


def _saving(cost: float | None, baseline_cost: float) -> float | None:
    """1 - cost / baseline_cost, or None when the target was not reached."""
    if cost is None or baseline_cost <= 0:
        return None
    return 1.0 - cost / baseline_cost


def _speedup(cost: float | None, baseline_cost: float) -> float | None:
    """baseline_cost / cost (e.g. 5.0 for a saving of 80 %), or None when not reached."""
    if cost is None or cost <= 0:
        return None
    return baseline_cost / cost


def compute_savings(
    curves: dict[tuple[str, int], dict[str, np.ndarray]],
    test_rel_l2: dict[tuple[str, int], float],
    baseline: str = "adam",
    losses: Sequence[str] = LOSS_KEYS,
    fraction: float = 0.01,
) -> dict:
    """Savings records (one per loss, target kind, method, seed) and their summary over seeds.

    `curves` maps (method, seed) to `curves_from_history` output; `test_rel_l2` maps the same
    keys to the final test relative L2 error. Every seed must have a baseline run.
    """
    methods = list(dict.fromkeys(method for method, _ in curves))
    seeds = sorted({seed for _, seed in curves})
    if baseline not in methods:
        raise ValueError(f"baseline {baseline!r} has no runs; methods with runs: {methods}")
    for loss in losses:
        if loss not in LOSS_KEYS:
            raise ValueError(f"loss must be one of {list(LOSS_KEYS)}, got {loss!r}")

    records = []
    for loss in losses:
        for kind in TARGET_KINDS:
            for seed in seeds:
                if (baseline, seed) not in curves:
                    raise ValueError(f"seed {seed} has no {baseline!r} baseline run")
                base = curves[(baseline, seed)]
                target = target_loss(base[loss], kind, fraction)
                base_hit = first_crossing(base[loss], target)
                base_flops = float(base["flops"][base_hit])
                base_wall = float(base["wall_s"][base_hit])
                for method in methods:
                    if (method, seed) not in curves:
                        continue
                    run = curves[(method, seed)]
                    hit = first_crossing(run[loss], target)
                    flops = None if hit is None else float(run["flops"][hit])
                    wall = None if hit is None else float(run["wall_s"][hit])
                    records.append(
                        {
                            "method": method,
                            "seed": seed,
                            "loss": loss,
                            "target_kind": kind,
                            "target_loss": target,
                            "reached": hit is not None,
                            "step_to_target": None if hit is None else int(run["step"][hit]),
                            "flops_to_target": flops,
                            "wall_s_to_target": wall,
                            "baseline_flops_to_target": base_flops,
                            "baseline_wall_s_to_target": base_wall,
                            "flops_saving": _saving(flops, base_flops),
                            "wall_saving": _saving(wall, base_wall),
                            "flops_speedup": _speedup(flops, base_flops),
                            "test_rel_l2": test_rel_l2.get((method, seed)),
                        }
                    )
    profile = profile_along(curves, baseline, losses)
    return {
        "baseline": baseline,
        "relative_fraction": fraction,
        "crossing_rule": CROSSING_RULE,
        "records": records,
        "summary": summarise(records),
        "profile": profile,
        "profile_summary": summarise_profile(profile),
    }


PROFILE_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))


def levels_along(
    flops: np.ndarray, loss: np.ndarray, fractions: Sequence[float] = PROFILE_FRACTIONS
) -> list[float]:
    """The lowest finite `loss` up to each fraction of the last finite record's FLOPs (before
    the first finite record: its loss)."""
    finite = np.isfinite(loss)
    if not finite.any():
        raise ValueError("the baseline loss curve has no finite value")
    flops, loss = flops[finite], loss[finite]
    out = []
    for fraction in fractions:
        upto = loss[flops <= fraction * flops[-1]]
        out.append(float(upto.min()) if upto.size else float(loss[0]))
    return out


def speedup_profile(
    base: dict[str, np.ndarray],
    run: dict[str, np.ndarray],
    loss: str = "val_loss",
    fractions: Sequence[float] = PROFILE_FRACTIONS,
) -> list[dict]:
    """Per fraction of the baseline's FLOPs: the level it has reached, the FLOPs at which the
    baseline and `run` (curves_from_history output) first reach it, and the speed-up (None
    where `run` does not)."""
    rows = []
    levels = levels_along(base["flops"], base[loss], fractions)
    for fraction, level in zip(fractions, levels, strict=True):
        base_hit = first_crossing(base[loss], level)
        hit = first_crossing(run[loss], level)
        base_flops = float(base["flops"][base_hit])
        flops = None if hit is None else float(run["flops"][hit])
        rows.append(
            {
                "fraction": fraction,
                "level": level,
                "baseline_flops": base_flops,
                "flops": flops,
                "speedup": _speedup(flops, base_flops),
            }
        )
    return rows


def profile_along(
    curves: dict[tuple[str, int], dict[str, np.ndarray]], baseline: str, losses: Sequence[str]
) -> list[dict]:
    """speedup_profile for every loss, method but the baseline, and seed; one record each."""
    records = []
    for loss in losses:
        for (method, seed), run in curves.items():
            if method == baseline:
                continue
            for row in speedup_profile(curves[(baseline, seed)], run, loss):
                records.append({"loss": loss, "method": method, "seed": seed, **row})
    return records


def summarise_profile(records: list[dict]) -> list[dict]:
    """Per (loss, method, fraction): the levels' range, seeds reaching them, speed-up stats."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = (record["loss"], record["method"], record["fraction"])
        groups.setdefault(key, []).append(record)
    return [
        {
            "loss": loss,
            "method": method,
            "fraction": fraction,
            "level_min": min(r["level"] for r in group),
            "level_max": max(r["level"] for r in group),
            "n_seeds": len(group),
            "n_reached": sum(r["speedup"] is not None for r in group),
            "speedup": _stats([r["speedup"] for r in group if r["speedup"] is not None]),
        }
        for (loss, method, fraction), group in groups.items()
    ]


def _stats(values: list[float]) -> dict | None:
    """Mean, sample standard deviation (ddof=1; null for one value), min and max."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def summarise(records: list[dict]) -> list[dict]:
    """Per (loss, target kind, method): seeds, seeds reaching the target, stats over seeds.

    Cost and saving statistics are over the seeds that reached the target only, so always
    read them together with `n_reached`.
    """
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for record in records:
        key = (record["loss"], record["target_kind"], record["method"])
        groups.setdefault(key, []).append(record)
    summary = []
    for (loss, kind, method), group in groups.items():
        entry = {
            "method": method,
            "loss": loss,
            "target_kind": kind,
            "n_seeds": len(group),
            "n_reached": sum(r["reached"] for r in group),
        }
        for key in STAT_KEYS:
            entry[key] = _stats([r[key] for r in group if r[key] is not None])
        summary.append(entry)
    return summary


def _fmt_percent(stats: dict | None) -> str:
    if stats is None:
        return "not reached"
    spread = "" if stats["std"] is None else f" ± {100 * stats['std']:.1f}"
    return (
        f"{100 * stats['mean']:+.1f}{spread} % "
        f"[{100 * stats['min']:+.1f}, {100 * stats['max']:+.1f}]"
    )


def _fmt_number(value: float | None, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def _fmt_mean(stats: dict | None, spec: str = ".3g", unit: str = "") -> str:
    return "–" if stats is None else format(stats["mean"], spec) + unit


LOSS_LABELS = {"val_loss": "validation loss", "train_loss": "training loss"}
KIND_LABELS = {
    "baseline_final": "the loss the baseline ends at (its final value)",
    "relative_1pct": "QuACK's relative target L_min + {f} (L_0 - L_min) of the baseline curve",
}


def savings_markdown(result: dict) -> str:
    """The savings as readable Markdown tables, with the definitions of targets and costs."""
    baseline, fraction = result["baseline"], result["relative_fraction"]
    lines = [
        "# Savings at equal loss",
        "",
        f"Baseline: `{baseline}`. Targets are set per seed from the `{baseline}` run of the "
        "same seed, on the validation loss and on the training loss (normalised MSE):",
        "",
        f"- `baseline_final`: {KIND_LABELS['baseline_final']};",
        f"- `relative_1pct`: {KIND_LABELS['relative_1pct'].format(f=fraction)}, "
        "L_0 = loss of its first record, L_min = its lowest loss.",
        "",
        f"Crossing rule: {CROSSING_RULE}. A run that never reaches the target is listed as "
        "*not reached*, never as a saving.",
        "",
        "Operations (FLOPs) counted: forward and backward pass of every training step, the "
        "optimizer updates, the forward passes that check a jump, and the POD/DMD (or "
        "node-Koopman) linear algebra (SVD or Gram eigendecomposition, DMD eigendecomposition, "
        "weight reconstruction). Evaluations made only for monitoring (the loss curves) are not "
        "charged. Saving = 1 - cost(method) / cost(baseline) at the same target and seed; "
        "a negative saving means the method needed more; speed-up = cost(baseline) / "
        "cost(method). Spread: mean ± sample std "
        "[min, max] over the seeds that reached the target.",
        "",
    ]
    if result.get("ema"):
        lines += [
            f"Every run kept an exponential average of its weights (`train.ema` = "
            f"{result['ema']:g}, its updates charged): the validation losses and test errors "
            "are the average's, the training losses the trained weights' batch losses.",
            "",
        ]
    for loss in dict.fromkeys(r["loss"] for r in result["summary"]):
        for kind in TARGET_KINDS:
            rows = [s for s in result["summary"] if s["loss"] == loss and s["target_kind"] == kind]
            if not rows:
                continue
            lines += [
                f"## {LOSS_LABELS[loss]}, target `{kind}`",
                "",
                "| method | reached | FLOPs to target (mean) | FLOP saving | FLOP speed-up (mean) "
                "| wall-clock to target (mean, s) | wall-clock saving | test rel. L2 (mean) |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for s in rows:
                lines.append(
                    f"| {s['method']} | {s['n_reached']}/{s['n_seeds']} "
                    f"| {_fmt_mean(s['flops_to_target'])} | {_fmt_percent(s['flops_saving'])} "
                    f"| {_fmt_mean(s['flops_speedup'], '.2f', 'x')} "
                    f"| {_fmt_mean(s['wall_s_to_target'])} | {_fmt_percent(s['wall_saving'])} "
                    f"| {_fmt_mean(s['test_rel_l2'], '.4f')} |"
                )
            lines.append("")
    for loss in dict.fromkeys(r["loss"] for r in result.get("profile_summary", [])):
        rows = [r for r in result["profile_summary"] if r["loss"] == loss]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        lines += [
            f"## {LOSS_LABELS[loss]}, along the baseline's run",
            "",
            f"FLOP speed-up at the lowest {LOSS_LABELS[loss]} `{baseline}` has reached after "
            "each tenth of its FLOPs (mean [min, max] over the seeds that reach it).",
            "",
            "| fraction of the baseline's FLOPs | level | "
            + " | ".join(f"{m} speed-up" for m in methods)
            + " |",
            "|---" * (len(methods) + 2) + "|",
        ]
        for fraction in dict.fromkeys(r["fraction"] for r in rows):
            at = {r["method"]: r for r in rows if r["fraction"] == fraction}
            first = next(iter(at.values()))
            cells = []
            for m in methods:
                stats, reached = at[m]["speedup"], f"{at[m]['n_reached']}/{at[m]['n_seeds']}"
                cells.append(
                    "not reached"
                    if stats is None
                    else f"{stats['mean']:.2f}x [{stats['min']:.2f}, {stats['max']:.2f}] "
                    f"({reached})"
                )
            lines.append(
                f"| {fraction:.1f} | {first['level_min']:.3g}-{first['level_max']:.3g} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    lines += [
        "## Per seed",
        "",
        "| loss | target | method | seed | target loss | step | FLOPs | FLOP saving "
        "| wall-clock (s) | wall-clock saving | test rel. L2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["records"]:
        flops_saving = "–" if r["flops_saving"] is None else f"{100 * r['flops_saving']:+.1f} %"
        wall_saving = "–" if r["wall_saving"] is None else f"{100 * r['wall_saving']:+.1f} %"
        step = "not reached" if not r["reached"] else str(r["step_to_target"])
        lines.append(
            f"| {r['loss']} | {r['target_kind']} | {r['method']} | {r['seed']} "
            f"| {r['target_loss']:.4g} | {step} | {_fmt_number(r['flops_to_target'])} "
            f"| {flops_saving} | {_fmt_number(r['wall_s_to_target'])} | {wall_saving} "
            f"| {_fmt_number(r['test_rel_l2'], '.4f')} |"
        )
    return "\n".join(lines) + "\n"


def load_runs(
    history_paths: Sequence[Path], prediction_paths: Sequence[Path]
) -> tuple[dict, dict, float]:
    """Curves and test errors keyed by (method, seed), read from paired run files, and the
    runs' common ``train.ema`` (0.0 for histories written before it existed)."""
    if len(history_paths) != len(prediction_paths):
        raise ValueError(
            f"got {len(history_paths)} histories but {len(prediction_paths)} predictions; "
            "pass one predictions.npz per history.json, in the same order"
        )
    curves, errors, averages = {}, {}, {}
    for history_path, prediction_path in zip(history_paths, prediction_paths, strict=True):
        history = json.loads(Path(history_path).read_text())
        key = (history["method"], int(history["seed"]))
        if key in curves:
            raise ValueError(f"two histories for method {key[0]!r} seed {key[1]}")
        # train.ema: a run judged by an average of its weights is compared only with such runs.
        averages[key] = history.get("ema", 0.0)
        if len(set(averages.values())) > 1:
            raise ValueError(
                f"runs with different train.ema cannot be compared: {sorted(averages.items())}"
            )
        curves[key] = curves_from_history(history)
        with np.load(prediction_path) as predictions:
            errors[key] = float(predictions["test_rel_l2"])
    return curves, errors, next(iter(averages.values()), 0.0)


def _json_safe(value):
    """NaN/inf -> null, so that savings.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write savings.json and savings.md from training runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", nargs="+", type=Path, required=True)
    parser.add_argument("--predictions", nargs="+", type=Path, required=True)
    parser.add_argument("--baseline", default="adam")
    parser.add_argument("--losses", nargs="+", default=list(LOSS_KEYS))
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--json", type=Path, required=True, dest="json_path")
    parser.add_argument("--md", type=Path, required=True, dest="md_path")
    args = parser.parse_args(argv)

    curves, errors, ema = load_runs(args.histories, args.predictions)
    result = compute_savings(curves, errors, args.baseline, args.losses, args.fraction)
    result["ema"] = ema
    args.json_path.parent.mkdir(parents=True, exist_ok=True)
    args.json_path.write_text(json.dumps(_json_safe(result), indent=1, allow_nan=False) + "\n")
    args.md_path.write_text(savings_markdown(result))


if __name__ == "__main__":
    main()
