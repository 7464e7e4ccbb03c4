"""Points and triangles of a structured triangulation of a rectangle (numpy only)."""

import numpy as np


def structured_triangles(nx: int, ny: int, lx: float = 1.0, ly: float = 1.0):
    """Coordinates (nx*ny x 2) and triangles of an nx x ny vertex grid on (0,lx) x (0,ly)."""
    gx, gy = np.meshgrid(np.linspace(0, lx, nx), np.linspace(0, ly, ny), indexing="xy")
    coords = np.column_stack([gx.ravel(), gy.ravel()])
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    cells = np.concatenate([np.column_stack([a, b, d]), np.column_stack([a, d, c])])
    return coords, cells
