"""bench/training.py end to end on a tiny dataset: the JSON it writes and the tuning sweep."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.surrogate.conftest import write_dataset

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "training.py"


def load_bench(path: Path = BENCH):
    """bench/<name>.py as a module, its imports of other benches (``from training import``)
    resolved from bench/ as when it runs as a script, whichever tests ran before."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def read_result(path: Path) -> dict:
    """A bench's JSON as the benches read it back (curves as lists of records)."""
    return load_bench().read_result(path)


def bench_env() -> dict[str, str]:
    """The environment a bench runs in here: the repository importable, and no runs kept in
    bench/.runs (DMD_BENCH_RUNS empty; tests/bench/test_run_store.py tests the keeping)."""
    return os.environ | {"PYTHONPATH": str(ROOT), "DMD_BENCH_RUNS": ""}


def run_bench(name: str, *args: str) -> subprocess.CompletedProcess:
    """bench/<name>.py in its own process, as users run it; its output captured as text."""
    cmd = [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=bench_env(), capture_output=True, text=True)


def test_targets_and_costs_follow_the_baseline_curve():
    bench = load_bench()
    curve = [
        {"step": s, "flops": 10 * s, "wall_s": s / 10, "val_loss": v}
        for s, v in [(1, 1.0), (2, 0.5), (3, 0.2), (4, 0.1), (5, 0.15)]
    ]
    t = bench.targets(curve, "val_loss")
    # final 0.15; QuACK: L_min + 0.01 (L_0 - L_min) = 0.1 + 0.009
    assert t == {"final": 0.15, "quack_1pct": pytest.approx(0.109)}
    # first record at or below 0.15: step 4
    assert bench.cost_to(curve, "val_loss", t["final"]) == (40, 0.4)
    assert bench.cost_to(curve, "val_loss", 0.01) == (None, None)


def test_results_keep_seven_significant_digits(tmp_path):
    bench = load_bench()
    result = {
        "loss": 0.00052506185602396,
        "curve": [{"step": 3, "flops": 5386234900, "wall_s": 192.21944064425043, "event": None}],
        "pair": (1 / 3, "cosine"),
        "inf": float("inf"),
    }
    bench.write_result(tmp_path / "r.json", result)
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text) == {
        "loss": 0.0005250619,
        "curve": [{"step": 3, "flops": 5386234900, "wall_s": 192.2194, "event": None}],
        "pair": [0.3333333, "cosine"],
        "inf": float("inf"),
    }
    assert " " not in text and "\n" not in text


