"""Helpers of the SLURM and fault-tolerance tests: a tiny copy of the workflow, snakemake runs,
what a run's log says about its jobs, and dataset comparisons.

A "workdir" is a temporary directory holding links to the repository's Snakefile, workflow/,
config/ and profiles/ plus a tiny config, so that results/, logs/ and .snakemake/ of each run
land in pytest's tmp_path while the code under test is the repository's own.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.workflow import tiny

REPO = Path(__file__).resolve().parents[2]
SLURM_SETUP = REPO / ".ci" / "slurm-setup.sh"
SLURM_PROFILE = REPO / "profiles" / "slurm" / "profile.yaml"
SCENARIO = "plume"
RESULTS = Path("results") / SCENARIO
DATASET = RESULTS / "dataset.npz"
CHUNKS = RESULTS / "chunks"
N_CHUNKS = 2

TRAIN_RUN = RESULTS / "train" / "adam" / "seed_0"
# What the tests ask for: the dataset (sample, solve chunks, merge), and in the full
# comparison one short training run (the rule with gpu=1).
DATASET_TARGETS = [str(DATASET)]
TRAINING_TARGETS = [str(TRAIN_RUN / "history.json"), str(TRAIN_RUN / "predictions.npz")]

# Settings of a workflow that solves 4 samples on a tiny mesh in 2 chunks and trains a tiny
# network for 20 steps on the CPU.
TINY_CONFIG = {
    "scenario": SCENARIO,
    "seed": 7,
    "sampling": {
        "n_samples": 4,
        "chunks": N_CHUNKS,
        "split": {"train": 0.5, "val": 0.25, "test": 0.25},
    },
    "mesh": {"resolution": 4, "degree": 1},
    "solver": {"backend": "direct", "mpi_tasks": 1},
    "export": {"paraview_samples": 0},
    "train": {
        "seeds": [0],
        "device": "cpu",
        "threads": 1,
        "network": {"kind": "field", "width": 8, "depth": 1},
        "optimizer": {"batch_size": 0},
        "eval_every": 1,
        "dmd": {"stride": 1},
        "steps": 20,
        "checkpoint_every": 10,
    },
}


def make_workdir(path: Path) -> Path:
    """A run directory at `path` with links to the repository's workflow and a tiny config."""
    return tiny.make_workdir(path, TINY_CONFIG)


def run_env() -> dict:
    """The environment of a snakemake run: this interpreter's bin/ first on PATH, so that rules
    find `python` and `mpiexec` of the virtual environment (on SLURM nodes too: sbatch
    exports it)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def snakemake_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        "tiny.yaml",
        "--nocolor",
        *args,
    ]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_snakemake(workdir: Path, *args: str, log_name: str = "snakemake.out") -> subprocess.Popen:
    """Start snakemake in `workdir` in the background; its output goes to `workdir/log_name`."""
    out = open(workdir / log_name, "w")  # noqa: SIM115 (closed when the process is waited on)
    proc = subprocess.Popen(
        snakemake_command(*args),
        cwd=workdir,
        env=run_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A shell without job control starts background commands with SIGINT ignored, and the
        # ignoring is inherited: give snakemake the default handling the tests send it.
        preexec_fn=_default_sigint,
    )
    proc.log_path = workdir / log_name
    proc.log_file = out
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> str:
    """Wait for a started snakemake and return its output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        proc.log_file.close()
    return proc.log_path.read_text()


