"""bench/koopman_method.py: the koopman method's variants against Adam, on a tiny dataset."""

import json

from tests.bench.test_training_bench import read_result, run_bench
from tests.surrogate.conftest import write_dataset

SPEC = {
    "network": {"kind": "field", "width": 8, "depth": 1},
    "optimizer": {"batch_size": 0},
    "steps": 60,
    "eval_every": 1,
}


def test_bench_counts_each_variants_attempts_against_adam(tmp_path):
    dataset = write_dataset(tmp_path / "dataset.npz")
    out = tmp_path / "koopman.json"
    variants = {
        # A fit on 5 consecutive steps: an attempt every 5 steps, 12 in 60.
        "steps": {"window": 4, "horizon": 2},
        # On 5 means of 3 steps: an attempt every 15 steps, 4 in 60.
        "means": {"window": 4, "horizon": 6, "stride": 3},
    }
    args = ["--dataset", str(dataset), "--seeds", "0", "--jobs", "1", "--out", str(out)]
    done = run_bench(
        "koopman_method", *args, "--spec", json.dumps(SPEC), "--variants", json.dumps(variants)
    )
    assert done.returncode == 0, done.stderr
    result = read_result(out)
    rows = {name: result["per_seed"][name]["0"] for name in variants}
    assert rows["steps"]["jumps_accepted"] + rows["steps"]["jumps_rejected"] == 12
    assert rows["means"]["jumps_accepted"] + rows["means"]["jumps_rejected"] == 4
    # Variants are complete settings: the spec's defaults fill what a variant leaves out.
    assert result["variants"]["steps"]["stride"] == 1
    assert result["variants"]["means"]["stride"] == 3
    for row in rows.values():
        # Every attempt charges two loss checks at least, beyond the optimizer steps.
        assert row["overhead"]["flops"] > 0
        assert set(row["flops_speedup"]) == {"final", "quack_1pct"}
    assert set(result["adam"]["0"]) == {"final_val_loss", "test_rel_l2"}


def test_bench_names_a_bad_variant(tmp_path):
    variants = json.dumps({"odd": {"horizon": 10, "stride": 4}})
    done = run_bench("koopman_method", "--variants", variants, "--out", str(tmp_path / "k.json"))
    assert done.returncode == 2
    assert "horizon must be a multiple of stride (4) steps, got 10" in done.stderr
