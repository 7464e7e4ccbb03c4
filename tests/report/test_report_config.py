"""The report config: defaults agree with the schema, bad values are ValueErrors."""

from pathlib import Path

import pytest
import yaml

from surrogate.report.config import DEFAULTS, check_report_config

SCHEMA = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
METHODS, SEEDS = ["adam", "dmd"], [3, 5]


def test_schema_defaults_match_the_checker():
    report = yaml.safe_load(SCHEMA.read_text())["properties"]["report"]
    assert report["additionalProperties"] is False
    fields = report["properties"].pop("fields")
    assert {k: v["default"] for k, v in report["properties"].items()} == {
        k: v for k, v in DEFAULTS.items() if k != "fields"
    }
    assert {k: v["default"] for k, v in fields["properties"].items()} == DEFAULTS["fields"]
    for entry in [*report["properties"].values(), *fields["properties"].values()]:
        assert entry["description"] and "type" in entry


def test_defaults_filled_and_seed_resolved():
    cfg = check_report_config({"fields": {"n_samples": 5}}, METHODS, SEEDS)
    assert cfg["seed"] == 3
    assert cfg["fields"]["n_samples"] == 5
    assert cfg["fields"]["transient"] == "strip"
    assert cfg["baseline"] == "adam"


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"baseline": "sgd"}, r"report.baseline 'sgd' is not a trained method; allowed: \['adam'"),
        ({"seed": 4}, r"report.seed 4 is not a trained seed; allowed: \[3, 5\]"),
        ({"losses": ["test_loss"]}, "report.losses must be distinct entries"),
        ({"losses": ["val_loss", "val_loss"]}, "report.losses must be distinct entries"),
        ({"relative_fraction": 1.0}, r"relative_fraction must be in \(0, 1\), got 1.0"),
        ({"diagnostics_methods": ["quack"]}, "entry 'quack' is not a trained method"),
        ({"dpi": 10}, "report.dpi must be >= 30, got 10"),
        ({"fields": {"n_samples": 0}}, "n_samples must be >= 1, got 0"),
        ({"fields": {"panel_size": [400]}}, r"panel_size must be \[width, height\]"),
        ({"fields": {"transient": "movie"}}, r"one of \['strip', 'gif'\], got 'movie'"),
        ({"fields": {"max_times": 0}}, "max_times must be >= 1, got 0"),
        ({"fields": {"colour": "red"}}, r"unknown report.fields keys \['colour'\]"),
        ({"baseline_method": "adam"}, r"unknown report keys \['baseline_method'\]"),
    ],
)
def test_bad_report_config_is_a_value_error(report, message):
    with pytest.raises(ValueError, match=message):
        check_report_config(report, METHODS, SEEDS)


def test_empty_methods_or_seeds_rejected():
    with pytest.raises(ValueError, match="train.methods is empty"):
        check_report_config({}, [], SEEDS)
    with pytest.raises(ValueError, match="train.seeds is empty"):
        check_report_config({}, METHODS, [])
