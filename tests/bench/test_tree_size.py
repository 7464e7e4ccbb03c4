"""The tracked tree stays small enough to travel to a GPU machine with the default dataset."""

import shutil
import subprocess

import pytest

from tests.bench.test_training_bench import ROOT

# bench/gpu.sh runs on a machine that receives the working tree (at most 64 MiB) with
# results/plume/dataset.npz carried beside it: 1000 fields of 2145 float64 values, 17.4 MB
# as the default config makes it (a constant: a checkout's own dataset may be another one).
TRAVEL_LIMIT = 64 * 2**20
DEFAULT_DATASET = 17_362_736


def test_tracked_files_leave_room_for_the_default_dataset():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    paths = [ROOT / n.decode() for n in names if n]
    total = sum(p.stat().st_size for p in paths if p.is_file())
    # A 5 % margin for the untracked files that travel too (a venv does not: it is ignored).
    assert total + DEFAULT_DATASET < 0.95 * TRAVEL_LIMIT, (
        f"tracked files {total / 1e6:.1f} MB + dataset {DEFAULT_DATASET / 1e6:.1f} MB exceed "
        f"95 % of the {TRAVEL_LIMIT / 2**20:.0f} MiB a GPU machine receives; "
        "keep benchmark curves thin (bench/training.py: write_result)"
    )
