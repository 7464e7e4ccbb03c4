"""Training jobs hold a GPU (one at a time under the default profile) only when they use one."""

import pytest

from tests.workflow.tiny import make_workdir, snakemake, tiny_config


@pytest.mark.parametrize(("device", "gpus"), [("cuda", 1), ("cpu", 0)])
def test_train_jobs_hold_a_gpu_only_on_cuda(tmp_path, device, gpus):
    config = tiny_config("plume")
    config["train"]["device"] = device
    dry = snakemake(make_workdir(tmp_path, config), "-n", timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    train_jobs = [block for block in dry.stdout.split("\n\n") if "rule train:" in block]
    assert len(train_jobs) == len(config["train"]["methods"])
    for block in train_jobs:
        assert f"gpu={gpus}" in block, block
