# Koopman stage: six analyses of training on small networks (surrogate/koopman), each a JSON
# summary and a figure under koopman/, merged into koopman/summary.json. The FEM H^-1 loss
# needs the mesh's mass and stiffness matrices, assembled on the solver side.

from surrogate.koopman.config import ANALYSES as KOOPMAN_ANALYSES
from surrogate.koopman.config import analysis_spec

# Each job gets the shared keys and its own section only (surrogate/koopman/config.py), so
# tuning one analysis reruns only that one.
KOOPMAN = config["koopman"]
KOOPMAN_DIR = f"{RESULTS}/koopman"
KOOPMAN_THREADS = KOOPMAN.get("threads", 1)
KOOPMAN_FEM = KOOPMAN.get("sobolev", {}).get("fem", True)
KOOPMAN_RUN = (
    "python -m surrogate.koopman run {params.analysis} --dataset {input.dataset:q}"
    " --spec {params.spec:q} --json {output.json:q} --figure {output.figure:q}"
)


rule koopman_fem_matrices:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        f"{KOOPMAN_DIR}/fem_matrices.npz",
    log:
        f"{LOGS}/koopman/fem_matrices.log",
    conda:
        ENV
    shell:
        "python -m solvers.sobolev --dataset {input.dataset:q} --out {output:q} > {log:q} 2>&1"


rule koopman_node:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/node.json",
        figure=report(
            f"{KOOPMAN_DIR}/node.png",
            caption="../report/koopman_node.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/node.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="node",
        spec=as_json(analysis_spec(KOOPMAN, "node")),
    shell:
        f"{KOOPMAN_RUN} > {{log:q}} 2>&1"


rule koopman_stopping:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/stopping.json",
        figure=report(
            f"{KOOPMAN_DIR}/stopping.png",
            caption="../report/koopman_stopping.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/stopping.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="stopping",
        spec=as_json(analysis_spec(KOOPMAN, "stopping")),
    shell:
        f"{KOOPMAN_RUN} > {{log:q}} 2>&1"


rule koopman_badinit:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/badinit.json",
        figure=report(
            f"{KOOPMAN_DIR}/badinit.png",
            caption="../report/koopman_badinit.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/badinit.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="badinit",
        spec=as_json(analysis_spec(KOOPMAN, "badinit")),
    shell:
        f"{KOOPMAN_RUN} > {{log:q}} 2>&1"


rule koopman_depth:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/depth.json",
        figure=report(
            f"{KOOPMAN_DIR}/depth.png",
            caption="../report/koopman_depth.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/depth.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="depth",
        spec=as_json(analysis_spec(KOOPMAN, "depth")),
    shell:
        f"{KOOPMAN_RUN} > {{log:q}} 2>&1"


rule koopman_pruning:
    input:
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/pruning.json",
        figure=report(
            f"{KOOPMAN_DIR}/pruning.png",
            caption="../report/koopman_pruning.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/pruning.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="pruning",
        spec=as_json(analysis_spec(KOOPMAN, "pruning")),
    shell:
        f"{KOOPMAN_RUN} > {{log:q}} 2>&1"


rule koopman_sobolev:
    input:
        fem=f"{KOOPMAN_DIR}/fem_matrices.npz" if KOOPMAN_FEM else [],
        dataset=f"{RESULTS}/dataset.npz",
    output:
        json=f"{KOOPMAN_DIR}/sobolev.json",
        figure=report(
            f"{KOOPMAN_DIR}/sobolev.png",
            caption="../report/koopman_sobolev.rst",
            category="Koopman analyses",
        ),
    log:
        f"{LOGS}/koopman/sobolev.log",
    conda:
        ENV
    threads: KOOPMAN_THREADS
    params:
        analysis="sobolev",
        spec=as_json(analysis_spec(KOOPMAN, "sobolev")),
        fem=lambda wildcards, input: (
            f"--fem-matrices {input.fem}" if KOOPMAN_FEM else ""
        ),
    shell:
        f"{KOOPMAN_RUN} {{params.fem}} > {{log:q}} 2>&1"


rule koopman_summary:
    input:
        json=expand(f"{KOOPMAN_DIR}/{{analysis}}.json", analysis=KOOPMAN_ANALYSES),
        figures=expand(f"{KOOPMAN_DIR}/{{analysis}}.png", analysis=KOOPMAN_ANALYSES),
    output:
        f"{KOOPMAN_DIR}/summary.json",
    log:
        f"{LOGS}/koopman/summary.log",
    conda:
        ENV
    shell:
        "python -m surrogate.koopman summary --inputs {input.json:q} --figures {input.figures:q}"
        " --out {output:q} > {log:q} 2>&1"


TARGETS.append(rules.koopman_summary.output[0])
