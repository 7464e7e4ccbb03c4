"""The training CLI: contract files, FLOP accounting, resumption, seeded init, bad specs."""

import json
import math

import numpy as np
import pytest
import torch

from surrogate.data import load_dataset
from surrogate.flops import mlp_flops, mse_flops
from surrogate.problems import PointwiseProblem, make_problem, refit_flops
from surrogate.spec import resolve_spec
from surrogate.train import cosine_factor, main, run_training

SPEC = {
    "device": "cpu",
    "steps": 40,
    "network": {"kind": "field", "width": 12, "depth": 2},
    "optimizer": {"lr": 0.01, "batch_size": 0},
    "eval_every": 1,
    "checkpoint_every": 10,
    # Fresh windows (every: None) unless a test slides them; the climb limit and restart rule
    # of the defaults apply.
    "dmd": {"window": 4, "every": None, "stride": 1, "horizon": 30, "moments": "rescale"},
}


def test_run_writes_the_contract_and_counts_flops(dataset, tmp_path):
    out = tmp_path / "adam"
    main(
        [
            "--dataset",
            str(dataset),
            "--method",
            "adam",
            "--seed",
            "0",
            "--spec",
            json.dumps(SPEC),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    history = json.loads((out / "history.json").read_text())
    assert (history["method"], history["seed"], history["device"]) == ("adam", 0, "cpu")
    records = history["records"]
    assert [r["step"] for r in records] == list(range(1, 41))
    # 32 training samples, 5 -> 12 -> 12 -> 45 tanh MLP, full batch, Adam.
    sizes = [5, 12, 12, 45]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert history["n_params"] == n_params
    per_step = mlp_flops(sizes, 32, "tanh").total + sum(mse_flops(32 * 45)) + 13 * n_params
    assert [r["flops"] for r in records] == [per_step * k for k in range(1, 41)]
    assert all(r["event"] is None and r["val_loss"] > 0 for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    pred = np.load(out / "predictions.npz")
    data = np.load(dataset)
    test = data["split"] == "test"
    np.testing.assert_array_equal(pred["sample_ids"], data["sample_ids"][test])
    assert pred["pred"].shape == data["fields"][test].shape
    rel = np.linalg.norm(pred["pred"] - data["fields"][test]) / np.linalg.norm(data["fields"][test])
    assert float(pred["test_rel_l2"]) == pytest.approx(rel)
    assert json.loads((out / "diagnostics.json").read_text())["jumps"] == []
    assert set(torch.load(out / "model.pt")) == {
        f"{i}.{k}" for i in (0, 2, 4) for k in ("weight", "bias")
    }
    assert not (out / "checkpoint.pt").exists()


def strip_wall(history):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in history["records"]]


@pytest.mark.parametrize(
    ("dmd", "ema"),
    [
        ({"apply": "at_once"}, 0.0),
        ({"apply": "spread"}, 0.0),
        ({"apply": "spread", "every": 2}, 0.0),
        # With a weight average (train.ema), which the checkpoint must hold too.
        ({"apply": "spread"}, 0.8),
    ],
)
def test_interrupted_dmd_run_resumes_to_the_identical_history(dataset, tmp_path, dmd, ema):
    spec = dict(SPEC, optimizer={"lr": 0.01, "schedule": "cosine"}, ema=ema)
    spec["dmd"] = SPEC["dmd"] | dmd
    full = run_training(dataset, "dmd", 3, spec, tmp_path / "full", progress=False)
    events = [r for r in full["records"] if r["event"]]
    assert any(r["event"] == "jump_accepted" for r in events)
    # Killed after step 25 (checkpoint at 25, between jumps), then started again.
    cut = run_training(dataset, "dmd", 3, spec, tmp_path / "cut", progress=False, stop_at_step=25)
    assert cut is None
    assert (tmp_path / "cut" / "checkpoint.pt").exists()
    resumed = run_training(dataset, "dmd", 3, spec, tmp_path / "cut", progress=False)
    assert strip_wall(resumed) == strip_wall(full)
    diag = json.loads((tmp_path / "cut" / "diagnostics.json").read_text())
    assert len(diag["jumps"]) == len(events)
    layer = diag["jumps"][0]["layers"][0]
    assert {"singular_values", "eigs_real", "eigs_imag"} <= set(layer)
    for a, b in zip(
        torch.load(tmp_path / "full" / "model.pt").values(),
        torch.load(tmp_path / "cut" / "model.pt").values(),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_methods_of_a_seed_share_initial_weights_and_dmd_charges_its_work(dataset, tmp_path):
    spec = dict(SPEC, steps=8)
    adam = run_training(dataset, "adam", 7, spec, tmp_path / "a", progress=False)["records"]
    dmd = run_training(dataset, "dmd", 7, spec, tmp_path / "d", progress=False)["records"]
    # Identical until the first jump attempt (step 4), which is charged on top of the steps.
    assert [r["train_loss"] for r in adam[:4]] == [r["train_loss"] for r in dmd[:4]]
    assert dmd[3]["event"] is not None
    assert dmd[3]["flops"] == adam[3]["flops"] + dmd[3]["event_info"]["flops"]
    other = run_training(dataset, "adam", 8, spec, tmp_path / "b", progress=False)["records"]
    assert other[0]["train_loss"] != adam[0]["train_loss"]


# A small pointwise network on batches of 64 points, jumps checked on 200 pairs.
POINTWISE = dict(
    SPEC,
    network={"kind": "pointwise", "width": 16, "depth": 2},
    optimizer={"lr": 0.01, "batch_size": 64},
    check_points=200,
)


def test_pointwise_network_trains_on_point_batches(dataset, tmp_path):
    spec = dict(POINTWISE, steps=30)
    history = run_training(dataset, "dmd", 0, spec, tmp_path / "p", progress=False)
    records = history["records"]
    sizes = [7, 16, 16, 1]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    per_step = mlp_flops(sizes, 64, "tanh").total + sum(mse_flops(64)) + 13 * n_params
    assert records[0]["flops"] == per_step
    jump = next(r for r in records if r["event"])
    check = mlp_flops(sizes, 200, "tanh").forward + mse_flops(200)[0]
    # One check before the jump and one per horizon tried, plus the linear algebra.
    assert jump["event_info"]["flops"] > (1 + len(jump["event_info"]["tried"])) * check
    pred = np.load(tmp_path / "p" / "predictions.npz")["pred"]
    assert pred.shape == (4, 45)


def test_output_refit_landing_is_charged_per_candidate(dataset, tmp_path, monkeypatch):
    spec = dict(POINTWISE, steps=12, dmd=dict(SPEC["dmd"], landing="refit_output"))
    landed = run_training(dataset, "dmd", 0, spec, tmp_path / "r", progress=False)["records"]
    # The same run with the refit's work done but not charged.
    refit = PointwiseProblem.refit
    monkeypatch.setattr(PointwiseProblem, "refit", lambda self, model: refit(self, model) * 0)
    free = run_training(dataset, "dmd", 0, spec, tmp_path / "f", progress=False)["records"]
    one = sum(refit_flops([7, 16, 16, 1], 200, "tanh", 1))
    charged = 0
    for a, b in zip(landed, free, strict=True):
        assert (a["train_loss"], a["event"]) == (b["train_loss"], b["event"])
        if a["event"]:
            charged += len(a["event_info"]["tried"]) * one
            assert a["event_info"]["flops"] == b["event_info"]["flops"] + (
                len(a["event_info"]["tried"]) * one
            )
        assert a["flops"] == b["flops"] + charged
    assert charged > 0


@pytest.mark.parametrize("check_samples", [0, 10, 1000])
def test_field_jump_check_uses_a_fixed_subset_of_training_samples(dataset, check_samples):
    spec = resolve_spec(dict(SPEC, check_samples=check_samples))
    problem = make_problem(load_dataset(dataset), spec, torch.device("cpu"), seed=3)
    torch.manual_seed(0)
    model = problem.network(spec)
    # 32 training samples: 0 or more than that means all of them.
    n = 32 if check_samples in (0, 1000) else check_samples
    x, y = problem.x["train"], problem.y["train"]
    rows = [i for i in range(32) if (x[i] == problem.x_check).all(dim=1).any()]
    assert len(rows) == n == problem.n_check
    with torch.no_grad():
        expected = torch.mean((model(x[rows]) - y[rows]) ** 2)
    torch.testing.assert_close(problem.check_loss(model), expected)
    if n == 32:
        torch.testing.assert_close(problem.check_loss(model), problem.loss(model, "train"))
    assert problem.eval_flops(model) == (
        mlp_flops([5, 12, 12, 45], n, "tanh").forward + mse_flops(n * 45)[0]
    )
    # The subset is drawn from the seed: the same seed picks the same samples.
    again = make_problem(load_dataset(dataset), spec, torch.device("cpu"), seed=3)
    torch.testing.assert_close(again.x_check, problem.x_check)


def test_a_run_longer_than_reference_steps_has_longer_windows(dataset, tmp_path):
    """40 steps against a reference of 20: stride 2 instead of 1 and horizons twice as long,
    so the window of 4 snapshots is full at step 8 instead of 4."""
    jumps = {}
    for reference in (6500, 20):
        # No climb limit: the first attempts may reach the longest horizons.
        spec = dict(SPEC, dmd=dict(SPEC["dmd"], reference_steps=reference, max_climb=None))
        run_training(dataset, "dmd", 0, spec, tmp_path / str(reference), progress=False)
        diagnostics = json.loads((tmp_path / str(reference) / "diagnostics.json").read_text())
        jumps[reference] = [(j["step"], j["horizon"]) for j in diagnostics["jumps"]]
    assert jumps[6500][0][0] == 4 and jumps[20][0][0] == 8

    # Horizons tried: 30 steps halved 5 times as set, 60 halved scaled; each a whole number
    # of snapshot intervals.
    def horizons(longest, stride):
        return {max(1, round(longest * 0.5**k / stride)) * stride for k in range(6)}

    accepted = {r: [h for _, h in jumps[r] if h is not None] for r in jumps}
    assert set(accepted[6500]) <= horizons(30, 1)
    assert set(accepted[20]) <= horizons(60, 2)
    assert any(h > 30 for h in accepted[20])


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"stepz": 3}, "unknown key\\(s\\) \\['stepz'\\] in train"),
        ({"network": {"widht": 3}}, "in train.network"),
        ({"optimizer": {"lr": -1.0}}, "lr must be > 0, got -1.0"),
        ({"steps": 0}, "steps must be an integer >= 1, got 0"),
        ({"network": {"kind": "graph"}}, "'graph'"),
        ({"dmd": {"window": 1}}, "window must be an integer >= 3, got 1"),
        ({"device": "tpu"}, "'tpu'"),
        ({"check_samples": -1}, "check_samples must be an integer >= 0, got -1"),
        ({"dmd": {"landing": "relax"}}, "train.dmd: landing must be one of .*, got 'relax'"),
        ({"dmd": {"apply": "later"}}, "train.dmd: apply must be one of .*, got 'later'"),
    ],
)
def test_bad_specs_raise_value_error(dataset, tmp_path, spec, match):
    with pytest.raises(ValueError, match=match):
        run_training(dataset, "dmd", 0, dict(spec), tmp_path, progress=False)


