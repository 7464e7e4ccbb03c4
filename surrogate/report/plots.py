"""Report figures: loss against cost, POD energy spectra and DMD eigenvalues per layer."""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # report jobs run without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from surrogate.report.savings import curves_from_history  # noqa: E402

EVENT_STYLES = {
    "jump_accepted": {"marker": "^", "label": "jump accepted (DMD or Koopman)", "filled": True},
    "jump_rejected": {"marker": "x", "label": "jump rejected (DMD or Koopman)", "filled": True},
    "restart": {"marker": "o", "label": "restart", "filled": False},
}
X_LABELS = {"flops": "cumulative FLOPs (charged operations)", "wall_s": "cumulative wall-clock (s)"}
LOSS_TITLES = {"val_loss": "validation loss", "train_loss": "training loss"}


def _event_marker(event: str, colour) -> dict:
    """Scatter style of one event: filled triangle, cross, or hollow circle."""
    marker = EVENT_STYLES[event]["marker"]
    if marker == "x":
        return {"marker": "x", "s": 18, "color": colour, "linewidths": 1.0}
    if EVENT_STYLES[event]["filled"]:
        return {
            "marker": marker,
            "s": 18,
            "color": colour,
            "edgecolors": "black",
            "linewidths": 0.5,
        }
    return {
        "marker": marker,
        "s": 24,
        "facecolors": "none",
        "edgecolors": "black",
        "linewidths": 1.0,
    }


def _method_colours(methods: Sequence[str]) -> dict[str, tuple]:
    cycle = plt.get_cmap("tab10")
    return {method: cycle(i % 10) for i, method in enumerate(methods)}


def plot_loss_curves(
    curves: dict[tuple[str, int], dict[str, np.ndarray]],
    x: str,
    path: Path,
    baseline: str = "adam",
    dpi: int = 120,
) -> None:
    """Validation and training loss against cumulative FLOPs or wall-clock, every method and seed.

    One colour per method, one thin line per seed; the events of the history's `event` column
    marked on the curve of each method's first seed (with some 60 jumps a run, markers on every
    seed would hide the lines); the grey dotted line is the baseline's final loss (mean over
    seeds).
    """
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {list(X_LABELS)}, got {x!r}")
    methods = list(dict.fromkeys(method for method, _ in curves))
    colours = _method_colours(methods)
    first_seed = {m: min(seed for method, seed in curves if method == m) for m in methods}
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0), sharex=True, layout="constrained")
    seen_events = set()
    for ax, loss in zip(axes, LOSS_TITLES, strict=True):
        for (method, seed), run in curves.items():
            colour = colours[method]
            # Records without this loss (train.eval_every > 1 for the validation loss) are
            # left out of the line, and events are marked on it by linear interpolation.
            known = np.isfinite(run[loss])
            if not known.any():
                continue
            xs, ys = run[x][known], run[loss][known]
            ax.plot(xs, ys, color=colour, lw=0.9, alpha=0.75)
            if seed != first_seed[method]:
                continue
            for event in EVENT_STYLES:
                at = run["event"] == event
                if not at.any():
                    continue
                seen_events.add(event)
                marks = np.interp(run[x][at], xs, ys)
                ax.scatter(run[x][at], marks, zorder=3, **_event_marker(event, colour))
        finals = [
            run[loss][np.isfinite(run[loss])][-1]
            for (method, _), run in curves.items()
            if method == baseline and np.isfinite(run[loss]).any()
        ]
        ax.axhline(np.nanmean(finals), color="0.4", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel(X_LABELS[x])
        if x == "flops":
            # SI prefixes (G, T) on the ticks: matplotlib's offset text would hit the label.
            ax.xaxis.set_major_formatter(EngFormatter())
        ax.set_ylabel(f"{LOSS_TITLES[loss]} (normalised MSE)")
        ax.set_title(LOSS_TITLES[loss])
        ax.grid(True, which="major", alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[m], lw=1.5, label=m) for m in methods]
    handles.append(
        plt.Line2D([], [], color="0.4", ls=":", label=f"{baseline} final loss (mean over seeds)")
    )
    for event in EVENT_STYLES:
        if event in seen_events:
            style = EVENT_STYLES[event]
            handles.append(
                plt.Line2D(
                    [],
                    [],
                    ls="",
                    marker=style["marker"],
                    color="0.3" if style["filled"] else "black",
                    markerfacecolor="0.3" if style["filled"] else "none",
                    label=style["label"],
                )
            )
    n_seeds = len({seed for _, seed in curves})
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    fig.suptitle(
        f"Loss against {X_LABELS[x].split(' (')[0]} ({n_seeds} seeds, one line each;"
        " events marked on each method's first seed)"
    )
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def read_diagnostics(diagnostics: dict | list) -> list[dict]:
    """Jumps of a diagnostics.json with layer data, as a list of {step, accepted, layers}.

    Accepts `{"jumps": [...]}` (as surrogate/train.py writes it) or a bare list of jumps; each
    jump has `step`, `event` ("jump_accepted", ...) or `accepted`, and `layers`: a list of
    objects with `name`, `singular_values`, `eigs_real` and `eigs_imag` (or a mapping from
    name to such an object). Jumps with no layer data (e.g. rejected before any DMD fit) and
    layers of rank 0 are left out; `layers` becomes a mapping name -> layer.
    """
    jumps = diagnostics["jumps"] if isinstance(diagnostics, dict) else diagnostics
    parsed = []
    for i, jump in enumerate(jumps):
        layers = jump.get("layers") or []
        if isinstance(layers, list):
            layers = {layer.get("name", f"layer {k}"): layer for k, layer in enumerate(layers)}
        layers = {name: layer for name, layer in layers.items() if len(layer["singular_values"])}
        if not layers:
            continue
        accepted = jump.get("accepted", jump.get("event") == "jump_accepted")
        parsed.append({"step": jump.get("step", i), "accepted": bool(accepted), "layers": layers})
    return parsed


