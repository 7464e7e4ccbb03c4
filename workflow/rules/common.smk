# Shared set-up: schema validation (defaults filled in), scenario checks that a JSON
# schema cannot express, and the helpers every stage uses to name its files.
import json
import shutil

from snakemake.utils import validate

from solvers.config import check_config

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
check_config(config)

SCENARIO = config["scenario"]
RESULTS = f"results/{SCENARIO}"
LOGS = f"logs/{SCENARIO}"


def as_json(value):
    """A config section as compact JSON, for `params:` (so a change triggers a rerun)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# Each stage's .smk registers its final targets here; `rule all` asks for all of them.
TARGETS = []


def all_targets():
    return TARGETS
