"""bench/phases.py: the report's speed-up profile on a benchmark's stored curves."""

import json

import pytest

from tests.bench.test_frontier_bench import curve
from tests.bench.test_training_bench import ROOT, load_bench, read_result


@pytest.fixture
def phases():
    return load_bench(ROOT / "bench" / "phases.py")


# A baseline of 10 steps that rises twice (the levels keep the lowest loss so far).
BASE = [1.0, 0.5, 0.4, 0.45, 0.4, 0.3, 0.35, 0.15, 0.2, 0.08]


def test_a_method_that_stalls_is_not_counted_where_it_never_gets(phases, tmp_path):
    method = curve([0.9, 0.45, 0.35, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25])
    result = {"curves": {"adam": {"0": curve(BASE)}, "dmd": {"0": method}}}
    path = tmp_path / "training.json"
    path.write_text(json.dumps(result))
    phases.main([str(path)])
    analysis = json.loads((tmp_path / "training_phases.json").read_text())
    speedups = [r["speedup"] for r in analysis["per_seed"]["0"]]
    # Levels 1.0, 0.5, 0.4 (x3, first at step 3), 0.3 (x2), 0.15 (x2), 0.08: both runs reach
    # the first five at the same step; 0.3 adam at step 6, dmd at 4; dmd never gets to 0.15.
    assert speedups == [1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5, None, None, None]
    assert [r["reached"] for r in analysis["summary"]][6:8] == ["1/1", "0/1"]
    assert analysis["summary"][6]["mean"] == 1.5 and analysis["summary"][7]["mean"] is None


def test_thinned_curves_of_two_seeds_average(phases):
    # Evaluated every 2 steps; the method's steps cost a half (seed 0) and a quarter (seed 1).
    result = {
        "curves": {
            "adam_T10": {s: curve(BASE, every=2) for s in ("0", "1")},
            "dmd_T10": {"0": curve(BASE, 5.0, every=2), "1": curve(BASE, 2.5, every=2)},
        }
    }
    analysis = phases.analyse(result, "adam_T10", "dmd_T10")
    assert [r["mean"] for r in analysis["summary"]] == [3.0] * 10
    assert analysis["summary"][0] == {
        "fraction": 0.1, "reached": "2/2", "mean": 3.0, "std": 2**0.5, "min": 2.0, "max": 4.0
    }  # fmt: skip


def test_unknown_curve_names_are_refused(phases, tmp_path):
    path = tmp_path / "frontier.json"
    path.write_text(json.dumps({"curves": {"adam_T10": {"0": curve(BASE)}}}))
    with pytest.raises(SystemExit):
        phases.main([str(path)])
    with pytest.raises(ValueError, match="no curves named 'adam'; the file has \\['adam_T10'\\]"):
        phases.analyse(read_result(path), "adam", "dmd")


def test_targets_and_a_baseline_from_another_file(phases, tmp_path, capsys):
    # BASE: final 0.08; QuACK 1 %: 0.08 + 0.01 (1.0 - 0.08) = 0.0892, first reached at
    # step 10. A method at a third of the cost per step that gets to 0.08 at step 7.
    method = curve([1.0, 0.5, 0.3, 0.3, 0.2, 0.1, 0.08, 0.05, 0.05, 0.05], 10 / 3)
    base_file, run_file = tmp_path / "base.json", tmp_path / "run.json"
    # The same name in both files: the baseline comes from --base-from.
    spec = {"optimizer": {"lr": 0.02, "schedule": "cosine"}, "methods": ["adam"]}
    other = {"optimizer": {"lr": 0.001, "schedule": "constant"}, "methods": ["adam", "dmd"]}
    base = {"dataset": "d.npz", "spec": spec, "curves": {"adam": {"0": curve(BASE)}}}
    load_bench().write_result(base_file, base)  # the curves by column, as benches write
    run = {"dataset": "d.npz", "spec": other, "curves": {"adam": {"0": method}}}
    run_file.write_text(json.dumps(run))
    phases.main([str(run_file), "--base-from", str(base_file), "--method", "adam"])
    analysis = json.loads((tmp_path / "run_phases.json").read_text())
    assert analysis["base_from"] == str(base_file)
    # Another schedule is said, not refused; the method list is not a difference.
    assert analysis["base_spec_differs"] == ["optimizer.lr", "optimizer.schedule"]
    for name in ("final", "quack_1pct"):
        row = analysis["targets"][name]
        assert row["per_seed"] == {"0": pytest.approx(100 / (7 * 10 / 3))}
        assert row["reached"] == "1/1"
    # Against itself everything is 1.
    same = phases.analyse(read_result(base_file), "adam", "adam")
    assert same["targets"]["final"]["mean"] == 1.0
    with pytest.raises(SystemExit):
        phases.main([str(run_file), "--base-from", str(base_file), "--base", "dmd"])
    # Curves of another dataset do not compare.
    base_file.write_text(json.dumps(base | {"dataset": "other.npz"}))
    with pytest.raises(SystemExit):
        phases.main([str(run_file), "--base-from", str(base_file), "--method", "adam"])
    assert "other.npz" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "message"),
    [("{", "run.json: Expecting property name"), ("[]", "run.json: not a benchmark result")],
)
def test_a_bad_file_is_named(phases, tmp_path, capsys, bad, message):
    base_file, run_file = tmp_path / "base.json", tmp_path / "run.json"
    base_file.write_text(json.dumps({"curves": {"adam": {"0": curve(BASE)}}}))
    run_file.write_text(bad)
    with pytest.raises(SystemExit):
        phases.main([str(run_file), "--base-from", str(base_file)])
    err = capsys.readouterr().err
    assert message in err and "base.json" not in err
    # An empty baseline file is refused, not replaced by the result's own curves.
    base_file.write_text("{}")
    run_file.write_text(json.dumps({"curves": {"adam": {"0": curve(BASE)}}}))
    with pytest.raises(SystemExit):
        phases.main([str(run_file), "--base-from", str(base_file), "--method", "adam"])
    assert "base.json: not a benchmark result" in capsys.readouterr().err
