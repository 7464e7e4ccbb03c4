"""One figure per Koopman analysis, drawn from its JSON summary (matplotlib, Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def node(summary: dict, path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for chunk, rows in summary["prediction"].items():
        h = [r["horizon"] for r in rows]
        axes[0].plot(
            h, [r["weight_error_rel_to_motion"] for r in rows], "o-", label=f"chunk {chunk}"
        )
        axes[1].plot(
            h, [r["train_loss_predicted"] for r in rows], "o-", label=f"Koopman, chunk {chunk}"
        )
    rows = next(iter(summary["prediction"].values()))
    axes[1].plot(
        [r["horizon"] for r in rows],
        [r["train_loss_true"] for r in rows],
        "k--",
        label="Adam (true)",
    )
    axes[1].axhline(rows[0]["train_loss_at_fit"], color="grey", lw=0.8, label="at end of window")
    axes[0].set(
        xlabel="steps predicted ahead T",
        ylabel="|w_pred - w_true| / |w_true - w_fit|",
        title="weight prediction error",
        yscale="log",
    )
    axes[1].set(
        xlabel="steps predicted ahead T",
        ylabel="training loss (normalised MSE)",
        title="loss at predicted weights",
        yscale="log",
    )
    curves = summary["curves"]
    axes[2].plot(curves["adam_flops"], curves["adam"], label="adam")
    axes[2].plot(curves["koopman_flops"], curves["koopman"], label="adam + node-Koopman jumps")
    axes[2].set(xlabel="FLOPs", ylabel="training loss", yscale="log", title="training method")
    for ax in axes:
        ax.legend(fontsize=8)
    _save(fig, path)


def stopping(summary: dict, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for i, run in enumerate(summary["runs"]):
        colour = f"C{i}"
        axes[0].plot(
            np.arange(1, len(run["val_loss"]) + 1),
            run["val_loss"],
            color=colour,
            lw=1,
            label=f"seed {run['seed']}",
        )
        stop = run["koopman"][str(summary["radius"])]
        if stop:
            axes[0].axvline(stop["stop_step"], color=colour, ls="--", lw=0.8)
        if run["validation"]["stop_step"]:
            axes[0].axvline(run["validation"]["stop_step"], color=colour, ls=":", lw=0.8)
        rho = np.array(run["rho"])
        if rho.size:
            axes[1].plot(rho[:, 0], rho[:, 1], color=colour, lw=1)
    axes[0].set(
        xlabel="step",
        ylabel="validation loss",
        yscale="log",
        title="stops: dashed = spectral rule, dotted = validation",
    )
    axes[1].axhline(summary["radius"], color="k", ls="--", lw=0.8, label="radius")
    axes[1].set(
        xlabel="step",
        ylabel="rho = max |lambda - 1|",
        yscale="log",
        title="spectral distance to 1 (sliding window)",
    )
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    _save(fig, path)


def badinit(summary: dict, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    markers = {"good": "o", "large": "^", "small": "v", "dead": "s"}
    for kind, marker in markers.items():
        runs = [r for r in summary["runs"] if r["kind"] == kind]
        if not runs:
            continue
        axes[0].scatter(
            [r["frozen_fraction"] for r in runs],
            [r["spectral_radius"] for r in runs],
            marker=marker,
            label=kind,
            alpha=0.7,
        )
        axes[1].scatter(
            [r["frozen_fraction"] for r in runs],
            [r["final_val_loss"] for r in runs],
            marker=marker,
            label=kind,
            alpha=0.7,
        )
    axes[0].axvline(summary["max_frozen_fraction"], color="k", ls="--", lw=0.8)
    axes[0].axhline(1 + summary["growth_tol"], color="k", ls="--", lw=0.8)
    axes[0].set(
        xlabel="frozen-node fraction (first steps)",
        ylabel="spectral radius (first steps)",
        title=f"detector (accuracy {summary['accuracy_vs_construction']:.2f} vs construction)",
    )
    axes[1].axhline(
        summary["outcome_factor"] * summary["good_median_val_loss"],
        color="k",
        ls="--",
        lw=0.8,
        label="bad outcome above",
    )
    axes[1].set(
        xlabel="frozen-node fraction (first steps)",
        ylabel="final validation loss",
        yscale="log",
        title="outcome of full training",
    )
    for ax in axes:
        ax.legend(fontsize=8)
    _save(fig, path)


def depth(summary: dict, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    rows = summary["candidates"]
    d = [r["depth"] for r in rows]
    for key, label in (
        ("short_val_loss", "after short window"),
        ("predicted_val_loss", "Koopman-extrapolated to full"),
        ("full_val_loss", "after full training"),
    ):
        axes[0].plot(d, [np.nan if r[key] is None else r[key] for r in rows], "o-", label=label)
    axes[0].set(
        xlabel="depth",
        ylabel="validation loss",
        yscale="log",
        title=f"chosen: spectrum {summary['chosen_by_spectrum']}, "
        f"full training {summary['chosen_by_full_training']}",
    )
    axes[0].legend(fontsize=8)
    theta = np.linspace(0, 2 * np.pi, 200)
    axes[1].plot(np.cos(theta), np.sin(theta), "k", lw=0.5)
    for r in rows:
        axes[1].scatter(r["eigs_real"], r["eigs_imag"], s=12, label=f"depth {r['depth']}")
    axes[1].set(
        xlabel="Re lambda", ylabel="Im lambda", title="short-window DMD eigenvalues", aspect="equal"
    )
    axes[1].legend(fontsize=8)
    _save(fig, path)


def pruning(summary: dict, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, errors in summary["test_rel_l2"].items():
        ax.plot(summary["sparsities"], errors, "o-", label=f"{name} pruning")
    ax.set(
        xlabel="sparsity (fraction of weights removed per layer)",
        ylabel="test relative L2 error",
        yscale="log",
        title="pruning without fine-tuning",
    )
    ax.legend()
    _save(fig, path)


def sobolev(summary: dict, path) -> None:
    panels = ["periodic"] + (["fem"] if "fem" in summary else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for name, errors in summary[panel].items():
            label = "L2 loss" if name == "l2" else f"H^-{summary['s']:g} loss"
            ax.plot(summary["noise_levels"], errors, "o-", label=label)
        ax.set(
            xlabel="noise std / signal RMS",
            ylabel="relative error to clean signal",
            xscale="log",
            yscale="log",
            title=f"{panel}: reconstruction from noisy data",
        )
        ax.legend()
    _save(fig, path)


PLOTS = {
    "node": node,
    "stopping": stopping,
    "badinit": badinit,
    "depth": depth,
    "pruning": pruning,
    "sobolev": sobolev,
}
