"""The solve stage as a Snakemake workflow: tiny end-to-end runs, lint, and config errors.

The stage runs from a copy holding only common.smk and solve.smk (and the schema), so these
tests do not depend on the training and report stages.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from solvers.io import load_npz

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEFILE = """\
configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/solve.smk"


rule all:
    input:
        all_targets(),
    default_target: True
"""
CONTRACT = {"params", "param_names", "coords", "cells", "fields", "split", "sample_ids", "scenario"}


def tiny_config(scenario, **overrides):
    config = yaml.safe_load((ROOT / "config" / "scenarios" / f"{scenario}.yaml").read_text())
    config["sampling"] = {
        "n_samples": 4,
        "chunks": 2,
        "split": {"train": 0.5, "val": 0.25, "test": 0.25},
    }
    config["mesh"]["resolution"] = 8
    config.update(overrides)
    return config


@pytest.fixture
def workflow(tmp_path):
    """A copy of the solve stage in tmp_path; returns a function running snakemake there."""
    for relative in ("workflow/rules/common.smk", "workflow/rules/solve.smk"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    shutil.copytree(ROOT / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    # The rules' `conda:` file; Snakemake records it with each job even without --sdm conda.
    environment = ROOT / "environment.yml"
    if environment.exists():
        shutil.copy(environment, tmp_path / "environment.yml")
    else:
        (tmp_path / "environment.yml").write_text(
            "channels: [conda-forge]\ndependencies: [python=3.12, fenics-dolfinx, gmsh, scipy]\n"
        )
    # Rules call `python` and `mpiexec`: those of this interpreter's environment.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def run(*args, config=None):
        if config is not None:
            (tmp_path / "test.yaml").write_text(yaml.safe_dump(config))
            args = (*args, "--configfile", "test.yaml")
        return subprocess.run(
            [str(BIN / "snakemake"), "--directory", str(tmp_path), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    run.path = tmp_path
    return run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        ("plume", {"solver": {"mpi_tasks": 2}}),
        ("obstacle", {}),
        ("puff", {"options": {"dt": 0.1, "n_outputs": 5, "release_end": 0.2}}),
    ],
)
def test_end_to_end_dataset(workflow, scenario, overrides):
    config = tiny_config(scenario, **overrides)
    result = workflow("--cores", "2", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    results = workflow.path / "results" / scenario
    dataset = load_npz(results / "dataset.npz")
    samples = load_npz(results / "samples.npz")
    transient = scenario == "puff"
    assert set(dataset) == CONTRACT | ({"times"} if transient else set())
    n_vertices = len(dataset["coords"])
    assert dataset["coords"].shape == (n_vertices, 2) and dataset["coords"].dtype == np.float64
    assert dataset["cells"].dtype == np.int64 and dataset["cells"].shape[1] == 3
    assert dataset["cells"].min() == 0 and dataset["cells"].max() == n_vertices - 1
    expected = (4, 5, n_vertices) if transient else (4, n_vertices)
    assert dataset["fields"].shape == expected and dataset["fields"].dtype == np.float64
    np.testing.assert_array_equal(dataset["params"], samples["params"])
    np.testing.assert_array_equal(dataset["split"], samples["split"])
    assert dataset["sample_ids"].tolist() == [0, 1, 2, 3]
    assert str(dataset["scenario"]) == scenario
    # Per sample (over all times): a clear peak and only slight undershoots on this coarse mesh.
    fields = dataset["fields"].reshape(4, -1)
    peak = fields.max(axis=1)
    assert np.all(peak > 0.5) and np.all(fields.min(axis=1) > -0.05 * peak)
    if transient:
        np.testing.assert_allclose(dataset["times"], [0.2, 0.4, 0.6, 0.8, 1.0])
    else:
        source = dataset["params"][:, :2]
        peak_at = dataset["coords"][fields.argmax(axis=1)]
        distance = np.linalg.norm(peak_at - source, axis=1)
        assert np.all(distance < 0.25)
    # The exported samples (ids 0 and 1 of chunk 0) are in chunk 0's XDMF file.
    xdmf = (results / "paraview" / "chunk_0.xdmf").read_text()
    assert ("sample_1" in xdmf) if transient else ('Time Value="1"' in xdmf)
    assert (workflow.path / "logs" / scenario / "solve" / "chunk_1.log").exists()
    assert (results / "benchmarks" / "solve_chunk_1.tsv").exists()


def test_lint_and_dry_run_of_every_scenario(workflow):
    result = workflow("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    for path in sorted((ROOT / "config" / "scenarios").glob("*.yaml")):
        result = workflow("-n", "--configfile", str(path))
        assert result.returncode == 0, f"{path.name}: {result.stderr[-2000:]}"
        assert f"results/{path.stem}/dataset.npz" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parameters": {"D": {"low": -0.01, "high": 0.05}}}, "parameters.D: D must be > 0"),
        ({"parameters": {"wind": {"low": 0, "high": 1}}}, "parameters: 'wind' not a parameter"),
        ({"scenario": "tsunami"}, "scenario: unknown scenario 'tsunami'"),
        ({"mesh": {"resolution": 8, "degre": 2}}, "'degre' was unexpected"),
    ],
)
def test_bad_config_stops_the_dry_run(workflow, change, message):
    result = workflow("-n", config={**tiny_config("plume"), **change})
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workflow.path / "results").exists()
