"""PDE side of dmd-surrogate: ADR scenarios, their FEniCSx solvers and the dataset files.

Modules that need dolfinx import it themselves (import `dolfinx_solver` first); `config`,
`parameters`, `sample` and `dataset` do not, so the workflow can load without FEniCSx
initialising MPI. Nothing here imports torch.
"""