def test_unknown_method_raises(dataset, tmp_path):
    with pytest.raises(ValueError, match="unknown training method 'lbfgs'"):
        run_training(dataset, "lbfgs", 0, {"device": "cpu"}, tmp_path, progress=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda(dataset, tmp_path):
    history = run_training(dataset, "dmd", 0, dict(SPEC, device="cuda"), tmp_path, progress=False)
    assert history["device"].startswith("cuda")
    assert any(r["event"] == "jump_accepted" for r in history["records"])


def test_cosine_factor_holds_then_decays_as_half_a_cosine():
    # hold 0: the cosine over the whole run.
    for k in range(0, 101, 5):
        assert cosine_factor(k, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * k / 100)))
    # hold 0.6 of 100 steps: 1 up to step 60, then the cosine over the last 40.
    assert [cosine_factor(k, 100, 0.6) for k in (0, 30, 60)] == [1.0, 1.0, 1.0]
    assert cosine_factor(70, 100, 0.6) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_factor(80, 100, 0.6) == pytest.approx(0.5)
    assert cosine_factor(100, 100, 0.6) == pytest.approx(0.0, abs=1e-15)
    assert cosine_factor(150, 100, 0.6) == pytest.approx(0.0, abs=1e-15)


def test_held_cosine_run_matches_the_constant_run_until_its_decay(dataset, tmp_path):
    base = dict(SPEC, steps=8)

    def losses(name, optimizer):
        spec = dict(base, optimizer=SPEC["optimizer"] | optimizer)
        run = run_training(dataset, "adam", 0, spec, tmp_path / name, progress=False)
        return [r["train_loss"] for r in run["records"]]

    constant = losses("constant", {"schedule": "constant"})
    # Update j uses the factor of k = j - 1; all of k = 0..7 are <= 0.9 x 8: the whole run
    # is held (the record of step i holds the loss before update i).
    assert losses("held", {"schedule": "cosine", "hold": 0.9}) == constant
    # hold 0.5: updates 1-5 (k <= 4) at the full rate, the 6th slower: records 1-6 agree.
    half = losses("half", {"schedule": "cosine", "hold": 0.5})
    assert half[:6] == constant[:6] and half[6] != constant[6]
