"""Fixtures of the SLURM and fault-tolerance tests: the one-node cluster and a reference run."""

import pytest

from .slurm_helpers import (
    DATASET,
    DATASET_TARGETS,
    TRAINING_TARGETS,
    make_workdir,
    run_snakemake,
    start_slurm_cluster,
)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running one-node SLURM cluster (.ci/slurm-setup.sh); skips when it cannot start."""
    reason = start_slurm_cluster()
    if reason is not None:
        pytest.skip(f"no local SLURM cluster: {reason}")


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The tiny workflow run locally, serially (one MPI rank, one core): the expected outputs."""
    workdir = make_workdir(tmp_path_factory.mktemp("reference"))
    run_snakemake(
        workdir, *DATASET_TARGETS, *TRAINING_TARGETS, "--cores", "1", log_name="reference.out"
    )
    assert (workdir / DATASET).is_file()
    return workdir
