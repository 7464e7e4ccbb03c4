"""Off-screen PyVista renders of test fields: truth | surrogates | absolute errors.

One image per selected test sample. Rows are output times (one row for a steady scenario);
columns are the truth, each method's surrogate, and each method's absolute error. Truth and
surrogates share one colour scale (the range over all of them and all rows), the errors
another (0 to the largest error of any method), so that panels compare at a glance.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pyvista

from solvers.io import load_npz

pyvista.OFF_SCREEN = True

TITLE_PX = 56
BAR_PX = 80
VTK_CELL_TYPES = {3: pyvista.CellType.TRIANGLE, 4: pyvista.CellType.TETRA}


def grid_from_mesh(coords: np.ndarray, cells: np.ndarray) -> pyvista.UnstructuredGrid:
    """An UnstructuredGrid of the dataset's points (N x 2 or N x 3) and cells (M x 3 or M x 4)."""
    coords = np.asarray(coords, dtype=float)
    cells = np.asarray(cells, dtype=np.int64)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ValueError(f"coords must be N x 2 or N x 3, got shape {coords.shape}")
    if cells.ndim != 2 or cells.shape[1] not in VTK_CELL_TYPES:
        raise ValueError(f"cells must be M x 3 (triangles) or M x 4, got shape {cells.shape}")
    if cells.size and (cells.min() < 0 or cells.max() >= coords.shape[0]):
        raise ValueError(
            f"cells index points {cells.min()}..{cells.max()}, but there are {coords.shape[0]}"
        )
    points = np.zeros((coords.shape[0], 3))
    points[:, : coords.shape[1]] = coords  # VTK points are 3D; a 2D mesh lies in z = 0
    n_vertices = cells.shape[1]
    connectivity = np.hstack([np.full((cells.shape[0], 1), n_vertices), cells]).ravel()
    cell_types = np.full(cells.shape[0], VTK_CELL_TYPES[n_vertices], dtype=np.uint8)
    return pyvista.UnstructuredGrid(connectivity, cell_types, points)


def relative_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-sample relative L2 error ||pred - truth|| / ||truth|| over all remaining axes."""
    axes = tuple(range(1, truth.ndim))
    return np.sqrt(np.sum((pred - truth) ** 2, axis=axes) / np.sum(truth**2, axis=axes))


def select_samples(errors: np.ndarray, count: int) -> np.ndarray:
    """Positions of `count` samples spread over the error ranking, worst first.

    The first is the worst sample, the last (for count >= 2) the best; the others sit at evenly
    spaced ranks in between, so the renders show the whole range of the surrogate's quality.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    ranking = np.argsort(-errors, kind="stable")
    count = min(count, errors.size)
    ranks = np.unique(np.round(np.linspace(0, errors.size - 1, count)).astype(int))
    return ranking[ranks]


def _font_size(text: str, width_px: int, largest: int, em_per_char: float = 0.9) -> int:
    """The largest font size up to `largest` at which `text` fits `width_px` pixels."""
    return max(5, min(largest, int(width_px / (em_per_char * max(len(text), 1)))))


def _fit_camera(plotter: pyvista.Plotter, grid: pyvista.UnstructuredGrid, aspect: float) -> None:
    """Look down z at the mesh so that it fills a panel of width/height `aspect`."""
    xmin, xmax, ymin, ymax, _, _ = grid.bounds
    centre = ((xmin + xmax) / 2, (ymin + ymax) / 2, 0.0)
    camera = plotter.camera
    camera.focal_point = centre
    camera.position = (centre[0], centre[1], 1.0 + max(xmax - xmin, ymax - ymin))
    camera.up = (0.0, 1.0, 0.0)
    # Parallel scale is half the visible height; the margin leaves room for the panel caption.
    camera.parallel_scale = 0.58 * max(ymax - ymin, (xmax - xmin) / aspect)


def _add_bar(plotter: pyvista.Plotter, loc: tuple[int, int], mapper, title: str) -> None:
    """A horizontal colour bar filling the viewport at `loc`, titled above, labelled below."""
    plotter.subplot(*loc)
    plotter.add_text(title, position="upper_edge", font_size=9, color="black")
    bar = plotter.add_scalar_bar(
        title=title,
        mapper=mapper,
        position_x=0.1,
        position_y=0.05,
        width=0.8,
        height=0.6,
        n_labels=5,
        fmt="%.3g",
        label_font_size=12,
        color="black",
    )
    # VTK draws a horizontal bar's title over its labels; the title is the text above instead.
    bar.SetTitle("")
    bar.SetTextPositionToPrecedeScalarBar()


