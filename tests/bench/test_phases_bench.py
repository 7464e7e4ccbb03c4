"""bench/phases.py: speed-ups along the baseline's curve, on curves with known answers."""

import json

import pytest

from tests.bench.test_frontier_bench import curve
from tests.bench.test_training_bench import ROOT, load_bench


@pytest.fixture
def phases():
    return load_bench(ROOT / "bench" / "phases.py")


# A baseline of 10 steps with a plateau: levels after each tenth of its FLOPs.
BASE = [1.0, 0.5, 0.4, 0.4, 0.4, 0.3, 0.2, 0.15, 0.1, 0.08]


def test_levels_are_the_lowest_loss_so_far_at_each_tenth(phases):
    assert phases.levels_along(curve(BASE)) == [1.0, 0.5, 0.4, 0.4, 0.4, 0.3, 0.2, 0.15, 0.1, 0.08]
    # Evaluated at steps 2, 4, ..., 10: a tenth that ends between evaluations keeps the one
    # before, and the first tenth, before any, the first evaluated loss.
    assert phases.levels_along(curve(BASE, every=2)) == [
        0.5, 0.5, 0.5, 0.4, 0.4, 0.3, 0.3, 0.15, 0.15, 0.08
    ]  # fmt: skip


def test_a_curve_twice_as_cheap_is_twice_as_fast_at_every_level(phases):
    rows = phases.profile(curve(BASE), curve(BASE, flops_per_step=5.0))
    assert [r["speedup"] for r in rows] == [2.0] * 10
    # The plateau's level (0.4) is reached first at step 3: 30 FLOPs, not 50.
    assert [r["base_flops"] for r in rows[2:5]] == [30.0, 30.0, 30.0]


def test_a_method_that_stalls_is_not_counted_where_it_never_gets(phases, tmp_path):
    method = curve([0.9, 0.45, 0.35, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25])
    result = {"curves": {"adam": {"0": curve(BASE)}, "dmd": {"0": method}}}
    path = tmp_path / "training.json"
    path.write_text(json.dumps(result))
    phases.main([str(path)])
    analysis = json.loads((tmp_path / "training_phases.json").read_text())
    speedups = [r["speedup"] for r in analysis["per_seed"]["0"]]
    # 1.0 at step 1 for both; 0.5 at step 2 for both; 0.4 at step 3 for both; 0.3 at step 6
    # for adam, step 4 for dmd; 0.2 and below never for dmd.
    assert speedups == [1.0, 1.0, 1.0, 1.0, 1.0, 1.5, None, None, None, None]
    assert [r["reached"] for r in analysis["summary"]][5:7] == ["1/1", "0/1"]
    assert analysis["summary"][6]["mean"] is None


def test_unknown_curve_names_are_refused(phases, tmp_path):
    path = tmp_path / "frontier.json"
    path.write_text(json.dumps({"curves": {"adam_T10": {"0": curve(BASE)}}}))
    with pytest.raises(SystemExit):
        phases.main([str(path)])
    with pytest.raises(ValueError, match="no curves named 'adam'; the file has \\['adam_T10'\\]"):
        phases.analyse(json.loads(path.read_text()), "adam", "dmd")
