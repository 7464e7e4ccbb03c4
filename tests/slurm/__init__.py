"""SLURM, fault-tolerance and MPI tests of the workflow (a package, for the relative imports)."""