def render_panels(
    grid: pyvista.UnstructuredGrid,
    truth: np.ndarray,
    surrogates: dict[str, np.ndarray],
    title: str,
    row_labels: Sequence[str] = ("",),
    panel_size: Sequence[int] = (360, 220),
    cmap: str = "viridis",
    error_cmap: str = "inferno",
    clim: tuple[float, float] | None = None,
    error_clim: tuple[float, float] | None = None,
) -> np.ndarray:
    """One image (H x W x 3 uint8): a title row, R x (1 + 2 m) panels and a colour-bar row.

    `truth` and every surrogate are R x N (rows, e.g. output times, by mesh points); the
    colour ranges default to the ranges over all panels of the image.
    """
    if not surrogates:
        raise ValueError("surrogates is empty; give at least one method's field")
    truth = np.atleast_2d(truth)
    n_rows, labels = truth.shape[0], list(surrogates)
    if len(row_labels) != n_rows:
        raise ValueError(f"got {len(row_labels)} row labels for {n_rows} rows")
    for label, values in surrogates.items():
        if np.shape(values) != truth.shape:
            raise ValueError(
                f"surrogate {label!r} has shape {np.shape(values)}, truth {truth.shape}"
            )
    errors = {label: np.abs(np.asarray(values) - truth) for label, values in surrogates.items()}
    if clim is None:
        stacked = np.concatenate([truth.ravel(), *(np.ravel(v) for v in surrogates.values())])
        clim = (float(stacked.min()), float(stacked.max()))
    if error_clim is None:
        error_clim = (0.0, max(float(max(e.max() for e in errors.values())), 1e-12))

    n_cols = 1 + 2 * len(labels)
    width, height = int(panel_size[0]), int(panel_size[1])
    shape = (n_rows + 2, n_cols)
    groups = [
        (0, slice(0, n_cols)),
        (n_rows + 1, slice(0, 1 + len(labels))),
        (n_rows + 1, slice(1 + len(labels), n_cols)),
    ]
    plotter = pyvista.Plotter(
        off_screen=True,
        shape=shape,
        groups=groups,
        row_weights=[TITLE_PX] + [height] * n_rows + [BAR_PX],
        border=False,
        window_size=[n_cols * width, TITLE_PX + n_rows * height + BAR_PX],
    )
    plotter.set_background("white")
    plotter.subplot(0, 0)
    plotter.add_text(
        title, position="upper_edge", font_size=_font_size(title, n_cols * width, 11), color="black"
    )

    headers = ["truth", *labels, *(f"abs. error {label}" for label in labels)]
    columns = [truth, *(np.atleast_2d(surrogates[label]) for label in labels)]
    columns += [errors[label] for label in labels]
    # Column headers on the first row; the first column names every row (e.g. its time).
    captions = [[header if row == 0 else "" for header in headers] for row in range(n_rows)]
    for row, row_label in enumerate(row_labels):
        if row_label:
            captions[row][0] = f"{headers[0]}, {row_label}"
    # One size for all captions; VTK scales text with a small viewport, hence 1.3 em per char.
    size = min(_font_size(c, width, 9, em_per_char=1.3) for line in captions for c in line if c)
    field_views, mappers = [], {}
    for row in range(n_rows):
        for col, values in enumerate(columns):
            is_error = col > len(labels)
            plotter.subplot(row + 1, col)
            mesh = grid.copy()
            mesh.point_data["c"] = values[row]
            actor = plotter.add_mesh(
                mesh,
                scalars="c",
                cmap=error_cmap if is_error else cmap,
                clim=error_clim if is_error else clim,
                show_scalar_bar=False,
            )
            mappers.setdefault(is_error, actor.mapper)
            if captions[row][col]:
                plotter.add_text(
                    captions[row][col], position="upper_edge", font_size=size, color="black"
                )
            plotter.view_xy()
            plotter.enable_parallel_projection()
            field_views.append(plotter.renderers.loc_to_index((row + 1, col)))
    plotter.link_views(views=field_views)
    _fit_camera(plotter, grid, width / height)

    _add_bar(plotter, (n_rows + 1, 0), mappers[False], "concentration (truth and surrogates)")
    _add_bar(plotter, (n_rows + 1, 1 + len(labels)), mappers[True], "absolute error")
    image = plotter.screenshot(return_img=True)
    plotter.close()
    return image


def _format_params(names: Sequence[str], values: np.ndarray) -> str:
    return ", ".join(f"{name} = {value:.3g}" for name, value in zip(names, values, strict=True))


def _role(errors: np.ndarray, k: int) -> str:
    """Where sample k sits in the error ranking of all test samples (rank 1 = worst)."""
    rank = int(np.sum(errors > errors[k])) + 1
    if rank == 1:
        return "worst"
    if rank == errors.size:
        return "best"
    return f"error rank {rank} of {errors.size}"


