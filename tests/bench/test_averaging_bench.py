"""bench/averaging.py: its runs are the workflow's, its averages are charged and evaluated."""

import json

import numpy as np
import pytest

from surrogate.train import run_training
from tests.bench.test_training_bench import read_result, run_bench
from tests.surrogate.conftest import write_dataset

SPEC = {
    "network": {"kind": "field", "width": 8, "depth": 1},
    "optimizer": {"batch_size": 0, "lr": 0.01},
    "steps": 30,
    "eval_every": 2,
    "dmd": {"stride": 1, "window": 5, "horizon": 20, "max_backtracks": 1, "every": None},
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("averaging")
    dataset = write_dataset(tmp / "dataset.npz")
    out = tmp / "averaging.json"
    done = run_bench(
        "averaging", "--dataset", str(dataset), "--seeds", "0", "--decays", "1e-9", "0.9",
        "--jobs", "1", "--spec", json.dumps(SPEC), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dataset, tmp, read_result(out)


def test_runs_repeat_the_workflows_histories(result, tmp_path):
    dataset, _, result = result
    for method in ("adam", "dmd"):
        history = run_training(dataset, method, 0, SPEC | {"device": "cpu"}, tmp_path / method)
        evaluated = [r for r in history["records"] if r["val_loss"] is not None]
        ours = result["curves"][method]["0"]
        assert [r["step"] for r in ours] == [r["step"] for r in evaluated] == list(range(2, 31, 2))
        assert [r["flops"] for r in ours] == [r["flops"] for r in evaluated]
        assert [r["val_loss"] for r in ours] == pytest.approx([r["val_loss"] for r in evaluated])


def test_an_average_is_charged_and_an_instant_one_is_the_run(result):
    dataset, _, result = result
    adam, instant = result["curves"]["adam"]["0"], result["curves"]["adam_ema1e-09"]["0"]
    n_points = np.load(dataset)["coords"].shape[0]
    n_params = 5 * 8 + 8 + 8 * n_points + n_points  # the field network 5-8-n_points
    for raw, avg in zip(adam, instant, strict=True):
        assert avg["flops"] == raw["flops"] + 3 * n_params * raw["step"]
        assert avg["val_loss"] == pytest.approx(raw["val_loss"], rel=1e-5)
    dmd, dmd_instant = result["curves"]["dmd"]["0"], result["curves"]["dmd_ema1e-09"]["0"]
    assert [r["val_loss"] for r in dmd_instant] == pytest.approx(
        [r["val_loss"] for r in dmd], rel=1e-5
    )
    # Its speed-up over the run it follows: FLOPs at the same step, the run's over the run's
    # plus the charge (the levels are the run's own losses, reached at the same steps).
    row = result["profiles"][1]["per_seed"]["0"][-1]
    step = next(r["step"] for r in adam if r["flops"] == row["baseline_flops"])
    assert row["speedup"] == pytest.approx(
        row["baseline_flops"] / (row["baseline_flops"] + 3 * n_params * step)
    )
    # A slow average lags the run: early on its loss is higher.
    slow = result["curves"]["adam_ema0.9"]["0"]
    assert slow[0]["val_loss"] > adam[0]["val_loss"]
    names = [(p["base"], p["method"]) for p in result["profiles"]]
    assert names == [
        ("adam", "dmd"), ("adam", "adam_ema1e-09"), ("adam_ema1e-09", "dmd_ema1e-09"),
        ("adam", "adam_ema0.9"), ("adam_ema0.9", "dmd_ema0.9"),
    ]  # fmt: skip
    assert [r["fraction"] for r in result["profiles"][0]["summary"]] == [
        round(0.1 * k, 1) for k in range(1, 11)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decays", "1.0"], "--decays must lie in (0, 1), got [1.0]"),
        (["--decays", "0.99999991", "0.99999992"], "must differ in their first 6 digits"),
        (["--spec", "null"], "--spec: must be a JSON object, got 'null'"),
        (["--spec", '{"flop_budget": 1e9}'], "flop_budget and stop_val_loss must be 0"),
        (["--spec", '{"ema": 0.9}'], "train.ema must be 0; this bench keeps its own averages"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, args, message):
    done = run_bench("averaging", *args, "--out", str(tmp_path / "a.json"))
    assert done.returncode == 2 and message in done.stderr


def test_one_method_alone_gives_the_same_curves(result):
    dataset, tmp, both = result
    out = tmp / "dmd_only.json"
    done = run_bench(
        "averaging", "--dataset", str(dataset), "--seeds", "0", "--decays", "1e-9", "0.9",
        "--jobs", "1", "--methods", "dmd", "--spec", json.dumps(SPEC), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    alone = read_result(out)
    assert sorted(alone["curves"]) == ["dmd", "dmd_ema0.9", "dmd_ema1e-09"]
    assert alone["methods"] == ["dmd"] and alone["profiles"] == []
    for name, by_seed in alone["curves"].items():
        assert by_seed == both["curves"][name]
