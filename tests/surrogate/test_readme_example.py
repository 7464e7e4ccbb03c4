"""The README's example of the accelerator in a user's own training loop runs as written."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_accelerator_example_runs_and_jumps(capsys):
    text = README.read_text()
    block = re.search(r"<!-- example: accelerator -->\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README lost its accelerator example"
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)
    accel, model = scope["accel"], scope["model"]
    attempts = accel.diagnostics
    kinds = [d["event"] for d in attempts]
    assert "jump_accepted" in kinds
    # Snapshots every 20 steps, 10 per window: the first attempt at step 200; then 5 new
    # snapshots (100 steps) after a jump or a rejection, a fresh window (200) after a restart.
    assert attempts[0]["step"] == 200
    gaps = [200 if a["event"] == "restart" else 100 for a in attempts]
    steps = [a["step"] for a in attempts]
    assert [b - a for a, b in zip(steps[:-1], steps[1:], strict=True)] == gaps[:-1]
    assert 1500 - attempts[-1]["step"] < gaps[-1]
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert accel.flops > 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("check loss") and len(lines) == len(kinds) + 1
