# Train stage: one job per (method, seed) on the dataset; the POD-DMD accelerated training
# and its baselines (surrogate/train.py). Outputs follow docs/contracts.md.

# Keys of config["train"] that select runs or set resources rather than the science.
TRAIN_RUN_KEYS = ("methods", "seeds", "threads")
# Sections that configure one method only: handed to that method's runs alone, so tuning
# one method does not rerun the others.
TRAIN_METHOD_SECTIONS = ("dmd", "koopman")
# The data a jump is checked on: only methods that jump (those with a section) read it.
TRAIN_CHECK_KEYS = ("check_points", "check_samples")
TRAIN_FILES = ("history.json", "predictions.npz", "diagnostics.json", "model.pt")
# A training job holds one GPU where it will use one (the default profile allows one at a
# time, so GPU jobs never overlap); CPU-only runs hold none and run side by side.
TRAIN_GPUS = (
    0
    if config["train"]["device"] == "cpu"
    or (config["train"]["device"] == "auto" and shutil.which("nvidia-smi") is None)
    else 1
)


rule train:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        history=f"{RESULTS}/train/{{method}}/seed_{{seed}}/history.json",
        predictions=f"{RESULTS}/train/{{method}}/seed_{{seed}}/predictions.npz",
        diagnostics=f"{RESULTS}/train/{{method}}/seed_{{seed}}/diagnostics.json",
        model=f"{RESULTS}/train/{{method}}/seed_{{seed}}/model.pt",
    log:
        f"{LOGS}/train/{{method}}/seed_{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{method}}/seed_{{seed}}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"] or 1
    resources:
        gpu=TRAIN_GPUS,
    params:
        # The settings that affect a run of this method, as JSON.
        spec=lambda wildcards: as_json(
            {
                key: value
                for key, value in config["train"].items()
                if key not in TRAIN_RUN_KEYS
                and (key not in TRAIN_METHOD_SECTIONS or key == wildcards.method)
                and (
                    key not in TRAIN_CHECK_KEYS
                    or wildcards.method in TRAIN_METHOD_SECTIONS
                )
            }
        ),
        out=subpath(output.history, parent=True),
    shell:
        "python -m surrogate.train --dataset {input.dataset:q} --method {wildcards.method}"
        " --seed {wildcards.seed} --spec {params.spec:q} --out {params.out:q}"
        " --threads {threads} > {log:q} 2>&1"


TARGETS.extend(
    expand(
        f"{RESULTS}/train/{{method}}/seed_{{seed}}/{{file}}",
        method=config["train"]["methods"],
        seed=config["train"]["seeds"],
        file=TRAIN_FILES,
    )
)
