"""Solve chunks: serial vs MPI, physical checks of the scenarios, failures, dataset gather."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from solvers.dataset import gather_dataset
from solvers.io import load_npz, save_npz_atomic
from solvers.sample import make_samples
from solvers.solve_chunk import SolveError, chunk_ids, solve_chunk

MPIRUN = Path(sys.executable).with_name("mpirun")
SOLVER = {
    "stabilisation": "supg",
    "backend": "direct",
    "iterative_threshold_dofs": 1000000,
    "preconditioner": "gamg",
    "rtol": 1e-10,
}


def spec_for(scenario, n_samples=3, resolution=8, options=None, parameters=None, solver=None):
    """A complete spec (config subset) for a tiny run."""
    return {
        "scenario": scenario,
        "seed": 11,
        "sampling": {
            "n_samples": n_samples,
            "chunks": 1,
            "split": {"train": 1.0, "val": 0.0, "test": 0.0},
        },
        "parameters": parameters or {},
        "mesh": {"resolution": resolution, "degree": 1},
        "solver": solver or SOLVER,
        "options": options or {},
        "export": {"paraview_samples": 2},
    }


def write_samples(spec, path):
    save_npz_atomic(path, **make_samples(spec))
    return path


def p1_integral(coords, cells, values):
    """Exact integral of a P1 field given at the vertices (the vertex rule is exact for P1)."""
    corners = coords[cells]
    edges1, edges2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = 0.5 * np.abs(edges1[:, 0] * edges2[:, 1] - edges1[:, 1] * edges2[:, 0])
    return (values[..., cells].mean(axis=-1) * area).sum(axis=-1)


def test_chunk_ids_partition_the_samples():
    parts = [chunk_ids(10, i, 4) for i in range(4)]
    assert [len(p) for p in parts] == [3, 3, 2, 2]
    assert np.concatenate(parts).tolist() == list(range(10))
    with pytest.raises(ValueError, match="--chunk: 4 not in"):
        chunk_ids(10, 4, 4)


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("scenario", "options"),
    [("plume", {}), ("obstacle", {"building": "square"}), ("puff", {"dt": 0.1, "n_outputs": 2})],
)
def test_mpi_two_ranks_match_serial(scenario, options, tmp_path):
    """Same fields (to 1e-10), coordinates and cells from 1 and 2 ranks, in input vertex order."""
    spec = spec_for(scenario, options=options)
    samples = write_samples(spec, tmp_path / "samples.npz")
    serial = solve_chunk(spec, samples, 0, 1, tmp_path / "serial.npz")
    command = [
        str(MPIRUN),
        "-n",
        "2",
        sys.executable,
        "-m",
        "solvers.solve_chunk",
        "--spec",
        json.dumps(spec),
        "--samples",
        str(samples),
        "--chunk",
        "0",
        "--chunks",
        "1",
        "--out",
        str(tmp_path / "mpi.npz"),
        "--paraview",
        str(tmp_path / "mpi.xdmf"),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    parallel = load_npz(tmp_path / "mpi.npz")
    assert set(parallel) == set(serial)
    np.testing.assert_array_equal(parallel["coords"], serial["coords"])
    np.testing.assert_array_equal(parallel["cells"], serial["cells"])
    np.testing.assert_allclose(parallel["fields"], serial["fields"], rtol=0, atol=1e-10)
    assert np.abs(serial["fields"]).max() > 1.0
    assert (tmp_path / "mpi.xdmf").exists() and (tmp_path / "mpi.h5").exists()


def test_plume_maximum_near_source_and_no_upstream_pollution(tmp_path):
    spec = spec_for("plume", n_samples=6, resolution=16)
    samples = write_samples(spec, tmp_path / "samples.npz")
    chunk = solve_chunk(spec, samples, 0, 1, tmp_path / "chunk.npz", tmp_path / "p.xdmf")
    params = load_npz(samples)["params"]
    coords, fields = chunk["coords"], chunk["fields"]
    assert coords.shape == (33 * 17, 2) and fields.shape == (6, 33 * 17)
    assert chunk["cells"].shape == (2 * 32 * 16, 3)
    for (x_s, y_s, theta, _, _), field in zip(params, fields, strict=True):
        # The peak sits on the wind line through the source, at most a little downstream.
        offset = coords[field.argmax()] - (x_s, y_s)
        along = offset @ (np.cos(theta), np.sin(theta))
        across = offset @ (-np.sin(theta), np.cos(theta))
        assert -0.07 < along < 0.2 and abs(across) < 0.07
        assert field.min() > -0.02 * field.max()
        # Upstream of the source, against the wind, the pollutant is only diffusive spill-over.
        upstream = (coords - (x_s, y_s)) @ (np.cos(theta), np.sin(theta)) < -0.15
        assert field[upstream].max() < 0.1 * field.max()
    assert load_npz(tmp_path / "chunk.npz")["fields"].shape == fields.shape


def test_puff_mass_follows_backward_euler_balance(tmp_path):
    """With the puff far from the boundary, total mass obeys m' + k m = q(t) discretised by BE."""
    options = {"dt": 0.025, "n_outputs": 5, "release_end": 0.2, "source_width": 0.07}
    parameters = {
        "x_s": {"low": 0.35, "high": 0.4},
        "y_s": {"low": 0.45, "high": 0.55},
        "theta": {"low": -0.05, "high": 0.05},
        "D": {"low": 0.002, "high": 0.004},
    }
    spec = spec_for("puff", n_samples=2, resolution=32, options=options, parameters=parameters)
    samples = write_samples(spec, tmp_path / "samples.npz")
    chunk = solve_chunk(spec, samples, 0, 1, tmp_path / "chunk.npz")
    np.testing.assert_allclose(chunk["times"], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert chunk["fields"].shape == (2, 5, 65 * 33)
    mass = p1_integral(chunk["coords"], chunk["cells"], chunk["fields"])
    k_values = load_npz(samples)["params"][:, 4]
    dt, rate = 0.025, 1.0 / 0.2
    for k, sample_mass in zip(k_values, mass, strict=True):
        m, expected = 0.0, []
        for step in range(1, 41):
            m = (m / dt + (rate if step <= 8 else 0.0)) / (1 / dt + k)
            if step % 8 == 0:
                expected.append(m)
        # Until the puff nears the outflow (t = 1) no mass leaves the domain.
        np.testing.assert_allclose(sample_mass[:4], expected[:4], rtol=1e-5)
        np.testing.assert_allclose(sample_mass, expected, rtol=1e-3)


def test_non_converging_solve_names_the_sample_and_writes_nothing(tmp_path):
    solver = {**SOLVER, "backend": "iterative", "preconditioner": "ilu", "max_iterations": 2}
    spec = spec_for("plume", resolution=4, solver=solver)
    samples = write_samples(spec, tmp_path / "samples.npz")
    with pytest.raises(SolveError, match=r"sample 0 with parameters \{'x_s': 0\.\d+"):
        solve_chunk(spec, samples, 0, 1, tmp_path / "chunk.npz")
    assert not (tmp_path / "chunk.npz").exists()


def test_samples_from_another_scenario_are_rejected(tmp_path):
    samples = write_samples(spec_for("obstacle"), tmp_path / "samples.npz")
    with pytest.raises(ValueError, match=r"--samples: parameters .* do not match scenario 'plume'"):
        solve_chunk(spec_for("plume"), samples, 0, 1, tmp_path / "chunk.npz")
    assert not (tmp_path / "chunk.npz").exists()


def test_dataset_gathers_chunks_in_sample_order(tmp_path):
    spec = spec_for("plume", n_samples=5, resolution=4)
    samples = write_samples(spec, tmp_path / "samples.npz")
    whole = solve_chunk(spec, samples, 0, 1, tmp_path / "whole.npz")
    paths = [tmp_path / f"chunk_{i}.npz" for i in range(2)]
    for i, path in enumerate(paths):
        solve_chunk(spec, samples, i, 2, path)
    dataset = gather_dataset("plume", samples, paths[::-1])
    np.testing.assert_array_equal(dataset["fields"], whole["fields"])
    np.testing.assert_array_equal(dataset["params"], load_npz(samples)["params"])
    assert dataset["cells"].dtype == np.int64
    assert str(dataset["scenario"]) == "plume"
    with pytest.raises(ValueError, match=r"missing \[3, 4\]"):
        gather_dataset("plume", samples, paths[:1])


def test_p2_plume_stored_at_the_same_vertices_and_close_to_p1(tmp_path):
    """mesh.degree 2 solves in P2 and stores vertex values: same points, a nearby field."""
    spec = spec_for("plume", n_samples=2, resolution=16)
    samples = write_samples(spec, tmp_path / "samples.npz")
    p1 = solve_chunk(spec, samples, 0, 1, tmp_path / "p1.npz")
    spec["mesh"]["degree"] = 2
    p2 = solve_chunk(spec, samples, 0, 1, tmp_path / "p2.npz")
    np.testing.assert_array_equal(p2["coords"], p1["coords"])
    difference = np.linalg.norm(p2["fields"] - p1["fields"], axis=1)
    assert np.all(difference < 0.2 * np.linalg.norm(p2["fields"], axis=1))
    assert np.all(difference > 0)


@pytest.mark.parametrize("preconditioner", ["gamg", "ilu"])
def test_iterative_backends_agree_with_mumps(preconditioner, tmp_path):
    spec = spec_for("plume", n_samples=2, resolution=16)
    samples = write_samples(spec, tmp_path / "samples.npz")
    direct = solve_chunk(spec, samples, 0, 1, tmp_path / "direct.npz")
    spec["solver"] = {**SOLVER, "backend": "iterative", "preconditioner": preconditioner}
    iterative = solve_chunk(spec, samples, 0, 1, tmp_path / "iterative.npz")
    scale = np.abs(direct["fields"]).max()
    np.testing.assert_allclose(iterative["fields"], direct["fields"], rtol=0, atol=1e-7 * scale)


@pytest.mark.parametrize("building", ["circle", "square"])
def test_obstacle_potential_flow_carries_the_inflow_out(building):
    """Unit inflow through the inlet (height 1) leaves through the outlet, none through walls."""
    import dolfinx_solver  # noqa: F401, I001  (loads the MPI/PETSc libraries)
    import dolfinx
    import ufl
    from mpi4py import MPI

    from solvers import channel
    from solvers.scenarios import obstacle

    options = {**obstacle.OPTIONS, "building": building}
    data = channel.channel_mesh(MPI.COMM_SELF, options, 8)
    phi = channel.potential_flow(data.mesh, data.facet_tags)
    n = ufl.FacetNormal(data.mesh)
    ds = ufl.Measure("ds", domain=data.mesh, subdomain_data=data.facet_tags)

    def flux(tag):
        return dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.dot(ufl.grad(phi), n) * ds(tag)))

    assert flux(channel.INLET) == pytest.approx(-1.0, abs=1e-4)
    assert flux(channel.OUTLET) == pytest.approx(1.0, abs=1e-4)
    # No-penetration holds weakly: the flux through walls and building is discretisation error.
    assert flux(channel.BUILDING) == pytest.approx(0.0, abs=5e-3)
    assert flux(channel.WALLS) == pytest.approx(0.0, abs=5e-3)