def render_fields(
    dataset_path: Path,
    predictions: dict[str, Path],
    out_dir: Path,
    n_samples: int = 3,
    seed: int | None = None,
    panel_size: Sequence[int] = (360, 220),
    transient: str = "strip",
    max_times: int = 4,
    cmap: str = "viridis",
    error_cmap: str = "inferno",
) -> list[Path]:
    """Render truth | surrogates | errors for test samples chosen by the best method's error.

    `predictions` maps a method name to its predictions.npz. The best method is the one with
    the lowest relative L2 error over all test samples; the samples are its worst, its best and
    evenly spaced error ranks in between (`select_samples`). Transient datasets give a strip of
    up to `max_times` output times per image (`transient="strip"`) or a GIF over all times
    (`transient="gif"`). Returns the written files, worst sample first.
    """
    if transient not in ("strip", "gif"):
        raise ValueError(f"transient must be 'strip' or 'gif', got {transient!r}")
    if max_times < 1:
        raise ValueError(f"max_times must be >= 1, got {max_times}")
    if not predictions:
        raise ValueError("predictions is empty; give at least one method's predictions.npz")
    dataset = load_npz(dataset_path)
    grid = grid_from_mesh(dataset["coords"], dataset["cells"])
    row_of_id = {int(sid): row for row, sid in enumerate(dataset["sample_ids"])}

    labels = list(predictions)
    test_ids, preds = None, {}
    for method, path in predictions.items():
        with np.load(path) as data:
            ids, pred = data["sample_ids"].astype(np.int64), data["pred"]
        if test_ids is None:
            test_ids = ids
        elif sorted(ids.tolist()) != sorted(test_ids.tolist()):
            raise ValueError(f"{path} predicts other test samples than {predictions[labels[0]]}")
        # Align every method to the first one's sample order.
        order = {int(sid): k for k, sid in enumerate(ids)}
        preds[method] = pred[[order[int(sid)] for sid in test_ids]]
    missing = [int(sid) for sid in test_ids if int(sid) not in row_of_id]
    if missing:
        raise ValueError(f"predicted sample ids {missing[:5]} are not in {dataset_path}")
    rows = np.array([row_of_id[int(sid)] for sid in test_ids])
    truth = dataset["fields"][rows]
    for method, pred in preds.items():
        if pred.shape != truth.shape:
            raise ValueError(f"{method} predictions have shape {pred.shape}, truth {truth.shape}")

    overall = {
        method: float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))
        for method, pred in preds.items()
    }
    best = min(overall, key=overall.get)
    errors = relative_errors(preds[best], truth)
    chosen = select_samples(errors, n_samples)

    transient_data = "times" in dataset and truth.ndim == 3
    if transient_data:
        times = dataset["times"]
        shown = np.unique(np.round(np.linspace(0, times.size - 1, max_times)).astype(int))
        if transient == "gif":
            shown = np.arange(times.size)
    suffix = "" if seed is None else f" (seed {seed})"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for position, k in enumerate(chosen):
        sid = int(test_ids[k])
        title = (
            f"test sample {sid}, {_role(errors, k)} by {best}{suffix} "
            f"(rel. L2 {errors[k]:.3g}): "
            f"{_format_params(dataset['param_names'], dataset['params'][rows[k]])}"
        )
        surrogates = {f"{m}{suffix}": preds[m][k] for m in labels}
        kwargs = dict(panel_size=panel_size, cmap=cmap, error_cmap=error_cmap)
        stem = f"{position:02d}_sample_{sid}"
        if not transient_data:
            surrogates = {label: v[None] for label, v in surrogates.items()}
            image = render_panels(grid, truth[k][None], surrogates, title, **kwargs)
            path = out_dir / f"{stem}.png"
            iio.imwrite(path, image)
        elif transient == "strip":
            row_labels = [f"t = {times[i]:.3g}" for i in shown]
            surrogates = {label: v[shown] for label, v in surrogates.items()}
            image = render_panels(grid, truth[k][shown], surrogates, title, row_labels, **kwargs)
            path = out_dir / f"{stem}.png"
            iio.imwrite(path, image)
        else:
            # One colour scale over all frames, so that the animation does not flicker.
            values = np.concatenate([truth[k].ravel(), *(v.ravel() for v in surrogates.values())])
            clim = (float(values.min()), float(values.max()))
            err = max(float(np.abs(v - truth[k]).max()) for v in surrogates.values())
            frames = [
                render_panels(
                    grid,
                    truth[k][i][None],
                    {label: v[i][None] for label, v in surrogates.items()},
                    title,
                    [f"t = {times[i]:.3g}"],
                    clim=clim,
                    error_clim=(0.0, max(err, 1e-12)),
                    **kwargs,
                )
                for i in shown
            ]
            path = out_dir / f"{stem}.gif"
            iio.imwrite(path, np.stack(frames), duration=400, loop=0)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: render the chosen test samples of one dataset and its predictions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--predictions", nargs="+", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--n-samples", type=int, default=3)
    parser.add_argument("--panel-size", nargs=2, type=int, default=[360, 220])
    parser.add_argument("--transient", choices=["strip", "gif"], default="strip")
    parser.add_argument("--max-times", type=int, default=4)
    parser.add_argument("--cmap", default="viridis")
    parser.add_argument("--error-cmap", default="inferno")
    args = parser.parse_args(argv)
    if len(args.methods) != len(args.predictions):
        raise ValueError(
            f"got {len(args.methods)} methods but {len(args.predictions)} predictions files"
        )
    written = render_fields(
        args.dataset,
        dict(zip(args.methods, args.predictions, strict=True)),
        args.out_dir,
        n_samples=args.n_samples,
        seed=args.seed,
        panel_size=args.panel_size,
        transient=args.transient,
        max_times=args.max_times,
        cmap=args.cmap,
        error_cmap=args.error_cmap,
    )
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
