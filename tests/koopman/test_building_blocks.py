"""Known-answer tests of the Koopman building blocks (no network, no PDE)."""

import math

import numpy as np
import pytest
import torch

from surrogate.koopman.dmd import snapshot_dmd
from surrogate.koopman.node import fit_node_operators, predict_node_states, rollout_error
from surrogate.koopman.pruning import koopman_mode_scores, prune, prune_mask
from surrogate.koopman.sobolev import periodic_hminus_norm_sq
from surrogate.koopman.spectrum import (
    BadInitDetector,
    SpectrumMonitor,
    spectral_distance,
    stop_step,
)


def _rotation_decay(n, eigs, rng):
    """Random n x n matrix with the given real or conjugate-pair eigenvalues (rest 0)."""
    blocks = np.zeros((n, n))
    i = 0
    for lam in eigs:
        if np.isreal(lam):
            blocks[i, i] = lam.real
            i += 1
        elif lam.imag > 0:
            blocks[i : i + 2, i : i + 2] = [[lam.real, -lam.imag], [lam.imag, lam.real]]
            i += 2
    basis = rng.standard_normal((n, n))
    return basis @ blocks @ np.linalg.inv(basis)


def test_snapshot_dmd_recovers_eigenvalues_and_predicts_linear_trajectory():
    rng = np.random.default_rng(0)
    eigs = np.array([0.9, 0.7 + 0.2j, 0.7 - 0.2j, 1.0])
    a = _rotation_decay(4, eigs, rng)
    lift = rng.standard_normal((50, 4))
    states = [rng.standard_normal(4)]
    for _ in range(10):
        states.append(a @ states[-1])
    snapshots = lift @ np.array(states).T
    result = snapshot_dmd(snapshots[:, :8], rank_tol=1e-10)
    assert result.rank == 4
    np.testing.assert_allclose(np.sort_complex(result.eigs), np.sort_complex(eigs), atol=1e-9)
    np.testing.assert_allclose(result.predict(10), snapshots[:, 10], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(result.predict(np.arange(3)), snapshots[:, :3], atol=1e-10)


def test_node_koopman_predicts_linear_weight_trajectory_exactly():
    rng = np.random.default_rng(1)
    n_nodes, dim, window, horizon = 5, 3, 6, 40
    ops = [_rotation_decay(dim, [0.95, 0.8 + 0.1j, 0.8 - 0.1j], rng) for _ in range(n_nodes)]
    traj = [rng.standard_normal((n_nodes, dim))]
    for _ in range(window + horizon):
        traj.append(np.stack([ops[j] @ traj[-1][j] for j in range(n_nodes)]))
    traj = np.array(traj)
    operators, fit_flops = fit_node_operators(traj[: window + 1], affine=False)
    np.testing.assert_allclose(operators[0], np.array(ops), atol=1e-9)
    predicted, flops = predict_node_states(operators, traj[window], horizon, affine=False)
    np.testing.assert_allclose(predicted, traj[window + horizon], rtol=1e-7, atol=1e-12)
    # One D x D matvec per step and node, D = 3: 2 * 9 * horizon * nodes.
    assert flops == 2 * 9 * horizon * n_nodes
    assert fit_flops > 0
    np.testing.assert_allclose(
        rollout_error(operators, traj[: window + 1], affine=False), 0, atol=1e-8
    )


def test_node_koopman_affine_observable_and_chunks_predict_gradient_descent():
    """GD on a quadratic, w' = w - lr (H w - g), is affine: exact with the observable 1."""
    rng = np.random.default_rng(2)
    n_nodes, dim = 5, 2
    h = np.diag([1.0, 3.0, 0.5, 2.0, 1.5, 4.0, 0.2, 1.0, 2.5, 0.7])
    g = rng.standard_normal(10)
    w = [rng.standard_normal(10)]
    for _ in range(60):
        w.append(w[-1] - 0.1 * (h @ w[-1] - g))
    traj = np.array(w).reshape(-1, n_nodes, dim)
    for chunk in (1, 2, 3):
        ops, _ = fit_node_operators(traj[:9], chunk_size=chunk, affine=True)
        assert sum(len(batch) for batch in ops) == math.ceil(n_nodes / chunk)
        pred, _ = predict_node_states(ops, traj[8], 52, chunk_size=chunk, affine=True)
        np.testing.assert_allclose(pred, traj[60], rtol=1e-6, atol=1e-9)
    # Without the constant observable the per-node operator cannot hold the fixed point.
    ops, _ = fit_node_operators(traj[:9], chunk_size=1, affine=False)
    pred, _ = predict_node_states(ops, traj[8], 52, chunk_size=1, affine=False)
    assert np.linalg.norm(pred - traj[60]) > 1e-3 * np.linalg.norm(traj[60])


def _trajectory(kind, steps, rng, n=40):
    w_star, v1, v2 = rng.standard_normal((3, n))
    k = np.arange(steps)[:, None]
    if kind == "converging":
        return w_star + 0.5 * 0.97**k * v1 + 0.3 * 0.9**k * v2
    return w_star + 0.5 * np.cos(0.3 * k) * v1 + 0.5 * np.sin(0.3 * k) * v2


def test_stopping_rule_fires_on_converging_not_on_oscillating_trajectory():
    rng = np.random.default_rng(3)
    steps = 600
    fired = {}
    for kind in ("converging", "oscillating"):
        monitor = SpectrumMonitor(window=8, stride=5, rank_tol=1e-3, radius=0.05, patience=3)
        for step, w in enumerate(_trajectory(kind, steps, rng), start=1):
            monitor.update(step, w)
        fired[kind] = monitor.stop_step
        assert monitor.flops > 0
        # The after-the-fact rule on the log agrees with the online monitor.
        assert stop_step(monitor.log, 0.05, 3) == monitor.stop_step
    # Converging: the 0.97^k mode falls below 1e-3 of |w| near k = log(1e-3*|w|*...)/log 0.97.
    assert fired["converging"] is not None and 100 < fired["converging"] < steps
    assert fired["oscillating"] is None
    # The oscillation's eigenvalues are exp(+-0.3i * stride), |lambda - 1| = 2 sin(0.75).
    assert monitor.log[-1]["rho"] == pytest.approx(2 * math.sin(0.75), rel=1e-6)
    assert spectral_distance(np.array([])) == math.inf


def _node_traj(rng, frozen, growth, steps=30, nodes=20, dim=4):
    base = rng.standard_normal((nodes, dim))
    direction = rng.standard_normal((nodes, dim))
    k = np.arange(steps)[:, None, None]
    rate = 1.05 if growth else 0.9
    traj = base + 0.2 * rate**k * direction
    traj[:, :frozen] = base[:frozen]
    return traj


def test_bad_init_detector_separates_synthetic_spectra():
    rng = np.random.default_rng(4)
    detector = BadInitDetector(node_rank_tol=1e-4, max_frozen_fraction=0.25, growth_tol=0.02)
    cases = {"good": (0, False), "dead": (12, False), "unstable": (0, True)}
    flags = {}
    for name, (frozen, growth) in cases.items():
        traj = _node_traj(rng, frozen, growth)
        feats, flops = detector.features([traj], traj.reshape(traj.shape[0], -1).T)
        flags[name] = detector.is_bad(feats)
        assert flops > 0
        if name == "dead":
            assert feats["frozen_fraction"] == pytest.approx(12 / 20)
        if name == "unstable":
            assert feats["spectral_radius"] == pytest.approx(1.05, rel=1e-6)
    assert flags == {"good": False, "dead": True, "unstable": True}


def test_koopman_pruning_identity_at_zero_and_uses_persistent_mode():
    rng = np.random.default_rng(5)
    n, steps = 30, 12
    w_star = rng.standard_normal(n)
    transient = rng.standard_normal(n) * 3
    traj = w_star[:, None] + transient[:, None] * 0.8 ** np.arange(steps)
    scores, _ = koopman_mode_scores(traj, rank_tol=1e-10, unit_radius=1e-6)
    np.testing.assert_allclose(scores, np.abs(w_star), rtol=1e-8)
    current = traj[:, -1]
    np.testing.assert_array_equal(prune(current, scores, 0.0), current)
    pruned = prune(current, scores, 0.5)
    kept = np.argsort(np.abs(w_star))[15:]
    np.testing.assert_array_equal(np.flatnonzero(pruned), np.sort(kept))
    assert prune_mask(np.arange(10.0), 0.3).tolist() == [False] * 3 + [True] * 7


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.0])
def test_periodic_hminus_norm_of_fourier_modes(s):
    n = 64
    x = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    a, k = 1.7 - 0.4j, 5
    mode = a * torch.exp(1j * k * x)
    assert periodic_hminus_norm_sq(mode, s).item() == pytest.approx((1 + k**2) ** -s * abs(a) ** 2)
    cosine = 2.0 * torch.cos(3 * x)
    assert periodic_hminus_norm_sq(cosine, s).item() == pytest.approx((1 + 9) ** -s * 2.0)
    xx, yy = torch.meshgrid(x, x, indexing="ij")
    mode2 = torch.exp(1j * (2 * xx - 3 * yy))
    value = periodic_hminus_norm_sq(mode2[None].expand(3, n, n), s, ndim=2)
    np.testing.assert_allclose(value.numpy(), (1 + 13) ** -s, rtol=1e-12)


