"""bench/run_store.py: a benchmark's finished runs are read back and its interrupted ones
resume, giving the records of a run trained in one go."""

import gzip
import json

import pytest
import torch

from surrogate.train import run_training
from tests.bench.test_training_bench import load_bench
from tests.surrogate.conftest import write_dataset

SPEC = {
    "network": {"kind": "field", "width": 8, "depth": 1},
    "optimizer": {"batch_size": 0, "lr": 0.01},
    "steps": 40,
    "eval_every": 5,
    "checkpoint_every": 10,
    "threads": 1,
    "device": "cpu",
    "dmd": {"stride": 1, "window": 5, "horizon": 20, "max_backtracks": 1, "every": None},
}


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.setenv("DMD_BENCH_RUNS", str(tmp_path / "runs"))
    return load_bench()


@pytest.fixture
def dataset(tmp_path):
    return str(write_dataset(tmp_path / "dataset.npz"))


def in_one_go(bench, dataset, monkeypatch):
    monkeypatch.setenv("DMD_BENCH_RUNS", "")
    assert bench.run_store.runs_dir() is None
    done = bench._run(("dmd", "dmd", 1, SPEC, dataset))
    monkeypatch.undo()
    return done


def test_a_finished_run_is_read_back_not_trained(bench, dataset, tmp_path, monkeypatch):
    job = ("dmd", "dmd", 1, SPEC, dataset)
    first = bench._run(job)
    run = tmp_path / "runs" / bench.run_store.run_key("dmd", 1, SPEC, dataset)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "done.json.gz"]
    with gzip.open(run / "done.json.gz", "rt") as f:
        assert json.load(f)["records"] == first[2]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(bench, "run_training", no_training)
    again = bench._run(job)
    assert again == first
    assert len(first[2]) == 40 and any(r["event"] for r in first[2])


def test_an_interrupted_run_resumes_to_the_same_records(bench, dataset, tmp_path, monkeypatch):
    # A run pre-empted after step 25 leaves its checkpoint in the run's directory.
    run = tmp_path / "runs" / bench.run_store.run_key("dmd", 1, SPEC, dataset)
    assert run_training(dataset, "dmd", 1, SPEC, run, progress=False, stop_at_step=25) is None
    saved = torch.load(run / "checkpoint.pt", weights_only=False)["records"]
    assert len(saved) == 25
    resumed = bench._run(("dmd", "dmd", 1, SPEC, dataset))
    # Resumed, not trained again: the first 25 steps are the checkpoint's, timings included.
    assert [r["wall_s"] for r in resumed[2][:25]] == [r["wall_s"] for r in saved]
    whole = in_one_go(bench, dataset, monkeypatch)
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in resumed[2]]
    assert strip == [{k: v for k, v in r.items() if k != "wall_s"} for r in whole[2]]
    assert resumed[3] == whole[3]


def test_what_decides_the_records_decides_the_key(bench, dataset, tmp_path):
    key = bench.run_store.run_key
    first = key("dmd", 1, SPEC, dataset)
    assert key("dmd", 1, json.loads(json.dumps(SPEC)), dataset) == first
    assert key("adam", 1, SPEC, dataset) != first
    assert key("dmd", 2, SPEC, dataset) != first
    assert key("dmd", 1, SPEC | {"steps": 41}, dataset) != first
    other = write_dataset(tmp_path / "other.npz")
    assert key("dmd", 1, SPEC, other) != first


def test_an_unreadable_result_is_trained_again(bench, dataset, tmp_path):
    job = ("dmd", "dmd", 1, SPEC, dataset)
    first = bench._run(job)
    run = tmp_path / "runs" / bench.run_store.run_key("dmd", 1, SPEC, dataset)
    (run / "done.json.gz").write_bytes(b"\x1f\x8b cut short")
    assert bench.run_store.load_done(run) is None
    again = bench._run(job)
    assert [r["val_loss"] for r in again[2]] == [r["val_loss"] for r in first[2]]
    assert sorted(p.name for p in run.iterdir()) == [".lock", "done.json.gz"]
