"""The six Koopman analyses of training, each a function returning a JSON-ready summary.

Sources: Dogra & Redman, "Optimizing Neural Networks via Koopman Operator Theory" (NeurIPS
2020) for node-Koopman prediction; Manojlovic et al., "Applications of Koopman Mode Analysis
to Neural Networks" (arXiv:2006.11765) for the spectrum monitor and stopping rule, bad
initialisation, depth selection, Koopman-mode pruning and negative-Sobolev losses. Every
analysis runs on small networks (surrogate.koopman.harness) and takes its settings from the
`koopman` section of the workflow config (defaults in surrogate.koopman.config).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from surrogate.koopman import harness
from surrogate.koopman.accelerator import NodeKoopmanAccelerator
from surrogate.koopman.dmd import snapshot_dmd
from surrogate.koopman.node import fit_node_operators, predict_node_states
from surrogate.koopman.pruning import koopman_mode_scores, prune
from surrogate.koopman.sobolev import FEMHminus1Norm, FEMMassNorm, periodic_hminus_norm_sq
from surrogate.koopman.spectrum import BadInitDetector, SpectrumMonitor
from surrogate.koopman.spectrum import stop_step as spectral_stop_step


def _linear_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _node_states(model) -> list[np.ndarray]:
    return [
        torch.cat([m.weight, m.bias[:, None]], 1).detach().double().numpy().copy()
        for m in _linear_layers(model)
    ]


def _set_node_states(model, states: list[np.ndarray]) -> None:
    with torch.no_grad():
        for layer, state in zip(_linear_layers(model), states, strict=True):
            layer.weight.copy_(torch.as_tensor(state[:, :-1]))
            layer.bias.copy_(torch.as_tensor(state[:, -1]))


def _recorder(steps, take):
    """A training callback storing take(model) after each step in `steps`, and its store."""
    store = []

    def record(step, model):
        if step in steps:
            store.append(take(model))
        return None

    return store, record


def _window_steps(end: int, window: int, stride: int) -> set[int]:
    """The window + 1 snapshot steps, `stride` apart, ending at step `end`."""
    return {end - stride * (window - j) for j in range(window + 1)}


def _flops_to(records: list[dict], key: str, target: float) -> float | None:
    for record in records:
        if record[key] <= target:
            return record["flops"]
    return None


# ---------------------------------------------------------------------- 1. node-Koopman
def node_koopman(problem: harness.Problem, cfg: dict, net: dict, seed: int) -> dict:
    """Predict weights T steps ahead per node (Dogra & Redman) against the true Adam trajectory.

    Adam runs for start + window + max(horizons) steps; operators fitted on the snapshots of
    steps start..start+window predict each horizon; the relative weight error (over all
    linear layers) and the training loss at the predicted weights are compared with the truth.
    Then the `koopman` training method (NodeKoopmanAccelerator) is run against plain Adam from
    the same initial weights and the FLOPs to reach Adam's final training loss are compared.
    """
    start, window, horizons = cfg["start"], cfg["window"], sorted(cfg["horizons"])
    model = harness.build_mlp(problem, seed=seed, **net)
    trajectory: list[list[np.ndarray]] = []
    truth_loss = []

    def record(step, m):
        if step >= start:
            trajectory.append(_node_states(m))
        return None

    records = harness.train(model, problem, start + window + horizons[-1], cfg["lr"], record)
    truth_loss = [r["train_loss"] for r in records]
    n_layers = len(trajectory[0])
    results = {}
    for chunk in cfg["chunk_sizes"]:
        fits = []
        fit_flops = 0
        for layer in range(n_layers):
            window_traj = np.array([snap[layer] for snap in trajectory[: window + 1]])
            ops, flops = fit_node_operators(window_traj, chunk, cfg["affine"], cfg["rcond"])
            fits.append(ops)
            fit_flops += flops
        rows = []
        for horizon in horizons:
            predicted, predict_flops = [], 0
            for layer, ops in enumerate(fits):
                state, flops = predict_node_states(
                    ops, trajectory[window][layer], horizon, chunk, cfg["affine"]
                )
                predicted.append(state)
                predict_flops += flops
            true = trajectory[window + horizon]
            moved = math.sqrt(
                sum(np.sum((t - s) ** 2) for t, s in zip(true, trajectory[window], strict=True))
            )
            err = math.sqrt(sum(np.sum((p - t) ** 2) for p, t in zip(predicted, true, strict=True)))
            _set_node_states(model, predicted)
            step = start + window + horizon
            rows.append(
                {
                    "horizon": horizon,
                    "weight_error_rel_to_motion": err / moved,
                    "train_loss_predicted": harness.mse(model, problem, "train"),
                    "train_loss_true": truth_loss[step - 1],
                    "train_loss_at_fit": truth_loss[start + window - 1],
                    "koopman_flops": fit_flops + predict_flops,
                    "adam_flops": horizon * (records[1]["flops"] - records[0]["flops"]),
                }
            )
        results[str(chunk)] = rows

    # The training method: Adam with node-Koopman jumps vs Adam, same seed and steps.
    steps = cfg["train_steps"]
    base = harness.train(harness.build_mlp(problem, seed=seed, **net), problem, steps, cfg["lr"])
    options = {k: cfg[k] for k in ("window", "affine", "rcond")}

    def factory(m, opt, ev):
        return NodeKoopmanAccelerator(
            m,
            opt,
            horizon=cfg["method_horizon"],
            chunk_size=cfg["chunk_sizes"][0],
            start=start,
            eval_flops=ev,
            **options,
        )

    accel_model = harness.build_mlp(problem, seed=seed, **net)
    accel = harness.train(accel_model, problem, steps, cfg["lr"], accelerator_factory=factory)
    target = base[-1]["train_loss"]
    base_flops, accel_flops = base[-1]["flops"], _flops_to(accel, "train_loss", target)
    return {
        "prediction": results,
        "method": {
            "target_train_loss": target,
            "adam_flops_to_target": base_flops,
            "koopman_flops_to_target": accel_flops,
            "saving": None if accel_flops is None else 1.0 - accel_flops / base_flops,
            "jumps_accepted": sum(r["event"] == "jump_accepted" for r in accel),
            "jumps_rejected": sum(r["event"] == "jump_rejected" for r in accel),
            "final_train_loss": {
                "adam": base[-1]["train_loss"],
                "koopman": accel[-1]["train_loss"],
            },
        },
        "curves": {
            "adam": [r["train_loss"] for r in base],
            "adam_flops": [r["flops"] for r in base],
            "koopman": [r["train_loss"] for r in accel],
            "koopman_flops": [r["flops"] for r in accel],
        },
    }


# ---------------------------------------------------------------------- 2. stopping rule
def _watch_run(problem, cfg, monitor, model):
    """Train with the spectrum monitor and validation early stopping watching the same run."""
    state = {"best": math.inf, "best_step": 0, "since": 0, "val_stop": None, "val_loss": []}
    saved = {}

    def watch(step, m):
        val = harness.mse(m, problem, "val")
        state["val_loss"].append(val)
        if val < state["best"] * (1 - cfg["val_min_delta"]):
            state.update(best=val, best_step=step, since=0)
            saved["val"] = harness.flat_parameters(m)
        else:
            state["since"] += 1
            if state["since"] >= cfg["val_patience"] and state["val_stop"] is None:
                state["val_stop"] = step
        if step % cfg["stride"] == 0:
            saved[step] = harness.flat_parameters(m)
        monitor.update(step, harness.flat_parameters(m))
        return None

    records = harness.train(model, problem, cfg["max_steps"], cfg["lr"], watch, monitor=False)
    return records, state, saved


def stopping(problem: harness.Problem, cfg: dict, net: dict, seeds: list[int]) -> dict:
    """Spectral stopping rule vs validation early stopping on the same Adam runs.

    Validation early stopping: stop when the validation loss has not improved by more than
    `val_min_delta` (relative) for `val_patience` steps; the weights of the best step are
    kept. Its FLOPs include one validation forward pass per step. The spectral rule
    (surrogate.koopman.spectrum) keeps the weights at its stop step; its FLOPs include every
    DMD of the monitor up to that step. Besides the configured `radius`, the rule is applied
    to the same log for each of `sweep_radii`.
    """
    runs = []
    for seed in seeds:
        model = harness.build_mlp(problem, seed=seed, **net)
        monitor = SpectrumMonitor(
            window=cfg["window"],
            stride=cfg["stride"],
            rank_tol=cfg["rank_tol"],
            radius=cfg["radius"],
            patience=cfg["patience"],
        )
        records, state, saved = _watch_run(problem, cfg, monitor, model)
        per_step = records[0]["flops"]
        dmd_flops = monitor.flops / max(len(monitor.log), 1)
        row = {
            "seed": seed,
            "full_steps": cfg["max_steps"],
            "full_flops": records[-1]["flops"],
            "full_test_rel_l2": problem.rel_l2(model),
            "val_loss": state["val_loss"],
            "rho": [[e["step"], e["rho"]] for e in monitor.log],
            "koopman": {},
        }
        for radius in sorted({cfg["radius"], *cfg["sweep_radii"]}, reverse=True):
            stop = spectral_stop_step(monitor.log, radius, cfg["patience"])
            if stop is None:
                row["koopman"][str(radius)] = None
                continue
            harness.set_flat_parameters(model, saved[stop])
            windows = sum(e["step"] <= stop for e in monitor.log)
            row["koopman"][str(radius)] = {
                "stop_step": stop,
                "flops": int(stop * per_step + windows * dmd_flops),
                "test_rel_l2": problem.rel_l2(model),
            }
        stop = state["val_stop"]
        harness.set_flat_parameters(model, saved["val"])
        row["validation"] = {
            "stop_step": stop,
            "best_step": state["best_step"],
            "flops": (stop or cfg["max_steps"])
            * (per_step + harness.eval_flops(model, problem, "val")),
            "test_rel_l2": problem.rel_l2(model),
        }
        runs.append(row)
    return {"runs": runs}


# ---------------------------------------------------------------------- 3. bad init
def _initialise(model, kind: str, cfg: dict, seed: int) -> None:
    """Turn a good (Xavier) initialisation into one of the bad kinds."""
    layers = _linear_layers(model)
    gen = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        if kind == "large":
            for layer in layers:
                layer.weight.mul_(cfg["large_scale"])
        elif kind == "small":
            for layer in layers:
                layer.weight.mul_(cfg["small_scale"])
        elif kind == "dead":
            # Saturated tanh units: a large negative bias pins them at -1 for every input.
            for layer in layers[:-1]:
                dead = torch.rand(layer.bias.shape, generator=gen) < cfg["dead_fraction"]
                layer.bias[dead] = cfg["dead_bias"]


def bad_init(problem: harness.Problem, cfg: dict, net: dict) -> dict:
    """Detection accuracy of BadInitDetector over seeded good and bad initialisations.

    Each run trains `full_steps`; the detector sees only the first `first_steps` snapshots.
    Truth is reported two ways: by construction (good vs large/small/dead) and by outcome
    (final validation loss above `outcome_factor` times the median of the good runs).
    FLOPs saved by restarting: every flagged run stops after first_steps instead of full_steps;
    the detector's FLOPs are charged for every run.
    """
    detector = BadInitDetector(
        node_rank_tol=cfg["node_rank_tol"],
        max_frozen_fraction=cfg["max_frozen_fraction"],
        rank_tol=cfg["rank_tol"],
        growth_tol=cfg["growth_tol"],
    )
    kinds = ["good"] * cfg["n_good"] + [
        cfg["bad_kinds"][i % len(cfg["bad_kinds"])] for i in range(cfg["n_bad"])
    ]
    runs = []
    for seed, kind in enumerate(kinds):
        model = harness.build_mlp(problem, seed=seed, **net)
        _initialise(model, kind, cfg, seed)

        def take(m):
            return _node_states(m)[:-1], harness.flat_parameters(m)

        store, record = _recorder(set(range(1, cfg["first_steps"] + 1)), take)
        store.append(take(model))
        records = harness.train(model, problem, cfg["full_steps"], cfg["lr"], record, monitor=False)
        nodes, flat = [snap[0] for snap in store], [snap[1] for snap in store]
        hidden = [np.array([snap[i] for snap in nodes]) for i in range(len(nodes[0]))]
        features, flops = detector.features(hidden, np.stack(flat, axis=1))
        runs.append(
            {
                "seed": seed,
                "kind": kind,
                "flagged": detector.is_bad(features),
                "frozen_fraction": features["frozen_fraction"],
                "spectral_radius": features["spectral_radius"],
                "detector_flops": flops,
                "step_flops": records[0]["flops"],
                "final_val_loss": harness.mse(model, problem, "val"),
                "test_rel_l2": problem.rel_l2(model),
            }
        )
    good_median = float(np.median([r["final_val_loss"] for r in runs if r["kind"] == "good"]))
    for r in runs:
        r["bad_outcome"] = r["final_val_loss"] > cfg["outcome_factor"] * good_median
    flagged = np.array([r["flagged"] for r in runs])
    constructed = np.array([r["kind"] != "good" for r in runs])
    outcome = np.array([r["bad_outcome"] for r in runs])
    full = sum(r["step_flops"] * cfg["full_steps"] for r in runs)
    saved = sum(
        r["step_flops"] * (cfg["full_steps"] - cfg["first_steps"]) for r in runs if r["flagged"]
    )
    saved -= sum(r["detector_flops"] for r in runs)
    return {
        "runs": runs,
        "good_median_val_loss": good_median,
        "accuracy_vs_construction": float(np.mean(flagged == constructed)),
        "accuracy_vs_outcome": float(np.mean(flagged == outcome)),
        "true_positive_rate": float(np.mean(flagged[constructed])) if constructed.any() else None,
        "false_positive_rate": float(np.mean(flagged[~constructed]))
        if (~constructed).any()
        else None,
        "flops_full_training_all": full,
        "flops_saved_by_restart": saved,
        "saving_fraction": saved / full,
    }


# ---------------------------------------------------------------------- 4. depth
def depth_selection(problem: harness.Problem, cfg: dict, net: dict, seed: int) -> dict:
    """Pick a depth from short-window spectra and compare with full training's choice.

    Each candidate trains `short_steps`; exact DMD of the last `window + 1` snapshots (every
    `stride` steps, all parameters) gives eigenvalues and modes; the weights are extrapolated
    to `full_steps` with eigenvalues of modulus > 1 projected onto the unit circle, and the
    depth whose extrapolated weights have the lowest validation loss is chosen. Baselines:
    the lowest validation loss after `short_steps` (no spectrum), and the lowest validation
    loss after full training (the reference choice).
    """
    rows = []
    for depth in cfg["candidates"]:
        model = harness.build_mlp(problem, seed=seed, **{**net, "depth": depth})
        steps = _window_steps(cfg["short_steps"], cfg["window"], cfg["stride"])
        snaps, record = _recorder(
            steps, lambda m: (harness.flat_parameters(m), harness.mse(m, problem, "val"))
        )
        records = harness.train(model, problem, cfg["full_steps"], cfg["lr"], record, monitor=False)
        window = np.stack([snap[0] for snap in snaps], axis=1)
        result = snapshot_dmd(window, rank_tol=cfg["rank_tol"])
        eigs = np.where(np.abs(result.eigs) > 1, result.eigs / np.abs(result.eigs), result.eigs)
        clipped = type(result)(
            eigs,
            result.amplitudes,
            result.singular_values,
            result.rank,
            result.basis,
            result.eigvecs,
            result.flops,
        )
        ahead = cfg["window"] + (cfg["full_steps"] - cfg["short_steps"]) / cfg["stride"]
        final = harness.flat_parameters(model)
        harness.set_flat_parameters(model, clipped.predict(ahead))
        predicted_val = harness.mse(model, problem, "val")
        harness.set_flat_parameters(model, final)
        rows.append(
            {
                "depth": depth,
                "short_val_loss": snaps[-1][1],
                "predicted_val_loss": predicted_val if math.isfinite(predicted_val) else None,
                "full_val_loss": harness.mse(model, problem, "val"),
                "full_test_rel_l2": problem.rel_l2(model),
                "short_flops": records[cfg["short_steps"] - 1]["flops"] + result.flops,
                "full_flops": records[-1]["flops"],
                "eigs_real": result.eigs.real.tolist(),
                "eigs_imag": result.eigs.imag.tolist(),
            }
        )

    def pick(key):
        valid = [r for r in rows if r[key] is not None]
        return min(valid, key=lambda r: r[key])["depth"] if valid else None

    return {
        "candidates": rows,
        "chosen_by_spectrum": pick("predicted_val_loss"),
        "chosen_by_short_val_loss": pick("short_val_loss"),
        "chosen_by_full_training": pick("full_val_loss"),
        "flops_short_windows": sum(r["short_flops"] for r in rows),
        "flops_full_trainings": sum(r["full_flops"] for r in rows),
    }


# ---------------------------------------------------------------------- 5. pruning
def pruning(problem: harness.Problem, cfg: dict, net: dict, seed: int) -> dict:
    """Test error vs sparsity: Koopman-mode pruning against magnitude pruning, no fine-tuning.

    Weight matrices are pruned layer by layer at the same sparsity (biases kept); the Koopman
    scores come from the last `window + 1` snapshots (every `stride` steps, the last at the
    final step) of training.
    """
    model = harness.build_mlp(problem, seed=seed, **net)
    layers = _linear_layers(model)
    snaps, record = _recorder(
        _window_steps(cfg["steps"], cfg["window"], cfg["stride"]),
        lambda m: [layer.weight.detach().double().numpy().ravel().copy() for layer in layers],
    )
    harness.train(model, problem, cfg["steps"], cfg["lr"], record, monitor=False)
    final = [layer.weight.detach().clone() for layer in layers]
    scores, flops = [], 0
    for i in range(len(layers)):
        s, f = koopman_mode_scores(
            np.stack([snap[i] for snap in snaps], axis=1), cfg["rank_tol"], cfg["unit_radius"]
        )
        scores.append(s)
        flops += f
    curves = {"koopman": [], "magnitude": []}
    for sparsity in cfg["sparsities"]:
        for name in curves:
            with torch.no_grad():
                for layer, w, s in zip(layers, final, scores, strict=True):
                    score = s if name == "koopman" else np.abs(w.numpy().ravel())
                    layer.weight.copy_(
                        torch.as_tensor(prune(w.numpy(), score.reshape(w.shape), sparsity))
                    )
            curves[name].append(problem.rel_l2(model))
    with torch.no_grad():
        for layer, w in zip(layers, final, strict=True):
            layer.weight.copy_(w)
    overlap = []
    for sparsity in cfg["sparsities"]:
        same = []
        for w, s in zip(final, scores, strict=True):
            k_mask = prune(np.ones(w.numel()), s, sparsity) != 0
            m_mask = prune(np.ones(w.numel()), np.abs(w.numpy().ravel()), sparsity) != 0
            same.append(np.mean(k_mask == m_mask))
        overlap.append(float(np.mean(same)))
    return {
        "sparsities": list(cfg["sparsities"]),
        "test_rel_l2": curves,
        "mask_agreement": overlap,
        "koopman_score_flops": flops,
    }


# ---------------------------------------------------------------------- 6. Sobolev losses
def _fit_signal(features, noisy, loss, steps, lr, width, seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(features.shape[1], width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    ).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(net(features)[:, 0] - noisy).backward()
        optimizer.step()
    with torch.no_grad():
        return net(features)[:, 0]


def multiscale_signal(x: np.ndarray) -> np.ndarray:
    """sin x + 0.5 sin 6x + 0.25 sin 20x: three scales on the periodic box [0, 2 pi)."""
    return np.sin(x) + 0.5 * np.sin(6 * x) + 0.25 * np.sin(20 * x)


def sobolev(cfg: dict, seed: int, field=None, mass=None, stiffness=None) -> dict:
    """Reconstruction error vs noise level, H^{-s} loss against L2 loss.

    Periodic: the multiscale signal on `n_grid` points, white noise of standard deviation
    noise_level * RMS(signal); an MLP of (cos x, sin x) is fitted for `steps` Adam steps.
    FEM (when a field and M, K are given): the field on the dataset mesh, same noise, an MLP
    of the coordinates, losses r^T M r (L2) and r^T M (K + M)^{-1} M r (H^{-1}). Errors are
    relative to the clean signal, in the discrete L2 norm (periodic) or the M-norm (FEM).
    """
    x = np.arange(cfg["n_grid"]) * 2 * np.pi / cfg["n_grid"]
    clean = torch.as_tensor(multiscale_signal(x))
    features = torch.as_tensor(np.column_stack([np.cos(x), np.sin(x)]))
    # Separate streams, so the periodic noise does not depend on the mesh size.
    rng, fem_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    rms = float(clean.pow(2).mean().sqrt())
    losses = {
        "l2": lambda r: r.pow(2).mean(),
        "hminus": lambda r: periodic_hminus_norm_sq(r, cfg["s"]),
    }
    out = {"noise_levels": list(cfg["noise_levels"]), "periodic": {k: [] for k in losses}}
    fem = None
    if field is not None:
        fem = FEMHminus1Norm(mass, stiffness)
        mass_norm = FEMMassNorm(mass)
        coords = torch.as_tensor(field[0])
        target = torch.as_tensor(field[1])
        m_rms = math.sqrt(float(mass_norm(target)) / float(mass.sum()))
        fem_losses = {"l2": mass_norm, "hminus": fem}
        out["fem"] = {k: [] for k in fem_losses}

        def m_norm(v):
            return math.sqrt(float(mass_norm(v)))

    for level in cfg["noise_levels"]:
        noisy = clean + torch.as_tensor(rng.standard_normal(x.size)) * level * rms
        for name, loss in losses.items():
            fit = _fit_signal(features, noisy, loss, cfg["steps"], cfg["lr"], cfg["width"], seed)
            out["periodic"][name].append(float((fit - clean).norm() / clean.norm()))
        if fem is not None:
            noisy = (
                target + torch.as_tensor(fem_rng.standard_normal(target.numel())) * level * m_rms
            )
            for name, loss in fem_losses.items():
                fit = _fit_signal(coords, noisy, loss, cfg["steps"], cfg["lr"], cfg["width"], seed)
                out["fem"][name].append(m_norm(fit - target) / m_norm(target))
    return out
