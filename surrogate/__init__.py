"""Learning side of dmd-surrogate: data, networks, training loops, POD/DMD, operation counts.

Never imports dolfinx: it meets the PDE side (solvers/) only through dataset files.
"""
