"""The workflow on a real one-node SLURM cluster, its fault tolerance, and MPI solves.

Every test runs the repository's workflow on a tiny config (4 samples, 2 solve chunks, a
4 x 8 mesh) in its own tmp_path and compares the outputs with a serial local run. The cluster
comes from .ci/slurm-setup.sh (root and Debian packages needed; the SLURM tests skip otherwise).

Jobs are slowed down, where a test must act while one runs, through the `mpi` resource of the
solve rule: `--set-resources` with an expression of `attempt` and the chunk makes the first
attempt of chunk 0 run `sleep <seconds> && <launcher>`. Retries and reruns then run the real
command, so the outputs must still equal the reference.
"""

import os
import signal
import subprocess

import pytest

from .slurm_helpers import (
    CHUNKS,
    DATASET,
    DATASET_TARGETS,
    N_CHUNKS,
    RESULTS,
    TRAIN_RUN,
    TRAINING_TARGETS,
    assert_same_history,
    assert_same_npz,
    file_states,
    finish,
    jobs_run,
    make_workdir,
    rules_run,
    run_snakemake,
    slurm_submissions,
    squeue_jobs,
    start_snakemake,
    wait_for,
    write_test_profile,
)

pytestmark = pytest.mark.slurm

SLOW_CHUNK = "0"


def slow_first_attempt(launcher: str, seconds: int = 120) -> str:
    """A resource expression: `launcher`, delayed on the first attempt of chunk SLOW_CHUNK."""
    return (
        f"'sleep {seconds} && {launcher}' "
        f"if attempt == 1 and wildcards.chunk == '{SLOW_CHUNK}' else '{launcher}'"
    )


def chunk_of(job: dict) -> str:
    """The chunk a solve job solves (its wildcards read `chunk=<i>`)."""
    return job["wildcards"].removeprefix("chunk=")


def solve_job_ids(output: str, chunk: str) -> list[int]:
    return [
        job["jobid"]
        for job in jobs_run(output)
        if job["rule"] == "solve" and chunk_of(job) == chunk
    ]


def wait_until_slow_chunk_runs(proc) -> int:
    """The SLURM job id of chunk SLOW_CHUNK's solve, once SLURM reports it running."""

    def submitted():
        output = proc.log_path.read_text()
        ids = solve_job_ids(output, SLOW_CHUNK)
        return next(
            (s["slurm_jobid"] for s in slurm_submissions(output) if s["jobid"] in ids), None
        )

    slurm_id = wait_for(submitted, timeout=120, what=f"the submission of chunk {SLOW_CHUNK}")
    wait_for(
        lambda: squeue_jobs(slurm_id).get(slurm_id, {}).get("state") == "RUNNING",
        timeout=120,
        what=f"SLURM job {slurm_id} to run",
    )
    return slurm_id


def assert_outputs_equal_reference(workdir, reference, training: bool = False) -> None:
    """The chunks and the dataset (and the training run's predictions and history) equal
    those of the reference run."""
    for chunk in range(N_CHUNKS):
        name = CHUNKS / f"chunk_{chunk}.npz"
        assert_same_npz(workdir / name, reference / name)
    assert_same_npz(workdir / DATASET, reference / DATASET)
    if training:
        name = TRAIN_RUN / "predictions.npz"
        assert_same_npz(workdir / name, reference / name, rtol=1e-8)
        name = TRAIN_RUN / "history.json"
        assert_same_history(workdir / name, reference / name)


def slurm_args(profile_dir) -> tuple[str, ...]:
    return ("--workflow-profile", str(profile_dir))


