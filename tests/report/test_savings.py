"""Savings at equal loss, checked against synthetic histories with hand-computed answers."""

import json

import numpy as np
import pytest
from report_synthetic import history

from surrogate.report.savings import (
    compute_savings,
    curves_from_history,
    first_crossing,
    levels_along,
    main,
    savings_markdown,
    speedup_profile,
    target_loss,
)

K = np.arange(1, 101)


def runs() -> dict:
    """adam, dmd and a never-converging sgd; two seeds (see the expected values below)."""
    histories = [
        history("adam", 0, 1 / K),
        history("dmd", 0, 1 / (2 * K)),
        history("sgd", 0, 0.5 + 1 / K),
        # Seed 1: same curves for adam and dmd, but adam's steps cost twice the FLOPs.
        history("adam", 1, 1 / K, flops_per_step=20.0),
        history("dmd", 1, 1 / K),
        history("sgd", 1, 0.5 + 1 / K),
    ]
    return {(h["method"], h["seed"]): curves_from_history(h) for h in histories}


def pick(records, method, seed, kind, loss="val_loss"):
    (record,) = [
        r
        for r in records
        if (r["method"], r["seed"], r["target_kind"], r["loss"]) == (method, seed, kind, loss)
    ]
    return record


def test_first_crossing_takes_the_first_record_at_or_below_the_target():
    loss = np.array([np.nan, 1.0, 0.5, 0.2, 0.6, 0.1])
    assert first_crossing(loss, 0.3) == 3
    assert first_crossing(loss, 0.5) == 2  # equality counts as reached
    assert first_crossing(loss, 0.05) is None


def test_targets_final_and_quack_relative():
    loss = np.array([2.0, 4.0, 1.0, 0.5, 0.8])
    assert target_loss(loss, "baseline_final") == 0.8
    # L_0 is the first record (2.0), not the maximum; L_min = 0.5.
    assert target_loss(loss, "relative_1pct", 0.01) == pytest.approx(0.5 + 0.01 * 1.5)
    assert target_loss(loss, "relative_1pct", 0.1) == pytest.approx(0.5 + 0.1 * 1.5)
    with pytest.raises(ValueError, match="must end at a finite value"):
        target_loss(np.array([1.0, np.nan]), "baseline_final")
    with pytest.raises(ValueError, match="relative_1pct"):
        target_loss(loss, "best")


def test_savings_known_answers():
    result = compute_savings(runs(), {(m, s): 0.1 * s + 0.01 for m, s in runs()}, "adam")
    records = result["records"]
    assert len(records) == 2 * 2 * 3 * 2  # losses x kinds x methods x seeds

    # Seed 0, final target 1/100: adam at step 100 (1000 FLOPs), dmd 1/(2k) at step 50.
    dmd = pick(records, "dmd", 0, "baseline_final")
    assert dmd["target_loss"] == pytest.approx(0.01)
    assert (dmd["step_to_target"], dmd["flops_to_target"]) == (50, 500.0)
    assert dmd["flops_saving"] == pytest.approx(0.5)
    assert dmd["wall_saving"] == pytest.approx(0.5)
    assert dmd["flops_speedup"] == pytest.approx(2.0)
    assert dmd["test_rel_l2"] == pytest.approx(0.01)
    adam = pick(records, "adam", 0, "baseline_final")
    assert (adam["step_to_target"], adam["flops_saving"]) == (100, 0.0)

    # Relative target 0.01 + 0.01 (1 - 0.01) = 0.0199: adam 1/k at k = 51, dmd 1/(2k) at 26.
    dmd = pick(records, "dmd", 0, "relative_1pct")
    assert dmd["target_loss"] == pytest.approx(0.0199)
    assert dmd["baseline_flops_to_target"] == 510.0
    assert dmd["flops_to_target"] == 260.0
    assert dmd["flops_saving"] == pytest.approx(1 - 260 / 510)

    # Seed 1: same steps, half the FLOPs per step, same wall-clock per step.
    dmd = pick(records, "dmd", 1, "baseline_final")
    assert dmd["flops_saving"] == pytest.approx(0.5)
    assert dmd["wall_saving"] == pytest.approx(0.0)

    # Training-loss targets: train_loss = val_loss / 2, so the target halves, steps agree.
    dmd = pick(records, "dmd", 0, "baseline_final", loss="train_loss")
    assert dmd["target_loss"] == pytest.approx(0.005)
    assert dmd["step_to_target"] == 50

    # sgd never reaches either target: no cost and no saving, never a number.
    for kind in ("baseline_final", "relative_1pct"):
        sgd = pick(records, "sgd", 0, kind)
        assert sgd["reached"] is False
        assert sgd["flops_to_target"] is None and sgd["flops_saving"] is None


