"""The train spec: Python defaults equal the workflow schema's; bad values are rejected."""

from pathlib import Path

import pytest
import torch
import yaml

from surrogate.methods import scaled_windows
from surrogate.spec import DEFAULTS, resolve_spec

SCHEMA = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def schema_defaults(node: dict):
    if "properties" in node:
        return {key: schema_defaults(child) for key, child in node["properties"].items()}
    return node["default"]


def test_python_defaults_equal_schema_defaults():
    train = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]
    assert train["additionalProperties"] is False
    assert schema_defaults(train) == DEFAULTS
    assert resolve_spec({}) == DEFAULTS


def test_every_schema_key_is_documented():
    def walk(node, where):
        for key, child in node.get("properties", {}).items():
            assert child.get("description"), f"{where}.{key} has no description"
            assert "default" in child, f"{where}.{key} has no default"
            walk(child, f"{where}.{key}")

    walk(yaml.safe_load(SCHEMA.read_text())["properties"]["train"], "train")


def test_partial_spec_is_merged_over_defaults():
    spec = resolve_spec({"network": {"width": 8}, "dmd": {"horizon": 50}})
    assert spec["network"] == dict(DEFAULTS["network"], width=8)
    assert spec["dmd"]["horizon"] == 50 and spec["dmd"]["window"] == DEFAULTS["dmd"]["window"]


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"threads": -1}, "threads must be an integer >= 0, got -1"),
        ({"flop_budget": -5}, "flop_budget must be >= 0"),
        ({"optimizer": {"batch_size": -1}}, "batch_size must be an integer >= 0, got -1"),
        ({"optimizer": {"hold": 1}}, r"hold must be in \[0, 1\), got 1"),
        ({"optimizer": {"hold": -0.5}}, r"hold must be in \[0, 1\), got -0.5"),
        ({"optimizer": {"hold": 0.5, "schedule": "constant"}}, "needs schedule 'cosine'"),
        ({"ema": 1.0}, r"train.ema must be in \[0, 1\) \(0 keeps no average\), got 1.0"),
        ({"ema": -0.1}, r"train.ema must be in \[0, 1\)"),
        ({"ema": True}, r"train.ema must be in \[0, 1\)"),
        ({"ema": float("nan")}, r"train.ema must be in \[0, 1\) \(0 keeps no average\), got nan"),
        ({"ema": "0.99"}, r"train.ema must be in \[0, 1\) \(0 keeps no average\), got '0.99'"),
        ({"dmd": 3}, "train.dmd must be a mapping"),
        ({"methods": []}, "must not be empty"),
        # Method settings fail here, before any data is loaded, as the methods raise them.
        ({"dmd": {"stride": 0}}, "train.dmd: stride must be an integer >= 1, got 0"),
        ({"dmd": {"moments": "forget"}}, "train.dmd: moments must be one of"),
        ({"dmd": {"landing": "soft"}}, "train.dmd: landing must be one of"),
        ({"koopman": {"window": 0}}, "train.koopman: window must be an integer >= 1, got 0"),
    ],
)
def test_bad_values_raise(given, match):
    with pytest.raises(ValueError, match=match):
        resolve_spec(given)


def test_checking_the_method_settings_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    resolve_spec({"methods": ["adam"]})
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (6500, (20, 1600)),  # the reference length: as set
        (1625, (20, 1600)),  # shorter runs are not scaled down
        (13000, (40, 3200)),
        (26000, (80, 6400)),
        (10000, (31, 1600 * 10000 / 6500)),  # the stride is rounded, the horizon is not
    ],
)
def test_windows_scale_with_runs_longer_than_reference_steps(steps, expected):
    options = scaled_windows(DEFAULTS["dmd"], steps)
    assert (options["stride"], options["horizon"]) == pytest.approx(expected, rel=1e-12)
    # Everything else is passed on as set, less reference_steps itself.
    unscaled = {k: v for k, v in DEFAULTS["dmd"].items() if k != "reference_steps"}
    assert options | {"stride": 20, "horizon": 1600} == unscaled


def test_windows_are_not_scaled_with_reference_steps_0_or_a_fixed_point_horizon():
    off = dict(DEFAULTS["dmd"], reference_steps=0)
    assert scaled_windows(off, 26000)["stride"] == 20
    fixed_point = dict(DEFAULTS["dmd"], horizon="inf", stride=1)
    assert (
        scaled_windows(fixed_point, 13000)["stride"],
        scaled_windows(fixed_point, 13000)["horizon"],
    ) == (2, "inf")
    with pytest.raises(ValueError, match="train.dmd: reference_steps must be an integer >= 0"):
        resolve_spec({"dmd": {"reference_steps": -1}})


@pytest.mark.parametrize(
    ("dmd", "match"),
    [
        # Scaled by 4, these would become valid: they are rejected as set.
        ({"stride": 0}, "train.dmd: stride must be an integer >= 1, got 0"),
        ({"stride": 0.5}, "train.dmd: stride must be an integer >= 1, got 0.5"),
        ({"horizon": -1}, "train.dmd: horizon must be > 0 .* got -1"),
        ({"horizon": "far"}, "train.dmd: horizon must be > 0 .* got 'far'"),
    ],
)
def test_bad_windows_of_a_long_run_are_named_as_set(dmd, match):
    with pytest.raises(ValueError, match=match):
        resolve_spec({"steps": 26000, "dmd": dmd})