def test_slurm_run_matches_local_run(slurm_cluster, reference, tmp_path):
    """Every non-local job is a SLURM job with its own log, in the partition the profile
    names; the outputs equal the serial local run's (the solves here use 2 MPI ranks started
    by srun, as the profile says)."""
    workdir = make_workdir(tmp_path / "run")
    profile = write_test_profile(tmp_path / "profile")

    output = run_snakemake(
        workdir, *DATASET_TARGETS, *TRAINING_TARGETS, *slurm_args(profile), log_name="slurm.out"
    )

    remote = {job["jobid"]: job for job in jobs_run(output) if not job["local"]}
    submissions = slurm_submissions(output)
    assert {job["rule"] for job in remote.values()} >= {"sample", "solve", "dataset", "train"}
    assert sorted(s["jobid"] for s in submissions) == sorted(remote)
    slurm_ids = [s["slurm_jobid"] for s in submissions]
    assert len(set(slurm_ids)) == len(slurm_ids)
    states = squeue_jobs(*slurm_ids)
    for submission in submissions:
        log = submission["log"]
        assert log.is_file()
        assert log.name == f"{submission['slurm_jobid']}.log"
        assert log.is_relative_to(workdir / ".snakemake" / "slurm_logs")
        state = states[submission["slurm_jobid"]]
        assert state["state"] == "COMPLETED"
        rule = remote[submission["jobid"]]["rule"]
        assert state["partition"] == ("gpu" if rule == "train" else "cpu"), rule
    assert "srun -n 2 python -m solvers.solve_chunk" in output
    assert_outputs_equal_reference(workdir, reference, training=True)


def test_cancelled_slurm_job_is_retried(slurm_cluster, reference, tmp_path):
    """A solve job cancelled with scancel while it runs is resubmitted and the workflow ends;
    outputs made before the cancellation are neither lost nor rewritten."""
    workdir = make_workdir(tmp_path / "run")
    profile = write_test_profile(tmp_path / "profile")
    other_chunk = CHUNKS / "chunk_1.npz"
    run_snakemake(workdir, str(other_chunk), *slurm_args(profile), log_name="first.out")
    before = file_states(workdir / RESULTS)

    slow = write_test_profile(tmp_path / "slow", {"solve": {"mpi": slow_first_attempt("srun")}})
    proc = start_snakemake(workdir, *DATASET_TARGETS, *slurm_args(slow), log_name="second.out")
    try:
        slurm_id = wait_until_slow_chunk_runs(proc)
        subprocess.run(["scancel", str(slurm_id)], check=True)
    finally:
        output = finish(proc, timeout=300)
    assert proc.returncode == 0, output

    assert squeue_jobs(slurm_id)[slurm_id]["state"] == "CANCELLED"
    resubmitted = [
        s for s in slurm_submissions(output) if s["jobid"] in solve_job_ids(output, SLOW_CHUNK)
    ]
    assert len(resubmitted) == 2, output
    assert rules_run(output) == ["dataset", "solve", "solve"], output
    assert [chunk_of(job) for job in jobs_run(output) if job["rule"] == "solve"] == [SLOW_CHUNK] * 2
    after = file_states(workdir / RESULTS)
    assert {name: after[name] for name in before} == before
    assert_outputs_equal_reference(workdir, reference)


def test_interrupted_slurm_run_cancels_its_job_and_rerun_resumes(
    slurm_cluster, reference, tmp_path
):
    """Ctrl-C (SIGINT) to a snakemake that submits to SLURM cancels its running job; the next
    run submits only what is missing and leaves the finished outputs untouched."""
    workdir = make_workdir(tmp_path / "run")
    profile = write_test_profile(tmp_path / "profile")
    run_snakemake(workdir, str(CHUNKS / "chunk_1.npz"), *slurm_args(profile), log_name="first.out")
    before = file_states(workdir / RESULTS)

    # Snakemake takes its jobs out of the list that Ctrl-C cancels while it checks their states
    # (snakemake-interface-executor-plugins 9.4, docs/hpc.md), and its first check of a new
    # job comes within a second of the submission, just when this test would interrupt. With
    # checks 30 s apart at first (the plugin adds 10 s per check while no job has finished),
    # the interrupt falls between two checks.
    slow = write_test_profile(
        tmp_path / "slow",
        {"solve": {"mpi": slow_first_attempt("srun")}},
        {"slurm-init-seconds-before-status-checks": 30},
    )
    proc = start_snakemake(workdir, *DATASET_TARGETS, *slurm_args(slow), log_name="second.out")
    try:
        slurm_id = wait_until_slow_chunk_runs(proc)
        proc.send_signal(signal.SIGINT)
    finally:
        interrupted = finish(proc, timeout=120)
    assert proc.returncode != 0, interrupted
    wait_for(
        lambda: squeue_jobs(slurm_id)[slurm_id]["state"] == "CANCELLED",
        timeout=60,
        what=f"SLURM job {slurm_id} to be cancelled",
    )
    assert not (workdir / CHUNKS / f"chunk_{SLOW_CHUNK}.npz").exists()

    output = run_snakemake(workdir, *DATASET_TARGETS, *slurm_args(profile), log_name="third.out")
    assert rules_run(output) == ["dataset", "solve"], output
    assert [chunk_of(job) for job in jobs_run(output) if job["rule"] == "solve"] == [SLOW_CHUNK]
    assert len(slurm_submissions(output)) == 2
    after = file_states(workdir / RESULTS)
    assert {name: after[name] for name in before} == before
    assert_outputs_equal_reference(workdir, reference)


