"""The POD-DMD accelerator: speed-up on a linear least-squares problem, safeguards, state."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from surrogate.accelerator import DMDAccelerator, Event, LayerDMD, horizon_factors
from surrogate.flops import mlp_flops, mse_flops, optimizer_flops


def least_squares(n=200, d=10, seed=0):
    """A consistent linear regression y = X w + c with condition number ~30."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    scales = torch.logspace(0, -1.5, d, dtype=torch.float64)
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) @ q) * scales @ q.T
    return x, x @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.3


def flops_to_target(accelerate: bool, target: float, steps: int = 3000, **settings) -> float:
    """Counted FLOPs (steps, checks, linear algebra) until the training loss <= target."""
    x, y = least_squares()
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], 1).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fwd = mlp_flops([x.shape[1], 1], x.shape[0], "tanh")
    loss_fwd, loss_bwd = mse_flops(x.shape[0])
    step_flops = fwd.total + loss_fwd + loss_bwd + optimizer_flops(optimizer)
    accel = None
    if accelerate:
        accel = DMDAccelerator(model, optimizer, eval_flops=fwd.forward + loss_fwd, **settings)
    flops = 0

    def loss_fn():
        return torch.mean((model(x) - y) ** 2)

    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn()
        if loss.item() <= target:
            return flops
        loss.backward()
        optimizer.step()
        flops += step_flops
        if accel is not None:
            accel.step(loss_fn)
    return math.inf if accel is None else flops + accel.flops


def test_accelerator_beats_adam_on_linear_least_squares():
    target = 1e-5
    adam = flops_to_target(False, target)
    dmd = flops_to_target(True, target, window=10, moments="rescale")
    assert math.isfinite(dmd)
    assert dmd < 0.5 * adam


def make_model_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def train(model, optimizer, accel, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 3, generator=g), torch.randn(64, 2, generator=g)

    def loss_fn():
        return torch.mean((model(x) - y) ** 2)

    events = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        event = accel.step(loss_fn)
        events.append(None if event is None else (event.kind, event.info["loss_after"]))
    return events


