"""POD, DMD and the rank policy against exactly known decompositions and linear systems."""

import numpy as np
import pytest
import torch

from surrogate.dmd import DMD
from surrogate.pod import POD, select_rank


def orthonormal(rng, n, k):
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


def linear_system(n=40, eigs=(0.95, 0.6, 0.3 + 0.4j, 0.3 - 0.4j), m=12, seed=0):
    """Snapshots x_k = Q B^k z0 of a rank-4 linear system with known eigenvalues/vectors."""
    rng = np.random.default_rng(seed)
    # A real 4 x 4 matrix with the given spectrum: a real block for the complex pair.
    real_form = np.diag([eigs[0].real, eigs[1].real, 0.0, 0.0]).astype(float)
    real_form[2:, 2:] = [[0.3, 0.4], [-0.4, 0.3]]
    basis = rng.standard_normal((4, 4))
    b = basis @ real_form @ np.linalg.inv(basis)
    q = orthonormal(rng, n, 4)
    z = rng.standard_normal(4)
    snaps = [z]
    for _ in range(m - 1):
        snaps.append(b @ snaps[-1])
    return q @ np.array(snaps).T, q, b


def test_pod_recovers_singular_values_and_subspace():
    rng = np.random.default_rng(1)
    n, m = 500, 8
    u, v = orthonormal(rng, n, m), orthonormal(rng, m, m)
    s = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.1, 0.05, 0.01])
    x = torch.from_numpy(u * s @ v.T)
    pod = POD("fixed", 3).fit(x)
    np.testing.assert_allclose(pod.singular_values.numpy(), s, rtol=1e-8)
    assert pod.rank == 3
    # Modes equal U up to sign; coefficients S V^T.
    modes = pod.modes.numpy()
    signs = np.sign(np.sum(modes * u[:, :3], axis=0))
    np.testing.assert_allclose(modes * signs, u[:, :3], atol=1e-8)
    np.testing.assert_allclose(
        pod.coefficients.numpy() * signs[:, None], (s[:3] * v[:, :3]).T, atol=1e-8
    )
    # lift reconstructs the rank-3 truncation.
    rebuilt = pod.lift(pod.coefficients).numpy()
    np.testing.assert_allclose(rebuilt, (u[:, :3] * s[:3]) @ v[:, :3].T, atol=1e-8)


def test_weighted_pod_modes_are_orthonormal_in_the_weighted_product():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((300, 5)))
    w = torch.from_numpy(rng.uniform(0.5, 2.0, 300))
    pod = POD("fixed", 5).fit(x, weights=w)
    modes = pod.modes.numpy()
    np.testing.assert_allclose(modes.T @ (w.numpy()[:, None] * modes), np.eye(5), atol=1e-8)
    # Singular values of W^1/2 X.
    ref = np.linalg.svd(np.sqrt(w.numpy())[:, None] * x.numpy(), compute_uv=False)
    np.testing.assert_allclose(pod.singular_values.numpy(), ref, rtol=1e-8)


@pytest.mark.parametrize("method", ["exact", "tls"])
def test_dmd_recovers_eigenvalues_and_modes_of_a_linear_system(method):
    x, q, b = linear_system()
    dmd = DMD(method, "fixed", 4).fit(x)
    true_eigs, true_vecs = np.linalg.eig(b)
    order = np.argsort(np.angle(true_eigs) + np.abs(true_eigs))
    got = np.argsort(np.angle(dmd.eigs) + np.abs(dmd.eigs))
    np.testing.assert_allclose(dmd.eigs[got], true_eigs[order], atol=1e-8)
    for i, j in zip(got, order, strict=True):
        mode, ref = dmd.modes[:, i], q @ true_vecs[:, j]
        scale = np.vdot(ref, mode) / np.vdot(ref, ref)
        np.testing.assert_allclose(mode, scale * ref, atol=1e-8 * np.abs(scale))
    np.testing.assert_allclose(dmd.predict(np.arange(12)), x, atol=1e-8)


def test_pod_then_dmd_recovers_eigenvalues_from_tall_snapshots():
    x, _, b = linear_system(n=2000, m=10)
    pod = POD("energy", 1.0).fit(torch.from_numpy(x))
    assert pod.rank == 4
    dmd = DMD("exact", "fixed", 4).fit(pod.coefficients.numpy())
    np.testing.assert_allclose(
        np.sort_complex(dmd.eigs), np.sort_complex(np.linalg.eigvals(b)), atol=1e-8
    )


def test_select_rank_known_answers():
    s = np.array([3.0, 2.0, 1.0, 0.0])
    # Energies 9, 4, 1 of 14: cumulative 0.643, 0.929, 1.
    assert select_rank(s, "energy", 0.6) == 1
    assert select_rank(s, "energy", 0.9) == 2
    assert select_rank(s, "energy", 0.95) == 3
    assert select_rank(s, "energy", 1.0) == 3  # the zero singular value is never kept
    assert select_rank(s, "fixed", 2) == 2
    with pytest.warns(UserWarning, match="numerical rank 3"):
        assert select_rank(s, "fixed", 4) == 3


def test_optimal_hard_threshold_on_low_rank_plus_noise():
    rng = np.random.default_rng(3)
    n, m, rank = 400, 100, 5
    signal = (
        orthonormal(rng, n, rank)
        * np.array([200, 150, 120, 100, 80.0])
        @ orthonormal(rng, m, rank).T
    )
    noisy = signal + rng.standard_normal((n, m))
    s = np.linalg.svd(noisy, compute_uv=False)
    assert select_rank(s, "optimal", shape=(n, m)) == rank
    with pytest.warns(UserWarning, match="falling back to rank 1"):
        assert select_rank(np.ones(10), "optimal", shape=(10, 10)) == 1


@pytest.mark.parametrize(
    ("policy", "value", "match"),
    [
        ("fixed", 0, "integer rank >= 1, got 0"),
        ("fixed", -2, "got -2"),
        ("fixed", 1.5, "got 1.5"),
        ("energy", 0.0, "0 < rank <= 1, got 0.0"),
        ("energy", 1.2, "got 1.2"),
        ("svht", 1, "'svht'"),
    ],
)
def test_bad_rank_settings_raise(policy, value, match):
    with pytest.raises(ValueError, match=match):
        select_rank([1.0, 0.5], policy, value)
    with pytest.raises(ValueError, match=match):
        POD(policy, value)


def test_dmd_bad_inputs_raise():
    with pytest.raises(ValueError, match="'dmdc'"):
        DMD("dmdc")
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        DMD().fit(np.ones((5, 1)))
