"""The whole workflow (solve, train, report, Koopman analyses) on a tiny config, per scenario.

Runs the repository's Snakefile in a temporary directory (links to Snakefile, workflow/,
config/, profiles/ and environment.yml) and checks what each stage promises the next
(docs/contracts.md), with numbers recomputed from the files themselves.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.workflow.tiny import make_workdir, snakemake, tiny_config

pytestmark = pytest.mark.slow


def pixel_std(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("L"), dtype=float).std())


@pytest.fixture(scope="module", params=["plume", "puff", "obstacle"])
def finished_run(request, tmp_path_factory):
    workdir = make_workdir(
        tmp_path_factory.mktemp(f"e2e_{request.param}"), tiny_config(request.param)
    )
    run = snakemake(workdir)
    assert run.returncode == 0, run.stderr[-6000:]
    return request.param, workdir, workdir / "results" / request.param


def test_dataset_follows_the_contract(finished_run):
    scenario, _, results = finished_run
    data = np.load(results / "dataset.npz")
    config = tiny_config(scenario)
    n_samples = config["sampling"]["n_samples"]
    assert data["params"].shape == (n_samples, len(data["param_names"]))
    assert data["fields"].shape[0] == n_samples
    assert data["fields"].shape[-1] == data["coords"].shape[0]
    assert data["cells"].max() == data["coords"].shape[0] - 1
    assert sorted(set(data["split"])) == ["test", "train", "val"]
    assert (scenario == "puff") == ("times" in data.files)
    if scenario == "puff":
        assert data["fields"].shape[1] == data["times"].shape[0] == config["options"]["n_outputs"]
    assert np.all(np.isfinite(data["fields"])) and data["fields"].max() > 0


def test_histories_count_every_step_and_match_the_predictions(finished_run):
    scenario, _, results = finished_run
    data = np.load(results / "dataset.npz")
    steps = tiny_config(scenario)["train"]["steps"]
    for method in ("adam", "dmd", "koopman"):
        run = results / "train" / method / "seed_0"
        history = json.loads((run / "history.json").read_text())
        records = history["records"]
        assert [r["step"] for r in records] == list(range(1, steps + 1))
        flops = np.array([r["flops"] for r in records], dtype=float)
        assert np.all(np.diff(flops) > 0)
        assert all(np.isfinite(r["train_loss"]) for r in records)
        # The test error stored with the predictions is recomputed from the dataset itself.
        pred = np.load(run / "predictions.npz")
        ids = pred["sample_ids"]
        assert set(data["split"][ids]) == {"test"}
        truth = data["fields"][ids]
        rel = np.linalg.norm(pred["pred"] - truth) / np.linalg.norm(truth)
        assert float(pred["test_rel_l2"]) == pytest.approx(rel, rel=1e-6)
    adam = json.loads((results / "train/adam/seed_0/history.json").read_text())["records"]
    assert all(r["event"] is None for r in adam)
    # Adam's FLOPs per step are constant: the same network and batch every step.
    per_step = np.diff([r["flops"] for r in adam])
    assert np.all(per_step == per_step[0])


def test_savings_use_the_histories(finished_run):
    _, _, results = finished_run
    savings = json.loads((results / "report/savings.json").read_text())
    records = [
        r
        for r in savings["records"]
        if r["loss"] == "val_loss" and r["target_kind"] == "baseline_final"
    ]
    adam = json.loads((results / "train/adam/seed_0/history.json").read_text())["records"]
    target = adam[-1]["val_loss"]
    for record in records:
        assert record["target_loss"] == pytest.approx(target)
        history = json.loads(
            (results / f"train/{record['method']}/seed_0/history.json").read_text()
        )["records"]
        first = next((r for r in history if r["val_loss"] <= target), None)
        if first is None:
            assert record["reached"] is False and record["flops_to_target"] is None
        else:
            assert record["flops_to_target"] == first["flops"]
    assert {r["method"] for r in records} == {"adam", "dmd", "koopman"}
    assert "FLOPs" in (results / "report/savings.md").read_text()


def test_every_figure_is_a_real_picture(finished_run):
    _, _, results = finished_run
    pngs = sorted((results / "report").rglob("*.png")) + sorted((results / "koopman").glob("*.png"))
    assert len(list((results / "report/fields").glob("*.png"))) == 2
    assert len(pngs) >= 10
    for png in pngs:
        width, height = Image.open(png).size
        assert width >= 200 and height >= 150, png
        assert pixel_std(png) > 5.0, png


def test_koopman_summary_names_every_analysis(finished_run):
    _, _, results = finished_run
    summary = json.loads((results / "koopman/summary.json").read_text())
    text = json.dumps(summary)
    for analysis in ("node", "stopping", "badinit", "depth", "pruning", "sobolev"):
        assert analysis in text


def test_rerun_has_nothing_to_do_and_report_builds(finished_run):
    _, workdir, _ = finished_run
    dry = snakemake(workdir, "-n")
    assert dry.returncode == 0
    assert "Nothing to be done" in dry.stdout + dry.stderr
    report = snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert len(html) > 10_000
