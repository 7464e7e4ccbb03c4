"""bench/frontier.py: the lower envelope over schedule lengths, on curves with known answers."""

import json

import pytest

from tests.bench.test_training_bench import ROOT, load_bench, read_result, run_bench
from tests.surrogate.conftest import write_dataset


@pytest.fixture
def frontier():
    return load_bench(ROOT / "bench" / "frontier.py")


def curve(losses, flops_per_step=10.0, every=1):
    """Records of a run: a validation loss every ``every`` steps, None between."""
    return [
        {
            "step": s,
            "flops": flops_per_step * s,
            "wall_s": 0.1 * s,
            "train_loss": v,
            "val_loss": v if s % every == 0 else None,
            "event": None,
        }
        for s, v in enumerate(losses, start=1)
    ]


def test_envelope_takes_the_cheapest_run_to_each_level(frontier):
    long = curve([1.0, 0.8, 0.6, 0.4, 0.3, 0.2])  # a 6-step schedule
    short = curve([1.0, 0.5, 0.45])  # a 3-step one: lower early, higher late
    # 0.5: the short run at step 2 (20 FLOPs) beats the long one at step 4 (40).
    assert frontier.envelope_cost([long, short], 0.5) == 20
    # 0.3: only the long run gets there, at step 5.
    assert frontier.envelope_cost([long, short], 0.3) == 50
    assert frontier.envelope_cost([long, short], 0.1) is None
    # The last step fell between evaluations: the final loss is the last one recorded.
    assert frontier.final_val(curve([1.0, 0.5, 0.4, 0.3, 0.25], every=2)) == 0.3


def test_a_method_on_half_the_flops_per_step_is_twice_as_fast_at_every_level(frontier):
    adam = {6: {0: curve([1.0, 0.8, 0.6, 0.4, 0.3, 0.2])}, 3: {0: curve([1.0, 0.5, 0.45])}}
    # The same trajectories at half the cost per step, and one longer run going lower.
    dmd = {b: {0: curve([r["val_loss"] for r in c[0]], 5.0)} for b, c in adam.items()}
    dmd[9] = {0: curve([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.15, 0.1], 5.0)}
    table = frontier.frontier_table({"adam": adam, "dmd": dmd}, [0])
    assert set(table) == {"adam_T6", "adam_T3", "dmd_T6", "dmd_T3", "dmd_T9"}
    for name in ("adam_T6", "adam_T3", "dmd_T6", "dmd_T3"):
        assert table[name]["0"]["speedup"] == {"dmd": 2.0}
    # 0.1: Adam never gets there; no speed-up, but the DMD method's cost is kept.
    row = table["dmd_T9"]["0"]
    assert (row["target"], row["adam"], row["dmd"], row["speedup"]) == (
        0.1,
        None,
        45,
        {"dmd": None},
    )
    summary = frontier.summarise(table)
    assert summary["dmd_T9"]["reached"] == {"adam": "0/1", "dmd": "1/1"}
    # A level reached most cheaply by a run of another length: Adam's 3-step loss (0.45) costs
    # Adam 30 FLOPs (its 3-step run), the DMD method 15 in its own 3-step run but 10 in its
    # 9-step run if that one falls faster early on.
    dmd[9] = {0: curve([1.0, 0.4, 0.3, 0.2, 0.15, 0.12, 0.11, 0.1, 0.1], 5.0)}
    table = frontier.frontier_table({"adam": adam, "dmd": dmd}, [0])
    assert table["adam_T3"]["0"]["dmd"] == 10 and table["adam_T3"]["0"]["speedup"] == {"dmd": 3.0}
    assert summary["adam_T6"]["flops_speedup"] == {"dmd": {"mean": 2.0, "min": 2.0, "max": 2.0}}


