"""Training jobs hold a GPU (one at a time under the default profile) only when they use one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow.tiny import tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("device", "gpus"), [("cuda", 1), ("cpu", 0)])
def test_train_jobs_hold_a_gpu_only_on_cuda(tmp_path, device, gpus):
    for name in ("Snakefile", "workflow", "config", "profiles", "environment.yml"):
        (tmp_path / name).symlink_to(REPO / name)
    config = tiny_config("plume")
    config["train"]["device"] = device
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "tiny.yaml", "--nocolor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    train_jobs = [block for block in dry.stdout.split("\n\n") if "rule train:" in block]
    assert len(train_jobs) == len(config["train"]["methods"])
    for block in train_jobs:
        assert f"gpu={gpus}" in block, block
