"""The report rules run by Snakemake on tiny synthetic inputs, then the HTML report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
from report_synthetic import write_dataset, write_runs

from solvers.render import BAR_PX, TITLE_PX

REPO = Path(__file__).parents[2]

# Only the report stage, with what common.smk provides; no solver or training rules.
SNAKEFILE = f"""
import json
from snakemake.utils import validate

configfile: "config.yaml"
validate(config, schema="{REPO}/workflow/schemas/config.schema.yaml", set_default=True)
SCENARIO = config["scenario"]
RESULTS = f"results/{{SCENARIO}}"
LOGS = f"logs/{{SCENARIO}}"
TARGETS = []

include: "{REPO}/workflow/rules/report.smk"

rule all:
    input:
        TARGETS,
    default_target: True
"""

CONFIG = """
scenario: plume
train: {methods: [adam, dmd], seeds: [0, 1]}
report: {dpi: 50, fields: {n_samples: 2, panel_size: [150, 90]}}
"""


def snakemake(workdir: Path, *args: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )


def test_report_stage_end_to_end(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "config.yaml").write_text(CONFIG)
    results = tmp_path / "results" / "plume"
    write_runs(results, write_dataset(results / "dataset.npz"))

    snakemake(tmp_path)
    report = results / "report"
    savings = json.loads((report / "savings.json").read_text())
    assert len(savings["records"]) == 2 * 2 * 2 * 2  # losses x kinds x methods x seeds
    assert "## validation loss, target `baseline_final`" in (report / "savings.md").read_text()

    # Matplotlib figures at dpi 50: (height, width) = figsize in inches x 50; the diagnostics
    # figures are 3 layers wide (3.4 in and 3.0 in per layer plus the colour bar).
    expected = {
        "loss_vs_flops.png": (5.0 * 50, 11 * 50),
        "loss_vs_wall.png": (5.0 * 50, 11 * 50),
        "pod_spectra_dmd.png": (3.4 * 50, (3 * 3.4 + 1.2) * 50),
        "dmd_eigs_dmd.png": (6.4 * 50, (3 * 3.0 + 1.4) * 50),
    }
    for name, shape in expected.items():
        image = iio.imread(report / name)
        assert image.shape[:2] == tuple(round(n) for n in shape), name
        assert image[..., :3].std() > 10, f"{name} looks blank"
    fields = sorted((report / "fields").glob("*.png"))
    assert [p.name[:3] for p in fields] == ["00_", "01_"]
    for path in fields:
        image = iio.imread(path)
        assert image.shape[:2] == (TITLE_PX + 90 + BAR_PX, 5 * 150)
        assert image.std() > 10

    snakemake(tmp_path, "--report", "report.html")
    html = (tmp_path / "report.html").read_text()
    for name in [*expected, "savings.md", fields[0].name]:
        assert name in html
    assert "System Message" not in html  # every caption is valid reStructuredText
    logs = sorted(p.name for p in (tmp_path / "logs" / "plume" / "report").iterdir())
    assert logs == ["dmd_diagnostics_dmd.log", "fields.log", "loss_curves.log", "savings.log"]
