"""Where the benchmarks keep their training runs, so that an interrupted benchmark loses at most
the steps since each unfinished run's last checkpoint.

The runs of bench/training.py, frontier.py, ablation.py and koopman_method.py (through
``training._run``) are kept; averaging.py, networks.py, jump_worth.py and predictability.py
train in their own loops and keep nothing.

A run is kept in ``bench/.runs/<key>/`` (ignored by git), the key a digest of what decides
its records: the method, the seed, the resolved train spec, the dataset (path, size and
modification time), the source of the ``surrogate`` package and of bench/training.py, the
torch and numpy versions and the machine's host name. While it trains, the directory holds
`surrogate.train`'s checkpoint (every ``train.checkpoint_every`` steps), from which the run
resumes with the same records when the benchmark is started again, except the wall-clock
seconds, which then add up the time of both sessions (on a loaded machine, of whatever ran
beside them); once it has finished, it holds ``done.json.gz`` (its records and test error),
which a later benchmark reads instead of training, timings included. A run is trained by one
process at a time (a lock file), so two benchmarks started side by side share it.
``DMD_BENCH_RUNS=<dir>`` keeps the runs elsewhere, ``DMD_BENCH_RUNS=`` (empty) keeps none
(every run in a temporary directory, as the tests and bench/gpu.sh do: timings taken fresh);
delete the directory to free its space.
"""

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

import numpy
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = "DMD_BENCH_RUNS"
DONE = "done.json.gz"
LOCK = ".lock"


def runs_dir() -> Path | None:
    """The directory runs are kept in (``$DMD_BENCH_RUNS``, default ``bench/.runs``), or None
    when the variable is set but empty."""
    value = os.environ.get(ENV)
    if value is None:
        return ROOT / "bench" / ".runs"
    return Path(value) if value else None


def source_digest() -> str:
    """A digest of the ``surrogate`` package's Python source and of bench/training.py, which
    runs it (paths and contents)."""
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "surrogate").rglob("*.py")), ROOT / "bench" / "training.py"]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def run_key(method: str, seed: int, spec: dict, dataset: str | Path) -> str:
    """The name of a run's directory: a digest of what decides its records."""
    path = Path(dataset).resolve()
    stat = path.stat()
    identity = {
        "method": method,
        "seed": seed,
        "spec": spec,
        "dataset": [str(path), stat.st_size, stat.st_mtime_ns],
        "source": source_digest(),
        "versions": [torch.__version__, numpy.__version__],
        "host": platform.node(),
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@contextlib.contextmanager
def locked(run: Path):
    """Hold the run's lock (made with its directory) while the block trains or reads it."""
    run.mkdir(parents=True, exist_ok=True)
    with open(run / LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_done(run: Path) -> dict | None:
    """A finished run's ``{"records", "test_rel_l2"}``, or None if it has not finished (or
    its file cannot be read, e.g. cut short by a full disk: the run is trained again)."""
    done = run / DONE
    if not done.exists():
        return None
    try:
        with gzip.open(done, "rt") as f:
            return json.load(f)
    except (OSError, EOFError, json.JSONDecodeError):
        return None


def save_done(run: Path, result: dict) -> None:
    """Write a finished run's result (atomically) and remove the run's other files."""
    tmp = run / (DONE + ".tmp")
    with gzip.open(tmp, "wt") as f:
        json.dump(result, f, separators=(",", ":"))
    tmp.replace(run / DONE)
    for entry in run.iterdir():
        if entry.name not in (DONE, LOCK):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