def _message_figure(path: Path, message: str, dpi: int) -> None:
    """A figure that only says why there is nothing to plot, so the report still has the file."""
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    ax.set_axis_off()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _layer_grid(n_layers: int) -> tuple[int, int]:
    cols = min(n_layers, 4)
    return -(-n_layers // cols), cols


def _jump_colours(jumps: list[dict]):
    steps = np.array([jump["step"] for jump in jumps], dtype=float)
    norm = plt.Normalize(steps.min(), max(steps.max(), steps.min() + 1))
    return plt.get_cmap("viridis"), norm


def _diagnostics_figure(jumps: list[dict], panel: tuple[float, float]):
    names = list(dict.fromkeys(name for jump in jumps for name in jump["layers"]))
    rows, cols = _layer_grid(len(names))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(panel[0] * cols + 1.2, panel[1] * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    return fig, dict(zip(names, axes.flat, strict=False))


def _colourbar(fig, axes, cmap, norm) -> None:
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(mappable, ax=list(axes), label="training step of the jump", shrink=0.9)


def plot_pod_spectra(jumps: list[dict], path: Path, title: str, dpi: int = 120) -> None:
    """POD energy fraction sigma_i^2 / sum sigma^2 against mode index, one panel per layer."""
    if not jumps:
        _message_figure(path, f"{title}: no DMD jump with a fitted model was recorded", dpi)
        return
    cmap, norm = _jump_colours(jumps)
    fig, panels = _diagnostics_figure(jumps, (3.4, 2.8))
    for name, ax in panels.items():
        for jump in jumps:
            if name not in jump["layers"]:
                continue
            sigma = np.asarray(jump["layers"][name]["singular_values"], dtype=float)
            energy = sigma**2 / np.sum(sigma**2)
            ax.semilogy(
                np.arange(1, sigma.size + 1),
                energy,
                marker="o",
                ms=2.5,
                lw=0.8,
                color=cmap(norm(jump["step"])),
                ls="-" if jump["accepted"] else "--",
            )
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("POD mode index")
        ax.set_ylabel("energy fraction")
        ax.grid(True, alpha=0.3)
    _colourbar(fig, panels.values(), cmap, norm)
    fig.suptitle(f"{title}: POD energy spectra of the weight snapshots (dashed: rejected jump)")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _eigenvalues(jumps: list[dict], name: str):
    """(complex eigenvalues, step, accepted) of one layer, per jump that has the layer."""
    for jump in jumps:
        if name in jump["layers"]:
            layer = jump["layers"][name]
            eigs = np.asarray(layer["eigs_real"], float) + 1j * np.asarray(
                layer["eigs_imag"], float
            )
            yield eigs, jump["step"], jump["accepted"]


def plot_dmd_eigenvalues(jumps: list[dict], path: Path, title: str, dpi: int = 120) -> None:
    """DMD eigenvalues with the unit circle per layer: whole plane (top), zoom on them (bottom).

    Training dynamics put most eigenvalues close to 1, so the zoom is what separates stable
    (inside the circle) from unstable (outside) ones.
    """
    if not jumps:
        _message_figure(path, f"{title}: no DMD jump with a fitted model was recorded", dpi)
        return
    cmap, norm = _jump_colours(jumps)
    names = list(dict.fromkeys(name for jump in jumps for name in jump["layers"]))
    fig, axes = plt.subplots(
        2, len(names), figsize=(3.0 * len(names) + 1.4, 6.4), layout="constrained", squeeze=False
    )
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 3601))
    for col, name in enumerate(names):
        found = list(_eigenvalues(jumps, name))
        everything = np.concatenate([eigs for eigs, _, _ in found] + [np.ones(1)])
        for row, ax in enumerate(axes[:, col]):
            ax.plot(circle.real, circle.imag, color="0.5", lw=0.8)
            ax.axhline(0, color="0.85", lw=0.6, zorder=0)
            ax.axvline(0, color="0.85", lw=0.6, zorder=0)
            for eigs, step, accepted in found:
                colour = cmap(norm(step))
                style = (
                    {"marker": "o", "facecolors": "none", "edgecolors": colour}
                    if accepted
                    else {"marker": "x", "color": colour}
                )
                ax.scatter(eigs.real, eigs.imag, s=16, linewidths=0.8, **style)
            if row == 0:
                lim = 1.08 * max(1.0, float(np.abs(everything).max()))
                xlim = ylim = (-lim, lim)
                ax.set_title(name, fontsize=10)
            else:
                # A square box around all eigenvalues and lambda = 1, padded by 10 %.
                half = 0.55 * max(np.ptp(everything.real), np.ptp(everything.imag), 1e-3)
                centre = (everything.real.max() + everything.real.min()) / 2
                mid = (everything.imag.max() + everything.imag.min()) / 2
                xlim, ylim = (centre - half, centre + half), (mid - half, mid + half)
                ax.set_title(f"{name}, zoom", fontsize=10)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_aspect("equal")
            ax.set_xlabel("Re λ")
            ax.set_ylabel("Im λ")
    _colourbar(fig, axes.flat, cmap, norm)
    fig.suptitle(f"{title}: DMD eigenvalues and the unit circle (o accepted, x rejected jump)")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: loss-curve figures, or POD/DMD figures of one diagnostics.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    curves_cmd = sub.add_parser("curves", help="loss against FLOPs and against wall-clock")
    curves_cmd.add_argument("--histories", nargs="+", type=Path, required=True)
    curves_cmd.add_argument("--baseline", default="adam")
    curves_cmd.add_argument("--flops-png", type=Path, required=True)
    curves_cmd.add_argument("--wall-png", type=Path, required=True)
    curves_cmd.add_argument("--dpi", type=int, default=120)
    diag_cmd = sub.add_parser("diagnostics", help="POD spectra and DMD eigenvalues per layer")
    diag_cmd.add_argument("--diagnostics", type=Path, required=True)
    diag_cmd.add_argument("--title", required=True)
    diag_cmd.add_argument("--pod-png", type=Path, required=True)
    diag_cmd.add_argument("--eigs-png", type=Path, required=True)
    diag_cmd.add_argument("--dpi", type=int, default=120)
    args = parser.parse_args(argv)

    if args.command == "curves":
        curves = {}
        for path in args.histories:
            history = json.loads(path.read_text())
            curves[(history["method"], int(history["seed"]))] = curves_from_history(history)
        args.flops_png.parent.mkdir(parents=True, exist_ok=True)
        plot_loss_curves(curves, "flops", args.flops_png, args.baseline, args.dpi)
        plot_loss_curves(curves, "wall_s", args.wall_png, args.baseline, args.dpi)
    else:
        jumps = read_diagnostics(json.loads(args.diagnostics.read_text()))
        args.pod_png.parent.mkdir(parents=True, exist_ok=True)
        plot_pod_spectra(jumps, args.pod_png, args.title, args.dpi)
        plot_dmd_eigenvalues(jumps, args.eigs_png, args.title, args.dpi)


if __name__ == "__main__":
    main()