def test_periodic_hminus_norm_on_a_box_of_length_l_and_its_gradient():
    n, length = 32, 3.0
    x = torch.arange(n, dtype=torch.float64) * length / n
    u = torch.sin(2 * math.pi * 2 * x / length).requires_grad_()
    k = 2 * math.pi * 2 / length
    value = periodic_hminus_norm_sq(u, 1.0, length=length)
    assert value.item() == pytest.approx(0.5 / (1 + k**2))
    value.backward()
    # d/du sum_k w_k |u_k|^2 with u_k = FFT/N is 2 w u / N for a single mode pair.
    np.testing.assert_allclose(u.grad.numpy(), 2 * u.detach().numpy() / (1 + k**2) / n, atol=1e-14)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="window"):
        SpectrumMonitor(window=0)
    with pytest.raises(ValueError, match="radius"):
        SpectrumMonitor(radius=-1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        fit_node_operators(np.zeros((3, 2, 2)), chunk_size=0)
    with pytest.raises(ValueError, match="sparsity"):
        prune_mask(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="rank_tol"):
        snapshot_dmd(np.ones((3, 3)), rank_tol=2.0)
    with pytest.raises(ValueError, match="s must be"):
        periodic_hminus_norm_sq(torch.ones(4), -1.0)
    with pytest.raises(ValueError, match="max_frozen_fraction"):
        BadInitDetector(max_frozen_fraction=1.5)
    with pytest.raises(ValueError, match="stride"):
        SpectrumMonitor(stride=0)


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_spectral_radius_of_the_small_matrix_equals_that_of_the_operators(chunk_size):
    from surrogate.koopman.node import fit_node_operators, spectral_radius

    rng = np.random.default_rng(4)
    trajectory = np.cumsum(rng.normal(size=(9, 7, 5)), axis=0)  # m = 8 < D: U is rank deficient
    operators, _ = fit_node_operators(trajectory, chunk_size)
    dense = max(np.abs(np.linalg.eigvals(op)).max() for op in operators)
    assert spectral_radius(trajectory, chunk_size) == pytest.approx(dense, rel=1e-8)