@pytest.mark.parametrize(
    ("snapshots", "stride", "apply", "every", "push_left"),
    [
        ("sample", 1, "at_once", None, 0),
        ("mean", 2, "at_once", None, 0),
        # Saved in the middle of a spread jump (accepted at step 15, spread over 16..20).
        ("sample", 1, "spread", None, 3),
        # Sliding every 3 snapshots: attempts at 5, 8, 11, 14, 17; the last accepted.
        ("sample", 1, "spread", 3, 3),
    ],
)
def test_state_dict_round_trip_continues_identically(snapshots, stride, apply, every, push_left):
    settings = {"window": 5, "horizon": 20, "moments": "rescale"}
    settings |= {"snapshots": snapshots, "stride": stride, "apply": apply, "every": every}
    model, optimizer = make_model_and_optimizer()
    accel = DMDAccelerator(model, optimizer, **settings)
    train(model, optimizer, accel, 17)
    assert accel._push_left == push_left
    twin_model, twin_optimizer = make_model_and_optimizer(seed=5)
    # Deep copies, as a checkpoint file would hold: state_dict() returns live tensors.
    twin_model.load_state_dict(copy.deepcopy(model.state_dict()))
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    twin = DMDAccelerator(twin_model, twin_optimizer, **settings)
    twin.load_state_dict(accel.state_dict())
    assert twin.flops == accel.flops and twin.diagnostics == accel.diagnostics
    events = train(model, optimizer, accel, 17 * stride, seed=2)
    twin_events = train(twin_model, twin_optimizer, twin, 17 * stride, seed=2)
    assert events == twin_events
    assert any(e is not None for e in events)
    for a, b in zip(model.parameters(), twin_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert accel.flops == twin.flops


def snapshots_then_jump(loss_after, search="backtrack", landing=None, **settings):
    """Fill a window, then attempt a jump with a loss that reports ``loss_after`` after it.

    ``landing(model)``, if given, makes the accelerator's landing callable.
    """
    model, optimizer = make_model_and_optimizer()
    settings = {"window": 4, "horizon": 10, "max_backtracks": 2, "search": search} | settings
    if landing is not None:
        settings["landing"] = landing(model)
    accel = DMDAccelerator(model, optimizer, **settings)
    # The window fills at step stride x window (snapshots from step 1, or means of steps 1..).
    train(model, optimizer, accel, settings.get("stride", 1) * settings["window"] - 1)
    optimizer.zero_grad()
    torch.sum(model(torch.ones(1, 3)) ** 2).backward()
    optimizer.step()
    before = [p.detach().clone() for p in model.parameters()]
    calls = []

    def loss_fn():
        calls.append(1)
        return torch.tensor(1.0 if len(calls) == 1 else loss_after)

    event = accel.step(loss_fn)
    now = [p.detach().clone() for p in model.parameters()]
    event.info["accelerator_flops"] = accel.flops
    return event, before, now, calls


def bias_landing(value, flops=100, log=None):
    """A landing that sets the output bias to ``value`` and reports ``flops``."""

    def make(model):
        def land():
            if log is not None:
                log.append([p.detach().clone() for p in model.parameters()])
            with torch.no_grad():
                model[-1].bias.fill_(value)
            return flops

        return land

    return make


@pytest.mark.parametrize("search", ["backtrack", "longest", "warm"])
def test_landing_adjusts_every_candidate_before_its_check_and_is_charged(search):
    plain, _, plain_now, _ = snapshots_then_jump(0.5, search)
    seen = []
    event, before, now, calls = snapshots_then_jump(0.5, search, bias_landing(0.25, log=seen))
    assert event.kind == "jump_accepted" and event.info["horizon"] == plain.info["horizon"]
    # One landing per candidate checked, each given the extrapolated weights.
    assert len(seen) == len(calls) - 1 == len(event.info["tried"])
    for a, b in zip(seen[-1][:-1], plain_now[:-1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(now[-1], torch.full_like(now[-1], 0.25))
    for a, b in zip(now[:-1], plain_now[:-1], strict=True):
        assert torch.equal(a, b)
    extra = event.info["accelerator_flops"] - plain.info["accelerator_flops"]
    assert extra == event.info["flops"] - plain.info["flops"] == 100 * len(seen)


@pytest.mark.parametrize(("loss_after", "value"), [(1.5, 0.25), (0.5, math.nan)])
def test_rejected_or_non_finite_landing_leaves_every_weight_unchanged(loss_after, value):
    event, before, now, calls = snapshots_then_jump(loss_after, landing=bias_landing(value))
    assert event.kind == "jump_rejected"
    # Non-finite landed weights are never evaluated.
    assert len(calls) == (1 + 3 if math.isfinite(value) else 1)
    for a, b in zip(before, now, strict=True):
        assert torch.equal(a, b)


def test_landing_must_report_its_flops():
    with pytest.raises(ValueError, match="landing FLOPs must be an integer >= 0, got -1"):
        snapshots_then_jump(0.5, landing=bias_landing(0.0, flops=-1))


@pytest.mark.parametrize("loss_after", [1.5, math.nan, math.inf])
def test_jump_that_raises_loss_or_is_not_finite_is_rejected_and_weights_unchanged(loss_after):
    event, before, now, calls = snapshots_then_jump(loss_after)
    assert isinstance(event, Event) and event.kind == "jump_rejected"
    # One evaluation before, one per horizon tried (10, 5, 2.5 -> 3 steps).
    assert len(calls) == 1 + 3
    assert event.info["tried"] == [10.0, 5.0, 2.0]
    for a, b in zip(before, now, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("search", "checks"), [("best", 3), ("scan", 1), ("longest", 1), ("warm", 1)]
)
def test_line_search_that_finds_no_lower_loss_leaves_weights_unchanged(search, checks):
    event, before, now, calls = snapshots_then_jump(1.5, search)
    assert event.kind == "jump_rejected" and event.info["horizon"] is None
    # best evaluates every horizon; scan, longest and warm (with no accepted horizon yet:
    # shortest first) stop at the first rise.
    assert len(calls) == 1 + checks
    assert event.info["tried"] == ([10.0, 5.0, 2.0] if search == "best" else [2.0])
    for a, b in zip(before, now, strict=True):
        assert torch.equal(a, b)


def drift_then_jump(search, horizon=1600.0, max_backtracks=7, ahead=100):
    """A weight drifting by a constant increment d; the loss is lowest ``ahead`` steps on.

    The increments are exactly linear (DMD eigenvalue 1), so the extrapolation h steps ahead is
    w + h d exactly: the loss is (h - ahead)^2 |d|^2 against ahead^2 |d|^2 before the jump.
    """
    model = nn.Linear(2, 1, bias=False).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    accel = DMDAccelerator(
        model, optimizer, window=3, horizon=horizon, max_backtracks=max_backtracks, search=search
    )
    start = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    drift = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
    target = start + (2 + ahead) * drift
    calls = []

    def loss_fn():
        calls.append(1)
        return torch.sum((model.weight - target) ** 2)

    for k in range(3):
        with torch.no_grad():
            model.weight.copy_(start + k * drift)
        event = accel.step(loss_fn)
    return event, model.weight.detach(), target, calls


@pytest.mark.parametrize(("search", "checks"), [("best", 8), ("scan", 5)])
def test_line_search_lands_on_the_loss_minimum_along_the_trajectory(search, checks):
    event, weight, target, calls = drift_then_jump(search)
    assert event.kind == "jump_accepted" and event.info["horizon"] == 100.0
    torch.testing.assert_close(weight, target, rtol=0, atol=1e-12)
    # One check before the jump, then 1600 ... 12 (best) or 12, 25, 50, 100, 200 (scan).
    assert len(calls) == 1 + checks
    assert event.info["tried"][-1] == (12.0 if search == "best" else 200.0)


@pytest.mark.parametrize(("search", "checks"), [("backtrack", 4), ("longest", 6)])
def test_longest_search_keeps_the_longest_horizon_that_lowers_the_loss(search, checks):
    # Minimum 130 steps ahead: horizons up to 260 lower the loss, so of 1600, 800, ..., 12
    # both keep 200 (not the lowest loss, at 100); backtrack tries 1600, 800, 400, 200 and
    # longest 12, 25, 50, 100, 200, 400.
    event, weight, target, calls = drift_then_jump(search, ahead=130)
    assert event.kind == "jump_accepted" and event.info["horizon"] == 200.0
    assert len(calls) == 1 + checks
    torch.testing.assert_close(weight, target + 70 * torch.tensor([[0.01, -0.02]]).double())


class DriftWindows:
    """Windows of 3 snapshots of a 1x2 linear layer drifting by d a step (SGD at lr 0: only
    the accelerator moves the weights otherwise), each towards a minimum ``ahead`` steps past
    its last snapshot, so that a horizon h keeps the loss from rising iff 0 <= h <= 2 ahead.
    Horizons 1600.0 halved 7 times: 12, 25, 50, ..., 1600 (shortest first)."""

    settings = {"window": 3, "horizon": 1600.0, "max_backtracks": 7}

    def __init__(self):
        self.model = nn.Linear(2, 1, bias=False).double()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.0)
        self.drift = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
        self.target, self.calls = None, []

    def accelerator(self, **settings) -> DMDAccelerator:
        return DMDAccelerator(self.model, self.optimizer, **self.settings, **settings)

    def loss_fn(self):
        self.calls.append(1)
        return torch.sum((self.model.weight - self.target) ** 2)

    def attempt(self, accel, ahead: int) -> tuple[float | None, list, int]:
        """One window from the weights now: (accepted horizon, horizons tried, checks)."""
        start = self.model.weight.detach().clone()
        self.target = start + (2 + ahead) * self.drift
        self.calls.clear()
        for k in range(3):
            with torch.no_grad():
                self.model.weight.copy_(start + k * self.drift)
            event = accel.step(self.loss_fn)
        return event.info["horizon"], event.info["tried"], len(self.calls) - 1


def test_warm_search_starts_from_the_horizon_accepted_last_time():
    # Windows with their minimum 130, 300 and 30 steps ahead, then 50 behind, then 130 ahead.
    windows = DriftWindows()
    accel = windows.accelerator(search="warm")
    events, starts = [], []
    for ahead in (130, 300, 30, -50, 130):
        if ahead == 30:  # a resumed accelerator searches from the same horizon
            resumed = windows.accelerator(search="warm")
            resumed.load_state_dict(accel.state_dict())
            accel = resumed
        starts.append(windows.model.weight.detach().clone())
        events.append(windows.attempt(accel, ahead))
    # First jump: no history, the search of "longest" (12 ... 400, 400 overshoots twice 130).
    assert events[0] == (200.0, [12.0, 25.0, 50.0, 100.0, 200.0, 400.0], 6)
    # Second: from 200 up; 800 > 2 x 300 raises the loss.
    assert events[1] == (400.0, [200.0, 400.0, 800.0], 3)
    # Third: 400, 200 and 100 raise the loss (more than 60 steps on), 50 does not.
    assert events[2] == (50.0, [400.0, 200.0, 100.0, 50.0], 4)
    # Fourth: the minimum lies behind, every jump raises the loss: from 50 down, rejected.
    assert events[3] == (None, [50.0, 25.0, 12.0], 3)
    # After the rejection the search starts from the shortest horizon again.
    assert events[4] == events[0]
    # A saved index beyond the horizons tried (other settings) starts from the longest.
    accel._warm = 99
    horizon, tried, _ = windows.attempt(accel, 130)
    assert tried[:2] == [1600.0, 800.0] and horizon == 200.0
    # The third window searched by "longest": the same choice.
    with torch.no_grad():
        windows.model.weight.copy_(starts[2])
    longest = windows.accelerator(search="longest")
    assert windows.attempt(longest, 30) == (50.0, [12.0, 25.0, 50.0, 100.0], 4)


def test_max_climb_limits_how_far_the_horizon_grows_per_attempt():
    # The windows of the warm-search test above: with max_climb=1 each attempt tries at most
    # one horizon longer than its start, so the accepted horizon grows by one factor 2 an
    # attempt; going down is not limited.
    windows = DriftWindows()
    warm = windows.accelerator(search="warm", max_climb=1)
    assert [windows.attempt(warm, ahead) for ahead in (130, 300, 30, -50, 130)] == [
        (25.0, [12.0, 25.0], 2),  # from the shortest, one up (unlimited: 200 after 6 checks)
        (50.0, [25.0, 50.0], 2),  # one more (unlimited: 400)
        (50.0, [50.0, 100.0], 2),  # 100 > 2 x 30 raises the loss
        (None, [50.0, 25.0, 12.0], 3),  # down as far as it takes: every jump is rejected
        (25.0, [12.0, 25.0], 2),  # from the shortest again
    ]
    longest = windows.accelerator(search="longest", max_climb=2)
    assert windows.attempt(longest, 130) == (50.0, [12.0, 25.0, 50.0], 3)


@pytest.mark.parametrize("restart", [None, 1.5, 20.0])
def test_restart_drops_the_momentum_when_the_checked_loss_rose(restart):
    # Snapshots drift by d a step towards a minimum 18 steps ahead of the first attempt
    # (checked loss 18^2 |d|^2): a jump of 8 steps is accepted and spread over the next 2.
    # Then the weights are put 40 steps behind (the spread adds its last 4 steps on top), so
    # the loss checked at the second attempt is 56^2 / 18^2 = 9.7 times the first:
    # restart=1.5 restarts, 20 does not.
    model = nn.Linear(2, 1, bias=False).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    settings = {"window": 3, "every": 2, "apply": "spread", "horizon": 8.0, "max_backtracks": 0}
    accel = DMDAccelerator(model, optimizer, restart=restart, **settings)
    drift = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
    start = model.weight.detach().clone()
    target, calls = start + 20 * drift, []

    def loss_fn():
        calls.append(1)
        return torch.sum((model.weight - target) ** 2)

    def steps(weights):
        events = []
        for w in weights:
            with torch.no_grad():
                model.weight.copy_(w)
            events.append(accel.step(loss_fn))
        return events

    *_, first = steps([start + k * drift for k in range(3)])
    assert first.kind == "jump_accepted" and first.info["horizon"] == 8.0
    resumed = DMDAccelerator(model, optimizer, restart=restart, **settings)
    resumed.load_state_dict(accel.state_dict())  # the rule's memory survives a resume
    accel = resumed
    calls.clear()
    behind = start - 40 * drift
    second = steps([behind, behind])[-1]
    if restart == 1.5:
        assert second.kind == "restart" and second.info["reason"] == "restart"
        assert accel.diagnostics[-1]["event"] == "restart" and not accel.diagnostics[-1]["layers"]
        assert second.info["tried"] == [] and len(calls) == 1  # one check, no search
        # No jump: the weights stay where the spread left them.
        torch.testing.assert_close(model.weight.detach(), behind + 4 * drift)
        # A fresh window: no attempt until 3 new snapshots, then a normal one (the attempt
        # before did not jump, so a higher loss now is no reason to restart).
        target = behind + 100 * drift
        third = steps([behind + k * drift for k in range(3)])
        assert third[:2] == [None, None] and third[2].info["tried"] == [8.0]
        assert third[2].info["loss_before"] > 1.5 * second.info["loss_before"]
    else:
        assert second.info["tried"] == [8.0] and "reason" not in second.info


@pytest.mark.parametrize("patience", [None, 2, 3])
def test_patience_restarts_momentum_that_stopped_setting_new_lows(patience):
    # Fresh windows of 3 sampled snapshots, each drifting by d towards a minimum 20 drifts
    # from its start: every jump is accepted, but every window starts at the same point, so
    # the checked loss never goes below the first attempt's. patience=2 restarts at the third
    # attempt (the second in a row without a new low) and, counting again from the loss
    # checked there, at the fifth; patience=3 restarts at the fourth; None never.
    model = nn.Linear(2, 1, bias=False).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    settings = {"window": 3, "horizon": 8.0, "max_backtracks": 0, "patience": patience}
    accel = DMDAccelerator(model, optimizer, **settings)
    drift = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
    start = model.weight.detach().clone()
    target = start + 20 * drift

    def loss_fn():
        return torch.sum((model.weight - target) ** 2)

    kinds = []
    for attempt in range(6):
        if attempt == 2:  # the rule's memory survives a resume
            resumed = DMDAccelerator(model, optimizer, **settings)
            resumed.load_state_dict(accel.state_dict())
            accel = resumed
        for k in range(3):
            with torch.no_grad():
                model.weight.copy_(start + k * drift)
            event = accel.step(loss_fn)
        kinds.append((event.kind, event.info.get("reason")))
    jump, restart = ("jump_accepted", None), ("restart", "patience")
    expected = {
        None: [jump] * 6,
        2: [jump, jump, restart, jump, restart, jump],
        3: [jump, jump, jump, restart, jump, jump],
    }
    assert kinds == expected[patience]


def test_restart_of_sampled_snapshots_starts_its_fresh_window_at_once():
    # Sampled snapshots every 3 steps, windows of 3, sliding by 2 after a jump: attempts at
    # steps 7 (a jump, the weights 24 drifts short of the minimum) and 13 (the weights put 70
    # drifts short: a restart). The fresh window's first snapshot is the next step's, as after
    # a rejection with fresh windows, so the next attempt is at 14 + 2 x 3 = 20 (not 22). The
    # weights have not moved since: nothing to extrapolate, a rejection that tries nothing.
    model = nn.Linear(2, 1, bias=False).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    accel = DMDAccelerator(
        model,
        optimizer,
        stride=3,
        window=3,
        every=2,
        apply="spread",
        horizon=9.0,
        max_backtracks=0,
        restart=1.5,
    )
    drift = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
    start = model.weight.detach().clone()
    target = start + 30 * drift

    def loss_fn():
        return torch.sum((model.weight - target) ** 2)

    events = {}
    for step in range(1, 23):
        ahead = step - 1 if step <= 7 else -40
        with torch.no_grad():
            model.weight.copy_(start + ahead * drift)
        event = accel.step(loss_fn)
        if event is not None:
            events[step] = (event.kind, event.info.get("reason"), event.info["tried"])
    assert events == {
        7: ("jump_accepted", None, [9.0]),
        13: ("restart", "restart", []),
        20: ("jump_rejected", "no layer moved over the window", []),
    }


def test_backtracking_keeps_the_first_horizon_that_lowers_the_loss():
    # The longest horizon overshoots the minimum but still lowers the loss, so it is kept.
    event, weight, target, calls = drift_then_jump("backtrack", horizon=150.0)
    assert event.kind == "jump_accepted" and event.info["horizon"] == 150.0
    assert len(calls) == 2
    assert not torch.allclose(weight, target)


def test_line_search_reaches_the_fixed_point_of_a_contraction():
    # Increments d_{k+1} = A d_k with eigenvalues 0.9 and 0.6: the weights converge to the
    # fixed point w*; the loss |w - w*|^2 falls along the whole trajectory, so both line
    # searches go out to where 0.9^h leaves only round-off (h >= 400: 0.9^400 ~ 5e-19).
    model = nn.Linear(2, 1, bias=False).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    q = torch.tensor([[0.8, -0.6], [0.6, 0.8]], dtype=torch.float64)
    a = q @ torch.diag(torch.tensor([0.9, 0.6], dtype=torch.float64)) @ q.T
    fixed = torch.tensor([0.3, -0.7], dtype=torch.float64)
    for search in ("best", "scan"):
        accel = DMDAccelerator(model, optimizer, window=4, horizon=1600, search=search)
        w = torch.tensor([1.0, 1.0], dtype=torch.float64)
        for _ in range(4):
            with torch.no_grad():
                model.weight.copy_(w[None])
            event = accel.step(lambda: torch.sum((model.weight - fixed) ** 2))
            w = fixed + a @ (w - fixed)
        assert event.kind == "jump_accepted" and event.info["horizon"] >= 400
        torch.testing.assert_close(model.weight[0].detach(), fixed, rtol=0, atol=1e-12)


def test_accepted_jump_moves_the_weights():
    event, before, now, _ = snapshots_then_jump(0.5)
    assert event.kind == "jump_accepted" and event.info["horizon"] == 10.0
    assert event.info["loss_before"] == 1.0 and event.info["loss_after"] == 0.5
    assert any(not torch.equal(a, b) for a, b in zip(before, now, strict=True))


def test_non_finite_extrapolation_is_never_written():
    model, optimizer = make_model_and_optimizer()
    accel = DMDAccelerator(model, optimizer, window=3, horizon=10, max_backtracks=0)
    train(model, optimizer, accel, 2)
    with torch.no_grad():
        model[0].weight[0, 0] = math.inf  # the third snapshot holds an inf
    before = [p.detach().clone() for p in model.parameters()]
    calls = []
    event = accel.step(lambda: calls.append(1) or torch.tensor(1.0))
    assert event.kind == "jump_rejected" and len(calls) == 1
    for a, b in zip(before, model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_horizon_factors_are_geometric_sums():
    eigs = np.array([0.5, 1.0, -0.5, 0.5j])
    np.testing.assert_allclose(
        horizon_factors(eigs, 3, 1e-3), [0.875, 3.0, -0.375, 0.5j - 0.25 - 0.125j], atol=1e-14
    )
    # Fixed point: lambda / (1 - lambda) for decaying modes; nothing for |lambda| ~ 1.
    np.testing.assert_allclose(
        horizon_factors(eigs, math.inf, 1e-3), [1.0, 0.0, -1 / 3, 0.5j / (1 - 0.5j)], atol=1e-14
    )


def test_layer_dmd_predicts_gradient_descent_on_a_quadratic_exactly():
    # w_{k+1} = w_k - lr (H w_k - c): increments obey d_{k+1} = (I - lr H) d_k exactly, and
    # with the 4 x 4 H of rank-4 dynamics 6 snapshots determine the whole future.
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    h = q @ torch.diag(torch.tensor([1.0, 0.5, 0.2, 0.05], dtype=torch.float64)) @ q.T
    c = torch.randn(4, generator=g, dtype=torch.float64)
    w, path = torch.zeros(4, dtype=torch.float64), []
    for _ in range(206):
        path.append(w.clone())
        w = w - 0.5 * (h @ w - c)
    snapshots = torch.stack(path[:6])
    layer = LayerDMD((snapshots[1:] - snapshots[:-1]).T, snapshots[-1], rank=1.0)
    assert layer.pod.rank == 4
    # The POD's float64 Gram matrix squares the increments' condition number (about 1e4 here),
    # so eigenvalues and predictions carry errors of order 1e-8 (with torch 2.14's eigh: 1.5e-8
    # on the eigenvalue 0.9, 7e-8 on the weights); test_pod_dmd.py checks the POD and DMD
    # themselves to 1e-8 on a well-conditioned system.
    tol = 2e-7
    eigs = np.sort(layer.eigs.real)
    np.testing.assert_allclose(eigs, [0.5, 0.75, 0.9, 0.975], rtol=0, atol=tol)
    for steps in (1, 10, 200):
        torch.testing.assert_close(layer.extrapolate(steps), path[5 + steps], rtol=0, atol=tol)
    # The fixed point is the minimiser H^-1 c.
    torch.testing.assert_close(
        layer.extrapolate(math.inf, unit_tol=1e-6), torch.linalg.solve(h, c), rtol=0, atol=tol
    )
    # POD of n x 5 increments, 2 n 5^2 + 9 5^3 + 5 + 5 r, then the DMD of the r coefficients.
    assert layer.fit_flops > 2 * 4 * 25 + 9 * 125
    assert layer.extrapolate_flops == 3 * 5 * 4 + 2 * 4 * 5 + 4 * 4


def quadratic_descent(stride: int, steps: int, seed: int = 1, device: str = "cpu"):
    """Gradient descent on 0.5 w'Hw - c'w (4 x 4 H) with a mean-snapshot accelerator."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    h = q @ torch.diag(torch.tensor([1.0, 0.5, 0.2, 0.05], dtype=torch.float64)) @ q.T
    c = torch.randn(4, generator=g, dtype=torch.float64)
    h, c = h.to(device), c.to(device)
    model = nn.Linear(4, 1, bias=False).double().to(device)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    accel = DMDAccelerator(
        model, optimizer, stride=stride, snapshots="mean", window=6, rank=1.0, unit_tol=1e-6
    )

    def loss_fn():
        w = model.weight[0]
        return 0.5 * w @ h @ w - c @ w

    path, events = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        path.append(model.weight[0].detach().clone())
        events.append(accel.step(loss_fn))
    return path, events, accel, torch.linalg.solve(h, c)


def test_mean_snapshots_average_the_stride_and_jump_to_the_fixed_point():
    # Means over `stride` steps of a linear recurrence obey the same recurrence (eigenvalues
    # (1 - lr h)^stride), so 6 mean snapshots of the rank-4 dynamics determine its limit H^-1 c.
    stride = 3
    path, events, accel, minimiser = quadratic_descent(stride, 5 * stride)
    assert all(e is None for e in events) and accel._count == 5
    for k in range(5):
        want = torch.stack(path[k * stride : (k + 1) * stride]).mean(0)
        torch.testing.assert_close(accel.buffers[0][k], want, rtol=0, atol=1e-15)
    path, events, accel, minimiser = quadratic_descent(stride, 6 * stride)
    assert events[-1].kind == "jump_accepted" and events[-1].info["horizon"] == "inf"
    eigs = np.sort(accel.diagnostics[-1]["layers"][0]["eigs_real"])
    np.testing.assert_allclose(eigs, np.sort([0.5**3, 0.75**3, 0.9**3, 0.975**3]), atol=1e-8)
    weight = next(accel.model.parameters())[0].detach()
    torch.testing.assert_close(weight, minimiser, rtol=1e-8, atol=1e-8)


def test_rejected_mean_snapshot_jump_restores_the_current_weights():
    # The newest snapshot is a mean, not the weights now; those are what must come back.
    event, before, now, calls = snapshots_then_jump(1.5, stride=2, snapshots="mean", window=3)
    assert event.kind == "jump_rejected" and len(calls) > 1
    for a, b in zip(before, now, strict=True):
        assert torch.equal(a, b)


def test_unstable_eigenvalues_are_not_extrapolated():
    # Exactly geometric growth x_k = 1.1^k x_0: the one DMD eigenvalue is 1.1.
    model = nn.Linear(2, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    for unstable in ("clip", "drop"):
        accel = DMDAccelerator(
            model, optimizer, window=3, horizon=5, unstable=unstable, max_backtracks=0
        )
        for k in range(3):
            with torch.no_grad():
                model.weight.copy_(torch.tensor([[1.0, 2.0]]) * 1.1**k)
            event = accel.step(lambda: torch.tensor(0.0))
        assert event.kind == "jump_accepted"
        # clip: |lambda| -> 1, so the last increment continues linearly for 5 steps.
        last, increment = 1.1**2, 1.1**2 - 1.1
        want = last + 5 * increment if unstable == "clip" else last
        assert model.weight[0, 0].item() == pytest.approx(want, rel=1e-6)


def geometric_jump(
    apply: str, stride: int, steps_after: int, every: int | None = None, device: str = "cpu"
):
    """A layer whose sampled snapshots grow geometrically, x_k = 1.1^k x_0 (exactly), window
    3, one 5-step jump (clipped to a linear continuation), accepted; later attempts rejected.
    The optimizer (SGD, lr 0) never moves the weights. Returns the weights after the jump and
    after each of ``steps_after`` further steps, the accelerator's FLOPs at those steps and the
    steps of the later attempts."""
    model = nn.Linear(2, 1, bias=False).double().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    accel = DMDAccelerator(
        model,
        optimizer,
        window=3,
        stride=stride,
        horizon=5 * stride,
        max_backtracks=0,
        apply=apply,
        every=every,
    )
    calls = []

    def loss_fn():
        calls.append(1)
        # The first attempt: 1 before, 0 after (accepted); every later check is higher.
        return torch.tensor(1.0 if len(calls) == 1 else 0.0 if len(calls) == 2 else len(calls))

    start = torch.tensor([[1.0, 2.0]], dtype=torch.float64, device=device)
    for k in range(2 * stride + 1):
        with torch.no_grad():
            model.weight.copy_(start * 1.1 ** (k // stride))
        event = accel.step(loss_fn)
    assert event.kind == "jump_accepted"
    path, flops, attempts = [model.weight[0].clone()], [accel.flops], []
    for step in range(2 * stride + 2, 2 * stride + 2 + steps_after):
        if accel.step(loss_fn) is not None:
            attempts.append(step)
        path.append(model.weight[0].clone())
        flops.append(accel.flops)
    return path, flops, attempts


def test_spread_jump_adds_the_displacement_in_equal_parts_over_the_next_window():
    at_once, _, _ = geometric_jump("at_once", 1, 0)
    last = torch.tensor([1.0, 2.0], dtype=torch.float64) * 1.1**2
    # clip: |lambda| -> 1, so the last increment continues linearly for 5 steps.
    torch.testing.assert_close(at_once[0], last * (1 + 5 * (1 - 1 / 1.1)), rtol=1e-12, atol=0)
    # Spread over stride x window = 3 steps; the next window fills at the third, whose attempt
    # (rejected) sees and keeps the whole displacement.
    path, flops, attempts = geometric_jump("spread", 1, 3)
    assert attempts == [6]
    for k in range(4):
        torch.testing.assert_close(path[k], last + k / 3 * (at_once[0] - last), rtol=1e-12, atol=0)
    # Each step adds one FLOP per weight (a sampled snapshot is a copy, not counted).
    assert flops[1] - flops[0] == flops[2] - flops[1] == 2


def test_spread_with_sampled_snapshots_ends_at_the_next_attempt():
    # Sampled snapshots with stride 2: the window after the jump is full 1 + 2 x 2 = 5 steps
    # later (snapshots at 1, 3 and 5), and the spread ends there, so that attempt (rejected)
    # sees and keeps the whole displacement.
    at_once, _, _ = geometric_jump("at_once", 2, 0)
    path, _, _ = geometric_jump("spread", 2, 6)
    last = torch.tensor([1.0, 2.0], dtype=torch.float64) * 1.1**2
    for k in range(6):
        torch.testing.assert_close(path[k], last + k / 5 * (at_once[0] - last), rtol=1e-12, atol=0)
    assert torch.equal(path[6], path[5])


@pytest.mark.parametrize("stride", [1, 2])
def test_sliding_every_attempts_after_that_many_snapshots_and_spreads_up_to_it(stride):
    # every=2 of a window of 3: after the jump accepted at step 2 x stride + 1, the window
    # keeps its snapshots and the next attempt comes 2 snapshots (2 x stride steps) later,
    # not after a fresh window of 3; the displacement is spread over exactly those steps.
    at_once, _, _ = geometric_jump("at_once", stride, 0)
    path, _, attempts = geometric_jump("spread", stride, 4 * stride + 1, every=2)
    last = torch.tensor([1.0, 2.0], dtype=torch.float64) * 1.1**2
    for k in range(2 * stride + 1):
        want = last + min(k, 2 * stride) / (2 * stride) * (at_once[0] - last)
        torch.testing.assert_close(path[k], want, rtol=1e-12, atol=0)
    # Rejected attempts slide on by retry = every snapshots.
    assert attempts == [4 * stride + 1, 6 * stride + 1]
    fresh = geometric_jump("spread", stride, 4 * stride + 1)[2]
    assert fresh == ([6] if stride == 1 else [2 * stride + 6])


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"every": 11}, "every must be <= window \\(10\\), got 11"),
        ({"every": 0}, "every must be an integer >= 1, got 0"),
        ({"every": 5}, "every=5 < window=10 needs apply='spread'.*got apply='at_once'"),
        ({"apply": "later"}, "apply must be one of .*, got 'later'"),
        ({"rank_policy": "fixed", "rank": 0}, "integer rank >= 1, got 0"),
        ({"rank_policy": "fixed", "rank": -1}, "got -1"),
        ({"window": 2}, "window must be an integer >= 3, got 2"),
        ({"window": 1}, "got 1"),
        ({"horizon": -5}, "horizon must be > 0"),
        ({"horizon": 0}, "got 0"),
        ({"horizon": "forever"}, "'forever'"),
        ({"rank_policy": "svht"}, "'svht'"),
        ({"dmd": "dmdc"}, "'dmdc'"),
        ({"moments": "halve"}, "'halve'"),
        ({"unstable": "keep"}, "'keep'"),
        ({"coordinates": "whitened"}, "'whitened'"),
        ({"search": "golden"}, "search must be one of .*, got 'golden'"),
        ({"max_climb": 0}, "max_climb must be an integer >= 1, got 0"),
        ({"restart": 0.9}, "restart must be a number >= 1 or None, got 0.9"),
        ({"restart": "often"}, "restart must be a number >= 1 or None, got 'often'"),
        ({"patience": 0}, "patience must be an integer >= 1, got 0"),
        ({"patience": True}, "patience must be an integer >= 1, got True"),
        ({"max_climb": 1.5}, "max_climb must be an integer >= 1, got 1.5"),
        ({"backtrack": 1.5}, "backtrack must be in \\(0, 1\\), got 1.5"),
        ({"stride": 0}, "stride must be an integer >= 1, got 0"),
        ({"snapshots": "median"}, "snapshots must be one of .*, got 'median'"),
        ({"retry": 20, "window": 10}, "retry must be <= window"),
        ({"unit_tol": -0.1}, "unit_tol"),
        ({"landing": "refit_output"}, "landing must be None or a callable, got 'refit_output'"),
    ],
)
def test_bad_settings_raise_value_error(settings, match):
    model, optimizer = make_model_and_optimizer()
    with pytest.raises(ValueError, match=match):
        DMDAccelerator(model, optimizer, **settings)


def test_preconditioned_coordinates_need_adam():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="SGD"):
        DMDAccelerator(
            model, torch.optim.SGD(model.parameters(), lr=0.1), coordinates="preconditioned"
        )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_accelerator_on_cuda_keeps_buffers_on_the_device():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    accel = DMDAccelerator(model, optimizer, window=5, coordinates="preconditioned")
    x, y = torch.randn(64, 3, device="cuda"), torch.randn(64, 2, device="cuda")
    kinds = []
    for _ in range(10):
        optimizer.zero_grad()
        torch.mean((model(x) - y) ** 2).backward()
        optimizer.step()
        event = accel.step(lambda: torch.mean((model(x) - y) ** 2))
        kinds.append(event and event.kind)
    assert all(b.device.type == "cuda" for b in accel.buffers)
    assert kinds.count(None) == 8
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mean_snapshots_and_spread_jumps_on_cuda_follow_the_cpu():
    # The per-step adds (a mean snapshot's sums, a spread jump's parts) are fused over all
    # parameters; on the GPU they give the CPU's float64 trajectories.
    path, events, accel, minimiser = quadratic_descent(3, 18, device="cuda")
    cpu_path, _, _, _ = quadratic_descent(3, 18)
    for gpu, cpu in zip(path, cpu_path, strict=True):
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)
    assert events[-1].kind == "jump_accepted" and accel.sums[0].device.type == "cuda"
    weight = next(accel.model.parameters())[0].detach().cpu()
    torch.testing.assert_close(weight, minimiser.cpu(), rtol=1e-8, atol=1e-8)
    spread, _, attempts = geometric_jump("spread", 2, 5, every=2, device="cuda")
    cpu_spread, _, cpu_attempts = geometric_jump("spread", 2, 5, every=2)
    assert attempts == cpu_attempts
    for gpu, cpu in zip(spread, cpu_spread, strict=True):
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=0)
