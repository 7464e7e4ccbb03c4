# Report stage: savings at equal loss (savings.json/.md), loss and DMD-diagnostics figures,
# and PyVista renders of test fields, all under results/{scenario}/report/.
from surrogate.report.config import check_report_config

REPORT_METHODS = config["train"].get("methods", ["adam", "dmd"])
REPORT_SEEDS = config["train"].get("seeds", [0, 1, 2])
REPORT = check_report_config(config["report"], REPORT_METHODS, REPORT_SEEDS)
REPORT_DIR = f"{RESULTS}/report"
# Training-run directories, methods outermost; all seeds, and the one seed rendered.
REPORT_RUNS = [
    f"{RESULTS}/train/{m}/seed_{s}" for m in REPORT_METHODS for s in REPORT_SEEDS
]
REPORT_SEED_RUNS = [
    f"{RESULTS}/train/{m}/seed_{REPORT['seed']}" for m in REPORT_METHODS
]


rule report_savings:
    input:
        histories=[f"{run}/history.json" for run in REPORT_RUNS],
        predictions=[f"{run}/predictions.npz" for run in REPORT_RUNS],
    output:
        json=f"{REPORT_DIR}/savings.json",
        md=report(
            f"{REPORT_DIR}/savings.md",
            caption="../report/savings.rst",
            category="Savings",
        ),
    log:
        f"{LOGS}/report/savings.log",
    conda:
        "../../environment.yml"
    params:
        baseline=REPORT["baseline"],
        losses=REPORT["losses"],
        fraction=REPORT["relative_fraction"],
    shell:
        "python -m surrogate.report.savings --histories {input.histories:q}"
        " --predictions {input.predictions:q} --baseline {params.baseline:q}"
        " --losses {params.losses:q} --fraction {params.fraction:q}"
        " --json {output.json:q} --md {output.md:q} > {log:q} 2>&1"


rule report_loss_curves:
    input:
        histories=[f"{run}/history.json" for run in REPORT_RUNS],
    output:
        flops=report(
            f"{REPORT_DIR}/loss_vs_flops.png",
            caption="../report/loss_vs_flops.rst",
            category="Loss curves",
        ),
        wall=report(
            f"{REPORT_DIR}/loss_vs_wall.png",
            caption="../report/loss_vs_wall.rst",
            category="Loss curves",
        ),
    log:
        f"{LOGS}/report/loss_curves.log",
    conda:
        "../../environment.yml"
    params:
        baseline=REPORT["baseline"],
        dpi=REPORT["dpi"],
    shell:
        "python -m surrogate.report.plots curves --histories {input.histories:q}"
        " --baseline {params.baseline:q} --dpi {params.dpi:q}"
        " --flops-png {output.flops:q} --wall-png {output.wall:q} > {log:q} 2>&1"


rule report_dmd_diagnostics:
    input:
        f"{RESULTS}/train/{{method}}/seed_{REPORT['seed']}/diagnostics.json",
    output:
        pod=report(
            f"{REPORT_DIR}/pod_spectra_{{method}}.png",
            caption="../report/pod_spectra.rst",
            category="DMD diagnostics",
            subcategory="{method}",
        ),
        eigs=report(
            f"{REPORT_DIR}/dmd_eigs_{{method}}.png",
            caption="../report/dmd_eigs.rst",
            category="DMD diagnostics",
            subcategory="{method}",
        ),
    log:
        f"{LOGS}/report/dmd_diagnostics_{{method}}.log",
    conda:
        "../../environment.yml"
    params:
        title=lambda wildcards: f"{wildcards.method} (seed {REPORT['seed']})",
        dpi=REPORT["dpi"],
    shell:
        "python -m surrogate.report.plots diagnostics --diagnostics {input:q}"
        " --title {params.title:q} --dpi {params.dpi:q}"
        " --pod-png {output.pod:q} --eigs-png {output.eigs:q} > {log:q} 2>&1"


rule report_fields:
    input:
        dataset=f"{RESULTS}/dataset.npz",
        predictions=[f"{run}/predictions.npz" for run in REPORT_SEED_RUNS],
    output:
        report(
            directory(f"{REPORT_DIR}/fields"),
            patterns=["{name}.png", "{name}.gif"],
            caption="../report/fields.rst",
            category="Fields",
        ),
    log:
        f"{LOGS}/report/fields.log",
    conda:
        "../../environment.yml"
    params:
        methods=REPORT_METHODS,
        seed=REPORT["seed"],
        n_samples=REPORT["fields"]["n_samples"],
        panel_size=REPORT["fields"]["panel_size"],
        transient=REPORT["fields"]["transient"],
        max_times=REPORT["fields"]["max_times"],
        cmap=REPORT["fields"]["cmap"],
        error_cmap=REPORT["fields"]["error_cmap"],
    shell:
        "python -m solvers.render --dataset {input.dataset:q}"
        " --methods {params.methods:q} --predictions {input.predictions:q}"
        " --seed {params.seed:q} --out-dir {output:q} --n-samples {params.n_samples:q}"
        " --panel-size {params.panel_size:q} --transient {params.transient:q}"
        " --max-times {params.max_times:q} --cmap {params.cmap:q}"
        " --error-cmap {params.error_cmap:q} > {log:q} 2>&1"


TARGETS += [
    rules.report_savings.output.json,
    rules.report_savings.output.md,
    rules.report_loss_curves.output.flops,
    rules.report_loss_curves.output.wall,
    rules.report_fields.output[0],
    *expand(
        rules.report_dmd_diagnostics.output.pod, method=REPORT["diagnostics_methods"]
    ),
    *expand(
        rules.report_dmd_diagnostics.output.eigs, method=REPORT["diagnostics_methods"]
    ),
]
