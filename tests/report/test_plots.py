"""Reading diagnostics.json and drawing the report figures."""

import imageio.v3 as iio
import numpy as np
from report_synthetic import diagnostics

from surrogate.report import plots
from surrogate.report.plots import plot_dmd_eigenvalues, plot_pod_spectra, read_diagnostics


def test_read_diagnostics_keeps_jumps_with_layer_data():
    jumps = read_diagnostics(diagnostics([40, 80], layers=("a", "b"), rank=3))
    assert [(j["step"], j["accepted"]) for j in jumps] == [(40, True), (80, False)]
    assert list(jumps[0]["layers"]) == ["a", "b"]
    assert len(jumps[1]["layers"]["b"]["eigs_real"]) == 3
    bare = [
        {
            "step": 5,
            "accepted": True,
            "layers": {"w": {"singular_values": [1.0], "eigs_real": [1.0], "eigs_imag": [0.0]}},
        }
    ]
    assert read_diagnostics(bare)[0]["layers"]["w"]["singular_values"] == [1.0]


def test_no_jumps_gives_an_explaining_figure(tmp_path):
    jumps = read_diagnostics({"jumps": [{"step": 3, "event": "jump_rejected", "layers": []}]})
    assert jumps == []
    plot_pod_spectra(jumps, tmp_path / "pod.png", "dmd (seed 0)", dpi=50)
    plot_dmd_eigenvalues(jumps, tmp_path / "eigs.png", "dmd (seed 0)", dpi=50)
    for name in ("pod.png", "eigs.png"):
        image = iio.imread(tmp_path / name)
        assert image.shape[:2] == (75, 300)
        assert np.std(image[..., :3]) > 5  # the message is drawn


def test_loss_curves_join_sparse_validation_records_and_mark_events_on_them(tmp_path, monkeypatch):
    # Validation loss every 5th record (train.eval_every = 5), a jump at a record without one.
    steps = np.arange(1, 21)
    val = np.where(steps % 5 == 0, 1.0 / steps, np.nan)
    events = np.array(["jump_accepted" if s == 7 else "" for s in steps], dtype=object)
    run = {
        "step": steps,
        "flops": 10.0 * steps,
        "wall_s": 0.1 * steps,
        "val_loss": val,
        "train_loss": 1.0 / steps,
        "event": events,
    }
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    plots.plot_loss_curves({("dmd", 0): run}, "flops", tmp_path / "f.png", baseline="dmd")
    val_ax, train_ax = figures[0].axes[:2]
    line = val_ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [50.0, 100.0, 150.0, 200.0])
    assert len(train_ax.lines[0].get_xdata()) == 20
    # The marker sits on the line between the records at steps 5 and 10.
    mark = val_ax.collections[0].get_offsets()[0]
    np.testing.assert_allclose(mark, [70.0, 0.2 + 0.4 * (0.1 - 0.2)])
    # The baseline's final loss is its last recorded validation loss.
    np.testing.assert_allclose(val_ax.lines[1].get_ydata(), [0.05, 0.05])


def test_loss_curves_mark_the_events_of_each_methods_first_seed_only(tmp_path, monkeypatch):
    steps = np.arange(1, 11)

    def run(event_steps):
        events = np.array(["jump_accepted" if s in event_steps else "" for s in steps], object)
        loss = 1.0 / steps
        return {
            "step": steps,
            "flops": 10.0 * steps,
            "wall_s": 0.1 * steps,
            "val_loss": loss,
            "train_loss": loss,
            "event": events,
        }

    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    curves = {("dmd", 2): run({4}), ("dmd", 1): run({3, 6}), ("adam", 5): run({8})}
    plots.plot_loss_curves(curves, "flops", tmp_path / "f.png", baseline="adam")
    val_ax = figures[0].axes[0]
    marked = sorted(tuple(point) for c in val_ax.collections for point in c.get_offsets())
    # dmd's seed 1 (its first) and adam's only seed; not dmd's seed 2 (step 4).
    np.testing.assert_allclose(marked, [[30.0, 1 / 3], [60.0, 1 / 6], [80.0, 1 / 8]])
