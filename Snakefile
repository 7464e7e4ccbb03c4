# dmd-surrogate: FEniCSx ADR datasets -> PyTorch surrogates trained with and without
# POD-DMD acceleration -> operation-count savings and rendered field comparisons.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/solve.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/koopman.smk"


rule all:
    default_target: True
    input:
        all_targets(),