def test_bench_writes_a_level_per_run_and_seed(frontier, tmp_path):
    dataset = write_dataset(tmp_path / "dataset.npz")
    spec = {"network": {"kind": "field", "width": 8, "depth": 1}, "eval_every": 5}
    spec |= {"optimizer": {"batch_size": 0}, "dmd": {"stride": 1, "window": 5, "horizon": 20}}
    out = tmp_path / "frontier.json"
    args = ["--dataset", str(dataset), "--budgets", "20", "40", "--seeds", "0", "1"]
    # dmd_reset: a stride that grows with the schedule, as by_budget sets it.
    reset = {"moments": "reset", "by_budget": {"40": {"stride": 2}}}
    args += ["--variants", json.dumps({"dmd": {}, "dmd_reset": reset})]
    done = run_bench(
        "frontier", *args, "--jobs", "1", "--spec", json.dumps(spec), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    result = read_result(out)
    assert result["budgets"] == [40, 20]
    runs = {f"{m}_T{b}" for m in ("adam", "dmd", "dmd_reset") for b in (40, 20)}
    assert set(result["per_seed"]) == set(result["final"]) == runs
    variants = result["variants"]
    assert [variants["dmd_reset"][b]["stride"] for b in ("20", "40")] == [1, 2]
    assert {variants["dmd_reset"][b]["moments"] for b in ("20", "40")} == {"reset"}
    # As run: both lengths are below reference_steps, so nothing is scaled.
    unscaled = {k: v for k, v in result["spec"]["dmd"].items() if k != "reference_steps"}
    assert variants["dmd"]["40"] == variants["dmd"]["20"] == unscaled
    for name, by_seed in result["per_seed"].items():
        for seed, row in by_seed.items():
            assert row["target"] == result["final"][name][seed]["val_loss"]
    # Adam reaches its own final losses, at no more than that run's FLOPs.
    for budget in (20, 40):
        for seed in ("0", "1"):
            row = result["per_seed"][f"adam_T{budget}"][seed]
            assert row["adam"] <= result["final"][f"adam_T{budget}"][seed]["flops"]
    # A window of 5 one-step snapshots: the DMD method attempts jumps within 40 steps.
    dmd = result["final"]["dmd_T40"]["0"]
    assert dmd["jumps_accepted"] + dmd["jumps_rejected"] >= 1

    # Adam's curves reused by a run of another variant with other check pairs: Adam's rows
    # are the first run's, and the variant's speed-ups are measured against them.
    again = tmp_path / "again.json"
    args = ["--dataset", str(dataset), "--budgets", "40", "--seeds", "1", "--jobs", "1"]
    args += ["--variants", json.dumps({"dmd_keep": {"moments": "keep"}})]
    spec2 = spec | {"check_points": 64, "steps": 7}  # the budgets set every run's steps
    done = run_bench(
        "frontier", *args, "--spec", json.dumps(spec2), "--adam-from", str(out), "--out", str(again)
    )
    assert done.returncode == 0, done.stderr
    reused = read_result(again)
    assert reused["adam_from"] == str(out)
    assert reused["curves"]["adam_T40"]["1"] == result["curves"]["adam_T40"]["1"]
    assert reused["final"]["adam_T40"]["1"] == result["final"]["adam_T40"]["1"]
    assert (
        reused["per_seed"]["adam_T40"]["1"]["adam"] == result["per_seed"]["adam_T40"]["1"]["adam"]
    )
    # Another learning rate, or a budget the earlier output lacks, is refused.
    spec3 = spec | {"optimizer": {"batch_size": 0, "lr": 0.1}}
    done = run_bench(
        "frontier", *args, "--spec", json.dumps(spec3), "--adam-from", str(out), "--out", str(again)
    )
    assert done.returncode == 2
    assert "was run with another spec (keys ['optimizer'] differ)" in done.stderr
    args[3] = "80"
    done = run_bench(
        "frontier", *args, "--spec", json.dumps(spec2), "--adam-from", str(out), "--out", str(again)
    )
    assert done.returncode == 2
    assert "has no Adam run of 80 steps for seed 1" in done.stderr

    # Adam alone on a longer schedule, merged with the first output: its level joins the
    # table, and Adam's envelope over all three lengths is what the DMD method is measured
    # against.
    longer = tmp_path / "longer.json"
    args = ["--dataset", str(dataset), "--budgets", "80", "--seeds", "0", "1", "--jobs", "1"]
    done = run_bench(
        "frontier", *args, "--variants", "{}", "--spec", json.dumps(spec), "--out", str(longer)
    )
    assert done.returncode == 0, done.stderr
    alone = read_result(longer)
    assert set(alone["curves"]) == {"adam_T80"} and alone["variants"] == {}
    runs, seeds = frontier.merged_runs([str(out), str(longer)])
    assert sorted(runs["adam"]) == ["20@frontier", "40@frontier", "80@longer"]
    assert sorted(runs["dmd"]) == ["20@frontier", "40@frontier"]
    table = frontier.frontier_table(runs, seeds)
    for seed in ("0", "1"):
        row = table["adam_T80@longer"][seed]
        assert row["target"] == alone["final"]["adam_T80"][seed]["val_loss"]
        envelope = [c[int(seed)] for c in runs["adam"].values()]
        assert row["adam"] == frontier.envelope_cost(envelope, row["target"])
    done = run_bench("frontier", *args, "--variants", "{}", "--adam-from", str(out))
    assert done.returncode == 2 and "trains Adam alone" in done.stderr


def test_adam_runs_stored_before_a_new_setting_are_reused(frontier, tmp_path):
    # A file stored before train.optimizer.hold existed: its spec lacks the key, whose
    # default (0) is what it ran with.
    spec = frontier.resolve_spec({})
    old = json.loads(json.dumps(spec))
    del old["optimizer"]["hold"], old["threads"]
    stored = {
        "dataset": "d.npz",
        "spec": old,
        "curves": {"adam_T40": {"0": curve([1.0, 0.5])}},
        "final": {"adam_T40": {"0": {"val_loss": 0.5}}},
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(stored))
    curves, finals = frontier.reused_adam(str(path), "d.npz", spec, [40], [0])
    assert curves[40][0] == stored["curves"]["adam_T40"]["0"]
    assert finals == {"adam_T40": {"0": {"val_loss": 0.5}}}
    # A value that differs from the default it ran with is still refused.
    held = frontier.resolve_spec({"optimizer": {"hold": 0.5}})
    with pytest.raises(ValueError, match=r"keys \['optimizer'\] differ"):
        frontier.reused_adam(str(path), "d.npz", held, [40], [0])


def test_bench_names_a_bad_variant(tmp_path):
    variants = json.dumps({"dmd": {"moments": "forget"}})
    done = run_bench("frontier", "--variants", variants, "--out", str(tmp_path / "f.json"))
    assert done.returncode == 2
    assert "--variants 'dmd': train.dmd: moments must be one of" in done.stderr


@pytest.mark.parametrize(
    "by_budget, message",
    [
        ({"3000": {"stride": 10}}, "by_budget names schedule length(s) [3000]"),
        ({"long": {"stride": 10}}, "by_budget keys must be step counts"),
        ({"6500": 10}, "by_budget[6500] must be a mapping"),
        ({"6500": {"stride": 0}}, "train.dmd: stride must be an integer >= 1, got 0"),
    ],
)
def test_bench_names_a_bad_by_budget(tmp_path, by_budget, message):
    variants = json.dumps({"dmd": {"by_budget": by_budget}})
    args = ["--budgets", "6500", "--variants", variants, "--out", str(tmp_path / "f.json")]
    done = run_bench("frontier", *args)
    assert done.returncode == 2
    assert f"--variants 'dmd': {message}" in done.stderr


def test_bench_names_malformed_json(tmp_path):
    done = run_bench("frontier", "--variants", "{dmd: {}}", "--out", str(tmp_path / "f.json"))
    assert done.returncode == 2
    assert "--spec / --variants: Expecting property name" in done.stderr


def test_bench_refuses_a_constant_schedule(tmp_path):
    spec = json.dumps({"optimizer": {"schedule": "constant"}})
    done = run_bench("frontier", "--spec", spec, "--out", str(tmp_path / "f.json"))
    assert done.returncode == 2
    assert "the spec's schedule is 'constant'" in done.stderr


def test_merge_spans_the_runs_of_every_file(frontier, tmp_path, capsys):
    # Two earlier outputs (say, two learning rates): each method's envelope takes the
    # cheapest of all its runs. Adam's 3-step loss (0.45) costs Adam 30 FLOPs (file b's
    # run); the DMD method reaches it at step 2 of file b's run (10 FLOPs), not at step 4 of
    # file a's (20): 3x. Adam's 6-step loss (0.2): only file a's runs get there, 60 / 30. The
    # DMD run of file b ends at 0.25, which Adam reaches at its 6th step: 60 / 15.
    def output(name, curves, seeds=(0,)):
        path = tmp_path / f"{name}.json"
        by_seed = {label: {str(s): c for s in seeds} for label, c in curves.items()}
        path.write_text(json.dumps({"dataset": "d.npz", "seeds": list(seeds), "curves": by_seed}))
        return str(path)

    six = [1.0, 0.8, 0.6, 0.4, 0.3, 0.2]
    a = output("a", {"adam_T6": curve(six), "dmd_T6": curve(six, 5.0)})
    b = output("b", {"adam_T3": curve([1.0, 0.5, 0.45]), "dmd_T3": curve([1.0, 0.3, 0.25], 5.0)})
    out = tmp_path / "merged.json"
    frontier.main(["--merge", a, b, "--out", str(out)])
    result = read_result(out)
    speedups = {name: rows["0"]["speedup"]["dmd"] for name, rows in result["per_seed"].items()}
    assert speedups == {"adam_T6@a": 2.0, "dmd_T6@a": 2.0, "adam_T3@b": 3.0, "dmd_T3@b": 4.0}
    assert result["merged"] == [a, b] and "adam_T3@b" in capsys.readouterr().out
    # The profile: from the highest final loss (0.45) to the lowest loss reached (0.2), in
    # equal ratios.
    profile = result["profile"]["0"]
    level = profile["level"]
    assert len(level) == 60 and (level[0], level[-1]) == pytest.approx((0.45, 0.2))
    ratios = [lo / hi for hi, lo in zip(level, level[1:], strict=False)]
    assert ratios == pytest.approx([(0.2 / 0.45) ** (1 / 59)] * 59)
    assert (profile["adam"][0], profile["dmd"][0]) == (30, 10)
    assert (profile["adam"][-1], profile["dmd"][-1]) == (60, 30)
    # A DMD run that goes lower than any of Adam's: the grid reaches down to it, where Adam
    # has no cost.
    c = output("c", {"adam_T3": curve([1.0, 0.5, 0.45]), "dmd_T4": curve([1.0, 0.3, 0.2, 0.1])})
    png = tmp_path / "merged.png"
    frontier.main(["--merge", a, b, c, "--out", str(out), "--plot", str(png)])
    profile = read_result(out)["profile"]["0"]
    assert profile["level"][-1] == pytest.approx(0.1) and profile["dmd"][-1] == 40
    below = [x for x in profile["level"] if x < 0.2]
    assert below and profile["adam"][-len(below) :] == [None] * len(below)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        frontier.main(["--plot", str(png)])
    assert "--plot draws the envelopes of --merge" in capsys.readouterr().err
    other_seeds = output("c", {"adam_T6": curve(six)}, seeds=(0, 1))
    with pytest.raises(SystemExit):
        frontier.main(["--merge", a, other_seeds])
    assert "c.json has seeds [0, 1], the files before it [0]" in capsys.readouterr().err