def test_summary_over_seeds():
    result = compute_savings(runs(), {}, "adam", losses=["val_loss"])
    summary = {(s["method"], s["target_kind"]): s for s in result["summary"]}
    final = summary[("dmd", "baseline_final")]
    assert (final["n_seeds"], final["n_reached"]) == (2, 2)
    assert final["flops_saving"] == {"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5}
    relative = summary[("dmd", "relative_1pct")]["flops_saving"]
    # Seed 1's relative target is 0.0199 too (same adam curve): dmd at 51 x 10 vs adam 51 x 20.
    savings = np.array([1 - 260 / 510, 0.5])
    assert relative["mean"] == pytest.approx(savings.mean())
    assert relative["std"] == pytest.approx(abs(savings[0] - savings[1]) / np.sqrt(2))
    assert relative["min"] == pytest.approx(1 - 260 / 510)
    sgd = summary[("sgd", "baseline_final")]
    assert (sgd["n_reached"], sgd["flops_saving"], sgd["test_rel_l2"]) == (0, None, None)


def test_levels_along_are_the_lowest_loss_so_far_at_each_tenth():
    flops = 10.0 * np.arange(1, 11)
    loss = np.array([np.nan, 1.0, 0.5, 0.6, 0.5, 0.3, 0.35, 0.2, 0.25, 0.08])
    # Before the first finite record (the first tenth): its loss; NaN records are skipped and
    # a rise (0.6, 0.35, 0.25) keeps the lowest loss so far.
    assert levels_along(flops, loss) == [1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.2, 0.2, 0.08]
    # The plateau at 0.5 is first reached at step 3 (30 FLOPs); a run twice as cheap per
    # step on the same curve is twice as fast at every level.
    base = {"flops": flops, "val_loss": loss}
    rows = speedup_profile(base, {"flops": flops / 2, "val_loss": loss})
    assert [r["baseline_flops"] for r in rows[2:5]] == [30.0, 30.0, 30.0]
    assert [r["speedup"] for r in rows] == [2.0] * 10
    with pytest.raises(ValueError, match="no finite value"):
        levels_along(flops, np.full(10, np.nan))


def test_profile_along_the_baseline_known_answers():
    result = compute_savings(runs(), {}, "adam", losses=["val_loss"])
    # Seed 0: adam's level after f of its 1000 FLOPs is 1/(100 f), reached at step 100 f;
    # dmd's 1/(2k) reaches it at step 50 f: 2x at every tenth. Seed 1: the same curves, adam's
    # steps twice the FLOPs: 2x. sgd (0.5 + 1/k) never gets down to 0.1.
    dmd = [r for r in result["profile"] if r["method"] == "dmd"]
    assert len(dmd) == 20 and [r["speedup"] for r in dmd] == pytest.approx([2.0] * 20)
    seed0 = [r for r in dmd if r["seed"] == 0]
    assert [r["level"] for r in seed0] == pytest.approx(
        [1 / (100 * f) for f in np.arange(1, 11) / 10]
    )
    assert [r["flops"] for r in seed0] == [50.0 * k for k in range(1, 11)]
    assert not any(r["method"] == "adam" for r in result["profile"])
    summary = {(r["method"], r["fraction"]): r for r in result["profile_summary"]}
    assert summary[("dmd", 0.5)]["speedup"]["mean"] == pytest.approx(2.0)
    assert (summary[("dmd", 0.5)]["n_reached"], summary[("sgd", 0.5)]["n_reached"]) == (2, 0)
    assert summary[("sgd", 0.5)]["speedup"] is None
    markdown = savings_markdown(result)
    assert "## validation loss, along the baseline's run" in markdown
    assert "| 0.5 | 0.02-0.02 | 2.00x [2.00, 2.00] (2/2) | not reached |" in markdown


def test_missing_baseline_is_a_value_error():
    curves = runs()
    del curves[("adam", 1)]
    with pytest.raises(ValueError, match="seed 1 has no 'adam'"):
        compute_savings(curves, {}, "adam")
    with pytest.raises(ValueError, match="baseline 'sgdm'"):
        compute_savings(runs(), {}, "sgdm")
    with pytest.raises(ValueError, match="loss must be one of"):
        compute_savings(runs(), {}, "adam", losses=["test_loss"])


def test_cli_writes_strict_json_and_markdown(tmp_path):
    paths = []
    for method, seed, loss in [("adam", 0, 1 / K), ("sgd", 0, 0.5 + 1 / K)]:
        run = tmp_path / method
        run.mkdir()
        (run / "history.json").write_text(json.dumps(history(method, seed, loss)))
        np.savez(run / "predictions.npz", test_rel_l2=np.float64(0.25), pred=np.zeros(1))
        paths.append(run)
    main(
        ["--histories", *(str(p / "history.json") for p in paths)]
        + ["--predictions", *(str(p / "predictions.npz") for p in paths)]
        + ["--json", str(tmp_path / "out" / "savings.json"), "--md", str(tmp_path / "s.md")]
    )
    result = json.loads((tmp_path / "out" / "savings.json").read_text())
    sgd = [r for r in result["records"] if r["method"] == "sgd"]
    assert len(sgd) == 4 and all(r["flops_to_target"] is None for r in sgd)
    assert result["records"][0]["test_rel_l2"] == 0.25
    markdown = (tmp_path / "s.md").read_text()
    assert "| sgd | 0/1 | – | not reached |" in markdown
    assert "first record (in step order) whose loss is <= the target" in markdown
    assert result["ema"] == 0.0 and "exponential average" not in markdown


def test_runs_judged_by_a_weight_average_are_labelled_and_not_mixed(tmp_path):
    def write(method, ema):
        run = tmp_path / f"{method}_{ema}"
        run.mkdir()
        (run / "history.json").write_text(json.dumps(history(method, 0, 1 / K) | {"ema": ema}))
        np.savez(run / "predictions.npz", test_rel_l2=np.float64(0.25), pred=np.zeros(1))
        return run

    def cli(runs):
        main(
            ["--histories", *(str(p / "history.json") for p in runs)]
            + ["--predictions", *(str(p / "predictions.npz") for p in runs)]
            + ["--json", str(tmp_path / "savings.json"), "--md", str(tmp_path / "s.md")]
        )

    cli([write("adam", 0.99), write("sgd", 0.99)])
    assert json.loads((tmp_path / "savings.json").read_text())["ema"] == 0.99
    assert "`train.ema` = 0.99" in (tmp_path / "s.md").read_text()
    with pytest.raises(ValueError, match="different train.ema cannot be compared"):
        cli([write("adam", 0.0), tmp_path / "sgd_0.99"])