def run_snakemake(workdir: Path, *args: str, log_name: str, timeout: float = 300) -> str:
    """Run snakemake to the end in `workdir`; fail with its output if it fails.

    Targets go first in `args`: options such as --set-resources take every value after them.
    """
    proc = start_snakemake(workdir, *args, log_name=log_name)
    output = finish(proc, timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{output}")
    return output


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll `condition()` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ------------------------------------------------------------------ what a run's log says

_JOB_HEADER = re.compile(r"^(local)?rule (\w+):\n((?:    .*\n)+)", re.MULTILINE)
_SUBMITTED = re.compile(
    r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", re.MULTILINE
)


def jobs_run(output: str) -> list[dict]:
    """The jobs a snakemake run started, from its output: rule, jobid, wildcards, local or not."""
    jobs = []
    for match in _JOB_HEADER.finditer(output):
        fields = dict(
            line.strip().split(": ", 1) for line in match.group(3).splitlines() if ": " in line
        )
        jobs.append(
            {
                "rule": match.group(2),
                "local": bool(match.group(1)),
                "jobid": int(fields["jobid"]),
                "wildcards": fields.get("wildcards", ""),
            }
        )
    return jobs


def slurm_submissions(output: str) -> list[dict]:
    """Every sbatch submission a run reports: snakemake job id, SLURM job id, SLURM log file."""
    return [
        {"jobid": int(job), "slurm_jobid": int(slurm), "log": Path(log)}
        for job, slurm, log in _SUBMITTED.findall(output)
    ]


def rules_run(output: str) -> list[str]:
    return sorted(job["rule"] for job in jobs_run(output) if job["rule"] != "all")


# ------------------------------------------------------------------ datasets and files


def assert_same_npz(actual: Path, expected: Path, rtol: float = 1e-10) -> None:
    """Every array of `actual` equals the one in `expected`: floats to `rtol`, others exactly."""
    with np.load(actual) as a, np.load(expected) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in b.files:
            if np.issubdtype(b[key].dtype, np.floating):
                scale = np.max(np.abs(b[key])) if b[key].size else 1.0
                np.testing.assert_allclose(
                    a[key], b[key], rtol=rtol, atol=rtol * scale, err_msg=f"{actual}: {key}"
                )
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{actual}: {key}")


def assert_same_history(actual: Path, expected: Path, rtol: float = 1e-8) -> None:
    """Two training histories agree in every record, except in the wall-clock times."""
    a, b = json.loads(actual.read_text()), json.loads(expected.read_text())
    assert {k: v for k, v in a.items() if k != "records"} == {
        k: v for k, v in b.items() if k != "records"
    }
    assert len(a["records"]) == len(b["records"]) > 0
    for record_a, record_b in zip(a["records"], b["records"], strict=True):
        assert record_a.keys() == record_b.keys()
        for key, value in record_b.items():
            if key == "wall_s":
                continue
            if isinstance(value, float):
                assert record_a[key] == pytest.approx(value, rel=rtol), (actual, key)
            else:
                assert record_a[key] == value, (actual, key)


def file_states(root: Path, pattern: str = "**/*") -> dict[str, tuple[int, bytes]]:
    """mtime (ns) and content of every file under `root` matching `pattern`."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.glob(pattern))
        if p.is_file()
    }


# ------------------------------------------------------------------ SLURM


def write_test_profile(
    directory: Path, set_resources: dict | None = None, settings: dict | None = None
) -> Path:
    """profiles/slurm/profile.yaml, changed only where the one-node test cluster needs it.

    The cluster (.ci/slurm-setup.sh) has no GPUs and no accounting database: training runs
    with gpu=0 in the same "gpu" partition, job states come from squeue. Status checks start
    after 1 s instead of 40 and successful jobs keep their SLURM logs, which the tests read.
    `settings` (profile keys) override all of that.
    """
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    resources = profile.setdefault("set-resources", {})
    resources.setdefault("train", {})["gpu"] = 0
    for rule, values in (set_resources or {}).items():
        resources.setdefault(rule, {}).update(values)
    profile.update(
        {
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 1,
            "seconds-between-status-checks": 1,
            "slurm-keep-successful-logs": True,
        }
        | (settings or {})
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def squeue_jobs(*slurm_jobids: int) -> dict[int, dict]:
    """State and partition of SLURM jobs, finished ones included (until MinJobAge)."""
    out = subprocess.run(
        [
            "squeue",
            "--noheader",
            "--states=all",
            "--format=%i|%T|%P|%j",
            "--jobs",
            ",".join(map(str, slurm_jobids)),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        jobid, state, partition, name = line.strip().split("|")
        jobs[int(jobid)] = {"state": state, "partition": partition, "name": name}
    return jobs


def start_slurm_cluster() -> str | None:
    """Run .ci/slurm-setup.sh; None when the cluster is up, else why it is not."""
    try:
        result = subprocess.run(
            ["bash", str(SLURM_SETUP)], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{SLURM_SETUP.name} did not finish: {error}"
    if result.returncode != 0:
        return f"{SLURM_SETUP.name} failed: {result.stderr.strip() or result.stdout.strip()}"
    return None
