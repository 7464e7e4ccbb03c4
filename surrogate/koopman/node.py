"""Node-Koopman weight prediction (Dogra & Redman, "Optimizing Neural Networks via Koopman
Operator Theory", NeurIPS 2020).

The state of a node is its incoming weights plus its bias; a chunk groups `chunk_size`
consecutive nodes of one layer into one state (chunk_size=1 is the paper's node operator).
From a window of snapshots F = [x_0..x_{m-1}], F' = [x_1..x_m] the operator is
U = F' pinv(F) and the weights are predicted T steps ahead as U^T x_m. With `affine=True`
a constant observable 1 is appended to the state, so trajectories that converge to a
non-zero point (x_{t+1} = A x_t + c, as gradient descent on a quadratic) are linear in the
observables too.

Operation counts: the SVD behind pinv of a D x m matrix costs about 4 p q^2 + 8 q^3 with
p = max(D, m), q = min(D, m); forming pinv is 2 D m q, U = F' pinv(F) is 2 D m D and each of the
T prediction steps one D x D matrix-vector product, 2 D^2.
"""

from __future__ import annotations

import numpy as np


def _batches(n_nodes: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(first node, number of chunks, chunk size): the full chunks, then the remainder."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n_full, rest = divmod(n_nodes, chunk_size)
    batches = [(0, n_full, chunk_size)] if n_full else []
    return batches + ([(n_full * chunk_size, 1, rest)] if rest else [])


def _chunk_states(trajectory: np.ndarray, batch: tuple[int, int, int], affine: bool) -> np.ndarray:
    """(chunks, D, time) states of one batch from a (time, nodes, inputs+1) trajectory."""
    first, count, size = batch
    steps, _, width = trajectory.shape
    block = trajectory[:, first : first + count * size, :].reshape(steps, count, size * width)
    states = np.transpose(block, (1, 2, 0))
    if affine:
        states = np.concatenate([states, np.ones((count, 1, steps))], axis=1)
    return states


def pinv_fit_flops(dim: int, m: int) -> int:
    """Operation count of U = F' pinv(F) for a D x m snapshot matrix F (see module doc)."""
    p, q = max(dim, m), min(dim, m)
    return 4 * p * q * q + 8 * q**3 + 2 * dim * m * q + 2 * dim * m * dim


def fit_node_operators(
    trajectory: np.ndarray, chunk_size: int = 1, affine: bool = True, rcond: float = 1e-10
) -> tuple[list[np.ndarray], int]:
    """Koopman operators U = F' pinv(F) per chunk of nodes, and the operation count.

    Args:
        trajectory: (m+1, n_nodes, inputs+1) node states (incoming weights and bias) over time.
        chunk_size: nodes per operator.
        affine: append the constant observable 1 to every state.
        rcond: relative cut-off of the pseudo-inverse.

    Returns:
        One (chunks, D, D) array per batch of equal-size chunks (all full chunks, then the
        remainder), chunks in node order, and the FLOPs of the fits.
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    if trajectory.ndim != 3 or trajectory.shape[0] < 2:
        raise ValueError(
            f"trajectory must have shape (m+1 >= 2, nodes, inputs+1), got {tuple(trajectory.shape)}"
        )
    if not 0.0 <= rcond < 1.0:
        raise ValueError(f"rcond must be in [0, 1), got {rcond}")
    operators, flops = [], 0
    m = trajectory.shape[0] - 1
    for batch in _batches(trajectory.shape[1], chunk_size):
        states = _chunk_states(trajectory, batch, affine)
        operators.append(states[:, :, 1:] @ np.linalg.pinv(states[:, :, :-1], rcond=rcond))
        flops += batch[1] * pinv_fit_flops(states.shape[1], m)
    return operators, flops


def spectral_radius(
    trajectory: np.ndarray, chunk_size: int = 1, affine: bool = True, rcond: float = 1e-10
) -> float:
    """Largest |eigenvalue| over the chunks' operators U = F' pinv(F) of `fit_node_operators`.

    U is D x D but has rank <= m. With the thin SVD F = W S V^T (singular values below rcond
    times the largest dropped, as pinv does), U = F' V S^-1 W^T and its non-zero eigenvalues
    are those of the m x m projection W^T F' V S^-1 (as in exact DMD), used here.
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    radius = 0.0
    for batch in _batches(trajectory.shape[1], chunk_size):
        states = _chunk_states(trajectory, batch, affine)
        w, sigma, vt = np.linalg.svd(states[:, :, :-1], full_matrices=False)
        inverse = np.where(sigma > rcond * sigma[:, :1], 1.0 / np.maximum(sigma, 1e-300), 0.0)
        reduced = (
            np.swapaxes(w, 1, 2) @ states[:, :, 1:] @ (np.swapaxes(vt, 1, 2) * inverse[:, None, :])
        )
        radius = max(radius, float(np.abs(np.linalg.eigvals(reduced)).max()))
    return radius


def predict_node_states(
    operators: list[np.ndarray],
    last_state: np.ndarray,
    horizon: int,
    chunk_size: int = 1,
    affine: bool = True,
) -> tuple[np.ndarray, int]:
    """Node states `horizon` steps after `last_state` (n_nodes, inputs+1), and the op count."""
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    last_state = np.asarray(last_state, dtype=np.float64)
    n_nodes, width = last_state.shape
    predicted = np.empty_like(last_state)
    flops = 0
    for batch, operator in zip(_batches(n_nodes, chunk_size), operators, strict=True):
        first, count, size = batch
        state = _chunk_states(last_state[None], batch, affine)[:, :, 0]
        for _ in range(horizon):
            state = np.einsum("cij,cj->ci", operator, state)
        flops += horizon * count * 2 * operator.shape[1] ** 2
        predicted[first : first + count * size] = state[:, : size * width].reshape(-1, width)
    return predicted, flops


def rollout_error(
    operators: list[np.ndarray], trajectory: np.ndarray, chunk_size: int = 1, affine: bool = True
) -> np.ndarray:
    """Relative error ||x_k^pred - x_k|| / ||x_k - x_0|| of U^k x_0 against the window, per k.

    The denominator is the distance travelled, so a prediction that stays at x_0 scores 1.
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    errors = np.zeros(trajectory.shape[0] - 1)
    state = trajectory[0]
    for k in range(1, trajectory.shape[0]):
        state, _ = predict_node_states(operators, state, 1, chunk_size, affine)
        travelled = np.linalg.norm(trajectory[k] - trajectory[0])
        errors[k - 1] = np.linalg.norm(state - trajectory[k]) / max(travelled, 1e-300)
    return errors
