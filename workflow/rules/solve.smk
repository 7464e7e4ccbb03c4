# Solve stage: Latin-hypercube sample -> one MPI solve job per chunk -> dataset.npz
# (formats in docs/contracts.md). Every scientific setting reaches the jobs through params.


SAMPLE_SPEC = as_json(
    {
        "scenario": SCENARIO,
        "seed": config["seed"],
        "parameters": config["parameters"],
        "sampling": {
            "n_samples": config["sampling"]["n_samples"],
            "split": config["sampling"]["split"],
        },
    }
)
# mpi_tasks is left out: how many ranks solve a chunk does not change its fields.
SOLVE_SPEC = as_json(
    {
        **{
            key: config[key]
            for key in ("scenario", "parameters", "mesh", "options", "export")
        },
        "solver": {k: v for k, v in config["solver"].items() if k != "mpi_tasks"},
    }
)
CHUNKS = range(config["sampling"]["chunks"])
# The project's conda-forge environment (FEniCSx, gmsh), used with --sdm conda.
ENV = "../../environment.yml"


rule sample:
    output:
        f"{RESULTS}/samples.npz",
    log:
        f"{LOGS}/sample.log",
    conda:
        ENV
    params:
        spec=SAMPLE_SPEC,
    shell:
        "python -m solvers.sample --spec {params.spec:q} --out {output:q} 2> {log:q}"


rule solve:
    input:
        samples=rules.sample.output[0],
    output:
        chunk=f"{RESULTS}/chunks/chunk_{{chunk}}.npz",
        xdmf=f"{RESULTS}/paraview/chunk_{{chunk}}.xdmf",
        h5=f"{RESULTS}/paraview/chunk_{{chunk}}.h5",
    log:
        f"{LOGS}/solve/chunk_{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/solve_chunk_{{chunk}}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        ENV
    resources:
        tasks=config["solver"]["mpi_tasks"],
        mpi="mpiexec",
    params:
        spec=SOLVE_SPEC,
        chunks=len(CHUNKS),
    shell:
        "{resources.mpi} -n {resources.tasks} python -m solvers.solve_chunk"
        " --spec {params.spec:q} --samples {input.samples:q}"
        " --chunk {wildcards.chunk} --chunks {params.chunks}"
        " --out {output.chunk:q} --paraview {output.xdmf:q} 2> {log:q}"


rule dataset:
    input:
        samples=rules.sample.output[0],
        chunks=expand(rules.solve.output.chunk, chunk=CHUNKS),
    output:
        f"{RESULTS}/dataset.npz",
    log:
        f"{LOGS}/dataset.log",
    conda:
        ENV
    params:
        scenario=SCENARIO,
    shell:
        "python -m solvers.dataset --scenario {params.scenario:q}"
        " --samples {input.samples:q} --chunks {input.chunks:q} --out {output:q} 2> {log:q}"


TARGETS.append(rules.dataset.output[0])
TARGETS.extend(expand(rules.solve.output.xdmf, chunk=CHUNKS))