def start_local_run_and_wait_for_chunk_1(workdir, sleep_seconds):
    """A local run whose chunk 0 sleeps first, returned once chunk 1 finished."""
    slow = ("--set-resources", f"solve:mpi={slow_first_attempt('mpiexec', sleep_seconds)}")
    proc = start_snakemake(workdir, *DATASET_TARGETS, "--cores", "2", *slow, log_name="first.out")

    def other_chunk_done():
        output = proc.log_path.read_text()
        ids = solve_job_ids(output, "1")
        return solve_job_ids(output, SLOW_CHUNK) and ids and f"Finished jobid: {ids[0]} " in output

    try:
        wait_for(other_chunk_done, timeout=120, what="chunk 1 solved while chunk 0 runs")
    except AssertionError:
        os.killpg(proc.pid, signal.SIGKILL)
        finish(proc, timeout=60)
        raise
    return proc


def test_ctrl_c_on_local_run_then_rerun_solves_only_the_interrupted_chunk(reference, tmp_path):
    """Ctrl-C (SIGINT to snakemake and its jobs) while chunk 0 solves and after chunk 1
    finished: the rerun solves only chunk 0, then merges; nothing finished is rewritten."""
    workdir = make_workdir(tmp_path / "run")
    proc = start_local_run_and_wait_for_chunk_1(workdir, sleep_seconds=120)
    os.killpg(proc.pid, signal.SIGINT)
    interrupted = finish(proc, timeout=60)
    assert proc.returncode != 0, interrupted
    assert not (workdir / CHUNKS / f"chunk_{SLOW_CHUNK}.npz").exists()
    assert not (workdir / DATASET).exists()
    before = file_states(workdir / RESULTS)
    assert str(CHUNKS.relative_to(RESULTS) / "chunk_1.npz") in before

    output = run_snakemake(workdir, *DATASET_TARGETS, "--cores", "2", log_name="second.out")
    assert rules_run(output) == ["dataset", "solve"], output
    assert [chunk_of(job) for job in jobs_run(output) if job["rule"] == "solve"] == [SLOW_CHUNK]
    after = file_states(workdir / RESULTS)
    assert {name: after[name] for name in before} == before
    assert_outputs_equal_reference(workdir, reference)


def test_sigterm_on_local_run_finishes_running_jobs_then_rerun_only_merges(reference, tmp_path):
    """SIGTERM to snakemake stops it gracefully: the running chunk 0 still finishes, nothing
    new starts; the rerun runs only the merge and rewrites no chunk."""
    workdir = make_workdir(tmp_path / "run")
    proc = start_local_run_and_wait_for_chunk_1(workdir, sleep_seconds=20)
    proc.send_signal(signal.SIGTERM)
    interrupted = finish(proc, timeout=120)
    assert proc.returncode != 0, interrupted
    assert "Will exit after finishing currently running jobs" in interrupted
    assert not (workdir / DATASET).exists()
    before = file_states(workdir / RESULTS)
    assert str(CHUNKS.relative_to(RESULTS) / f"chunk_{SLOW_CHUNK}.npz") in before

    output = run_snakemake(workdir, *DATASET_TARGETS, "--cores", "2", log_name="second.out")
    assert rules_run(output) == ["dataset"], output
    after = file_states(workdir / RESULTS)
    assert {name: after[name] for name in before} == before
    assert_outputs_equal_reference(workdir, reference)


@pytest.mark.mpi
def test_two_mpi_ranks_give_the_serial_dataset(reference, tmp_path):
    """The solve rule under `mpiexec -n 2` (tasks=2) gives the serial dataset to 1e-10."""
    workdir = make_workdir(tmp_path / "run")
    output = run_snakemake(
        workdir,
        *DATASET_TARGETS,
        "--cores",
        "2",
        "--set-resources",
        "solve:tasks=2",
        log_name="mpi.out",
    )
    assert "mpiexec -n 2 " in output
    assert_outputs_equal_reference(workdir, reference)
