"""PyVista renders: mesh conversion, sample choice, image sizes and the shared colour scale."""

import imageio.v3 as iio
import numpy as np
import pytest
from report_synthetic import unit_mesh, write_dataset, write_runs

from solvers.render import (
    BAR_PX,
    TITLE_PX,
    grid_from_mesh,
    relative_errors,
    render_fields,
    render_panels,
    select_samples,
)


def test_grid_from_mesh_covers_the_domain():
    coords, cells = unit_mesh(4, 2)
    grid = grid_from_mesh(coords, cells)
    assert (grid.n_points, grid.n_cells) == (15, 16)
    assert grid.compute_cell_sizes()["Area"].sum() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="there are 15"):
        grid_from_mesh(coords, cells + 1)
    with pytest.raises(ValueError, match="M x 3"):
        grid_from_mesh(coords, cells[:, :2])


def test_relative_errors_and_sample_choice():
    truth = np.array([[3.0, 4.0], [1.0, 0.0]])
    assert relative_errors(truth * 1.1, truth) == pytest.approx([0.1, 0.1])
    assert relative_errors(truth + [[0, 0], [0, 2]], truth) == pytest.approx([0.0, 2.0])
    errors = np.array([0.1, 0.5, 0.3, 0.2, 0.4])
    assert select_samples(errors, 3).tolist() == [1, 2, 0]  # worst, median, best
    assert select_samples(errors, 1).tolist() == [1]
    assert select_samples(errors, 9).tolist() == [1, 4, 2, 3, 0]


def test_panels_share_the_colour_scale():
    coords, cells = unit_mesh(8, 4)
    grid = grid_from_mesh(coords, cells)
    truth = (coords[:, 0] + coords[:, 1])[None]
    image = render_panels(
        grid, truth, {"same": truth, "off": 0.5 * truth}, "t", panel_size=(160, 100)
    )
    assert image.shape == (TITLE_PX + 100 + BAR_PX, 5 * 160, 3)
    # Below the captions, the truth panel and an identical surrogate look the same, while the
    # halved surrogate, drawn on the same scale, is darker: one colour scale for both.
    rows = slice(TITLE_PX + 45, TITLE_PX + 90)
    truth_px, same_px, off_px = (
        image[rows, c * 160 : (c + 1) * 160].astype(float) for c in (0, 1, 2)
    )
    assert np.abs(truth_px - same_px).max() <= 2
    assert np.abs(truth_px - off_px).mean() > 10
    assert image.std() > 20


def test_render_fields_steady_and_transient(tmp_path):
    steady = write_dataset(tmp_path / "s" / "dataset.npz")
    write_runs(tmp_path / "s", steady, seeds=(0,))
    predictions = {
        m: tmp_path / "s" / "train" / m / "seed_0" / "predictions.npz" for m in ("adam", "dmd")
    }
    written = render_fields(
        tmp_path / "s" / "dataset.npz",
        predictions,
        tmp_path / "f",
        n_samples=2,
        seed=0,
        panel_size=(120, 80),
    )
    assert [p.suffix for p in written] == [".png", ".png"]
    for path in written:
        image = iio.imread(path)
        assert image.shape[:2] == (TITLE_PX + 80 + BAR_PX, 5 * 120)
        assert image.std() > 20

    times = np.linspace(0.25, 1.0, 6)
    transient = write_dataset(tmp_path / "t" / "dataset.npz", times=times)
    write_runs(tmp_path / "t", transient, seeds=(0,))
    predictions = {
        m: tmp_path / "t" / "train" / m / "seed_0" / "predictions.npz" for m in ("adam", "dmd")
    }
    (strip,) = render_fields(
        tmp_path / "t" / "dataset.npz",
        predictions,
        tmp_path / "g",
        n_samples=1,
        panel_size=(120, 80),
        max_times=3,
    )
    assert iio.imread(strip).shape[:2] == (TITLE_PX + 3 * 80 + BAR_PX, 5 * 120)
    (gif,) = render_fields(
        tmp_path / "t" / "dataset.npz",
        {"adam": predictions["adam"]},
        tmp_path / "h",
        n_samples=1,
        panel_size=(120, 80),
        transient="gif",
    )
    frames = iio.imread(gif, index=None)
    assert frames.shape[:3] == (times.size, TITLE_PX + 80 + BAR_PX, 3 * 120)
    with pytest.raises(ValueError, match="transient must be 'strip' or 'gif', got 'avi'"):
        render_fields(tmp_path / "t" / "dataset.npz", predictions, tmp_path / "x", transient="avi")
