"""The Koopman analyses, config and command line on a small synthetic plume dataset."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from surrogate.koopman import analyses, harness
from surrogate.koopman.__main__ import main
from surrogate.koopman.config import DEFAULTS, resolve

torch.set_num_threads(1)
NET = {"width": 8, "depth": 2, "activation": "tanh"}


def _schema_defaults(node):
    if node.get("type") == "object" and "properties" in node:
        return {key: _schema_defaults(sub) for key, sub in node["properties"].items()}
    return node["default"]


def test_schema_defaults_equal_the_package_defaults():
    schema_path = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    with open(schema_path) as stream:
        schema = yaml.safe_load(stream)
    section = schema["properties"]["koopman"]
    assert section["additionalProperties"] is False
    assert _schema_defaults(section) == DEFAULTS


def test_resolve_rejects_bad_config():
    assert resolve({}) == DEFAULTS
    with pytest.raises(ValueError, match="unknown key"):
        resolve({"stoping": {}})
    with pytest.raises(ValueError, match="bad_kinds"):
        resolve({"badinit": {"bad_kinds": ["huge"]}})
    with pytest.raises(ValueError, match="short_steps"):
        resolve({"depth": {"short_steps": 10, "stride": 5, "window": 10}})
    with pytest.raises(ValueError, match="sparsities"):
        resolve({"pruning": {"sparsities": [0.5, 1.0]}})


def test_problem_coefficients_reconstruct_the_training_fields(plume_dataset):
    with np.load(plume_dataset) as data:
        params, fields, split = data["params"], data["fields"], data["split"]
    n_train = int((split == "train").sum())
    problem = harness.make_problem(params, fields, split, n_modes=n_train - 1)
    # Centred training fields have rank n_train - 1: all of them lie in the POD subspace.
    np.testing.assert_allclose(
        problem.reconstruct(problem.targets["train"]), fields[split == "train"], atol=1e-10
    )
    small = harness.make_problem(params, fields, split, n_modes=4, max_train=10)
    assert small.inputs["train"].shape == (10, 4)
    # One global scale: the mean square of the scaled training coefficients is 1.
    assert float(small.targets["train"].pow(2).mean()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_modes"):
        harness.make_problem(params, fields, split, n_modes=0)


def test_pruning_at_zero_sparsity_is_the_trained_network(plume_dataset):
    problem = harness.load_problem(plume_dataset, 4)
    cfg = {**DEFAULTS["pruning"], "steps": 60, "window": 4, "stride": 5, "sparsities": [0.0, 0.5]}
    out = analyses.pruning(problem, cfg, NET, seed=0)
    reference = harness.build_mlp(problem, seed=0, **NET)
    harness.train(reference, problem, 60, cfg["lr"])
    unpruned = problem.rel_l2(reference)
    assert out["test_rel_l2"]["koopman"][0] == pytest.approx(unpruned, rel=1e-12)
    assert out["test_rel_l2"]["magnitude"][0] == pytest.approx(unpruned, rel=1e-12)
    assert out["mask_agreement"][0] == 1.0


def test_node_stopping_badinit_depth_on_tiny_runs(plume_dataset):
    problem = harness.load_problem(plume_dataset, 4)
    node_cfg = {
        **DEFAULTS["node"],
        "start": 5,
        "window": 12,
        "horizons": [1, 5],
        "train_steps": 40,
        "method_horizon": 5,
    }
    node = analyses.node_koopman(problem, node_cfg, NET, seed=0)
    assert set(node["prediction"]) == {"1", "4"}
    # One step ahead from well-conditioned fits is far better than standing still (error 1).
    assert node["prediction"]["1"][0]["weight_error_rel_to_motion"] < 0.5
    method = node["method"]
    assert method["jumps_accepted"] + method["jumps_rejected"] >= 1

    stop_cfg = {
        **DEFAULTS["stopping"],
        "seeds": [0],
        "max_steps": 120,
        "window": 4,
        "stride": 5,
        "val_patience": 10,
    }
    run = analyses.stopping(problem, stop_cfg, NET, [0])["runs"][0]
    assert len(run["rho"]) == 120 // 5 - 4
    for stop in run["koopman"].values():
        assert stop is None or stop["stop_step"] % 5 == 0

    bad_cfg = {**DEFAULTS["badinit"], "n_good": 2, "n_bad": 3, "first_steps": 10, "full_steps": 30}
    bad = analyses.bad_init(problem, bad_cfg, NET)
    flagged = [r["flagged"] for r in bad["runs"]]
    constructed = [r["kind"] != "good" for r in bad["runs"]]
    assert bad["accuracy_vs_construction"] == pytest.approx(
        np.mean(np.array(flagged) == np.array(constructed))
    )
    # A weight scale of 8 saturates tanh: every hidden node barely moves.
    large = [r for r in bad["runs"] if r["kind"] == "large"][0]
    assert large["frozen_fraction"] > 0.5 and large["flagged"]

    depth_cfg = {
        **DEFAULTS["depth"],
        "candidates": [1, 2],
        "short_steps": 30,
        "full_steps": 60,
        "window": 4,
        "stride": 5,
    }
    depth = analyses.depth_selection(problem, depth_cfg, NET, seed=0)
    assert depth["chosen_by_full_training"] in (1, 2)
    assert depth["flops_short_windows"] < depth["flops_full_trainings"]


def test_sobolev_analysis_fem_branch(plume_dataset):
    sobolev = pytest.importorskip("solvers.sobolev")
    with np.load(plume_dataset) as data:
        coords, cells, field = data["coords"], data["cells"], data["fields"][0]
    mass, stiffness = sobolev.assemble_mass_stiffness(coords, cells)
    cfg = {**DEFAULTS["sobolev"], "noise_levels": [0.0, 1.0], "steps": 30, "n_grid": 32}
    out = analyses.sobolev(cfg, 0, (coords, field), mass, stiffness)
    for panel in ("periodic", "fem"):
        for errors in out[panel].values():
            assert len(errors) == 2 and all(np.isfinite(errors))


def test_command_line_writes_json_figure_and_summary(plume_dataset, tmp_path):
    spec = json.dumps(
        {
            "n_modes": 3,
            "network": NET,
            "pruning": {"steps": 30, "window": 3, "stride": 5, "sparsities": [0.0, 0.5]},
        }
    )
    out_json, figure = tmp_path / "pruning.json", tmp_path / "pruning.png"
    main(
        [
            "run",
            "pruning",
            "--dataset",
            str(plume_dataset),
            "--spec",
            spec,
            "--json",
            str(out_json),
            "--figure",
            str(figure),
        ]
    )
    assert figure.stat().st_size > 0
    main(
        [
            "summary",
            "--inputs",
            str(out_json),
            "--figures",
            str(figure),
            "--out",
            str(tmp_path / "summary.json"),
        ]
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pruning"]["figures"] == [str(figure)]
    assert summary["pruning"]["sparsities"] == [0.0, 0.5]
    with pytest.raises(ValueError, match="unknown key"):
        main(
            [
                "run",
                "pruning",
                "--dataset",
                str(plume_dataset),
                "--spec",
                '{"bogus": 1}',
                "--json",
                str(out_json),
                "--figure",
                str(figure),
            ]
        )
