"""The weight average (surrogate.averaging) and train.ema: the exponential average against
its closed form and a float64 recurrence, its FLOP charge and early stops (resumption with an
average: tests/surrogate/test_train.py)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from surrogate.averaging import FLOPS_PER_PARAMETER, WeightAverage
from surrogate.data import load_dataset
from surrogate.spec import resolve_spec
from surrogate.train import run_training, set_up
from tests.surrogate.test_train import SPEC, strip_wall


def test_average_of_a_weight_sequence_is_its_closed_form():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.zero_(), model.bias.zero_()
    average = WeightAverage(model, decay=0.75)
    # Weights w_j = j for j = 1..4 after each update; the average starts at w_0 = 0:
    # a_4 = sum_j (1 - d) d^(4 - j) j.
    for j in range(1, 5):
        with torch.no_grad():
            model.weight.fill_(j), model.bias.fill_(-j)
        assert average.update(model) == FLOPS_PER_PARAMETER * 8
    expected = sum(0.25 * 0.75 ** (4 - j) * j for j in range(1, 5))
    torch.testing.assert_close(average.model.weight, torch.full((2, 3), expected))
    torch.testing.assert_close(average.model.bias, torch.full((2,), -expected))
    # The trained model is untouched, and the average carries no gradient.
    assert float(model.weight.detach()[0, 0]) == 4.0
    assert not any(p.requires_grad for p in average.model.parameters())


def test_average_state_round_trip_and_bad_values():
    model = nn.Linear(2, 2)
    average = WeightAverage(model, 0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    copy = WeightAverage(nn.Linear(2, 2), 0.9)
    copy.load_state_dict(average.state_dict())
    for a, b in zip(average.model.parameters(), copy.model.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="decay 0.9 into one with decay 0.5"):
        WeightAverage(nn.Linear(2, 2), 0.5).load_state_dict(average.state_dict())
    for bad in (0, 1, 1.5, True, "0.9"):
        with pytest.raises(ValueError, match=r"must be in \(0, 1\), got"):
            WeightAverage(model, bad)
    with pytest.raises(ValueError, match=r"parameter shapes .* are not the average's"):
        average.update(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"shapes \[\(1, 2\), \(1,\)\] are not"):
        average.update(nn.Linear(2, 1))  # as many tensors, other shapes


EMA = 0.8


@pytest.mark.parametrize("method", ["adam", "dmd"])
def test_ema_run_records_and_delivers_the_average(dataset, tmp_path, method):
    spec = dict(SPEC, steps=20)
    plain = run_training(dataset, method, 1, spec, tmp_path / "plain", progress=False)
    ema = run_training(dataset, method, 1, spec | {"ema": EMA}, tmp_path / "ema", progress=False)
    assert ema["ema"] == EMA and plain["ema"] == 0.0
    # Never fed back: the trained weights, their batch losses and the events are the plain
    # run's; each step is charged 3 FLOPs per parameter more.
    extra = FLOPS_PER_PARAMETER * plain["n_params"]
    for p, e in zip(plain["records"], ema["records"], strict=True):
        assert (e["train_loss"], e["event"]) == (p["train_loss"], p["event"])
        assert e["flops"] == p["flops"] + extra * p["step"]
    if method == "dmd":
        assert any(r["event"] == "jump_accepted" for r in plain["records"])

    # Reference: the same run stepped by hand, its average kept in float64 by the recurrence
    # a <- d a + (1 - d) w from the initial weights.
    run = set_up(load_dataset(dataset), method, 1, resolve_spec(spec), torch.device("cpu"))
    average = [p.detach().double().clone() for p in run.model.parameters()]
    shadow = run.problem.network(resolve_spec(spec))
    expected = []
    for _ in range(spec["steps"]):
        run.step()
        for a, w in zip(average, run.model.parameters(), strict=True):
            a.mul_(EMA).add_((1 - EMA) * w.detach().double())
        with torch.no_grad():
            for target, a in zip(shadow.parameters(), average, strict=True):
                target.copy_(a)
        expected.append(float(run.problem.loss(shadow, "val")))
    got = [r["val_loss"] for r in ema["records"]]
    assert got == pytest.approx(expected, rel=1e-5)
    assert got != pytest.approx([r["val_loss"] for r in plain["records"]], rel=1e-3)
    saved = torch.load(tmp_path / "ema" / "model.pt")
    for value, a in zip(saved.values(), average, strict=True):
        torch.testing.assert_close(value.double(), a, rtol=1e-5, atol=1e-6)
    # The predictions (test error) are the average's too.
    shadow.eval()
    pred = run.problem.predict(shadow, "test")
    truth = run.problem.data.fields[run.problem.data.indices("test")]
    rel = float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))
    assert ema["test_rel_l2"] == pytest.approx(rel, rel=1e-5)
    assert ema["test_rel_l2"] != pytest.approx(plain["test_rel_l2"], rel=1e-4)


def test_early_stops_use_the_average(dataset, tmp_path):
    """stop_val_loss is checked (every checkpoint_every = 10 steps here) on the recorded
    validation loss, the average's with train.ema; flop_budget counts the average's FLOPs."""
    spec = dict(SPEC, ema=EMA)
    history = run_training(dataset, "adam", 2, spec, tmp_path / "full", progress=False)
    full = history["records"]
    vals = [r["val_loss"] for r in full]
    # The first check (step 10, 20, ...) at or below a target between the checks' losses.
    target = (vals[19] + vals[9]) / 2
    assert vals[19] < target < vals[9]
    first = next(s for s in (10, 20, 30, 40) if vals[s - 1] <= target)
    stopped = run_training(
        dataset, "adam", 2, spec | {"stop_val_loss": target}, tmp_path / "stop", progress=False
    )
    assert len(stopped["records"]) == first
    assert strip_wall(stopped) == [
        {k: v for k, v in r.items() if k != "wall_s"} for r in full[:first]
    ]
    # A budget between 8 steps without the average's updates and 8 with them: the run ends
    # after step 8 only if the updates are charged (uncharged, it would go on to step 9).
    extra = FLOPS_PER_PARAMETER * history["n_params"]
    budget = full[7]["flops"] - 4 * extra
    spent = run_training(
        dataset, "adam", 2, spec | {"flop_budget": budget}, tmp_path / "budget", progress=False
    )
    assert [r["step"] for r in spent["records"]] == list(range(1, 9))
    assert json.loads((tmp_path / "budget" / "history.json").read_text())["ema"] == EMA
