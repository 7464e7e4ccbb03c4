"""Reading diagnostics.json and drawing the report figures."""

import imageio.v3 as iio
import numpy as np
from report_synthetic import diagnostics

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
