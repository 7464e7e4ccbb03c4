"""Config checks, scenario registry and the parameter sample (no dolfinx needed)."""

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from solvers import sample, scenarios
from solvers.config import check_config, parameter_ranges, scenario_options, split_counts
from solvers.io import load_npz
from solvers.sample import latin_hypercube, make_samples

BASE = {
    "scenario": "plume",
    "seed": 7,
    "sampling": {"n_samples": 40, "chunks": 4, "split": {"train": 0.8, "val": 0.1, "test": 0.1}},
    "parameters": {},
    "options": {},
}


def config_with(**changes):
    """BASE with dotted-key changes, e.g. config_with(**{"sampling.n_samples": 0})."""
    config = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = config
        for key in path:
            node = node[key]
        node[last] = value
    return config


def test_registry_finds_the_three_scenarios_without_dolfinx():
    assert {"plume", "obstacle", "puff"} <= set(scenarios.available())
    code = (
        "import sys, solvers.config, solvers.sample, solvers.dataset\n"
        "from solvers import scenarios\n"
        "[scenarios.load(n) for n in scenarios.available()]\n"
        "assert 'dolfinx' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plume_parameters_are_the_specified_ones():
    ranges = {p.name: p for p in parameter_ranges(BASE)}
    assert list(ranges) == ["x_s", "y_s", "theta", "D", "k"]
    assert (ranges["x_s"].low, ranges["x_s"].high) == (0.2, 0.8)
    assert (ranges["y_s"].low, ranges["y_s"].high) == (0.25, 0.75)
    assert (ranges["theta"].low, ranges["theta"].high) == (-math.pi / 8, math.pi / 8)
    assert (ranges["D"].low, ranges["D"].high, ranges["D"].log) == (0.005, 0.05, True)
    assert (ranges["k"].low, ranges["k"].high) == (0.0, 2.0)


BAD = [
    ({"scenario": "volcano"}, r"scenario: unknown scenario 'volcano'; available: .*plume"),
    ({"parameters": {"Dx": {"low": 1, "high": 2}}}, r"parameters: 'Dx' not a parameter.*allowed"),
    ({"parameters": {"k": {"low": 1.0, "high": 1.0}}}, r"parameters\.k: empty or inverted"),
    ({"parameters": {"x_s": {"low": 0.9, "high": 0.1}}}, r"parameters\.x_s: empty or inverted"),
    ({"parameters": {"D": {"low": -0.1, "high": 0.1}}}, r"parameters\.D: D must be > 0"),
    ({"parameters": {"D": {"low": 0.0, "high": 0.1, "log": False}}}, r"parameters\.D: D must"),
    ({"parameters": {"k": {"low": -1.0, "high": 1.0}}}, r"parameters\.k: k must be >= 0"),
    ({"parameters": {"x_s": {"low": 0.0, "high": 0.5, "log": True}}}, r"parameters\.x_s: log"),
    ({"sampling.split": {"train": 0.8, "val": 0.3, "test": 0.1}}, r"sampling\.split:.*sum to 1"),
    ({"sampling.n_samples": 0}, r"sampling\.n_samples: must be an integer >= 1"),
    ({"sampling.chunks": 41}, r"sampling\.chunks: must be an integer in \[1, n_samples=40\]"),
    ({"options": {"wind": 2.0}}, r"options: 'wind' not an option of scenario 'plume'"),
    ({"options": {"source_width": -0.05}}, r"options\.source_width: must be > 0"),
    ({"scenario": "puff", "options": {"dt": 0.03}}, r"options\.t_end: 1\.0 must be a multiple"),
    ({"scenario": "puff", "options": {"n_outputs": 7}}, r"options\.n_outputs: 7 must divide"),
    ({"scenario": "obstacle", "options": {"building": "tree"}}, r"options\.building: 'tree'"),
    ({"scenario": "obstacle", "options": {"building_y": 0.95}}, r"options\.building_y: 0\.95"),
]


@pytest.mark.parametrize(("changes", "message"), BAD)
def test_bad_config_raises_value_error_naming_the_key(changes, message, tmp_path):
    config = config_with(**changes)
    with pytest.raises(ValueError, match=message):
        check_config(config)
    # The sample CLI checks before it writes anything.
    with pytest.raises(ValueError, match=message):
        sample.main(["--spec", json.dumps(config), "--out", str(tmp_path / "samples.npz")])
    assert list(tmp_path.iterdir()) == []


def test_good_configs_pass_and_options_merge_defaults():
    check_config(BASE)
    options = scenario_options(config_with(scenario="puff", options={"dt": 0.05}))
    assert options["dt"] == 0.05
    assert options["t_end"] == 1.0


@pytest.mark.parametrize(
    ("n", "split", "expected"),
    [
        (1000, {"train": 0.8, "val": 0.1, "test": 0.1}, (800, 100, 100)),
        (7, {"train": 0.8, "val": 0.1, "test": 0.1}, (5, 1, 1)),
        (5, {"train": 1.0, "val": 0.0, "test": 0.0}, (5, 0, 0)),
    ],
)
def test_split_counts(n, split, expected):
    counts = split_counts(n, split)
    assert (counts["train"], counts["val"], counts["test"]) == expected


def test_latin_hypercube_is_stratified_and_log_uniform_where_declared():
    """Each of the n equal-probability strata of every parameter holds exactly one sample."""
    n = 64
    parameters = parameter_ranges(BASE)
    values = latin_hypercube(parameters, n, np.random.default_rng(3))
    assert values.shape == (n, 5)
    for j, p in enumerate(parameters):
        if p.log:
            unit = np.log(values[:, j] / p.low) / np.log(p.high / p.low)
        else:
            unit = (values[:, j] - p.low) / (p.high - p.low)
        assert np.all((unit >= 0) & (unit < 1))
        assert sorted(np.floor(unit * n).astype(int)) == list(range(n))


def test_samples_reproducible_and_seed_dependent():
    first, again = make_samples(BASE), make_samples(copy.deepcopy(BASE))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    other = make_samples(config_with(seed=8))
    assert not np.array_equal(first["params"], other["params"])
    assert first["params"].dtype == np.float64 and first["params"].shape == (40, 5)
    assert first["sample_ids"].tolist() == list(range(40))
    assert sorted(first["split"].tolist()) == sorted(["train"] * 32 + ["val"] * 4 + ["test"] * 4)


def test_sample_cli_writes_contract(tmp_path):
    out = tmp_path / "samples.npz"
    subprocess.run(
        [sys.executable, "-m", "solvers.sample", "--spec", json.dumps(BASE), "--out", str(out)],
        check=True,
    )
    data = load_npz(out)
    assert set(data) == {"params", "param_names", "sample_ids", "split", "seed"}
    assert data["param_names"].tolist() == ["x_s", "y_s", "theta", "D", "k"]
    assert int(data["seed"]) == 7
    np.testing.assert_array_equal(data["params"], make_samples(BASE)["params"])
