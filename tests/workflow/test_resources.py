"""Training jobs hold a GPU (one at a time under the default profile) only when they use one,
and get only the settings their method reads."""

import json
import re

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


def test_each_method_gets_only_its_own_settings(tmp_path):
    # Tuning the jumps (a method's section, or the pairs they are checked on) must not rerun
    # the other methods: their params, which Snakemake compares, leave those keys out.
    config = tiny_config("plume")
    dry = snakemake(make_workdir(tmp_path, config), "-n", "--printshellcmds", timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    specs = {
        method: json.loads(spec)
        for method, spec in re.findall(r"--method (\w+) --seed \d+ --spec '([^']*)'", dry.stdout)
    }
    assert sorted(specs) == sorted(config["train"]["methods"]) == ["adam", "dmd", "koopman"]
    jump_keys = {"dmd", "koopman", "check_points", "check_samples"}
    assert not jump_keys & set(specs["adam"])
    assert specs["adam"]["optimizer"] == specs["dmd"]["optimizer"] == specs["koopman"]["optimizer"]
    for method, other in (("dmd", "koopman"), ("koopman", "dmd")):
        assert {method, "check_points", "check_samples"} <= set(specs[method])
        assert other not in specs[method]