def test_curves_are_stored_by_column_and_read_back_as_records(tmp_path):
    bench = load_bench()
    records = [
        {"step": 100, "flops": 5386234900, "val_loss": 0.30132791, "event": None},
        {"step": 200, "flops": 10772469800, "val_loss": None, "event": "jump_accepted"},
        {"step": 300, "flops": 16158704700, "val_loss": 0.0379, "event": None},
    ]
    odd = [{"step": 1}, {"step": 2, "event": "restart"}]  # keys differ: left as records
    result = {"summary": [{"a": 1.0}, {"a": 2.0}], "curves": {"adam": {"0": records, "1": odd}}}
    bench.write_result(tmp_path / "r.json", result)
    stored = json.loads((tmp_path / "r.json").read_text())
    assert stored["curves"]["adam"]["0"] == {
        bench.COLUMNS: {
            "step": [100, 200, 300],
            "flops": [5386234900, 10772469800, 16158704700],
            "val_loss": [0.3013279, None, 0.0379],
            "event": [None, "jump_accepted", None],
        }
    }
    # Only the curves: the summaries stay records, readable as they are.
    assert stored["curves"]["adam"]["1"] == odd and stored["summary"] == result["summary"]
    back = bench.read_result(tmp_path / "r.json")
    assert back["curves"]["adam"]["0"] == [
        dict(r, val_loss=None if r["val_loss"] is None else float(f"{r['val_loss']:.7g}"))
        for r in records
    ]
    assert back["curves"]["adam"]["1"] == odd and back["summary"] == result["summary"]
    # A file written before curves went by column reads as it is.
    (tmp_path / "old.json").write_text(json.dumps(result))
    assert bench.read_result(tmp_path / "old.json") == result
    stored["curves"]["adam"]["0"][bench.COLUMNS]["step"].pop()
    (tmp_path / "bad.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="different lengths.*'step': 2"):
        bench.read_result(tmp_path / "bad.json")


def test_bench_writes_speedups_of_every_method(tmp_path):
    dataset = write_dataset(tmp_path / "dataset.npz")
    out = tmp_path / "training.json"
    spec = {
        "network": {"kind": "field", "width": 8, "depth": 1},
        "optimizer": {"batch_size": 0},
        "eval_every": 1,
        "dmd": {"stride": 1, "window": 5, "horizon": 20, "max_backtracks": 1},
    }
    argv = ["--dataset", str(dataset), "--steps", "30", "--seeds", "0", "1", "--jobs", "1"]
    # Its own process, as users run it (the bench forks its worker pool).
    env = bench_env()
    cmd = [sys.executable, str(BENCH), *argv, "--spec", json.dumps(spec), "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True)
    result = read_result(out)
    # The sweep on the first seed: 2 schedules x the 5 rates of LR_SWEEP and the config's rate
    # (the default 2e-2 is not among them).
    rates = {*load_bench().LR_SWEEP, result["spec"]["optimizer"]["lr"]}
    assert len(rates) == 6 and len(result["sweep_final_val_loss"]) == 2 * len(rates)
    best = min(result["sweep_final_val_loss"].values())
    tuned = result["tuned"]
    assert result["sweep_final_val_loss"][f"lr{tuned['lr']:g}_{tuned['schedule']}"] == best
    for target in ("val_loss/final", "val_loss/quack_1pct", "train_loss/final"):
        for seed in ("0", "1"):
            row = result["per_seed"][target][seed]
            # The baseline against itself: exactly 1 at both targets.
            assert row["adam"]["flops_speedup"] == 1.0
            for method in ("dmd", "adam_tuned", "dmd_tuned"):
                assert method in row
    for method in ("adam", "dmd", "adam_tuned", "dmd_tuned"):
        assert set(result["final"][method]) == {"0", "1"}
    # Plain Adam spends nothing beyond its steps.
    assert result["final"]["adam"]["0"]["overhead"]["flops"] == 0


def run_ablation(tmp_path: Path, steps: int, *args: str) -> dict:
    """bench/ablation.py on a tiny dataset, one seed; the JSON it writes."""
    dataset = write_dataset(tmp_path / "dataset.npz")
    out = tmp_path / "ablation.json"
    argv = ["--dataset", str(dataset), "--steps", str(steps), "--seeds", "0", "--jobs", "1"]
    env = bench_env()
    cmd = [sys.executable, str(ROOT / "bench" / "ablation.py"), *argv, *args, "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True)
    return read_result(out)


def test_base_pins_earlier_defaults_under_the_given_spec(capsys):
    bench = load_bench()
    parser = argparse.ArgumentParser()
    bench.add_spec_arguments(parser)
    args = parser.parse_args(["--base", "batch4096", "--spec", '{"dmd": {"window": 15}}'])
    given = bench.given_spec(parser, args)
    # The base's optimizer, steps and patience survive a spec that sets another dmd key.
    assert given["optimizer"] == {"lr": 0.03, "batch_size": 4096, "schedule": "cosine"}
    assert (given["steps"], given["eval_every"], given["check_points"]) == (6500, 25, 8192)
    assert given["dmd"] == {"patience": None, "window": 15}
    fresh = bench.given_spec(parser, parser.parse_args(["--base", "fresh_windows"]))
    assert fresh["check_points"] == 16384
    assert fresh["dmd"] == {"patience": None, "every": None, "max_climb": None, "restart": None}
    assert bench.given_spec(parser, parser.parse_args([])) == {}
    for bad, message in (("{", "--spec is not JSON"), ("[1]", "--spec must be a JSON object")):
        with pytest.raises(SystemExit) as stop:
            bench.given_spec(parser, parser.parse_args(["--spec", bad]))
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--base", "batch2048"])
    assert "invalid choice: 'batch2048'" in capsys.readouterr().err


def test_ablation_bench_compares_variants_with_adam(tmp_path):
    result = run_ablation(tmp_path, 60, "--variants", "sample", "mean")
    assert set(result["summary"]) == {"sample", "mean"}
    # Pinned to the optimizer the variants were chosen on, whatever the default is now.
    optimizer = result["spec"]["optimizer"]
    assert (optimizer["lr"], optimizer["schedule"]) == (0.001, "constant")
    assert result["variants"]["mean"]["snapshots"] == "mean"
    for name in ("sample", "mean"):
        row = result["per_seed"][name]["0"]
        # 60 steps, a snapshot every 10: at most one window of 20 -> no jump yet.
        assert row["jumps_accepted"] + row["jumps_rejected"] == 0
    # Without a jump the DMD method trains exactly as Adam does: sampled snapshots are free
    # (copies), mean snapshots cost their sums, so the same step costs more FLOPs.
    for target in ("final", "quack_1pct"):
        assert result["per_seed"]["sample"]["0"]["flops_speedup"][target] == 1.0
        assert 0.9 < result["per_seed"]["mean"]["0"]["flops_speedup"][target] < 1.0


@pytest.mark.parametrize("optimizer", ["default", "cosine_lr1e-2"])
def test_ablation_bench_on_another_optimizer(tmp_path, optimizer):
    args = ("--optimizer", optimizer, "--variants", "default_horizon20")
    result = run_ablation(tmp_path, 30, *args)
    # On the 4096-point batches the rows were measured on, whatever the default is now; the
    # "default" optimizer is the one of that time (lr 3e-2 with a cosine).
    lr = 0.01 if optimizer == "cosine_lr1e-2" else 0.03
    assert result["spec"]["optimizer"] == {
        "lr": lr,
        "batch_size": 4096,
        "schedule": "cosine",
        "hold": 0.0,
    }
    assert result["spec"]["dmd"]["patience"] is None
    variant = result["variants"]["default_horizon20"]
    assert (variant["stride"], variant["window"], variant["horizon"]) == (20, 15, 20)
    assert variant["max_backtracks"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where no GPU is")
def test_bench_on_cuda_without_a_gpu_says_so(tmp_path):
    cmd = [sys.executable, str(BENCH), "--device", "cuda", "--out", str(tmp_path / "t.json")]
    env = bench_env()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "--device cuda: torch sees no CUDA device here" in done.stderr
    assert not (tmp_path / "t.json").exists()


def test_jump_worth_reads_steps_off_the_curve_without_the_jump():
    module = load_bench(ROOT / "bench" / "jump_worth.py")
    without = [(0, 1.0), (25, 0.8), (50, 0.6), (75, 0.5), (100, 0.45)]
    after = [(0, 0.7), (25, 0.5), (50, 0.44)]
    # 0.7 is first reached at 50 (worth 50 - 0), 0.5 at 75 (75 - 25), 0.44 never.
    assert module.worth(without, after) == {"0": 50, "25": 50, "50": None}
    # A jump that made the loss higher: reached before the fork's own offset, negative worth.
    assert module.worth(without, [(0, 1.0), (25, 0.9)]) == {"0": 0, "25": 0}
    assert module.worth(without, [(50, 0.8)]) == {"50": -25}
